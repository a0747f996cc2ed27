import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { DMA_FAULT } from "../../machine/guest-memory.ts";
import { V86GuestMemory } from "./v86-guest-memory.ts";
import type { V86Cpu } from "./v86-shim.ts";

const RAM_BYTES = 3000;

/**
 * A WebAssembly memory as v86 sees one: growing it replaces its buffer and detaches the old one (the
 * ES2022 library types this project compiles with do not declare `WebAssembly.Memory` itself).
 */
class WasmLikeMemory {
  buffer = new ArrayBuffer(65536);
  grow(pages: number): void {
    const grown = new ArrayBuffer(this.buffer.byteLength + pages * 65536);
    new Uint8Array(grown).set(new Uint8Array(this.buffer));
    structuredClone(this.buffer, { transfer: [this.buffer] });
    this.buffer = grown;
  }
}

/**
 * The parts of a v86 CPU that guest memory uses: RAM is a window of wasm memory starting at
 * `mem8.byteOffset` (here not word-aligned, to exercise the copy's alignment handling), and every
 * write is reported to `jit_dirty_cache`.
 */
function fakeCpu(ramOffset: number) {
  const memory = new WasmLikeMemory();
  const dirty: [number, number][] = [];
  const cpu = {
    wasm_memory: memory,
    mem8: { byteOffset: ramOffset },
    memory_size: [RAM_BYTES],
    jit_dirty_cache(start: number, end: number) {
      dirty.push([start, end]);
    },
  };
  const ram = () => new Uint8Array(memory.buffer, ramOffset, RAM_BYTES);
  return { cpu: cpu as unknown as V86Cpu, memory, dirty, ram };
}

describe("V86GuestMemory", () => {
  it("copies exactly the asked range at every alignment, with RAM at an unaligned offset in wasm memory", () => {
    for (const ramOffset of [4096, 4097, 4098, 4099]) {
      const { cpu, ram, dirty } = fakeCpu(ramOffset);
      const memory = new V86GuestMemory(cpu);
      const bytes = ram();
      for (let i = 0; i < bytes.length; i++) bytes[i] = (i * 37 + 11) & 0xff;
      for (const length of [0, 1, 15, 16, 17, 63, 64, 90, 192, 1023]) {
        for (let align = 0; align < 4; align++) {
          const address = 500 + align;
          const into = new Uint8Array(1280).fill(0xaa);
          assert.equal(memory.read(address, into, length), true);
          assert.deepEqual(into.subarray(0, length), bytes.subarray(address, address + length));
          assert.ok(
            into.subarray(length).every((b) => b === 0xaa),
            "nothing past length written",
          );

          const before = bytes.slice();
          const from = Uint8Array.from({ length: 1280 }, (_, i) => (i * 13 + length + align) & 0xff);
          dirty.length = 0;
          assert.equal(memory.write(address + 1000, from, length), true);
          const want = before.slice();
          want.set(from.subarray(0, length), address + 1000);
          assert.deepEqual(ram(), want, `write ${length} bytes at ${address + 1000}, RAM at +${ramOffset}`);
          assert.deepEqual(dirty, [[address + 1000, address + 1000 + length]]);
        }
      }
    }
  });

  it("refuses accesses outside RAM without touching the wasm memory around it", () => {
    const { cpu, memory: wasm, dirty } = fakeCpu(4096);
    const memory = new V86GuestMemory(cpu);
    const whole = new Uint8Array(wasm.buffer);
    whole.fill(0x5a);
    const buffer = new Uint8Array(64).fill(1);
    assert.equal(memory.write(RAM_BYTES - 16, buffer, 17), false);
    assert.equal(memory.read(RAM_BYTES - 3, buffer, 4), false);
    assert.equal(memory.read32(RAM_BYTES - 3), DMA_FAULT);
    assert.equal(memory.write32(-4, 0), false);
    assert.ok(whole.every((b) => b === 0x5a));
    assert.deepEqual(dirty, []);
  });

  it("keeps working after the wasm memory grows (its old buffer detached)", () => {
    const { cpu, memory: wasm, ram } = fakeCpu(4098);
    const memory = new V86GuestMemory(cpu);
    const into = new Uint8Array(256);
    assert.equal(memory.write32(100, 0x1234_5678), true);
    assert.equal(memory.read(96, into, 64), true);
    const old = new Uint8Array(wasm.buffer);
    wasm.grow(1);
    assert.equal(old.length, 0, "the old buffer is detached, as wasm memory growth does");
    const bytes = ram();
    for (let i = 0; i < 256; i++) bytes[200 + i] = i;
    assert.equal(memory.read(200, into, 256), true);
    assert.deepEqual(into, bytes.subarray(200, 456));
    assert.equal(memory.read32(100), 0x1234_5678);
    assert.equal(memory.write(1000, into, 100), true);
    assert.deepEqual(ram().subarray(1000, 1100), into.subarray(0, 100));
  });
});
