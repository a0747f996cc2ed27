/**
 * scripts/run-tests.mjs (`npm test`): the v86 files run after everything else, one at a time; the run
 * ends with a summary line and a non-zero exit code on any failure; an empty selection is an error.
 * Each case runs the script in a scratch project whose test files log when they start and end.
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { after, describe, it } from "node:test";
import { fileURLToPath } from "node:url";

const repo = fileURLToPath(new URL("../../", import.meta.url));
const script = join(repo, "scripts", "run-tests.mjs");
const scratch = mkdtempSync(join(tmpdir(), "uhci-run-tests-"));
after(() => rmSync(scratch, { recursive: true, force: true }));
let projects = 0;

/** A test file that logs `start name t` and `end name t` around a 300 ms wait, and passes or fails. */
function loggingTest(log: string, name: string, pass = true): string {
  return [
    'import { appendFileSync } from "node:fs";',
    'import { it } from "node:test";',
    `it(${JSON.stringify(name)}, async () => {`,
    `  appendFileSync(${JSON.stringify(log)}, \`start ${name} \${Date.now()}\\n\`);`,
    "  await new Promise((resolve) => setTimeout(resolve, 300));",
    `  appendFileSync(${JSON.stringify(log)}, \`end ${name} \${Date.now()}\\n\`);`,
    pass ? "" : '  throw new Error("this test fails on purpose");',
    "});",
    "",
  ].join("\n");
}

function project(files: Record<string, string>): string {
  const dir = join(scratch, `p${projects++}`);
  for (const [path, source] of Object.entries(files)) {
    mkdirSync(dirname(join(dir, path)), { recursive: true });
    writeFileSync(join(dir, path), source);
  }
  // tsx is resolved from the working directory.
  symlinkSync(join(repo, "node_modules"), join(dir, "node_modules"), "dir");
  return dir;
}

function run(dir: string, ...filter: string[]) {
  // Without the runner's marker for its own child processes, or the nested runner reports to this one.
  const { NODE_TEST_CONTEXT: _, ...env } = process.env;
  const result = spawnSync(process.execPath, [script, ...filter], { cwd: dir, encoding: "utf8", env });
  const lines = result.stdout.trim().split("\n");
  return { status: result.status, summary: lines.at(-1) ?? "", stderr: result.stderr };
}

interface Span {
  name: string;
  start: number;
  end: number;
}

function spans(log: string): Span[] {
  const byName = new Map<string, Span>();
  for (const line of readFileSync(log, "utf8").trim().split("\n")) {
    const [kind, name = "", time = "0"] = line.split(" ");
    const span = byName.get(name) ?? { name, start: 0, end: 0 };
    if (kind === "start") span.start = Number(time);
    else span.end = Number(time);
    byName.set(name, span);
  }
  return [...byName.values()];
}

describe("npm test's runner (scripts/run-tests.mjs)", () => {
  it("runs the v86 files after the others, one at a time, and ends with a summary line", () => {
    const log = join(scratch, "order.log");
    const dir = project({
      "test/unit/a.test.ts": loggingTest(log, "unit-a"),
      "src/b.test.ts": loggingTest(log, "unit-b"),
      "test/integration/v86-one.test.ts": loggingTest(log, "v86-one"),
      "test/integration/v86-two.test.ts": loggingTest(log, "v86-two"),
    });
    const { status, summary } = run(dir);
    assert.equal(status, 0);
    assert.match(summary, /^tests: 4 passed, 0 failed, 0 cancelled, 0 skipped, 0 todo; 4 files .* ok$/);
    const all = spans(log);
    const unit = all.filter((s) => s.name.startsWith("unit"));
    const v86 = all.filter((s) => s.name.startsWith("v86")).sort((a, b) => a.start - b.start);
    assert.equal(unit.length, 2);
    assert.equal(v86.length, 2);
    const lastUnitEnd = Math.max(...unit.map((s) => s.end));
    assert.ok(
      v86.every((s) => s.start >= lastUnitEnd),
      "the serial lane starts when the first has ended",
    );
    assert.ok((v86[1]?.start ?? 0) >= (v86[0]?.end ?? Infinity), "v86 files never overlap");
  });

  it("exits non-zero when a test fails, in either lane, and says so in the summary", () => {
    const log = join(scratch, "fail.log");
    const dir = project({
      "test/unit/a.test.ts": loggingTest(log, "unit-a"),
      "test/integration/v86-bad.test.ts": loggingTest(log, "v86-bad", false),
    });
    const { status, summary } = run(dir);
    assert.equal(status, 1);
    assert.match(summary, /^tests: 1 passed, 1 failed, .* FAILED: serial \(exit code 1\)$/);
  });

  it("leaves test/usbip/ out of a plain run and runs it, one file at a time, when a filter names it", () => {
    const log = join(scratch, "usbip.log");
    const dir = project({
      "test/unit/a.test.ts": loggingTest(log, "unit-a"),
      "test/usbip/one.test.ts": loggingTest(log, "usbip-one"),
      "test/usbip/two.test.ts": loggingTest(log, "usbip-two"),
    });
    const plain = run(dir);
    assert.equal(plain.status, 0);
    assert.match(plain.summary, /^tests: 1 passed, .* 1 files \(1 concurrent\)/);
    assert.deepEqual(
      spans(log).map((s) => s.name),
      ["unit-a"],
    );
    const named = run(dir, "test/usbip/");
    assert.equal(named.status, 0);
    assert.match(named.summary, /^tests: 2 passed, .* 2 files \(2 serial\)/);
    const usbip = spans(log)
      .filter((s) => s.name.startsWith("usbip"))
      .sort((a, b) => a.start - b.start);
    assert.equal(usbip.length, 2);
    assert.ok((usbip[1]?.start ?? 0) >= (usbip[0]?.end ?? Infinity), "usbip files never overlap");
  });

  it("fails a file that does not load, and an empty selection", () => {
    const dir = project({ "test/broken.test.ts": 'throw new Error("cannot load");\n' });
    const broken = run(dir);
    assert.equal(broken.status, 1);
    assert.match(broken.summary, /FAILED: concurrent/);
    const none = run(dir, "no-such-file");
    assert.equal(none.status, 1);
    assert.match(none.stderr, /no test files found matching no-such-file/);
  });
});
