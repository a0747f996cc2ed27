import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { copyBytes, WordViewCache, wordViews } from "./byte-copy.ts";
import { DMA_FAULT, RamGuestMemory } from "./guest-memory.ts";
import { SeededRandom } from "./seeded-random.ts";

/** A deterministic fill that differs at every byte position and between buffers. */
function fill(bytes: Uint8Array, seed: number): void {
  for (let i = 0; i < bytes.length; i++) bytes[i] = (i * 131 + seed * 17 + (i >> 8)) & 0xff;
}

describe("RamGuestMemory range copies", () => {
  it("read copies exactly [address, address + length) for every length 0–300 at every alignment of both sides", () => {
    const ram = new RamGuestMemory(1024 + 3);
    fill(ram.bytes, 1);
    const backing = new Uint8Array(1300);
    for (let length = 0; length <= 300; length++) {
      for (let ramAlign = 0; ramAlign < 4; ramAlign++) {
        for (let intoAlign = 0; intoAlign < 4; intoAlign++) {
          fill(backing, 2);
          const before = backing.slice();
          // `into` starts 0–3 bytes into its buffer, as a device's subarray might.
          const into = backing.subarray(intoAlign, intoAlign + 320);
          const address = 100 + ramAlign;
          assert.equal(ram.read(address, into, length), true);
          for (let i = 0; i < backing.length; i++) {
            const j = i - intoAlign;
            const want = j >= 0 && j < length ? ram.bytes[address + j] : before[i];
            if (backing[i] !== want)
              assert.fail(
                `length ${length} ram+${ramAlign} into+${intoAlign}: byte ${i} is ${backing[i]}, want ${want}`,
              );
          }
        }
      }
    }
  });

  it("write copies exactly the first `length` bytes of `from` for every length 0–300 at every alignment", () => {
    const source = new Uint8Array(1300);
    fill(source, 3);
    for (let length = 0; length <= 300; length++) {
      for (let ramAlign = 0; ramAlign < 4; ramAlign++) {
        for (let fromAlign = 0; fromAlign < 4; fromAlign++) {
          const ram = new RamGuestMemory(700);
          fill(ram.bytes, 4);
          const before = ram.bytes.slice();
          const from = source.subarray(fromAlign, fromAlign + 320);
          const address = 200 + ramAlign;
          assert.equal(ram.write(address, from, length), true);
          for (let i = 0; i < ram.size; i++) {
            const j = i - address;
            const want = j >= 0 && j < length ? from[j] : before[i];
            if (ram.bytes[i] !== want)
              assert.fail(
                `length ${length} ram+${ramAlign} from+${fromAlign}: RAM ${i} is ${ram.bytes[i]}, want ${want}`,
              );
          }
        }
      }
    }
  });

  it("copies that end on the last byte of a RAM whose size is not a multiple of 4 are exact", () => {
    for (const size of [64, 65, 66, 67]) {
      const ram = new RamGuestMemory(size);
      fill(ram.bytes, size);
      for (let length = 16; length <= 40; length++) {
        const address = size - length;
        const into = new Uint8Array(64);
        assert.equal(ram.read(address, into, length), true);
        assert.deepEqual(into.subarray(0, length), ram.bytes.subarray(address, size));
        assert.ok(
          into.subarray(length).every((b) => b === 0),
          "nothing past length written",
        );
        const from = Uint8Array.from({ length }, (_, i) => (i * 7 + 1) & 0xff);
        assert.equal(ram.write(address, from, length), true);
        assert.deepEqual(ram.bytes.subarray(address), from);
      }
    }
  });

  it("an access that touches any byte outside RAM is refused and changes nothing (no wrap, no throw)", () => {
    const ram = new RamGuestMemory(256);
    fill(ram.bytes, 5);
    const before = ram.bytes.slice();
    const buffer = new Uint8Array(64).fill(0xee);
    for (const [address, length] of [
      [250, 7],
      [256, 1],
      [-1, 4],
      [0xffff_fffc, 8],
      [1.5, 4],
      [0, 65],
    ] as const) {
      assert.equal(ram.read(address, buffer, length), false);
      assert.equal(ram.write(address, buffer, length), false);
    }
    assert.ok(buffer.every((b) => b === 0xee));
    assert.deepEqual(ram.bytes, before);
    assert.equal(ram.read32(253), DMA_FAULT);
    assert.equal(ram.write32(253, 1), false);
    const b = ram.bytes;
    assert.equal(ram.read32(252), (b[252]! | (b[253]! << 8) | (b[254]! << 16) | (b[255]! << 24)) >>> 0);
  });

  it("read32 returns a uint32 (bit 31 set stays positive), write32 stores little-endian", () => {
    const ram = new RamGuestMemory(16);
    assert.equal(ram.write32(4, 0xffe0_7f69), true);
    assert.equal(ram.read32(4), 0xffe0_7f69);
    assert.deepEqual([...ram.bytes.subarray(4, 8)], [0x69, 0x7f, 0xe0, 0xff]);
  });
});

