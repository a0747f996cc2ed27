/**
 * The one place that declares v86's internals. v86 (npm `v86`, pinned in package.json) types only its
 * public API; an external PCI device needs a few internal objects, reachable by name because the build
 * keeps property names. Only the surface used here is declared, and the cast happens once, in
 * {@link v86Internals}. `test/integration/v86-seabios.test.ts` fails loudly if an upgrade moves any of
 * it: it boots the pinned v86 (devDependency; for users an optional peer dependency) and checks
 * `v86Internals` against the live emulator.
 */

/* biome-ignore-all lint/suspicious/noExplicitAny: the single typed shim over v86's untyped internals */

export interface V86PciBar {
  size: number;
}

export interface V86PciDevice {
  pci_id: number;
  pci_space: number[];
  pci_bars: (V86PciBar | undefined)[];
  name: string;
}

export interface V86Pci {
  register_device(device: V86PciDevice): Int32Array;
  raise_irq(pciId: number): void;
  lower_irq(pciId: number): void;
  /** Configuration writes (address = bus/devfn/register as at port 0xCF8); v86 stores them verbatim. */
  pci_write8(address: number, value: number): void;
  pci_write16(address: number, value: number): void;
  pci_write32(address: number, value: number): void;
  /** Moves a registered I/O BAR's port handlers from one base to another (ports ≥ 0x1000 only). */
  set_io_bars(bar: V86PciBar, from: number, to: number): void;
  /** Each devfn's configuration space, which configuration reads and save_state/restore_state use. */
  device_spaces: (Int32Array | undefined)[];
}

export interface V86Io {
  register_read(port: number, device: object, r8: () => number, r16: () => number, r32: () => number): void;
  register_write(
    port: number,
    device: object,
    w8: (value: number) => void,
    w16: (value: number) => void,
    w32: (value: number) => void,
  ): void;
}

export interface V86Cpu {
  devices: { pci: V86Pci };
  io: V86Io;
  wasm_memory: { readonly buffer: ArrayBufferLike };
  /** A view of guest RAM (a Proxy in v86 that re-creates the array on every access). */
  mem8: { byteOffset: number };
  /** memory_size[0] = bytes of guest RAM (a Proxy in v86: read it once, not per access). */
  memory_size: ArrayLike<number>;
  /** Invalidates JIT-compiled code for a written physical range [start, end). */
  jit_dirty_cache(start: number, end: number): void;
  /** The periodic device hook: returns milliseconds until a device needs it again. */
  run_hardware_timers(acpiEnabled: boolean, nowMs: number): number;
  /**
   * The machine's state as v86's save_state collects it: a positional array (src/cpu.js) whose entries
   * are numbers, typed arrays, strings and devices; save_state serialises it to JSON plus buffers, and
   * restore_state hands the same array back to {@link set_state} after restoring the buffers.
   */
  get_state(): unknown[];
  /** Restores RAM, registers and the devices (PCI config space with BAR re-mapping, the PIC…). */
  set_state(state: unknown[]): void;
  /**
   * Moves the guest's time stamp counter, which runs with v86's clock (`performance.now()` × 10⁶ per
   * ms, or the time v86 was loaded with), less an offset. Not "set to high:low": v86 computes the new
   * offset from the counter as read now, so the counter becomes `high:low` plus the offset it had (0 in
   * an emulator never restored). set_state calls it first, with the saved counter
   * ({@link V86_TSC_STATE_ENTRY}); the adapter's `setGuestTsc` sets a value.
   */
  set_tsc(low: number, high: number): void;
  /** Copies the counter as the guest would read it now into {@link current_tsc}. */
  store_current_tsc(): void;
  /** Two 32-bit words, low then high, written by {@link store_current_tsc}. */
  readonly current_tsc: ArrayLike<number>;
}

/**
 * The entry of {@link V86Cpu.get_state}'s array holding the guest's time stamp counter at the save:
 * two 32-bit words, low then high (v86 0.5.x src/cpu.js, `state[43] = this.current_tsc`).
 */
export const V86_TSC_STATE_ENTRY = 43;

