import assert from "node:assert/strict";
import { copyFileSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, it } from "node:test";
import { loadBootStick } from "./boot-stick.ts";
import { BUNDLED_GUEST_DIR, loadGuestImages } from "./bundled-guest.ts";

/** A copy of the bundled guest folder's files, to spoil one of them. */
function copyOfGuest(): string {
  const dir = mkdtempSync(join(tmpdir(), "uhci-boot-stick-"));
  for (const name of readdirSync(BUNDLED_GUEST_DIR, { withFileTypes: true })) {
    if (name.isFile()) copyFileSync(join(BUNDLED_GUEST_DIR, name.name), join(dir, name.name));
  }
  return dir;
}

describe("loadBootStick", () => {
  it("assembles a disk SeaBIOS boots: MBR with one active FAT16 partition, the kernel inside it", () => {
    const stick = loadBootStick();
    const view = new DataView(stick.buffer, stick.byteOffset, stick.byteLength);
    assert.equal(stick.length, 16 * 1024 * 1024);
    assert.equal(view.getUint16(510, true), 0xaa55, "MBR signature");
    assert.equal(stick[446], 0x80, "the partition is active (SYSLINUX's mbr.bin boots the active one)");
    assert.equal(stick[446 + 4], 0x0e, "FAT16 (LBA)");
    const start = view.getUint32(446 + 8, true);
    assert.equal(view.getUint16(start * 512 + 510, true), 0xaa55, "the partition's boot sector");
    const kernel = new Uint8Array(loadGuestImages().kernel);
    const manifest = JSON.parse(readFileSync(join(BUNDLED_GUEST_DIR, "stick.json"), "utf8")) as {
      files: { source: string; offset: number }[];
    };
    const at = manifest.files.find((f) => f.source === "bzImage")?.offset ?? -1;
    assert.ok(at >= start * 512);
    assert.deepEqual(stick.subarray(at, at + kernel.length), kernel);
  });

  it("refuses a kernel or initramfs other than the one the stick was built with", () => {
    const dir = copyOfGuest();
    const initrd = readFileSync(join(dir, "initramfs.cpio.zst"));
    initrd[1000] = (initrd[1000] ?? 0) ^ 1;
    writeFileSync(join(dir, "initramfs.cpio.zst"), initrd);
    assert.throws(() => loadBootStick(dir), /initramfs\.cpio\.zst is not the file the stick was built with/);
  });

  it("refuses a stick.json that names a file outside the folder, or a missing template", () => {
    const dir = copyOfGuest();
    const manifest = JSON.parse(readFileSync(join(dir, "stick.json"), "utf8")) as {
      files: { source: string }[];
    };
    const first = manifest.files[0];
    assert.ok(first);
    first.source = "../bzImage";
    writeFileSync(join(dir, "stick.json"), JSON.stringify(manifest));
    assert.throws(() => loadBootStick(dir), /valid files list/);
    assert.throws(
      () => loadBootStick(mkdtempSync(join(tmpdir(), "uhci-empty-"))),
      /cannot read 'stick\.json'/,
    );
  });
});