describe("copyBytes between word views", () => {
  it("copies between two buffers at random positions exactly like a byte loop", () => {
    const rng = new SeededRandom(12345);
    const random = (n: number): number => rng.below(n);
    for (let trial = 0; trial < 2000; trial++) {
      // Buffer lengths not a multiple of 4 too: the last word is partial and outside the word view.
      const a = wordViews(new Uint8Array(200 + random(8)));
      const b = wordViews(new Uint8Array(200 + random(8)));
      fill(a.bytes, trial);
      fill(b.bytes, trial + 1);
      const length = random(150);
      const fromAt = random(a.bytes.length - length + 1);
      const toAt = random(b.bytes.length - length + 1);
      const want = b.bytes.slice();
      want.set(a.bytes.subarray(fromAt, fromAt + length), toAt);
      copyBytes(a, fromAt, b, toAt, length);
      assert.deepEqual(b.bytes, want, `trial ${trial}: ${length} bytes ${fromAt} → ${toAt}`);
    }
  });

  it("the view cache answers per array (its offset in the buffer included), for more arrays than it keeps at hand", () => {
    const cache = new WordViewCache();
    const backing = new Uint8Array(256);
    const arrays = Array.from({ length: 9 }, (_, k) => backing.subarray(k * 3, k * 3 + 32));
    for (let round = 0; round < 3; round++) {
      for (const [k, array] of arrays.entries()) {
        const views = cache.of(array);
        assert.equal(views.offset, k * 3);
        assert.equal(views.bytes.buffer, backing.buffer);
        assert.equal(views.words.length, 64);
        assert.equal(cache.of(array), views, "asked again at once: the same views");
      }
    }
  });

  it("copies stay exact into and out of a growable buffer that grew after its views were made", () => {
    // Resizable ArrayBuffers (ES2024) are not in the ES2022 library types this project compiles with.
    type Growable = ArrayBuffer & { resize(n: number): void };
    const Resizable = ArrayBuffer as unknown as new (n: number, o: { maxByteLength: number }) => Growable;
    const growable = new Resizable(18, { maxByteLength: 130 });
    const ram = new RamGuestMemory(512);
    fill(ram.bytes, 9);
    const tracking = new Uint8Array(growable); // length-tracking: grows with its buffer
    assert.equal(ram.read(1, tracking, 17), true);
    assert.deepEqual(tracking.subarray(0, 17), ram.bytes.subarray(1, 18));
    growable.resize(130);
    for (const address of [40, 41, 42, 43]) {
      assert.equal(ram.read(address, tracking, 129), true);
      assert.deepEqual(tracking.subarray(0, 129), ram.bytes.subarray(address, address + 129));
      const from = Uint8Array.from({ length: 130 }, (_, i) => (i * 5 + address) & 0xff);
      tracking.set(from);
      assert.equal(ram.write(300 + (address & 3), tracking, 130), true);
      assert.deepEqual(ram.bytes.subarray(300 + (address & 3), 430 + (address & 3)), from);
    }
  });
});
