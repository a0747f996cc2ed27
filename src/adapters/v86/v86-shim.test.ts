/**
 * v86HaltedReader: the adapter's timer hook asks whether the guest is halted every 100,003 guest
 * instructions (a busy guest gets a smaller catch-up step with the leash: uhci-v86.ts), so it reads the
 * byte through one view of v86's wasm memory instead of v86's `in_hlt` Proxy, which makes a typed array
 * per access. The view must follow the memory when it grows (the old buffer is then detached).
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { type V86Cpu, v86HaltedReader } from "./v86-shim.ts";

/** Where v86 0.5.x keeps the flag (cpu.in_hlt's byteOffset): any offset inside the memory works here. */
const IN_HLT = 616;

describe("v86HaltedReader", () => {
  it("reads the guest's HLT flag from wasm memory, and again after the memory grows", () => {
    // v86's wasm memory: growing it moves the contents to a new buffer and detaches the old one.
    let buffer = new ArrayBuffer(65_536);
    const memory = {
      get buffer() {
        return buffer;
      },
      grow() {
        const old = buffer;
        buffer = new ArrayBuffer(old.byteLength * 2);
        new Uint8Array(buffer).set(new Uint8Array(old));
        structuredClone(old, { transfer: [old] });
      },
    };
    const cpu = { wasm_memory: memory, in_hlt: new Uint8Array(memory.buffer, IN_HLT, 1) };
    const halted = v86HaltedReader(cpu as unknown as V86Cpu);
    assert.equal(halted(), false);
    new Uint8Array(memory.buffer)[IN_HLT] = 1;
    assert.equal(halted(), true);
    memory.grow();
    assert.equal(cpu.in_hlt.length, 0, "the first buffer is detached");
    assert.equal(halted(), true, "the flag as it is in the grown memory");
    new Uint8Array(memory.buffer)[IN_HLT] = 0;
    assert.equal(halted(), false);
  });
});
