/**
 * The CLI's rough edges of issue 10 (item 5), each tried as a new user would: output paths that cannot
 * be written, help and version flags, and `--guest-dir` paths that are not plain absolute ones. Every
 * case here ends before a guest would boot or a stream would run; the shell's Ctrl-] and end of input,
 * which need the guest, are in test/integration/v86-shell.test.ts.
 */
import assert from "node:assert/strict";
import { execFileSync, spawnSync } from "node:child_process";
import {
  copyFileSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  statSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, it } from "node:test";
import { fileURLToPath } from "node:url";

const repo = fileURLToPath(new URL("../../", import.meta.url));
const main = join(repo, "src", "cli", "main.ts");
const tsx = join(repo, "node_modules", "tsx", "dist", "esm", "index.mjs");
const bundled = join(repo, "guest-image", "dist");

/** Well above a failing check (about a second under tsx), far below a boot or a day-long stream. */
const TIMEOUT_MS = 30_000;

function uhci(args: readonly string[], cwd = repo, env: NodeJS.ProcessEnv = process.env) {
  const run = spawnSync(process.execPath, ["--import", tsx, main, ...args], {
    cwd,
    env,
    encoding: "utf8",
    timeout: TIMEOUT_MS,
  });
  return { code: run.status, signal: run.signal, stdout: run.stdout, stderr: run.stderr };
}

/** `text` matched literally inside a RegExp (temporary folders may hold '.', '+' or the like). */
const literal = (text: string) => text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");

/** A usage error as the CLI promises it: exit code 2 and one line on stderr, nothing on stdout. */
function assertUsageError(r: ReturnType<typeof uhci>, pattern: RegExp, what: string): void {
  assert.equal(r.signal, null, `${what}: still running after ${TIMEOUT_MS} ms`);
  assert.equal(r.code, 2, `${what}: ${r.stderr}`);
  assert.equal(r.stdout, "", what);
  const lines = r.stderr.trimEnd().split("\n");
  assert.equal(lines.length, 1, `${what}: ${r.stderr}`);
  assert.match(lines[0]!, pattern, what);
}

describe("output paths are checked before any work", () => {
  it("--out in a folder the file system refuses is an error at once, not a spinning mkdir", () => {
    // Linux's /proc exists and refuses new entries with ENOENT: Node 20's recursive mkdir loops on it.
    for (const out of ["/proc/forbidden", "/proc/forbidden/deeper/still"]) {
      assertUsageError(uhci(["start", "--out", out]), /^uhci: --out: cannot write to \/proc\/forbidden/, out);
    }
  });

  it("--out onto a file, or below one, is an error and touches nothing", () => {
    const dir = mkdtempSync(join(tmpdir(), "uhci-edges-"));
    const file = join(dir, "a-file");
    writeFileSync(file, "keep me");
    assertUsageError(uhci(["start", "--out", file]), /^uhci: --out: .*is not a folder/, "onto a file");
    assertUsageError(uhci(["start", "--out", join(file, "sub")]), /^uhci: --out: .*ENOTDIR/, "below a file");
    assert.equal(readFileSync(file, "utf8"), "keep me");
  });

  it("--wav-out onto an existing folder fails before streaming and leaves no .partial file", () => {
    const dir = mkdtempSync(join(tmpdir(), "uhci-edges-"));
    const folder = join(dir, "already-here");
    mkdirSync(folder);
    // A day of audio: if the check came after the stream, the run would time out instead.
    const r = uhci(["stream", "--seconds", "86400", "--wav-out", folder]);
    assertUsageError(r, /^uhci: --wav-out: cannot write .*already-here: it is a folder$/, "onto a folder");
    assert.ok(!existsSync(`${folder}.partial`), "a .partial file was left behind");
  });

  it("--wav-out whose .partial name is taken by a folder, or under /proc, fails before streaming", () => {
    const dir = mkdtempSync(join(tmpdir(), "uhci-edges-"));
    const out = join(dir, "x.wav");
    mkdirSync(`${out}.partial`);
    assertUsageError(
      uhci(["stream", "--seconds", "86400", "--wav-out", out]),
      /^uhci: --wav-out: .*x\.wav\.partial is a folder$/,
      ".partial is a folder",
    );
    assert.ok(!existsSync(out));
    assertUsageError(
      uhci(["stream", "--seconds", "86400", "--wav-out", "/proc/forbidden.wav"]),
      /^uhci: --wav-out: cannot write \/proc\/forbidden\.wav/,
      "under /proc",
    );
  });

  it("--wav-out onto a pipe is an error and leaves the pipe a pipe (the file would be renamed over it)", () => {
    // A named pipe stands in for a device node: as root, `--wav-out /dev/full` replaced the device.
    const dir = mkdtempSync(join(tmpdir(), "uhci-edges-"));
    const fifo = join(dir, "a-pipe");
    execFileSync("mkfifo", [fifo]);
    assertUsageError(
      uhci(["stream", "--seconds", "86400", "--wav-out", fifo]),
      /^uhci: --wav-out: cannot write .*a-pipe: it is not a regular file$/,
      "onto a pipe",
    );
    assert.ok(statSync(fifo).isFIFO(), "the pipe is still a pipe");
    assert.ok(!existsSync(`${fifo}.partial`));
  });
});

