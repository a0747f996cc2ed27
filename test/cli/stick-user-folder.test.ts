/**
 * Files in and out as a new user with a folder of their own (issue 12, item 4 and "How it will be
 * checked"): `uhci stick pack` / `unpack` / `ls` and `uhci shell --stick` on folders real people have.
 * Each case ends as a user expects, or with a one-line error before anything is written; never a stack
 * trace, a silently missing or renamed file, or a write outside the folder. The FAT rules checked are
 * the Microsoft FAT specification's: long names ("Long File Name Implementation": the characters a
 * name cannot hold, names compared without case) and "Date and Time Formats" (2-second times from 1980).
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import {
  chmodSync,
  existsSync,
  linkSync,
  lstatSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  statSync,
  symlinkSync,
  truncateSync,
  utimesSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, it } from "node:test";
import { fileURLToPath } from "node:url";
import { bringStickBack } from "../../src/cli/commands/stick.ts";
import { createFatImage, readFatImage } from "../../src/cli/stick/fat-image.ts";
import { packedFolder, packFolder, unpackImage } from "../../src/cli/stick/stick-folder.ts";

const repo = fileURLToPath(new URL("../../", import.meta.url));
const main = join(repo, "src", "cli", "main.ts");
const tsx = join(repo, "node_modules", "tsx", "dist", "esm", "index.mjs");

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** `uhci ARGS…` from the sources; `tz` sets the process's time zone; `asNobody` drops root (see below). */
function uhci(args: readonly string[], options: { tz?: string; asNobody?: boolean } = {}): Run {
  const env = { ...process.env, ...(options.tz === undefined ? {} : { TZ: options.tz }) };
  const command = [process.execPath, "--import", tsx, main, ...args];
  const [file, ...rest] = options.asNobody
    ? ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", ...command]
    : command;
  const run = spawnSync(file ?? "", rest, { env, encoding: "utf8", timeout: 60_000, cwd: tmpdir() });
  return { code: run.status, stdout: run.stdout, stderr: run.stderr };
}

/** A usage error as the CLI promises it: exit code 2, one line on stderr, no stack trace. */
function assertOneLineError(r: Run, pattern: RegExp, what: string): void {
  assert.equal(r.code, 2, `${what}: exit ${r.code}, ${r.stderr}`);
  assert.match(r.stderr, /^uhci: [^\n]+\n$/, `${what}: not one line: ${r.stderr}`);
  assert.match(r.stderr, pattern, what);
}

function tempDir(name: string): string {
  const dir = mkdtempSync(join(tmpdir(), `uhci-${name}-`));
  chmodSync(dir, 0o755); // readable by the unprivileged user of the permission test
  return dir;
}

/** A folder holding `files` (path → contents); a path ending in `/` is an empty folder. */
function folderWith(files: Record<string, string | Uint8Array>): string {
  const dir = tempDir("folder");
  for (const [path, data] of Object.entries(files)) {
    const full = join(dir, ...path.split("/"));
    if (path.endsWith("/")) {
      mkdirSync(full, { recursive: true });
      continue;
    }
    mkdirSync(join(full, ".."), { recursive: true });
    writeFileSync(full, data);
  }
  return dir;
}

/** Every file below `dir` (path → bytes), and its folders. */
function tree(dir: string): { files: Map<string, Buffer>; folders: string[] } {
  const files = new Map<string, Buffer>();
  const folders: string[] = [];
  const walk = (at: string, prefix: string) => {
    for (const entry of readdirSync(at, { withFileTypes: true })) {
      const path = prefix + entry.name;
      if (entry.isDirectory()) {
        folders.push(path);
        walk(join(at, entry.name), `${path}/`);
      } else files.set(path, readFileSync(join(at, entry.name)));
    }
  };
  walk(dir, "");
  return { files, folders: folders.sort() };
}

