/**
 * The adapter's save_state/restore_state hooks against a fake v86 CPU that has exactly the surface the
 * shim declares: the controller's state rides in the CPU state array, survives the JSON v86 makes of
 * it, comes back in a second emulator, and a refused state stops the restore before v86 changes
 * anything. (test/integration/v86-snapshot.test.ts does the same with a real v86 and a Linux guest.)
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { UsbKeyboard } from "../../devices/hid/keyboard.ts";
import { SnapshotError } from "../../machine/snapshot.ts";
import { attachUhciToV86 } from "./uhci-v86.ts";
import { V86_TSC_STATE_ENTRY, V86_UHCI_STATE_ENTRY } from "./v86-shim.ts";

/**
 * v86's time stamp counter as src/rust/cpu/cpu.rs keeps it: the host clock (here `time.ms`, moved by
 * the test) times a rate, less an offset that set_tsc chooses so the counter reads a given value now.
 */
const TSC_PER_MS = 1_000_000;

function fakeEmulator(options: { restoreMs?: number; absoluteSetTsc?: boolean } = {}) {
  const calls = { setState: 0, raised: [] as number[], lowered: [] as number[] };
  const time = { ms: 1000 };
  // u64 as v86 has it (wrapping): the counter is the clock less the offset.
  let tscOffset = 0n;
  const readTsc = (): bigint => BigInt.asUintN(64, BigInt(time.ms * TSC_PER_MS) - tscOffset);
  // v86's set_tsc as it is: the new offset from the counter as read now, the old offset included.
  const setTsc = (low: number, high: number) => {
    const value = (BigInt(high) << 32n) | BigInt(low);
    // `absoluteSetTsc`: a v86 whose set_tsc sets the value as given.
    const raw = BigInt(time.ms * TSC_PER_MS);
    tscOffset = BigInt.asUintN(64, (options.absoluteSetTsc ? raw : readTsc()) - value);
  };
  const currentTsc = new Uint32Array(2);
  const spaces: Int32Array[] = [];
  const cpu = {
    devices: {
      pci: {
        device_spaces: spaces,
        register_device: (device: { pci_id: number; pci_space: number[] }) => {
          const space = new Int32Array(64);
          space.set(new Int32Array(new Uint8Array(device.pci_space).buffer));
          spaces[device.pci_id] = space;
          return space;
        },
        raise_irq: (id: number) => calls.raised.push(id),
        lower_irq: (id: number) => calls.lowered.push(id),
        pci_write8: () => {},
        pci_write16: () => {},
        pci_write32: () => {},
        set_io_bars: () => {},
      },
    },
    io: { register_read: () => {}, register_write: () => {} },
    wasm_memory: { buffer: new ArrayBuffer(1 << 20) },
    mem8: { byteOffset: 0 },
    memory_size: [1 << 20],
    jit_dirty_cache: () => {},
    set_tsc: setTsc,
    store_current_tsc: () => {
      const tsc = readTsc();
      currentTsc[0] = Number(tsc & 0xffffffffn);
      currentTsc[1] = Number(tsc >> 32n);
    },
    current_tsc: currentTsc,
    run_hardware_timers: (_acpi: boolean, _now: number) => 100,
    get_state: (): unknown[] => {
      const state: unknown[] = [1 << 20, "cpu registers"];
      const tsc = readTsc();
      state[V86_TSC_STATE_ENTRY] = [Number(tsc & 0xffffffffn), Number(tsc >> 32n)];
      return state;
    },
    set_state: (state: unknown[]) => {
      calls.setState++;
      // As v86 does: the counter first, then RAM and the JIT cache, which take the host's time.
      const tsc = state[V86_TSC_STATE_ENTRY];
      if (Array.isArray(tsc)) setTsc(Number(tsc[0]), Number(tsc[1]));
      time.ms += options.restoreMs ?? 0;
    },
  };
  return { emulator: { v86: { cpu } }, cpu, calls, time, readTsc };
}

/** What v86's save_state and restore_state do to the array: JSON, with undefined entries as null. */
const throughV86 = (state: unknown[]): unknown[] => JSON.parse(JSON.stringify(state)) as unknown[];