describe("input files", () => {
  it("--wav-in that is a device or a pipe is an error at once, not a read that never ends", () => {
    const dir = mkdtempSync(join(tmpdir(), "uhci-edges-"));
    const fifo = join(dir, "a-pipe"); // no writer: reading it would wait for ever
    execFileSync("mkfifo", [fifo]);
    for (const input of ["/dev/zero", fifo]) {
      assertUsageError(
        uhci(["stream", "--wav-in", input]),
        /^uhci: --wav-in: cannot read .*: not a regular file$/,
        input,
      );
    }
  });
});

describe("help and version", () => {
  const pkg = JSON.parse(readFileSync(join(repo, "package.json"), "utf8")) as { version: string };

  it("--version, -V and `version` print the package's version and nothing else", () => {
    for (const args of [["--version"], ["-V"], ["version"]]) {
      const r = uhci(args);
      assert.equal(r.code, 0, `${args.join(" ")}: ${r.stderr}`);
      assert.equal(r.stdout, `${pkg.version}\n`, args.join(" "));
    }
  });

  it("-h, --help and `help` print the overview of every command, not the default command's options", () => {
    const overview = uhci(["help"]);
    assert.equal(overview.code, 0);
    for (const name of ["start", "shell", "stream"])
      assert.match(overview.stdout, new RegExp(`\\n  ${name} `));
    for (const flag of ["-h", "--help"]) {
      const r = uhci([flag]);
      assert.equal(r.code, 0, `${flag}: ${r.stderr}`);
      assert.equal(r.stdout, overview.stdout, flag);
    }
  });

  it("`help <command>`, `<command> --help` and `<command> -h` print that command's options", () => {
    for (const name of ["start", "shell", "stream"]) {
      const asTopic = uhci(["help", name]);
      assert.equal(asTopic.code, 0);
      assert.match(asTopic.stdout, new RegExp(`^uhci ${name} — `));
      for (const flag of ["--help", "-h"]) assert.equal(uhci([name, flag]).stdout, asTopic.stdout);
    }
    // Flags first run the default command, so its options are the help asked for.
    assert.equal(uhci(["--seconds", "5", "--help"]).stdout, uhci(["help", "start"]).stdout);
  });

  it("help on something that is not a command is an error", () => {
    for (const args of [["help", "bogus"], ["help", "toString"], ["help", "stream", "extra"], ["toString"]]) {
      assertUsageError(uhci(args), /^uhci: /, args.join(" "));
    }
    assertUsageError(uhci(["help", "bogus"]), /'bogus'.*uhci help/, "names the topic");
    assertUsageError(uhci(["version", "2"]), /^uhci: unexpected argument '2'/, "version 2");
  });

  it("start's help names the devices the main job plugs in: a hub, and behind it a headset, a keyboard…", () => {
    const help = uhci(["help", "start"]).stdout;
    // runMainJob (src/cli/jobs/main-job.ts) attaches a UsbHub to root port 1 with the devices of
    // mainJobHubDevices behind it.
    assert.match(help, /USB hub\s+on root port 1/);
    assert.match(
      help,
      /USB headset\s+\(microphone and headphones\), a USB keyboard, a tablet, a second\s+microphone and a USB stick behind it/,
    );
    assert.doesNotMatch(help, /mouse/);
  });
});

