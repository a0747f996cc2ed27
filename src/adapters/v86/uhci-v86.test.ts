/**
 * The adapter's PCI wiring against a fake v86 that keeps v86's conventions (src/pci.js): configuration
 * reads come from `device_spaces[devfn]` as 32-bit words, `pci_write8/16/32` store verbatim, and
 * `set_io_bars` moves a BAR's port handlers (ports ≥ 0x1000 only). The controller's PCI function owns
 * the semantics (USBLEGSUP write-1-to-clear, read-only IDs, BAR sizing); v86 only carries the cycles.
 * (test/integration/v86-seabios.test.ts runs the same against a real v86 and SeaBIOS.)
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { attachUhciToV86, UHCI_INITIAL_IO_BASE, UHCI_PCI_DEVFN } from "./uhci-v86.ts";
import type { V86PciBar } from "./v86-shim.ts";

interface PortEntry {
  read8: () => number;
  write8: (value: number) => void;
}

function fakeV86() {
  const spaces: (Int32Array | undefined)[] = [];
  const ports = new Map<number, PortEntry>();
  const stored: string[] = [];
  const store = (address: number, value: number, width: 1 | 2 | 4) => {
    stored.push(`${width}:${(address >>> 0).toString(16)}=${value.toString(16)}`);
    const space = spaces[(address >>> 8) & 0xffff];
    if (space === undefined) return;
    const offset = address & 0xff;
    if (width === 1) new Uint8Array(space.buffer)[offset] = value;
    else if (width === 2) new Uint16Array(space.buffer)[offset >>> 1] = value;
    else space[offset >>> 2] = value;
  };
  const pci = {
    device_spaces: spaces,
    register_device: (device: { pci_id: number; pci_space: number[] }) => {
      const space = new Int32Array(64);
      space.set(new Int32Array(new Uint8Array(device.pci_space).buffer));
      spaces[device.pci_id] = space;
      return space;
    },
    raise_irq: () => {},
    lower_irq: () => {},
    pci_write8: (address: number, value: number) => store(address, value, 1),
    pci_write16: (address: number, value: number) => store(address, value, 2),
    pci_write32: (address: number, value: number) => store(address, value, 4),
    set_io_bars: (bar: V86PciBar, from: number, to: number) => {
      const moving: (PortEntry | undefined)[] = [];
      for (let i = 0; i < bar.size; i++) {
        moving.push(ports.get(from + i));
        if (from + i >= 0x1000) ports.delete(from + i);
      }
      moving.forEach((entry, i) => {
        if (entry !== undefined && to + i >= 0x1000) ports.set(to + i, entry);
      });
    },
  };
  const cpu = {
    devices: { pci },
    io: {
      register_read: (port: number, _device: object, r8: () => number) => {
        const entry = ports.get(port) ?? { read8: () => 0xff, write8: () => {} };
        ports.set(port, { ...entry, read8: r8 });
      },
      register_write: (port: number, _device: object, w8: (value: number) => void) => {
        const entry = ports.get(port) ?? { read8: () => 0xff, write8: () => {} };
        ports.set(port, { ...entry, write8: w8 });
      },
    },
    wasm_memory: { buffer: new ArrayBuffer(1 << 20) },
    mem8: { byteOffset: 0 },
    memory_size: [1 << 20],
    jit_dirty_cache: () => {},
    set_tsc: () => {},
    store_current_tsc: () => {},
    current_tsc: [0, 0],
    run_hardware_timers: () => 100,
    get_state: (): unknown[] => [],
    set_state: () => {},
  };
  /** A configuration read of the dword at `offset`, as v86's pci_query answers it. */
  const configRead = (devfn: number, offset: number): number => (spaces[devfn]?.[offset >>> 2] ?? -1) >>> 0;
  return { emulator: { v86: { cpu } }, pci, ports, stored, configRead };
}

/** The value software writes to 0xCF8 for bus 0, `devfn`, register `offset`. */
const cf8 = (devfn: number, offset: number): number => 0x80000000 | (devfn << 8) | offset | 0;
const DEVFN = UHCI_PCI_DEVFN;