/**
 * The entry of {@link V86Cpu.get_state}'s array where the adapter keeps its own state, as a JSON string
 * (v86 serialises strings as they are; a plain object would trip its "object without get_state" check).
 * v86 0.5.x uses entries 0–91; 128 leaves room for its growth, and v86 ignores entries it does not know.
 */
export const V86_UHCI_STATE_ENTRY = 128;

export interface V86Internals {
  cpu: V86Cpu;
}

/**
 * v86's main loop (src/main.js): after each slice of guest instructions it calls `yield(ms, tick)`,
 * which on Node schedules `yield_callback(tick)` with setImmediate (ms < 1) or setTimeout(ms). Replacing
 * `yield` on the instance changes how often the loop runs (the host-stall tools: a background tab).
 */
export interface V86MainLoop {
  /** The tick the next yield_callback must carry to run (older ones are ignored). */
  readonly tick_counter: number;
  yield(ms: number, tick: number): void;
  yield_callback(tick: number): void;
}

/** v86's public event bus on an emulator (`V86.add_listener` / `remove_listener`). */
export interface V86Events {
  add_listener(event: string, listener: () => void): void;
  remove_listener(event: string, listener: () => void): void;
}

/** The event bus of an emulator instance, or null if it has none (a test's fake v86). */
export function v86Events(emulator: unknown): V86Events | null {
  const e = emulator as any;
  return typeof e?.add_listener === "function" && typeof e?.remove_listener === "function" ? e : null;
}

/** The main loop of an emulator instance, or null if this v86 build has none of that shape. */
export function v86MainLoop(emulator: unknown): V86MainLoop | null {
  const main = (emulator as any)?.v86;
  return typeof main?.yield === "function" && typeof main?.yield_callback === "function" ? main : null;
}

/** The v86 internals of an emulator instance after "emulator-ready"; throws with a clear message if absent. */
export function v86Internals(emulator: unknown): V86Internals {
  const v86 = (emulator as any)?.v86;
  const cpu = v86?.cpu;
  const missing: string[] = [];
  if (cpu === undefined) missing.push("emulator.v86.cpu");
  else {
    if (typeof cpu.devices?.pci?.register_device !== "function")
      missing.push("cpu.devices.pci.register_device");
    if (typeof cpu.devices?.pci?.raise_irq !== "function") missing.push("cpu.devices.pci.raise_irq");
    if (typeof cpu.devices?.pci?.lower_irq !== "function") missing.push("cpu.devices.pci.lower_irq");
    for (const name of ["pci_write8", "pci_write16", "pci_write32", "set_io_bars"]) {
      if (typeof cpu.devices?.pci?.[name] !== "function") missing.push(`cpu.devices.pci.${name}`);
    }
    if (!Array.isArray(cpu.devices?.pci?.device_spaces)) missing.push("cpu.devices.pci.device_spaces");
    if (typeof cpu.io?.register_read !== "function") missing.push("cpu.io.register_read");
    if (typeof cpu.io?.register_write !== "function") missing.push("cpu.io.register_write");
    if (!(cpu.wasm_memory?.buffer instanceof ArrayBuffer)) missing.push("cpu.wasm_memory");
    if (typeof cpu.mem8?.byteOffset !== "number") missing.push("cpu.mem8");
    if (typeof cpu.memory_size?.[0] !== "number") missing.push("cpu.memory_size");
    if (typeof cpu.jit_dirty_cache !== "function") missing.push("cpu.jit_dirty_cache");
    if (typeof cpu.run_hardware_timers !== "function") missing.push("cpu.run_hardware_timers");
    if (typeof cpu.get_state !== "function") missing.push("cpu.get_state");
    if (typeof cpu.set_state !== "function") missing.push("cpu.set_state");
    if (typeof cpu.set_tsc !== "function") missing.push("cpu.set_tsc");
    if (typeof cpu.store_current_tsc !== "function") missing.push("cpu.store_current_tsc");
    if (typeof cpu.current_tsc?.[1] !== "number") missing.push("cpu.current_tsc");
  }
  if (missing.length > 0) {
    throw new Error(
      `this v86 build lacks what the UHCI adapter needs (${missing.join(", ")}); ` +
        "use the v86 version pinned in package.json, and attach in the 'emulator-ready' event",
    );
  }
  return v86 as V86Internals;
}
