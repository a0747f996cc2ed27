/**
 * checkFatImage (src/cli/stick/fat-image.ts): the FatFs check the stick durability tests rely on where
 * dosfstools' fsck.fat is missing. It must see a clean image as clean, with the free cluster count
 * following what the files hold, and see a broken FAT as broken, listing the files whose cluster chain
 * runs through free clusters instead of throwing. The FAT is broken from outside, through the boot
 * sector's BPB fields (Microsoft FAT specification, "Boot Sector and BPB": BPB_RsvdSecCnt at 14,
 * BPB_FATSz16 at 22; the FAT's first two entries are reserved).
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { checkFatImage, createFatImage } from "../../src/cli/stick/fat-image.ts";

const MIB = 1024 * 1024;

function bytes(length: number, seed: number): Uint8Array {
  const out = new Uint8Array(length);
  for (let i = 0; i < length; i++) out[i] = (i * 31 + seed) & 0xff;
  return out;
}

describe("checkFatImage", () => {
  it("reads every file whole and counts the clusters they take", async () => {
    const files = [
      { path: "A.BIN", data: bytes(128 * 1024, 1) },
      { path: "dir/b.txt", data: bytes(1000, 2) },
    ];
    const empty = await checkFatImage(await createFatImage(16 * MIB, { files: [] }));
    const full = await checkFatImage(await createFatImage(16 * MIB, { files, folders: ["dir/sub"] }));
    assert.deepEqual(full.unreadable, []);
    assert.deepEqual(
      full.files.map((f) => [f.path, f.data]),
      files.map((f) => [f.path, f.data]),
    );
    assert.deepEqual(full.folders.sort(), ["dir", "dir/sub"]);
    // 16 MiB gets 2 KiB clusters from FatFs: 64 for A.BIN, 1 for b.txt, 1 for each folder.
    assert.equal(empty.freeClusters - full.freeClusters, 64 + 1 + 2);
  });

  it("lists a file whose chain runs through free clusters as unreadable, and counts those clusters free", async () => {
    const image = await createFatImage(16 * MIB, {
      files: [{ path: "A.BIN", data: bytes(64 * 1024, 3) }],
    });
    const before = await checkFatImage(image);
    const mbr = new DataView(image.buffer, image.byteOffset);
    const volume = mbr.getUint32(0x1c6, true) * 512;
    const fat = volume + mbr.getUint16(volume + 14, true) * 512;
    const fatBytes = mbr.getUint16(volume + 22, true) * 512;
    image.fill(0, fat + 4, fat + fatBytes); // every entry past the two reserved ones: free
    const after = await checkFatImage(image);
    assert.deepEqual(after.files, []);
    assert.deepEqual(
      after.unreadable.map((u) => u.path),
      ["A.BIN"],
    );
    assert.match(after.unreadable[0]?.error ?? "", /A\.BIN/);
    assert.equal(after.freeClusters, before.freeClusters + 32);
  });
});
