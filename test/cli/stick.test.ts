/**
 * Files in and out of the guest for a user (issue 12, item 4): `uhci stick pack DIR IMG` makes a FAT
 * stick image of a folder, `uhci stick unpack IMG DIR` brings an image's files back, both through FatFs
 * (js-fatfs). The image is checked from outside too: its MBR partition and the FAT boot sector a Linux
 * guest's vfat driver reads (Microsoft FAT specification: BPB fields, 0x55AA signature).
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, it } from "node:test";
import { fileURLToPath } from "node:url";
import { createFatImage, readFatImage } from "../../src/cli/stick/fat-image.ts";
import { packFolder, unpackImage } from "../../src/cli/stick/stick-folder.ts";

const main = fileURLToPath(new URL("../../src/cli/main.ts", import.meta.url));

function uhci(...args: string[]) {
  const run = spawnSync(process.execPath, ["--import", "tsx", main, ...args], { encoding: "utf8" });
  return { code: run.status, stdout: run.stdout, stderr: run.stderr };
}

/** Bytes that differ at every position of a long file (a misplaced cluster shows). */
function pattern(length: number, seed: number): Uint8Array {
  const out = new Uint8Array(length);
  let x = seed >>> 0;
  for (let i = 0; i < length; i++) {
    x = (Math.imul(x, 1664525) + 1013904223) >>> 0;
    out[i] = x >>> 24;
  }
  return out;
}

function folderWith(files: Record<string, Uint8Array | string>): string {
  const dir = mkdtempSync(join(tmpdir(), "uhci-stick-"));
  for (const [path, data] of Object.entries(files)) {
    const full = join(dir, ...path.split("/"));
    mkdirSync(join(full, ".."), { recursive: true });
    writeFileSync(full, data);
  }
  return dir;
}

describe("FAT stick images (FatFs)", () => {
  it("keeps every file's bytes, long names, nested and empty folders, and an empty file", async () => {
    const files = [
      { path: "notes.txt", data: new TextEncoder().encode("hello from the host\n") },
      { path: "A long file name with spaces.bin", data: pattern(300_000, 1) },
      { path: "deep/er/still/x.dat", data: pattern(4097, 2) },
      { path: "empty.txt", data: new Uint8Array(0) },
    ];
    const image = await createFatImage(8 * 1024 * 1024, { files, folders: ["nothing-here"] });
    const back = await readFatImage(image);
    const byPath = new Map(back.files.map((f) => [f.path, f.data]));
    assert.equal(back.files.length, files.length);
    for (const f of files) assert.deepEqual(byPath.get(f.path), f.data, f.path);
    assert.deepEqual(back.folders.sort(), ["deep", "deep/er", "deep/er/still", "nothing-here"]);
  });

  it("is a whole disk with one FAT partition, as the guest's sd + vfat expect (MBR, BPB, 0x55AA)", async () => {
    const image = await createFatImage(32 * 1024 * 1024, { files: [] });
    const view = new DataView(image.buffer);
    assert.equal(view.getUint16(510, true), 0xaa55, "MBR signature");
    const type = image[446 + 4]!;
    assert.ok([0x01, 0x04, 0x06, 0x0b, 0x0c, 0x0e].includes(type), `partition type ${type.toString(16)}`);
    const start = view.getUint32(446 + 8, true);
    const sectors = view.getUint32(446 + 12, true);
    assert.ok(start > 0 && start + sectors <= image.length / 512);
    const boot = start * 512;
    assert.equal(view.getUint16(boot + 11, true), 512, "BPB_BytsPerSec");
    assert.equal(view.getUint16(boot + 510, true), 0xaa55, "boot sector signature");
    assert.ok(image[boot + 16]! >= 1, "BPB_NumFATs");
  });

  it("refuses a damaged image whose directory entry claims a file larger than the stick", async () => {
    const image = await createFatImage(2 * 1024 * 1024, {
      files: [{ path: "HOST.BIN", data: new Uint8Array(1000).fill(7) }],
    });
    // The 8.3 directory entry (FAT specification: name at 0, DIR_FileSize at 28) of HOST.BIN.
    const at = Buffer.from(image).indexOf("HOST    BIN");
    assert.ok(at > 0);
    new DataView(image.buffer).setUint32(at + 28, 0xfffffff0, true);
    await assert.rejects(readFatImage(image), /claims 4294967280 bytes, more than the stick holds/);
  });

  it("refuses a name no FAT file system can hold, and a stick too small for the files", async () => {
    await assert.rejects(
      createFatImage(2 * 1024 * 1024, { files: [{ path: "a/../b", data: new Uint8Array(1) }] }),
    );
    await assert.rejects(
      createFatImage(2 * 1024 * 1024, { files: [{ path: "big", data: new Uint8Array(3 * 1024 * 1024) }] }),
      /full|denied/,
    );
    await assert.rejects(createFatImage(1000, { files: [] }), /whole number/);
  });
});

