/**
 * A controller on fake guest memory, a level IRQ line and a virtual clock, driven the way a guest
 * driver drives it: through I/O registers only.
 */
import { UhciController, type UhciOptions } from "../../../src/controller/uhci/uhci-controller.ts";
import { VirtualClock } from "../../../src/machine/clock.ts";
import { type GuestMemory, RamGuestMemory } from "../../../src/machine/guest-memory.ts";
import { LevelIrqLine } from "../../../src/machine/irq-line.ts";
import type { UsbDevice } from "../../../src/usb/device.ts";
import { fillFrameList } from "./schedule.ts";
import { Cmd, Port, Reg } from "./uhci-spec.ts";

/** Where the spec tests put things in their 64 KiB of RAM. */
export const Layout = {
  RAM_SIZE: 0x10000,
  /** 4 KiB aligned (UHCI 2.1.5). */
  FRAME_LIST: 0x1000,
  /** TDs and QHs: 16-byte slots from here. */
  NODES: 0x2000,
  /** Data buffers. */
  BUFFERS: 0x8000,
} as const;

/** The address of the n-th 16-byte TD/QH slot. */
export function node(n: number): number {
  return Layout.NODES + 16 * n;
}

/** The address of the n-th 0x200-byte data buffer. */
export function buf(n: number): number {
  return Layout.BUFFERS + 0x200 * n;
}

export interface RigOptions extends Partial<Omit<UhciOptions, "memory" | "irq" | "clock">> {
  ramSize?: number;
  /** Wraps the RAM (e.g. to record accesses); the controller sees what this returns. */
  wrapMemory?: (ram: RamGuestMemory) => GuestMemory;
}

export class Rig {
  readonly ram: RamGuestMemory;
  readonly irq = new LevelIrqLine();
  readonly clock = new VirtualClock();
  readonly hc: UhciController;

  constructor(options: RigOptions = {}) {
    const { ramSize, wrapMemory, ...rest } = options;
    this.ram = new RamGuestMemory(ramSize ?? Layout.RAM_SIZE);
    const memory = wrapMemory ? wrapMemory(this.ram) : this.ram;
    this.hc = new UhciController({ ...rest, memory, irq: this.irq, clock: this.clock });
  }

  read8(offset: number): number {
    return this.hc.ioRead(offset, 1);
  }
  read16(offset: number): number {
    return this.hc.ioRead(offset, 2);
  }
  read32(offset: number): number {
    return this.hc.ioRead(offset, 4);
  }
  write8(offset: number, value: number): void {
    this.hc.ioWrite(offset, 1, value);
  }
  write16(offset: number, value: number): void {
    this.hc.ioWrite(offset, 2, value);
  }
  write32(offset: number, value: number): void {
    this.hc.ioWrite(offset, 4, value);
  }

  get usbcmd(): number {
    return this.read16(Reg.USBCMD);
  }
  get usbsts(): number {
    return this.read16(Reg.USBSTS);
  }
  get frnum(): number {
    return this.read16(Reg.FRNUM);
  }
  portsc(index: number): number {
    return this.read16(Reg.PORTSC1 + 2 * index);
  }
  writePortsc(index: number, value: number): void {
    this.write16(Reg.PORTSC1 + 2 * index, value);
  }

  /** Writes 1s to USBSTS bits (UHCI 2.1.2: R/WC). */
  clearStatus(bits = 0x3f): void {
    this.write16(Reg.USBSTS, bits);
  }

  /** Plugs `device` into `port` and resets and enables the port as a guest driver would (UHCI 2.1.7). */
  plug(port: number, device: UsbDevice): void {
    this.hc.attach(port, device);
    this.enablePort(port);
  }

  enablePort(port: number): void {
    this.writePortsc(port, Port.PR);
    this.writePortsc(port, 0);
    this.writePortsc(port, Port.PE | Port.CSC | Port.PEC);
  }

  /**
   * Guest bring-up: every frame list entry points at `firstLink` (so tests need not care which frame
   * runs), interrupts as given, then Run/Stop.
   */
  start(firstLink: number, options: { intr?: number; frameList?: number } = {}): void {
    const base = options.frameList ?? Layout.FRAME_LIST;
    fillFrameList(this.ram, base, firstLink);
    this.write32(Reg.FRBASEADD, base);
    this.write16(Reg.USBINTR, options.intr ?? 0);
    this.write16(Reg.USBCMD, Cmd.RS);
  }

  /** Runs `n` 1 ms frames (with the default SOFMOD of 64, one frame per millisecond). */
  frames(n = 1): void {
    this.clock.advance(n);
  }

  /** Fills `length` bytes at `address` with `value` (to see which bytes the controller wrote). */
  fill(address: number, length: number, value: number): void {
    this.ram.bytes.fill(value, address, address + length);
  }

  bytes(address: number, length: number): number[] {
    return Array.from(this.ram.bytes.subarray(address, address + length));
  }
}
