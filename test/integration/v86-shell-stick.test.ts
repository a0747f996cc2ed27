/**
 * `uhci shell --stick DIR` as a user runs it (issue 12, item 4): the folder's files are on a USB stick
 * in the guest, the user's commands (piped here) mount it, read a file, change one and make one, and
 * when the shell ends the host folder holds the guest's changes, byte for byte. One boot.
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, it } from "node:test";
import { fileURLToPath } from "node:url";

const main = fileURLToPath(new URL("../../src/cli/main.ts", import.meta.url));

describe("uhci shell --stick", () => {
  it("gives the guest the folder's files and brings its changes back when the shell ends", () => {
    const dir = mkdtempSync(join(tmpdir(), "uhci-shell-stick-"));
    writeFileSync(join(dir, "greeting.txt"), "hello from the host\n");
    writeFileSync(join(dir, "keep.txt"), "unchanged\n");
    const script = [
      "mkdir -p /mnt/stick && mount /dev/sda1 /mnt/stick",
      "sha256sum /mnt/stick/greeting.txt",
      "echo 'changed by the guest' >> /mnt/stick/greeting.txt",
      "mkdir /mnt/stick/made && uname -r > /mnt/stick/made/kernel.txt",
      "umount /mnt/stick && echo UNMOUNTED",
      "",
    ].join("\n");
    const run = spawnSync(
      process.execPath,
      ["--import", "tsx", main, "shell", "--quiet", "--devices", "none", "--stick", dir],
      {
        input: script,
        encoding: "utf8",
        timeout: 240_000,
      },
    );
    assert.equal(run.status, 0, run.stderr);
    assert.match(run.stdout, /UNMOUNTED/);
    // The guest read the host's bytes (the sha256 of the file as the host wrote it).
    const hostSha = createHash("sha256").update("hello from the host\n").digest("hex");
    assert.match(run.stdout, new RegExp(`${hostSha}\\s+/mnt/stick/greeting\\.txt`));
    assert.equal(
      readFileSync(join(dir, "greeting.txt"), "utf8"),
      "hello from the host\nchanged by the guest\n",
    );
    assert.equal(readFileSync(join(dir, "keep.txt"), "utf8"), "unchanged\n");
    assert.equal(readFileSync(join(dir, "made", "kernel.txt"), "utf8"), "6.1.0-50-686\n");
    assert.match(run.stderr, /2 file\(s\) written, 1 unchanged/);
  });
});