describe("--guest-dir is a file system path", () => {
  /** A folder holding only the BIOS, so loading stops at the next image and names the folder it read. */
  function partialImages(dir: string): void {
    mkdirSync(dir, { recursive: true });
    copyFileSync(join(bundled, "bios.bin"), join(dir, "bios.bin"));
  }

  it("a relative path is read from the working directory", () => {
    const cwd = mkdtempSync(join(tmpdir(), "uhci-edges-"));
    partialImages(join(cwd, "images"));
    for (const command of ["start", "shell"]) {
      assertUsageError(
        uhci([command, "--guest-dir", "images"], cwd),
        // bios.bin was found there; the next file is what is missing, in the folder given.
        new RegExp(`^uhci: cannot read guest image 'vgabios-stdvga.bin' in ${literal(cwd)}/images: ENOENT`),
        `${command} --guest-dir images`,
      );
    }
  });

  it("a path with '#' or '%' opens that folder, not the one before the '#'", () => {
    const cwd = mkdtempSync(join(tmpdir(), "uhci-edges-"));
    // Parsed as a URL, "take#2/images" is the folder "take" with a fragment: give that folder no BIOS.
    mkdirSync(join(cwd, "take"));
    for (const name of ["take#2/images", "100%25/images"]) {
      partialImages(join(cwd, name));
      assertUsageError(
        uhci(["start", "--guest-dir", name], cwd),
        new RegExp(`cannot read guest image 'vgabios-stdvga.bin' in ${literal(`${cwd}/${name}`)}: ENOENT`),
        name,
      );
      assertUsageError(
        uhci(["start", "--guest-dir", join(cwd, name)]),
        new RegExp(`cannot read guest image 'vgabios-stdvga.bin' in ${literal(`${cwd}/${name}`)}: ENOENT`),
        `${name}, absolute`,
      );
    }
  });
});

describe("relative paths under `npm start`", () => {
  /** What npm 7+ gives the `start` script: the package root as working directory, the caller's in INIT_CWD. */
  const npmStart = (initCwd: string): NodeJS.ProcessEnv => ({
    ...process.env,
    npm_lifecycle_event: "start",
    npm_package_json: join(repo, "package.json"),
    INIT_CWD: initCwd,
  });

  it("are taken from the folder npm was run in, for --guest-dir and --wav-out", () => {
    const caller = mkdtempSync(join(tmpdir(), "uhci-edges-"));
    mkdirSync(join(caller, "images"));
    copyFileSync(join(bundled, "bios.bin"), join(caller, "images", "bios.bin"));
    assertUsageError(
      uhci(["start", "--guest-dir", "images"], repo, npmStart(caller)),
      new RegExp(`in ${literal(caller)}/images: ENOENT`),
      "--guest-dir",
    );
    const r = uhci(
      ["stream", "--seconds", "0.05", "--quiet", "--wav-out", "got.wav"],
      repo,
      npmStart(caller),
    );
    assert.equal(r.code, 0, r.stderr);
    assert.ok(existsSync(join(caller, "got.wav")), "not written where npm was run");
    assert.ok(!existsSync(join(repo, "got.wav")), "written in the package root");
  });

  it("are taken from the working directory in a process that only inherited npm's variables", () => {
    const caller = mkdtempSync(join(tmpdir(), "uhci-edges-"));
    const own = mkdtempSync(join(tmpdir(), "uhci-edges-"));
    assertUsageError(
      uhci(["start", "--guest-dir", "images"], own, npmStart(caller)),
      new RegExp(`in ${literal(own)}/images: ENOENT`),
      "--guest-dir",
    );
  });
});
