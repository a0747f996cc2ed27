/**
 * `uhci shell --stick DIR` as a user runs it (issue 12, item 4): the folder's files are on a USB stick
 * in the guest, the user's commands (piped here) mount it, read a file, change one and make one, and
 * when the shell ends the host folder holds the guest's changes, byte for byte. Then, as the README
 * also allows, the stick is mounted again, files are renamed, deleted, dated and written, and the
 * shell is left with a plain `exit`, no sync or unmount ("the guest syncs before it halts"): a file
 * written just before `exit` was missing from DIR, as /init reports `done` before its final sync and
 * the shell stopped the emulator on `done`. Then a shell ended by SIGTERM (`kill`, or SIGHUP when
 * its terminal closes) still brings back what the guest synced: by default the signal killed the
 * process and the stick, only in memory, was lost. Two boots.
 */
import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync, mkdtempSync, readFileSync, statSync, writeFileSync } from "node:fs";
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
    writeFileSync(join(dir, "café crème.txt"), "accents from the host\n");
    writeFileSync(join(dir, "Old Name.txt"), "rename me\n");
    writeFileSync(join(dir, "delete-me.txt"), "delete me\n");
    const script = [
      "mkdir -p /mnt/stick && mount /dev/sda1 /mnt/stick",
      "sha256sum /mnt/stick/greeting.txt",
      "echo 'changed by the guest' >> /mnt/stick/greeting.txt",
      "mkdir /mnt/stick/made && uname -r > /mnt/stick/made/kernel.txt",
      "umount /mnt/stick && echo UNMOUNTED",
      "mount /dev/sda1 /mnt/stick && cd /mnt/stick",
      'cat "café crème.txt"',
      'mv "Old Name.txt" "New Name.txt" && rm delete-me.txt',
      'echo "from the guest" > "gäst 日本.txt"',
      'echo dated > dated.txt && touch -d "2001-02-03 04:05:06" dated.txt',
      "dd if=/dev/urandom of=last.bin bs=1k count=300 2>/dev/null; sha256sum last.bin",
      "cd /",
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
    assert.match(run.stdout, /accents from the host/, "the guest read the host's file by its accented name");
    // The last file written before `exit`, byte for byte as the guest's sha256 says.
    const guestSum = /^([0-9a-f]{64}) {2}last\.bin/m.exec(run.stdout)?.[1];
    assert.ok(guestSum, `no sha256 from the guest: ${run.stdout}`);
    assert.ok(
      existsSync(join(dir, "last.bin")),
      `last.bin (written just before exit) not in DIR: ${run.stderr}`,
    );
    assert.equal(
      createHash("sha256")
        .update(readFileSync(join(dir, "last.bin")))
        .digest("hex"),
      guestSum,
    );
    assert.equal(readFileSync(join(dir, "New Name.txt"), "utf8"), "rename me\n");
    assert.equal(readFileSync(join(dir, "gäst 日本.txt"), "utf8"), "from the guest\n");
    // The guest's clock is UTC, and so is what its vfat driver wrote (FAT keeps 2 s).
    assert.equal(statSync(join(dir, "dated.txt")).mtimeMs, Date.UTC(2001, 1, 3, 4, 5, 6));
    // Nothing deleted on the host: the guest's deletion and the rename's old name are kept and listed.
    assert.equal(readFileSync(join(dir, "delete-me.txt"), "utf8"), "delete me\n");
    assert.equal(readFileSync(join(dir, "Old Name.txt"), "utf8"), "rename me\n");
    assert.match(run.stderr, /not on the stick \(kept\): Old Name\.txt, delete-me\.txt/);
    assert.match(run.stderr, /6 file\(s\) written, 2 unchanged/);
  });

  it("brings back what the guest synced when the shell is ended by SIGTERM", async () => {
    const dir = mkdtempSync(join(tmpdir(), "uhci-shell-stick-term-"));
    writeFileSync(join(dir, "host.txt"), "from the host\n");
    const child = spawn(
      process.execPath,
      ["--import", "tsx", main, "shell", "--quiet", "--devices", "none", "--stick", dir],
      { stdio: ["pipe", "pipe", "pipe"] },
    );
    let stdout = "";
    let stderr = "";
    child.stderr.on("data", (chunk: Buffer) => {
      stderr += chunk.toString();
    });
    // The input stays open (a user at the shell); `SYN''CED` so that the typed line's echo is no match.
    child.stdin.write(
      "mkdir -p /mnt/stick && mount /dev/sda1 /mnt/stick && echo synced by the guest > /mnt/stick/made.txt && sync && echo SYN''CED\n",
    );
    const killer = setTimeout(() => child.kill("SIGKILL"), 240_000);
    let termSent = false;
    child.stdout.on("data", (chunk: Buffer) => {
      stdout += chunk.toString();
      // Once: a second SIGTERM, as the README says, ends the process at once.
      if (!termSent && stdout.includes("SYNCED")) {
        termSent = true;
        child.kill("SIGTERM");
      }
    });
    const [code, signal] = await new Promise<[number | null, NodeJS.Signals | null]>((resolve) =>
      child.on("exit", (c, s) => resolve([c, s])),
    );
    clearTimeout(killer);
    assert.ok(stdout.includes("SYNCED"), `the guest never synced: ${stdout.slice(-2000)} ${stderr}`);
    assert.deepEqual([code, signal], [143, null], stderr);
    assert.match(stderr, /SIGTERM: leaving the shell; what the guest synced goes back into /);
    assert.equal(readFileSync(join(dir, "made.txt"), "utf8"), "synced by the guest\n");
    assert.equal(readFileSync(join(dir, "host.txt"), "utf8"), "from the host\n");
  });
});