describe("uhci stick: a user's own folder, there and back", () => {
  it("keeps deep folders, long mixed-case names, spaces, accents, CJK, emoji, empty files and folders", () => {
    const files: Record<string, string> = {
      "A Long Mixed-Case Name With Spaces.TXT": "spaces\n",
      " leading space.txt": "a leading space is a legal long name\n",
      "café crème/über.md": "accents\n",
      "日本語のフォルダ/ファイル.txt": "CJK\n",
      "party 🎉.txt": "emoji: a surrogate pair in UTF-16\n",
      "a/b/c/d/e/f/g/h/deep.txt": "eight folders down\n",
      [`${"n".repeat(240)}.txt`]: "a 244-character name\n",
      "ß.txt": "FAT does not upper-case ß to SS: a name of its own",
      "SS.txt": "…so both stay",
      "empty.txt": "",
      "empty folder/": "",
      "nested/empty/": "",
    };
    const src = folderWith(files);
    const img = join(tempDir("img"), "stick.img");
    const packed = uhci(["stick", "pack", src, img]);
    assert.equal(packed.code, 0, packed.stderr);
    assert.equal(packed.stderr, "");
    const out = join(tempDir("out"), "back");
    const unpacked = uhci(["stick", "unpack", img, out]);
    assert.equal(unpacked.code, 0, unpacked.stderr);
    const before = tree(src);
    const after = tree(out);
    assert.deepEqual(after.folders, before.folders);
    assert.deepEqual([...after.files.keys()].sort(), [...before.files.keys()].sort());
    for (const [path, data] of before.files) assert.deepEqual(after.files.get(path), data, path);
    const listed = uhci(["stick", "ls", img]);
    assert.match(listed.stdout, /^party 🎉\.txt\t34$/m);
  });

  it("keeps names as they are, not normalized: NFD (as macOS makes them) and NFC come back apart", async () => {
    const nfc = "café.txt".normalize("NFC");
    const nfd = "café.txt".normalize("NFD");
    assert.notEqual(nfc, nfd);
    const src = folderWith({ [nfc]: "composed", [nfd]: "decomposed", ".hidden": "a dot file" });
    const { image } = await packFolder(src);
    const out = join(tempDir("out"), "back");
    const result = await unpackImage(image, out);
    assert.deepEqual(result.failed, []);
    assert.deepEqual(readdirSync(out).sort(), [".hidden", nfc, nfd].sort());
    assert.equal(readFileSync(join(out, nfc), "utf8"), "composed");
    assert.equal(readFileSync(join(out, nfd), "utf8"), "decomposed");
  });

  it("reads back a tree 70 folders deep (refused at 64 before), and refuses one deeper than it can read", async () => {
    const deep = folderWith({ [`${"d/".repeat(70)}bottom.txt`]: "70 down" });
    const { image } = await packFolder(deep);
    const back = await readFatImage(image);
    assert.deepEqual(
      back.files.map((f) => [f.path, Buffer.from(f.data).toString()]),
      [[`${"d/".repeat(70)}bottom.txt`, "70 down"]],
    );
    const tooDeep = folderWith({ [`${"d/".repeat(257)}x`]: "x" });
    await assert.rejects(packFolder(tooDeep), /folders nested deeper than 256 levels/);
  });

  it("refuses names FAT cannot hold, listing them, before any image is written", () => {
    const cases: [string, RegExp][] = [
      ["a:b.txt", /'a:b\.txt' \(':'\)/],
      ["what?", /'what\?' \('\?'\)/],
      ['say "hi"', /'say "hi"' \('"'\)/],
      ["notes.", /'notes\.' \(a trailing dot or space\)/],
      ["name ", /'name ' \(a trailing dot or space\)/],
      ["CON", /'CON' \(a DOS device name\)/],
      ["aux.txt", /'aux\.txt' \(a DOS device name\)/],
      ["tab\there", /\(a control character\)/],
      ["folder./inside.txt", /'folder\.' \(a trailing dot or space\)/],
    ];
    for (const [name, pattern] of cases) {
      const src = folderWith({ [name]: "x", "fine.txt": "fine" });
      const img = join(tempDir("img"), "stick.img");
      assertOneLineError(uhci(["stick", "pack", src, img]), pattern, name);
      assert.ok(!existsSync(img), `${name}: an image was written`);
    }
    // All of them in one line, not one per run.
    const many = folderWith({ "a:b": "1", "c*d": "2", "e|f": "3", "g<h": "4" });
    assertOneLineError(
      uhci(["stick", "pack", many, join(many, "..", "x.img")]),
      /^uhci: 4 names .*'a:b'.*'c\*d'.*'e\|f' .*and 1 more/,
      "four",
    );
  });

  it("refuses names that differ only in case (one name on FAT), files, folders and accented letters alike", () => {
    const cases: [Record<string, string>, RegExp][] = [
      [{ "Readme.txt": "1", "README.txt": "2" }, /'README\.txt' and 'Readme\.txt' \(one name on FAT/],
      [{ "é.txt": "1", "É.txt": "2" }, /'É\.txt' and 'é\.txt'/],
      [{ "Docs/a.txt": "1", "docs/b.txt": "2" }, /'Docs' and 'docs'/],
      [{ "sub/x": "1", "sub/X": "2" }, /'sub\/X' and 'sub\/x'/],
    ];
    for (const [files, pattern] of cases) {
      const src = folderWith(files);
      const img = join(tempDir("img"), "stick.img");
      assertOneLineError(uhci(["stick", "pack", src, img]), pattern, Object.keys(files).join(" "));
      assert.ok(!existsSync(img));
    }
  });

  it("fits more top-level files than a FAT12/16 root directory's default 512 entries", async () => {
    const files: Record<string, string> = {};
    for (let i = 0; i < 600; i++) files[`f${i}.txt`] = `${i}`;
    for (let i = 0; i < 200; i++) files[`a rather long file name, number ${i}.txt`] = `long ${i}`;
    const { image } = await packFolder(folderWith(files));
    const back = await readFatImage(image);
    assert.equal(back.files.length, 800);
    for (const f of back.files) assert.equal(Buffer.from(f.data).toString(), files[f.path], f.path);
  });

  it("keeps modification times both ways, to FAT's 2 seconds, as UTC whatever the host's time zone", () => {
    const src = folderWith({ "a.txt": "a", "sub/b.txt": "b", "old.txt": "before FAT's epoch" });
    const a = Date.UTC(2020, 2, 4, 5, 6, 7, 500);
    const b = Date.UTC(2024, 6, 1, 23, 59, 59);
    utimesSync(join(src, "a.txt"), new Date(a), new Date(a));
    utimesSync(join(src, "sub", "b.txt"), new Date(b), new Date(b));
    utimesSync(join(src, "old.txt"), new Date(86_400_000), new Date(86_400_000));
    const img = join(tempDir("img"), "stick.img");
    assert.equal(uhci(["stick", "pack", src, img], { tz: "America/New_York" }).code, 0);
    const out = join(tempDir("out"), "back");
    assert.equal(uhci(["stick", "unpack", img, out], { tz: "Asia/Tokyo" }).code, 0);
    const floor2 = (ms: number) => Math.floor(ms / 2000) * 2000;
    assert.equal(statSync(join(out, "a.txt")).mtimeMs, floor2(a));
    assert.equal(statSync(join(out, "sub", "b.txt")).mtimeMs, floor2(b));
    assert.equal(statSync(join(out, "old.txt")).mtimeMs, Date.UTC(1980, 0, 1), "clamped to FAT's first day");
  });

  it("stores the times as the guest reads them: UTC fields in the directory entry", async () => {
    const src = folderWith({ "t.txt": "t" });
    const t = Date.UTC(2021, 11, 31, 22, 30, 10);
    utimesSync(join(src, "t.txt"), new Date(t), new Date(t));
    const img = join(tempDir("img"), "stick.img");
    assert.equal(uhci(["stick", "pack", src, img], { tz: "Australia/Adelaide" }).code, 0);
    const image = new Uint8Array(readFileSync(img));
    // The 8.3 entry (FAT specification: DIR_WrtTime at 22, DIR_WrtDate at 24).
    const at = Buffer.from(image).indexOf("T       TXT");
    assert.ok(at > 0);
    const view = new DataView(image.buffer);
    const time = view.getUint16(at + 22, true);
    const date = view.getUint16(at + 24, true);
    assert.deepEqual(
      [1980 + (date >> 9), (date >> 5) & 15, date & 31, time >> 11, (time >> 5) & 63, (time & 31) * 2],
      [2021, 12, 31, 22, 30, 10],
    );
    assert.equal((await readFatImage(image)).files[0]?.mtimeMs, t);
  });

  it("leaves symbolic links out and says so; a link pointing out of the folder never brings its target", () => {
    const outside = folderWith({ "secret.txt": "outside the folder" });
    const src = folderWith({ "real.txt": "real" });
    symlinkSync("real.txt", join(src, "link-in"));
    symlinkSync(join(outside, "secret.txt"), join(src, "link-out"));
    symlinkSync(outside, join(src, "link-dir"));
    const img = join(tempDir("img"), "stick.img");
    const packed = uhci(["stick", "pack", src, img]);
    assert.equal(packed.code, 0, packed.stderr);
    assert.match(packed.stderr, /^uhci stick: left out, .*symbolic links.*: link-dir, link-in, link-out\n$/);
    const listed = uhci(["stick", "ls", img]);
    assert.equal(listed.stdout, "real.txt\t4\n");
  });

  it("answers missing, unreadable and oversized input with one line, writing nothing", () => {
    const dir = tempDir("bad");
    const img = join(dir, "x.img");
    assertOneLineError(uhci(["stick", "pack", join(dir, "nope"), img]), /no folder .*nope$/m, "missing DIR");
    writeFileSync(join(dir, "file"), "x");
    assertOneLineError(uhci(["stick", "pack", join(dir, "file"), img]), /is not a folder/, "DIR is a file");
    const src = folderWith({ "a.txt": "a" });
    assertOneLineError(
      uhci(["stick", "pack", src, join(dir, "no", "such", "x.img")]),
      /IMG: cannot write .*no folder/,
      "IMG in a missing folder",
    );
    assertOneLineError(uhci(["stick", "ls", dir]), /is a folder, not a stick image/, "ls of a folder");
    assertOneLineError(
      uhci(["stick", "unpack", join(dir, "none.img"), join(dir, "o")]),
      /cannot read/,
      "no IMG",
    );
    // Files larger than the stick: refused by their sizes before they are read (a sparse 3 GiB file).
    const big = folderWith({ "small.txt": "s" });
    writeFileSync(join(big, "huge.bin"), "");
    truncateSync(join(big, "huge.bin"), 3 * 1024 ** 3);
    assertOneLineError(
      uhci(["stick", "pack", big, img]),
      /holds 3072\.0 MiB of files; a stick here holds at most 2048 MiB/,
      "default size",
    );
    assertOneLineError(
      uhci(["stick", "pack", big, img, "--size", "64"]),
      /more than a 64 MiB stick/,
      "--size",
    );
    // Files that fit by their bytes but not with the file system's own room.
    const near = folderWith({ "fill.bin": new Uint8Array(32 * 1024 * 1024 - 4096) });
    assertOneLineError(
      uhci(["stick", "pack", near, img, "--size", "32"]),
      /do not fit on a 32 MiB stick.*more MiB/,
      "near full",
    );
    assert.ok(!existsSync(img));
  });

  it("names files and folders it cannot read (permissions), writing nothing", () => {
    const src = folderWith({ "ok.txt": "ok", "secret.txt": "no", "closed/inner.txt": "no" });
    chmodSync(join(src, "secret.txt"), 0o600);
    chmodSync(join(src, "closed"), 0o700);
    const out = tempDir("img");
    chmodSync(out, 0o777);
    const img = join(out, "stick.img");
    // Root reads everything: the check runs as an unprivileged user then (setpriv, util-linux).
    const asNobody = process.getuid?.() === 0;
    const refusedFolder = uhci(["stick", "pack", src, img], { asNobody });
    assertOneLineError(refusedFolder, /cannot read in .*: closed \(permission denied\)/, "folder");
    chmodSync(join(src, "closed"), 0o755);
    const refusedFile = uhci(["stick", "pack", src, img], { asNobody });
    assertOneLineError(refusedFile, /cannot read in .*: secret\.txt \(permission denied\)/, "file");
    assert.ok(!existsSync(img));
  });

  it("packed from inside the folder, leaves the image being written out of itself", () => {
    const src = folderWith({ "a.txt": "a" });
    const img = join(src, "stick.img");
    assert.equal(uhci(["stick", "pack", src, img]).code, 0);
    const again = uhci(["stick", "pack", src, img]);
    assert.equal(again.code, 0, again.stderr);
    assert.match(again.stderr, /left out.*: stick\.img \(the image being written\)/);
    assert.equal(uhci(["stick", "ls", img]).stdout, "a.txt\t1\n");
  });

  it("lists into a pipe closed early (ls | head) without an error", async () => {
    const files: Record<string, string> = {};
    // More than a pipe's 64 KiB buffer of listing, so the writer meets the closed pipe.
    for (let i = 0; i < 1500; i++) files[`d/a file name long enough to fill the pipe quickly ${i}.txt`] = "";
    const { image } = await packFolder(folderWith(files));
    const img = join(tempDir("img"), "stick.img");
    writeFileSync(img, image);
    const run = spawnSync(
      "bash",
      [
        "-c",
        'set -o pipefail; "$0" --import "$1" "$2" stick ls "$3" | head -n 1',
        process.execPath,
        tsx,
        main,
        img,
      ],
      { encoding: "utf8", timeout: 60_000 },
    );
    assert.equal(run.stdout, "d/\n");
    assert.equal(run.stderr, "");
    assert.equal(run.status, 0);
  });

  it("packs a real name that looks like another's 8.3 alias (ABCDEF~1.TXT beside ABCDEFGHIJ.TXT)", () => {
    // FAT specification, "Long File Name Implementation": a long name gets a generated 8.3 alias, the
    // first free `~N`; a file really named ABCDEF~1.TXT must still be its own name on the stick.
    const src = folderWith({ "ABCDEFGHIJ.TXT": "the long one", "ABCDEF~1.TXT": "the short one" });
    const img = join(tempDir("img"), "stick.img");
    const packed = uhci(["stick", "pack", src, img]);
    assert.equal(packed.code, 0, packed.stderr);
    const out = join(tempDir("out"), "back");
    assert.equal(uhci(["stick", "unpack", img, out]).code, 0);
    assert.equal(readFileSync(join(out, "ABCDEFGHIJ.TXT"), "utf8"), "the long one");
    assert.equal(readFileSync(join(out, "ABCDEF~1.TXT"), "utf8"), "the short one");
  });

  it("refuses a name that is not UTF-8 (bytes from a Latin-1 locale) by name, before any image is written", () => {
    const src = folderWith({ "fine.txt": "fine" });
    // 'café.txt' written in Latin-1: the byte E9 alone is no UTF-8; FAT keeps names in UTF-16.
    writeFileSync(
      Buffer.concat([Buffer.from(`${src}/caf`), Buffer.of(0xe9), Buffer.from(".txt")]),
      "latin-1",
    );
    const img = join(tempDir("img"), "stick.img");
    assertOneLineError(uhci(["stick", "pack", src, img]), /'caf\uFFFD\.txt' \(not UTF-8\)/, "Latin-1 name");
    assert.ok(!existsSync(img));
  });

  it("sizes the default stick for many small files (each takes a whole cluster), not only their bytes", async () => {
    // 6000 files of 4097 bytes: 24.6 MB of bytes, 46.9 MiB in 4 KiB clusters (FAT specification,
    // "FAT Data Structure": a file takes whole clusters). Sized by bytes alone the stick was 44 MiB.
    const src = tempDir("small-files");
    const data = new Uint8Array(4097).fill(0x61);
    for (let d = 0; d < 20; d++) {
      mkdirSync(join(src, `dir ${d}`));
      for (let i = 0; i < 300; i++) writeFileSync(join(src, `dir ${d}`, `file ${i}.txt`), data);
    }
    const { image, contents } = await packFolder(src);
    assert.equal(contents.files.length, 6000);
    const back = await readFatImage(image);
    assert.equal(back.files.length, 6000);
    assert.ok(back.files.every((f) => f.data.length === 4097));
  });

  it("refuses a folder holding more names than a FAT folder can, naming it, before reading a file", async () => {
    // A FAT folder has at most 65536 32-byte entries (FatFs: 2 MiB); 22000 names of 18 characters take
    // three each (an 8.3 alias and two long-name entries of 13 characters).
    const src = tempDir("crowded");
    mkdirSync(join(src, "crowded"));
    for (let i = 0; i < 22000; i++)
      writeFileSync(join(src, "crowded", `file name ${String(i).padStart(8, "0")}`), "");
    await assert.rejects(
      packFolder(src),
      /'crowded' holds 22000 names, more than a FAT folder can \(65536 entries.*put some into subfolders/,
    );
  });

  it("refuses more files and folders than a stick it makes can be read back with, before reading one", async () => {
    // readFatImage stops at 100000 entries (a damaged image's loop); 101 folders of 990 files go past it.
    const src = tempDir("too-many");
    for (let d = 0; d < 101; d++) {
      mkdirSync(join(src, `d${d}`));
      for (let i = 0; i < 990; i++) writeFileSync(join(src, `d${d}`, `f${i}`), "");
    }
    await assert.rejects(
      packFolder(src),
      /holds 99990 files and 101 folders; a stick here holds at most 100000 in all/,
    );
  });

  it("leaves FIFOs and sockets out, listed, without waiting on them", () => {
    const src = folderWith({ "real.txt": "real" });
    const made = spawnSync("mkfifo", [join(src, "a fifo")]);
    assert.equal(made.status, 0, "mkfifo");
    const socket = spawnSync(process.execPath, [
      "-e",
      // Exits with the socket bound: closing it would remove its file.
      "require('net').createServer().listen(process.argv[1], () => process.exit(0))",
      join(src, "a socket"),
    ]);
    assert.equal(socket.status, 0);
    assert.ok(lstatSync(join(src, "a socket")).isSocket());
    const img = join(tempDir("img"), "stick.img");
    const packed = uhci(["stick", "pack", src, img]);
    assert.equal(packed.code, 0, packed.stderr);
    assert.match(packed.stderr, /^uhci stick: left out, not regular files or folders.*: a fifo, a socket\n$/);
    assert.equal(uhci(["stick", "ls", img]).stdout, "real.txt\t4\n");
  });

  it("does not replace a read-only image", () => {
    const src = folderWith({ "a.txt": "a" });
    const img = join(tempDir("img"), "stick.img");
    writeFileSync(img, "the user's own image");
    chmodSync(img, 0o444);
    assertOneLineError(
      uhci(["stick", "pack", src, img]),
      /IMG: .* is read-only; not replaced/,
      "read-only IMG",
    );
    assert.equal(readFileSync(img, "utf8"), "the user's own image");
  });
});

describe("unpacking the guest's changes into the folder", () => {
  /** The folder `src` packed, changed as `guest` says (the stick as the guest left it), unpacked over `src`. */
  async function guestChanged(src: string, guest: Record<string, string>) {
    const { image } = await packFolder(folderWith(guest));
    return unpackImage(image, src);
  }

  it("writes into the folder's own name when the stick's differs only in case, never a second file", async () => {
    const src = folderWith({ "README.txt": "old", "Docs/a.txt": "old a" });
    const result = await guestChanged(src, { "readme.txt": "new", "docs/a.txt": "new a", "docs/b.txt": "b" });
    assert.deepEqual(tree(src).folders, ["Docs"]);
    assert.deepEqual([...tree(src).files.keys()].sort(), ["Docs/a.txt", "Docs/b.txt", "README.txt"]);
    assert.equal(readFileSync(join(src, "README.txt"), "utf8"), "new");
    assert.deepEqual(result.caseMatched, [
      { stick: "readme.txt", folder: "README.txt" },
      { stick: "docs/a.txt", folder: "Docs/a.txt" },
      { stick: "docs/b.txt", folder: "Docs/b.txt" },
    ]);
    assert.deepEqual(result.notOnStick, [], "a file the stick holds under another case is not 'deleted'");
  });

  it("keeps and lists what the guest deleted or renamed; keeps permissions; leaves read-only files and hard links alone", async () => {
    const outside = folderWith({ "linked.txt": "outside" });
    const src = folderWith({
      "gone.txt": "deleted in the guest",
      "old name.txt": "renamed",
      "run.sh": "#!/bin/sh\n",
    });
    chmodSync(join(src, "run.sh"), 0o755);
    writeFileSync(join(src, "locked.txt"), "the user's");
    chmodSync(join(src, "locked.txt"), 0o444);
    linkSync(join(outside, "linked.txt"), join(src, "linked.txt"));
    const result = await guestChanged(src, {
      "new name.txt": "renamed",
      "run.sh": "#!/bin/sh\necho changed\n",
      "locked.txt": "changed by the guest",
      "linked.txt": "changed by the guest",
    });
    assert.deepEqual(result.notOnStick.sort(), ["gone.txt", "old name.txt"]);
    assert.equal(readFileSync(join(src, "gone.txt"), "utf8"), "deleted in the guest");
    assert.equal(readFileSync(join(src, "new name.txt"), "utf8"), "renamed");
    assert.equal(lstatSync(join(src, "run.sh")).mode & 0o777, 0o755);
    assert.equal(readFileSync(join(src, "run.sh"), "utf8"), "#!/bin/sh\necho changed\n");
    assert.deepEqual(result.failed, ["locked.txt (read-only in the folder)"]);
    assert.equal(readFileSync(join(src, "locked.txt"), "utf8"), "the user's");
    assert.equal(readFileSync(join(src, "linked.txt"), "utf8"), "changed by the guest");
    assert.equal(readFileSync(join(outside, "linked.txt"), "utf8"), "outside", "written through a hard link");
    assert.deepEqual(
      readdirSync(src).filter((n) => n.includes("partial")),
      [],
    );
  });

  it("never replaces a file changed in the folder while the guest ran (shell --stick), and brings back a time-only change", async () => {
    const src = folderWith({
      "edited on the host.txt": "v1",
      "edited on both.txt": "v1",
      "touched in the guest.txt": "same bytes",
      "guest only.txt": "v1",
    });
    const { contents } = await packFolder(src);
    const packed = packedFolder(contents);
    // While the guest runs, the user edits two files in the folder and makes one.
    const later = Date.UTC(2030, 0, 1);
    for (const [name, text] of [
      ["edited on the host.txt", "v2 from the host"],
      ["edited on both.txt", "v2 from the host"],
      ["made on both.txt", "the host's"],
    ]) {
      writeFileSync(join(src, name ?? ""), text ?? "");
      utimesSync(join(src, name ?? ""), new Date(later), new Date(later));
    }
    // The stick as the guest left it: one file untouched, one edited on both sides, one only touched.
    const guest = folderWith({
      "edited on the host.txt": "v1",
      "edited on both.txt": "v2 from the guest",
      "touched in the guest.txt": "same bytes",
      "guest only.txt": "v2 from the guest",
      "made on both.txt": "the guest's",
    });
    const touched = Date.UTC(2001, 1, 3, 4, 5, 6);
    utimesSync(join(guest, "touched in the guest.txt"), new Date(touched), new Date(touched));
    const { image } = await packFolder(guest);
    const result = await unpackImage(image, src, packed);
    assert.equal(readFileSync(join(src, "edited on the host.txt"), "utf8"), "v2 from the host");
    assert.equal(readFileSync(join(src, "edited on both.txt"), "utf8"), "v2 from the host");
    assert.equal(readFileSync(join(src, "made on both.txt"), "utf8"), "the host's");
    assert.equal(readFileSync(join(src, "guest only.txt"), "utf8"), "v2 from the guest");
    assert.deepEqual(result.newerInFolder, ["edited on the host.txt"]);
    assert.deepEqual(result.failed.sort(), [
      "edited on both.txt (changed in the folder too while the guest ran; the folder's kept)",
      "made on both.txt (made in the folder too while the guest ran; the folder's kept)",
    ]);
    assert.equal(statSync(join(src, "touched in the guest.txt")).mtimeMs, touched);
    assert.deepEqual(result.written, ["guest only.txt"]);
  });

  /**
   * A stick holding `é.txt` and `É.txt` in one folder: what a hostile guest or a damaged file system
   * can leave (FatFs and the bundled guest's vfat take them for one name: `echo > É.txt` there
   * replaced é.txt). Made here by packing `é.txt` and `ü.txt` and turning the ü in the long-name
   * entry into É (FAT specification, "Long File Name Implementation": the entry's checksum covers the
   * 8.3 name only).
   */
  async function stickWithTwoNamesForOne(): Promise<Uint8Array> {
    const image = await createFatImage(2 * 1024 * 1024, {
      files: [
        { path: "é.txt", data: Buffer.from("lower case, from the guest") },
        { path: "ü.txt", data: Buffer.from("upper case, from the guest") },
      ],
    });
    const at = Buffer.from(image).indexOf(Buffer.from("ü", "utf16le"));
    assert.ok(at > 0);
    image.set(Buffer.from("É", "utf16le"), at);
    assert.deepEqual((await readFatImage(image)).files.map((f) => f.path).sort(), ["É.txt", "é.txt"]);
    return image;
  }

  it("never lets a second stick name for one file replace the first (é.txt and É.txt on a hostile stick)", async () => {
    const image = await stickWithTwoNamesForOne();
    const dir = folderWith({});
    const result = await unpackImage(image, dir);
    assert.deepEqual(readdirSync(dir), ["é.txt"]);
    assert.equal(readFileSync(join(dir, "é.txt"), "utf8"), "lower case, from the guest");
    assert.deepEqual(result.failed, ["É.txt (the stick also holds é.txt, one name for the folder)"]);
    // At the end of `shell --stick` the stick is kept whole beside it, so the second file is not lost.
    const dir2 = folderWith({});
    const said = await bringStickBack(image, dir2);
    assert.match(said, /NOT WRITTEN: É\.txt .*\n {2}so that nothing is lost, the whole stick is saved as /);
    const saved = readdirSync(dir2).filter((n) => n.startsWith("uhci-stick-"));
    assert.equal(saved.length, 1);
    assert.deepEqual(new Uint8Array(readFileSync(join(dir2, saved[0] ?? ""))), image);
  });

  it("never writes through a symbolic link left at the name of its partial file", async () => {
    const outside = folderWith({ "target.txt": "outside the folder" });
    const dir = folderWith({});
    // unpackImage runs in this process: its partial file is named after this process's id.
    symlinkSync(join(outside, "target.txt"), join(dir, `.uhci-unpack-${process.pid}.partial`));
    const { image } = await packFolder(folderWith({ "new.txt": "from the guest" }));
    const result = await unpackImage(image, dir);
    assert.deepEqual(result.written, ["new.txt"]);
    assert.equal(readFileSync(join(outside, "target.txt"), "utf8"), "outside the folder");
    assert.ok(lstatSync(join(dir, "new.txt")).isFile());
    assert.equal(readFileSync(join(dir, "new.txt"), "utf8"), "from the guest");
  });

  it("exits 1 from the CLI when a file could not be written, after writing the others", () => {
    const guest = folderWith({ "a.txt": "new a", "locked.txt": "new" });
    const img = join(tempDir("img"), "stick.img");
    assert.equal(uhci(["stick", "pack", guest, img]).code, 0);
    const dir = folderWith({ "locked.txt": "mine" });
    chmodSync(join(dir, "locked.txt"), 0o444);
    const r = uhci(["stick", "unpack", img, dir]);
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stdout, /NOT WRITTEN: locked\.txt \(read-only in the folder\)/);
    assert.equal(readFileSync(join(dir, "a.txt"), "utf8"), "new a");
  });
});

describe("uhci shell --stick", () => {
  it("at its end, keeps a stick it cannot unpack as an image file in the folder rather than losing it", async () => {
    const dir = folderWith({ "mine.txt": "mine" });
    // What a guest that wrote over the file system leaves: no FAT at all.
    const image = new Uint8Array(1024 * 1024).fill(0x5a);
    const said = await bringStickBack(image, dir);
    assert.match(
      said,
      /^could not bring the stick's files back \(mounting the image: no FAT file system\); the whole stick is saved as /,
    );
    const saved = readdirSync(dir).filter((n) => /^uhci-stick-\d{8}-\d{6}\.img$/.test(n));
    assert.equal(saved.length, 1, said);
    assert.deepEqual(new Uint8Array(readFileSync(join(dir, saved[0] ?? ""))), image);
    assert.equal(readFileSync(join(dir, "mine.txt"), "utf8"), "mine");
    // A second failure does not overwrite the first image.
    await bringStickBack(image, dir);
    assert.equal(readdirSync(dir).filter((n) => n.startsWith("uhci-stick-")).length, 2);
    // And a good stick is simply unpacked.
    const { image: good } = await packFolder(folderWith({ "new.txt": "from the guest" }));
    assert.match(await bringStickBack(good, dir), /1 file\(s\) written/);
  });

  it("refuses a folder the stick cannot hold before the guest boots", () => {
    const src = folderWith({ "a:b.txt": "x" });
    assertOneLineError(uhci(["shell", "--stick", src]), /'a:b\.txt' \(':'\)/, "shell");
    assertOneLineError(uhci(["shell", "--stick", join(src, "missing")]), /no folder/, "missing");
  });
});
