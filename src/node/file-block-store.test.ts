/**
 * A stick image in a file: reads and writes reach the file, SYNCHRONIZE CACHE and unplug flush it,
 * and every bad image (missing, a directory, unreadable, read-only, empty, not whole blocks, shrinking
 * under the device) is a clear error at open or a MEDIUM ERROR for the guest — never an exception.
 */
import assert from "node:assert/strict";
import { chmodSync, mkdtempSync, readFileSync, rmSync, truncateSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { StoreStatus } from "../devices/storage/block-store.ts";
import { CswStatus } from "../devices/storage/mass-storage.ts";
import { bootStick, Cdb, senseOf } from "../devices/storage/testing/bot-host.ts";
import { FileBlockStore, ImageFileError } from "./file-block-store.ts";

const dir = mkdtempSync(join(tmpdir(), "uhci-stick-"));
after(() => rmSync(dir, { recursive: true, force: true }));

function image(name: string, bytes: number, fill = (i: number) => (i * 5 + (i >> 9)) & 0xff): string {
  const path = join(dir, name);
  writeFileSync(
    path,
    Uint8Array.from({ length: bytes }, (_, i) => fill(i)),
  );
  return path;
}

function openError(path: string, readOnly = false): ImageFileError {
  try {
    FileBlockStore.open(path, { readOnly }).close();
  } catch (error) {
    assert.ok(error instanceof ImageFileError, String(error));
    return error;
  }
  assert.fail(`${path} opened`);
}

describe("FileBlockStore", () => {
  it("the guest reads the file's bytes and its writes reach the file, through the stick", () => {
    const path = image("rw.img", 1024 * 512);
    const original = readFileSync(path);
    const store = FileBlockStore.open(path);
    assert.deepEqual([store.blockCount, store.readOnly], [1024, false]);
    const { host } = bootStick({ store });
    const read = host.command(Cdb.read10(10, 200), { dataIn: 200 * 512, timeoutMs: 5000 });
    assert.equal(read.csw?.status, CswStatus.Passed);
    assert.deepEqual(Buffer.from(read.data), original.subarray(10 * 512, 210 * 512));
    const data = Uint8Array.from({ length: 130 * 512 }, (_, i) => (i * 3) & 0xff);
    assert.equal(host.command(Cdb.write10(500, 130), { dataOut: data, timeoutMs: 5000 }).csw?.status, 0);
    // Already in the file (the page cache) when the CSW came: no flush needed to see it.
    const now = readFileSync(path);
    assert.deepEqual(now.subarray(500 * 512, 630 * 512), Buffer.from(data));
    assert.deepEqual(now.subarray(0, 500 * 512), original.subarray(0, 500 * 512));
    assert.deepEqual(now.subarray(630 * 512), original.subarray(630 * 512));
    assert.equal(host.command(Cdb.synchronizeCache10()).csw?.status, CswStatus.Passed);
    store.close();
    store.close();
    assert.ok(store.closed);
  });

  it("read-only: WP set for the guest, writes refused with DATA PROTECT, the file untouched", () => {
    const path = image("ro.img", 64 * 512);
    const original = readFileSync(path);
    const store = FileBlockStore.open(path, { readOnly: true });
    const { host } = bootStick({ store });
    const mode = host.command(Cdb.modeSense6(0x3f, 192), { dataIn: 192 });
    assert.equal(mode.data[2], 0x80);
    const write = host.command(Cdb.write10(0, 1), { dataOut: new Uint8Array(512).fill(1) });
    assert.equal(write.csw?.status, CswStatus.Failed);
    const sense = senseOf(host.command(Cdb.requestSense(), { dataIn: 18 }).data);
    assert.deepEqual([sense.key, sense.asc], [0x7, 0x27]);
    store.write(0, 1, new Uint8Array(512), (s) => assert.equal(s, StoreStatus.WriteProtected));
    assert.deepEqual(readFileSync(path), original);
    store.close();
  });

  it("a missing file, a directory, an empty file, a size that is not whole blocks: each a clear ImageFileError", () => {
    const missing = openError(join(dir, "nope.img"));
    assert.equal(missing.problem, "missing");
    assert.match(missing.message, /does not exist/);
    assert.equal(openError(dir).problem, "not-a-file");
    assert.equal(openError(image("empty.img", 0)).problem, "empty");
    const odd = openError(image("odd.img", 1000));
    assert.equal(odd.problem, "not-whole-blocks");
    assert.match(odd.message, /1000 bytes, not a whole number of 512-byte blocks/);
  });

  it("a read-only file opened for writing is refused (or, as root, writable after all); read-only opening works", () => {
    const path = image("locked.img", 8 * 512);
    chmodSync(path, 0o444);
    let store: FileBlockStore | null = null;
    try {
      store = FileBlockStore.open(path);
    } catch (error) {
      assert.ok(error instanceof ImageFileError);
      assert.equal(error.problem, "read-only");
      assert.match(error.message, /cannot be opened for writing .*read-only/);
    }
    if (store !== null) {
      // Root ignores the mode bits: the file really is writable, and writes land.
      assert.equal(process.getuid?.(), 0, "only root opens a 0444 file for writing");
      store.write(0, 1, new Uint8Array(512).fill(9), (s) => assert.equal(s, StoreStatus.Ok));
      store.close();
    }
    const ro = FileBlockStore.open(path, { readOnly: true });
    assert.equal(ro.readOnly, true);
    ro.close();
  });

  it("a file that shrinks under the device: reads and writes past the new end are MEDIUM ERROR for the guest, never an exception", () => {
    const path = image("shrink.img", 512 * 512);
    const store = FileBlockStore.open(path);
    const { host } = bootStick({ store });
    truncateSync(path, 100 * 512);
    const read = host.command(Cdb.read10(50, 100), { dataIn: 100 * 512 });
    assert.equal(read.csw?.status, CswStatus.Failed);
    const sense = senseOf(host.command(Cdb.requestSense(), { dataIn: 18 }).data);
    assert.deepEqual([sense.key, sense.asc], [0x3, 0x11]);
    const write = host.command(Cdb.write10(300, 1), { dataOut: new Uint8Array(512) });
    assert.equal(write.csw?.status, CswStatus.Failed);
    assert.equal(readFileSync(path).length, 100 * 512, "the file was not grown back");
    // What is still there reads fine.
    assert.equal(host.command(Cdb.read10(0, 10), { dataIn: 5120 }).csw?.status, CswStatus.Passed);
    assert.ok(store.lastError !== null);
    store.close();
  });

  it("after close, operations fail with MEDIUM ERROR (a stick whose file was closed by the host)", () => {
    const store = FileBlockStore.open(image("closed.img", 16 * 512));
    store.close();
    const into = new Uint8Array(512);
    store.read(0, 1, into, (s) => assert.equal(s, StoreStatus.MediumError));
    store.write(0, 1, into, (s) => assert.equal(s, StoreStatus.MediumError));
    store.read(99, 1, into, (s) => assert.equal(s, StoreStatus.OutOfRange));
  });
});