describe("v86 snapshot hooks (fake emulator)", () => {
  it("saves the controller with v86's CPU state and restores it into another emulator", () => {
    const a = fakeEmulator();
    const uhciA = attachUhciToV86(a.emulator);
    const keyboard = new UsbKeyboard();
    uhciA.controller.attach(0, keyboard);
    uhciA.controller.ioWrite(0x04, 2, 0x0f); // USBINTR
    uhciA.controller.ioWrite(0x00, 2, 0x01); // RS
    a.cpu.run_hardware_timers(false, performance.now() + 5);
    keyboard.typeText("hi");
    const state = throughV86(a.cpu.get_state());
    assert.equal(state[1], "cpu registers", "v86's own entries are untouched");
    assert.equal(typeof state[V86_UHCI_STATE_ENTRY], "string");

    const b = fakeEmulator();
    const uhciB = attachUhciToV86(b.emulator);
    const keyboardB = new UsbKeyboard();
    uhciB.controller.attach(0, keyboardB);
    b.cpu.set_state(state);
    assert.equal(b.calls.setState, 1);
    const savedA = uhciA.controller.saveState();
    const savedB = uhciB.controller.saveState();
    assert.deepEqual(savedB["registers"], savedA["registers"]);
    assert.deepEqual(savedB["ports"], savedA["ports"]);
    assert.equal(keyboardB.pendingReports, 4);
    assert.ok(uhciB.clock.nextDueMs() !== undefined, "the frame clock runs again");
  });

  it("refuses a state of another version before v86 restores anything", () => {
    const a = fakeEmulator();
    const uhciA = attachUhciToV86(a.emulator);
    const state = throughV86(a.cpu.get_state());
    const entry = JSON.parse(state[V86_UHCI_STATE_ENTRY] as string);
    entry.controllers["10"].version = 7;
    state[V86_UHCI_STATE_ENTRY] = JSON.stringify(entry);
    const before = uhciA.controller.saveState();
    assert.throws(
      () => a.cpu.set_state(state),
      (e: unknown) =>
        e instanceof SnapshotError && /version 7/.test(e.message) && /version 1/.test(e.message),
    );
    assert.equal(a.calls.setState, 0, "v86's own restore never ran");
    assert.deepEqual(uhciA.controller.saveState(), before);
    state[V86_UHCI_STATE_ENTRY] = JSON.stringify({ ...entry, version: 2 });
    assert.throws(() => a.cpu.set_state(state), /cannot restore uhci-v86 from version 2/);
  });

  it("keeps two controllers apart by devfn, and restarts a controller the snapshot does not have", () => {
    const a = fakeEmulator();
    const first = attachUhciToV86(a.emulator);
    const second = attachUhciToV86(a.emulator, { devfn: (1 << 3) | 3, ioBase: 0xed00 });
    first.controller.ioWrite(0x0c, 1, 0x11); // SOFMOD
    second.controller.ioWrite(0x0c, 1, 0x22);
    const state = throughV86(a.cpu.get_state());
    const entry = JSON.parse(state[V86_UHCI_STATE_ENTRY] as string);
    assert.deepEqual(Object.keys(entry.controllers).sort(), ["10", "11"]);

    const b = fakeEmulator();
    const firstB = attachUhciToV86(b.emulator);
    const secondB = attachUhciToV86(b.emulator, { devfn: (1 << 3) | 3, ioBase: 0xed00 });
    b.cpu.set_state(state);
    assert.equal(firstB.controller.ioRead(0x0c, 1), 0x11);
    assert.equal(secondB.controller.ioRead(0x0c, 1), 0x22);

    // A snapshot made without USB: the controller starts again from power-on.
    secondB.controller.ioWrite(0x0c, 1, 0x33);
    b.cpu.set_state(throughV86([1 << 20, "no usb here"]));
    assert.equal(secondB.controller.ioRead(0x0c, 1), 64);
  });
  it("resumes the guest's time stamp counter from the save, however long v86's restore took, restore after restore", () => {
    // A restore into the running emulator that blocks the thread for 900 ms after v86 set the counter
    // (measured in v86: arecord, asleep in read() at the save, woke with EIO when Linux's clock jumped).
    const a = fakeEmulator({ restoreMs: 900 });
    attachUhciToV86(a.emulator);
    const state = throughV86(a.cpu.get_state());
    const savedTsc = a.readTsc();
    for (const round of [1, 2, 3]) {
      a.time.ms += 1500; // the guest runs on after the save (or the last restore)
      a.cpu.set_state(state);
      assert.equal(a.readTsc(), savedTsc, `restore ${round}: the counter reads the saved value`);
    }
    a.time.ms += 2;
    assert.equal(a.readTsc(), savedTsc + BigInt(2 * TSC_PER_MS), "and runs on with the host's clock");

    // A v86 whose set_tsc sets the value as given (should it be fixed) ends at the saved value too.
    const fixed = fakeEmulator({ restoreMs: 900, absoluteSetTsc: true });
    attachUhciToV86(fixed.emulator);
    const fixedState = throughV86(fixed.cpu.get_state());
    const fixedSaved = fixed.readTsc();
    for (const round of [1, 2]) {
      fixed.time.ms += 1500;
      fixed.cpu.set_state(fixedState);
      assert.equal(fixed.readTsc(), fixedSaved, `absolute set_tsc, restore ${round}`);
    }

    // A state whose counter entry is not two 32-bit words is left to v86 (nothing thrown).
    const odd = throughV86(a.cpu.get_state());
    odd[V86_TSC_STATE_ENTRY] = "garbage";
    const b = fakeEmulator({ restoreMs: 900 });
    attachUhciToV86(b.emulator);
    const before = b.readTsc();
    b.cpu.set_state(odd);
    assert.equal(b.readTsc(), before + BigInt(900 * TSC_PER_MS));
  });
});
