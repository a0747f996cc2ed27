/**
 * bin/uhci.mjs never runs stale code (issue 9, item 1): it runs dist/cli/main.js only when the build
 * finished (dist/build-info.json) and, in a checkout (src/ present), started after the newest source
 * changed; otherwise one line on stderr and exit code 2. Checked on a scratch copy of the bin whose
 * dist/cli/main.js is a stub that prints "ran".
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { copyFileSync, mkdirSync, mkdtempSync, rmSync, utimesSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { after, describe, it } from "node:test";
import { fileURLToPath } from "node:url";

const bin = fileURLToPath(new URL("../../bin/uhci.mjs", import.meta.url));
const scratch = mkdtempSync(join(tmpdir(), "uhci-bin-"));
after(() => rmSync(scratch, { recursive: true, force: true }));
let packages = 0;

const BUILD_STARTED = Date.parse("2026-01-01T12:00:00Z");
const BEFORE = new Date(BUILD_STARTED - 60_000);
const AFTER = new Date(BUILD_STARTED + 60_000);

/** A package folder: the bin, optionally a stamped stub build and source files with given mtimes. */
function pkg(options: { build?: "stamped" | "unstamped" | "none"; sources?: Record<string, Date> }): string {
  const root = join(scratch, `p${packages++}`);
  mkdirSync(join(root, "bin"), { recursive: true });
  copyFileSync(bin, join(root, "bin", "uhci.mjs"));
  if (options.build !== "none") {
    mkdirSync(join(root, "dist", "cli"), { recursive: true });
    writeFileSync(
      join(root, "dist", "cli", "main.js"),
      'console.log("ran", process.argv.slice(2).join(" "));\n',
    );
    if (options.build !== "unstamped") {
      writeFileSync(join(root, "dist", "build-info.json"), JSON.stringify({ startedAt: BUILD_STARTED }));
    }
  }
  for (const [path, mtime] of Object.entries(options.sources ?? {})) {
    const file = join(root, "src", path);
    mkdirSync(dirname(file), { recursive: true });
    writeFileSync(file, "export {};\n");
    utimesSync(file, mtime, mtime);
  }
  return root;
}

function uhci(root: string, ...args: string[]) {
  const result = spawnSync(process.execPath, [join(root, "bin", "uhci.mjs"), ...args], { encoding: "utf8" });
  return { status: result.status, stdout: result.stdout, stderr: result.stderr };
}

describe("bin/uhci.mjs runs only a finished, current build", () => {
  it("runs the build in a published package (no src/), passing the arguments", () => {
    const run = uhci(pkg({ build: "stamped" }), "version");
    assert.deepEqual([run.status, run.stdout, run.stderr], [0, "ran version\n", ""]);
  });

  it("runs the build in a checkout whose sources are all older than the build", () => {
    const run = uhci(pkg({ build: "stamped", sources: { "a.ts": BEFORE, "deep/b.ts": BEFORE } }));
    assert.equal(run.status, 0, run.stderr);
    assert.equal(run.stdout, "ran \n");
  });

  it("refuses, on one line with exit code 2, a build older than a source file", () => {
    const run = uhci(pkg({ build: "stamped", sources: { "a.ts": BEFORE, "deep/b.ts": AFTER } }), "start");
    assert.equal(run.status, 2);
    assert.equal(run.stdout, "");
    assert.match(run.stderr, /^uhci: dist\/ is older than src\/deep\/b\.ts; run `npm run build`.*\n$/);
    assert.equal(run.stderr.split("\n").length, 2);
  });

  it("ignores tests and testing/ helpers, which are not part of the build", () => {
    const run = uhci(
      pkg({
        build: "stamped",
        sources: { "a.ts": BEFORE, "a.test.ts": AFTER, "usb/testing/host.ts": AFTER },
      }),
    );
    assert.equal(run.status, 0, run.stderr);
  });

  it("refuses a missing build and a build that did not finish (no stamp)", () => {
    for (const build of ["none", "unstamped"] as const) {
      const run = uhci(pkg({ build, sources: { "a.ts": BEFORE } }));
      assert.equal(run.status, 2, build);
      assert.match(run.stderr, /^uhci: no finished build in dist\/; run `npm run build`.*\n$/);
    }
  });
});
