import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { RamGuestMemory } from "../machine/guest-memory.ts";
import { SeededRandom } from "../machine/seeded-random.ts";
import { DmaAllocator } from "./dma-allocator.ts";

describe("DmaAllocator", () => {
  it("hands out 16-byte aligned, zero-filled blocks inside its region", () => {
    const memory = new RamGuestMemory(0x4000);
    memory.bytes.fill(0xaa);
    const dma = new DmaAllocator(memory, 0x1004, 0x1000);
    const a = dma.alloc(10);
    const b = dma.alloc(16);
    assert.equal(a % 16, 0);
    assert.equal(b % 16, 0);
    assert.ok(a >= 0x1004 && b + 16 <= 0x2004);
    assert.notEqual(a, b);
    assert.deepEqual([...memory.bytes.subarray(a, a + 16)], new Array(16).fill(0));
    assert.equal(dma.bytesInUse, 32);
  });

  it("honours larger alignment (the 4 KiB frame list) and keeps the padding usable", () => {
    const memory = new RamGuestMemory(0x10000);
    const dma = new DmaAllocator(memory, 0x1010, 0x3000);
    const frameList = dma.alloc(4096, 4096);
    assert.equal(frameList, 0x2000);
    // The 0x1010..0x2000 gap before the frame list is still free for small blocks.
    const small = dma.alloc(16);
    assert.ok(small >= 0x1010 && small < 0x2000);
  });

  it("coalesces freed neighbours so the region can be reused whole", () => {
    const memory = new RamGuestMemory(0x2000);
    const dma = new DmaAllocator(memory, 0, 0x100);
    const blocks = [dma.alloc(0x40), dma.alloc(0x40), dma.alloc(0x40), dma.alloc(0x40)];
    assert.throws(() => dma.alloc(16), RangeError);
    for (const i of [1, 3, 0, 2]) dma.release(blocks[i]!);
    assert.deepEqual(dma.freeExtents(), [{ start: 0, size: 0x100 }]);
    assert.equal(dma.alloc(0x100), 0);
  });

  it("throws on misuse: double free, bad alignment, a region outside RAM", () => {
    const memory = new RamGuestMemory(0x1000);
    const dma = new DmaAllocator(memory, 0, 0x1000);
    const a = dma.alloc(16);
    dma.release(a);
    assert.throws(() => dma.release(a));
    assert.throws(() => dma.alloc(16, 24), RangeError);
    assert.throws(() => new DmaAllocator(memory, 0x800, 0x1000), RangeError);
  });

  it("survives a random alloc/free workload without overlap", () => {
    const memory = new RamGuestMemory(0x10000);
    const dma = new DmaAllocator(memory, 0x100, 0x8000);
    const seeded = new SeededRandom(7);
    const random = (n: number): number => seeded.below(n);
    const live = new Map<number, number>();
    for (let i = 0; i < 2000; i++) {
      if (live.size > 0 && random(3) === 0) {
        const keys = [...live.keys()];
        const key = keys[random(keys.length)]!;
        dma.release(key);
        live.delete(key);
        continue;
      }
      const size = 1 + random(300);
      let at: number;
      try {
        at = dma.alloc(size);
      } catch {
        continue;
      }
      for (const [start, length] of live) assert.ok(at + size <= start || start + length <= at, "overlap");
      live.set(at, size);
    }
    for (const key of live.keys()) dma.release(key);
    assert.equal(dma.bytesInUse, 0);
    assert.equal(dma.freeExtents().length, 1);
  });
});