describe("v86 adapter: the controller's PCI function on v86's bus (fake v86)", () => {
  it("configuration reads see the function: 8086:7020, class 0C0300, BAR4 at the initial port, INTD", () => {
    const v86 = fakeV86();
    const uhci = attachUhciToV86(v86.emulator);
    assert.equal(v86.configRead(DEVFN, 0x00), 0x70208086);
    assert.equal(
      v86.configRead(DEVFN, 0x04) & 0xffff,
      0x0005,
      "I/O and bus master on, as firmware leaves them",
    );
    assert.equal(v86.configRead(DEVFN, 0x08), 0x0c030001);
    assert.equal(v86.configRead(DEVFN, 0x20), UHCI_INITIAL_IO_BASE | 1);
    assert.equal((v86.configRead(DEVFN, 0x3c) >>> 8) & 0xff, 4);
    assert.equal(v86.configRead(DEVFN, 0xc0) & 0xffff, 0x2000);
    assert.equal(uhci.currentIoBase(), UHCI_INITIAL_IO_BASE);
    assert.equal(v86.ports.get(UHCI_INITIAL_IO_BASE + 0x0c)?.read8(), 0x40, "SOFMOD at the initial port");
  });

  it("writes to the function reach it (USBLEGSUP R/WC, read-only IDs); other functions' stay v86's", () => {
    const v86 = fakeV86();
    const uhci = attachUhciToV86(v86.emulator);
    uhci.controller.pci.bytes[0xc1]! |= 0x0f; // SMI status a BIOS left (as a restored snapshot would have it)
    v86.pci.pci_write16(cf8(DEVFN, 0xc0), 0x8f00);
    assert.equal(v86.configRead(DEVFN, 0xc0) & 0xffff, 0, "status cleared by 1s, PIRQ enable by the 0");
    v86.pci.pci_write16(cf8(DEVFN, 0xc0), 0x2000);
    assert.equal(v86.configRead(DEVFN, 0xc0) & 0xffff, 0x2000);
    v86.pci.pci_write32(cf8(DEVFN, 0x00), -1);
    v86.pci.pci_write8(cf8(DEVFN, 0x3d), 0x01);
    assert.equal(v86.configRead(DEVFN, 0x00), 0x70208086);
    assert.equal((v86.configRead(DEVFN, 0x3c) >>> 8) & 0xff, 4);
    assert.deepEqual(v86.stored, [], "v86 stored none of the function's writes");
    v86.pci.pci_write8(cf8(0x08, 0x60), 0x0b);
    assert.deepEqual(
      v86.stored,
      [`1:${(cf8(0x08, 0x60) >>> 0).toString(16)}=b`],
      "the ISA bridge's is v86's",
    );
  });

  it("SeaBIOS's BAR sizing and relocation: reads 0xFFFFFFE1, then the handlers follow the base", () => {
    const v86 = fakeV86();
    const uhci = attachUhciToV86(v86.emulator);
    v86.pci.pci_write32(cf8(DEVFN, 0x20), -1);
    assert.equal(v86.configRead(DEVFN, 0x20), 0xffffffe1);
    v86.pci.pci_write32(cf8(DEVFN, 0x20), 0xc000);
    assert.equal(v86.configRead(DEVFN, 0x20), 0xc001);
    assert.equal(uhci.currentIoBase(), 0xc000);
    assert.equal(v86.ports.get(0xc00c)?.read8(), 0x40, "the controller answers at its new base");
    v86.ports.get(0xc00c)?.write8(0x50);
    assert.equal(uhci.controller.ioRead(0x0c, 1), 0x50);
    assert.equal(v86.ports.has(UHCI_INITIAL_IO_BASE + 0x0c), false, "and no longer at the old one");
  });

  it("what v86 restores into its configuration space is the function's state", () => {
    const v86 = fakeV86();
    const uhci = attachUhciToV86(v86.emulator);
    const saved = Int32Array.from(v86.pci.device_spaces[DEVFN]!);
    saved[0x20 >>> 2] = 0xd001;
    v86.pci.device_spaces[DEVFN]!.set(saved); // v86's PCI set_state
    assert.equal(uhci.controller.pci.ioBase, 0xd000);
  });

  it("detach gives the configuration writes back to v86", () => {
    const v86 = fakeV86();
    const uhci = attachUhciToV86(v86.emulator);
    uhci.detach();
    v86.pci.pci_write16(cf8(DEVFN, 0xc0), 0x8f00);
    assert.equal(v86.stored.length, 1);
  });
});
