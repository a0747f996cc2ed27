/** The block stores of the core: memory, read-only, copy-on-write. */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { BLOCK_SIZE, MemoryBlockStore, ReadOnlyBlockStore, StoreStatus } from "./block-store.ts";
import { CowBlockStore } from "./cow-store.ts";
import { CswStatus } from "./mass-storage.ts";
import { bootStick, Cdb } from "./testing/bot-host.ts";

function answer(run: (done: (s: StoreStatus) => void) => void): StoreStatus {
  let status: StoreStatus | null = null;
  let calls = 0;
  run((s) => {
    status = s;
    calls++;
  });
  assert.equal(calls, 1, "done is called exactly once");
  return status!;
}

describe("MemoryBlockStore", () => {
  it("holds whole blocks: a size or contents that are not whole blocks are refused at construction", () => {
    assert.equal(new MemoryBlockStore(3).bytes.length, 3 * BLOCK_SIZE);
    assert.equal(new MemoryBlockStore(new Uint8Array(1024)).blockCount, 2);
    assert.throws(() => new MemoryBlockStore(0), RangeError);
    assert.throws(() => new MemoryBlockStore(1.5), RangeError);
    assert.throws(() => new MemoryBlockStore(new Uint8Array(1000)), /whole number of 512-byte blocks/);
  });

  it("reads and writes inside the medium; a range outside it is refused, nothing touched", () => {
    const store = new MemoryBlockStore(4);
    const data = new Uint8Array(1024).fill(7);
    assert.equal(
      answer((d) => store.write(1, 2, data, d)),
      StoreStatus.Ok,
    );
    const into = new Uint8Array(2048);
    assert.equal(
      answer((d) => store.read(0, 4, into, d)),
      StoreStatus.Ok,
    );
    assert.deepEqual([into[511], into[512], into[1535], into[1536]], [0, 7, 7, 0]);
    assert.equal(
      answer((d) => store.read(3, 2, into, d)),
      StoreStatus.OutOfRange,
    );
    assert.equal(
      answer((d) => store.write(-1, 1, data, d)),
      StoreStatus.OutOfRange,
    );
    assert.equal(
      answer((d) => store.read(0, 5, new Uint8Array(512), d)),
      StoreStatus.OutOfRange,
    );
    assert.equal(
      answer((d) => store.flush(d)),
      StoreStatus.Ok,
    );
  });
});

describe("ReadOnlyBlockStore", () => {
  it("reads through to its base and refuses writes as write-protected", () => {
    const base = new MemoryBlockStore(2);
    base.bytes.fill(3);
    const ro = new ReadOnlyBlockStore(base);
    assert.deepEqual([ro.readOnly, ro.blockCount], [true, 2]);
    const into = new Uint8Array(512);
    assert.equal(
      answer((d) => ro.read(1, 1, into, d)),
      StoreStatus.Ok,
    );
    assert.equal(into[0], 3);
    assert.equal(
      answer((d) => ro.write(0, 1, new Uint8Array(512), d)),
      StoreStatus.WriteProtected,
    );
    assert.ok(base.bytes.every((b) => b === 3));
  });
});

describe("CowBlockStore", () => {
  it("the guest writes to a read-only base through the overlay: reads see the writes, the base never changes", () => {
    const base = new MemoryBlockStore(512);
    for (let i = 0; i < base.bytes.length; i++) base.bytes[i] = i & 0xff;
    const original = base.bytes.slice();
    const cow = new CowBlockStore(new ReadOnlyBlockStore(base));
    assert.equal(cow.readOnly, false);
    const { host } = bootStick({ store: cow });
    const mode = host.command(Cdb.modeSense6(0x3f, 192), { dataIn: 192 });
    assert.equal(mode.data[2], 0, "the guest sees a writable medium");
    const data = new Uint8Array(3 * 512).fill(0xcd);
    assert.equal(host.command(Cdb.write10(100, 3), { dataOut: data }).csw?.status, CswStatus.Passed);
    const read = host.command(Cdb.read10(99, 5), { dataIn: 5 * 512 });
    const expected = original.slice(99 * 512, 104 * 512);
    expected.fill(0xcd, 512, 4 * 512);
    assert.deepEqual(read.data, expected);
    assert.deepEqual(base.bytes, original);
    assert.deepEqual(cow.changedBlocks(), [100, 101, 102]);
    const block = new Uint8Array(512);
    cow.readBlock(101, block, (s) => assert.equal(s, StoreStatus.Ok));
    assert.ok(block.every((b) => b === 0xcd));
    cow.discard();
    const again = host.command(Cdb.read10(99, 5), { dataIn: 5 * 512 });
    assert.deepEqual(again.data, original.subarray(99 * 512, 104 * 512));
  });

  it("passes a base's failure on, and refuses ranges outside the medium", () => {
    const failing = {
      blockCount: 8,
      readOnly: true,
      read: (_l: number, _b: number, _i: Uint8Array, done: (s: StoreStatus) => void) =>
        done(StoreStatus.MediumError),
      write: (_l: number, _b: number, _f: Uint8Array, done: (s: StoreStatus) => void) =>
        done(StoreStatus.WriteProtected),
      flush: (done: (s: StoreStatus) => void) => done(StoreStatus.Ok),
    };
    const cow = new CowBlockStore(failing);
    assert.equal(
      answer((d) => cow.read(0, 1, new Uint8Array(512), d)),
      StoreStatus.MediumError,
    );
    assert.equal(
      answer((d) => cow.write(0, 1, new Uint8Array(512), d)),
      StoreStatus.Ok,
    );
    assert.equal(
      answer((d) => cow.write(8, 1, new Uint8Array(512), d)),
      StoreStatus.OutOfRange,
    );
    assert.equal(
      answer((d) => cow.read(7, 2, new Uint8Array(1024), d)),
      StoreStatus.OutOfRange,
    );
  });
});