describe("uhci stick pack / unpack", () => {
  it("round-trips a folder through an image file, byte for byte", () => {
    const src = folderWith({ "a.txt": "first\n", "sub/b.bin": pattern(70_000, 3), "sub/c/d.txt": "deep" });
    const img = join(mkdtempSync(join(tmpdir(), "uhci-stick-img-")), "stick.img");
    const packed = uhci("stick", "pack", src, img, "--size", "16");
    assert.equal(packed.code, 0, packed.stderr);
    assert.equal(readFileSync(img).length, 16 * 1024 * 1024);
    assert.ok(!existsSync(`${img}.partial`));
    const listed = uhci("stick", "ls", img);
    assert.equal(listed.code, 0, listed.stderr);
    assert.match(listed.stdout, /^sub\/b\.bin\t70000$/m);
    const out = join(mkdtempSync(join(tmpdir(), "uhci-stick-out-")), "back");
    const unpacked = uhci("stick", "unpack", img, out);
    assert.equal(unpacked.code, 0, unpacked.stderr);
    assert.match(unpacked.stdout, /3 file\(s\) written, 0 unchanged/);
    for (const p of ["a.txt", "sub/b.bin", "sub/c/d.txt"]) {
      assert.deepEqual(readFileSync(join(out, p)), readFileSync(join(src, p)), p);
    }
  });

  it("unpacks over the folder: writes what changed, keeps what the stick lacks, never writes through a link", async () => {
    const src = folderWith({ "same.txt": "same", "changed.txt": "old", "gone.txt": "deleted in the guest" });
    const { image } = await packFolder(src);
    // The guest changed one file, deleted one, made one: simulated by packing the new state.
    const guest = folderWith({
      "same.txt": "same",
      "changed.txt": "new",
      "made.txt": "by the guest",
      link: "x",
    });
    const { image: after } = await packFolder(guest);
    assert.ok(image.length > 0);
    const outside = mkdtempSync(join(tmpdir(), "uhci-stick-outside-"));
    symlinkSync(join(outside, "target"), join(src, "link"));
    const result = await unpackImage(after, src);
    assert.deepEqual(result.written.sort(), ["changed.txt", "made.txt"]);
    assert.deepEqual(result.unchanged, ["same.txt"]);
    assert.deepEqual(result.notOnStick, ["gone.txt"]);
    assert.deepEqual(result.conflicts, ["link"]);
    assert.equal(readFileSync(join(src, "changed.txt"), "utf8"), "new");
    assert.equal(readFileSync(join(src, "gone.txt"), "utf8"), "deleted in the guest");
    assert.ok(!existsSync(join(outside, "target")), "a stick file was written through a symbolic link");
  });

  it("answers bad input with a one-line error: not a FAT image, a missing folder, a bad size", () => {
    const dir = mkdtempSync(join(tmpdir(), "uhci-stick-bad-"));
    const junk = join(dir, "junk.img");
    writeFileSync(junk, pattern(1024 * 1024, 4));
    const notFat = uhci("stick", "ls", junk);
    assert.equal(notFat.code, 1);
    assert.match(notFat.stderr, /^uhci stick: mounting the image: no FAT file system\n$/);
    // Found by trying: these read forever, or said only "disk error".
    const tiny = join(dir, "note.txt");
    writeFileSync(tiny, "hi\n");
    const small = uhci("stick", "ls", tiny);
    assert.equal(small.code, 2);
    assert.match(
      small.stderr,
      /^uhci: .*note\.txt is not a stick image: 3 bytes, less than one 512-byte sector\n$/,
    );
    for (const special of ["/dev/zero", "/dev/null"]) {
      const device = uhci("stick", "ls", special);
      assert.equal(device.code, 2, special);
      assert.match(device.stderr, /is not a regular file \(a device, pipe or socket\), not a stick image\n$/);
    }
    const missing = uhci("stick", "pack", join(dir, "nope"), join(dir, "x.img"));
    assert.equal(missing.code, 2);
    assert.match(missing.stderr, /^uhci: no folder .*nope\n$/);
    const size = uhci("stick", "pack", dir, join(dir, "x.img"), "--size", "0");
    assert.equal(size.code, 2);
    assert.equal(uhci("stick", "frobnicate").code, 2);
    assert.ok(!existsSync(join(dir, "x.img")));
  });
});
