/**
 * `uhci shell` as a user runs it, with the Linux guest booted in v86: commands piped in run in the
 * guest's shell and the end of standard input ends the session (exit 0), and Ctrl-] leaves at once,
 * even while a guest command is still running. Before issue 10 both hung: the shell waited for the
 * guest's `done` with a 24-hour timer that was never cleared, and nothing listened for the end of input.
 * Two boots, about half a minute each.
 */
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { copyFileSync, mkdirSync, mkdtempSync, readdirSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, it } from "node:test";
import { fileURLToPath } from "node:url";

const repo = fileURLToPath(new URL("../../", import.meta.url));
const main = join(repo, "src", "cli", "main.ts");
const tsx = join(repo, "node_modules", "tsx", "dist", "esm", "index.mjs");

/** A boot to the shell takes 20–55 s here (idle to loaded); a run still going after this is the hang tested for. */
const RUN_LIMIT_MS = 240_000;

interface ShellRun {
  /** Everything the shell printed so far. */
  readonly stdout: () => string;
  readonly write: (text: string) => void;
  readonly end: () => void;
  /** Resolves when stdout has printed `text`, or rejects when the process ends first. */
  readonly printed: (text: string) => Promise<void>;
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null; at: number }>;
}

function shell(args: readonly string[], cwd: string): ShellRun {
  const child = spawn(process.execPath, ["--import", tsx, main, "shell", "--quiet", ...args], {
    cwd,
    stdio: ["pipe", "pipe", "pipe"],
  });
  let out = "";
  let err = "";
  const watchers = new Set<() => void>();
  child.stdout.setEncoding("latin1").on("data", (chunk: string) => {
    out += chunk;
    for (const watch of watchers) watch();
  });
  child.stderr.setEncoding("utf8").on("data", (chunk: string) => {
    err += chunk;
  });
  const kill = setTimeout(() => child.kill("SIGKILL"), RUN_LIMIT_MS);
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null; at: number }>(
    (resolve) => {
      child.on("exit", (code, signal) => {
        clearTimeout(kill);
        for (const watch of watchers) watch();
        resolve({ code, signal, at: performance.now() });
      });
    },
  );
  return {
    stdout: () => out,
    write: (text) => child.stdin.write(text),
    end: () => child.stdin.end(),
    printed: (text) =>
      new Promise((resolve, reject) => {
        const watch = () => {
          if (out.includes(text)) {
            watchers.delete(watch);
            resolve();
          } else if (child.exitCode !== null || child.signalCode !== null) {
            watchers.delete(watch);
            reject(new Error(`the shell ended before printing ${JSON.stringify(text)}: ${err}${out}`));
          }
        };
        watchers.add(watch);
        watch();
      }),
    exited,
  };
}

describe("uhci shell", () => {
  it("runs piped commands, the last one without its newline, and ends cleanly at the end of input", async () => {
    // The guest images from a relative --guest-dir with '#' in it (read as a file path, not a URL).
    const cwd = mkdtempSync(join(tmpdir(), "uhci-shell-"));
    const images = join(cwd, "take#2", "images");
    mkdirSync(images, { recursive: true });
    const bundled = join(repo, "guest-image", "dist");
    for (const name of readdirSync(bundled, { withFileTypes: true })) {
      if (name.isFile()) copyFileSync(join(bundled, name.name), join(images, name.name));
    }
    const run = shell(["--guest-dir", "take#2/images"], cwd);
    // Everything is sent, and standard input closed, before the guest has booted.
    run.write("echo $((6 * 7))\n");
    run.write("echo piped-$((1 + 1))");
    run.end();
    const { code, signal } = await run.exited;
    assert.equal(signal, null, `killed after ${RUN_LIMIT_MS} ms: ${run.stdout()}`);
    assert.equal(code, 0, run.stdout());
    // The guest's answers, not the terminal's echo of the commands.
    assert.match(run.stdout(), /\r\n42\r\n/);
    assert.match(run.stdout(), /\r\npiped-2\r\n/);
    assert.match(run.stdout(), /# exit\r\n/);
  });

  it("leaves at once on Ctrl-], with a guest command still running", async () => {
    const run = shell([], repo);
    run.write("echo $((6 * 7))\n");
    await run.printed("\r\n42\r\n");
    run.write("sleep 3600\n");
    const pressed = performance.now();
    run.write("\x1d");
    const { code, signal, at } = await run.exited;
    assert.equal(signal, null, `killed after ${RUN_LIMIT_MS} ms`);
    assert.equal(code, 0, run.stdout());
    // "At once": the emulator is stopped and nothing else holds the process (measured: about 0.4 s).
    assert.ok(at - pressed < 10_000, `exited ${Math.round(at - pressed)} ms after Ctrl-]`);
  });
});
