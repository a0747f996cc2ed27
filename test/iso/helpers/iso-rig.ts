/**
 * A controller on fake guest memory, a level IRQ line and an injectable clock, driven as a guest
 * drives it (I/O registers, memory, IRQ level, attach). Like test/uhci/helpers/rig.ts, but the clock
 * can be any `Clock` (a virtual one, or one whose callbacks fire late like a stalled host), and RAM is
 * big enough for a 1024-frame isochronous schedule.
 */
import { type HostStallPolicy, UhciController } from "../../../src/controller/uhci/uhci-controller.ts";
import { type Clock, VirtualClock } from "../../../src/machine/clock.ts";
import { RamGuestMemory } from "../../../src/machine/guest-memory.ts";
import { LevelIrqLine } from "../../../src/machine/irq-line.ts";
import type { UsbDevice } from "../../../src/usb/device.ts";
import { fillFrameList, setFrameListEntry } from "../../uhci/helpers/schedule.ts";
import { Cmd, Port, Reg } from "../../uhci/helpers/uhci-spec.ts";

export const IsoLayout = {
  RAM_SIZE: 0x80000,
  /** 4 KiB aligned (UHCI 2.1.5). */
  FRAME_LIST: 0x1000,
  /** Control-transfer TDs and QHs for enumeration. */
  CONTROL: 0x2000,
  /** One iso TD per frame: TD n at ISO_TDS + 16 n. */
  ISO_TDS: 0x4000,
  /** Data buffers of BUFFER_SIZE bytes: buffer n at BUFFERS + BUFFER_SIZE n. */
  BUFFERS: 0x10000,
  BUFFER_SIZE: 0x100,
} as const;

export function isoTd(n: number): number {
  return IsoLayout.ISO_TDS + 16 * n;
}

export function isoBuf(n: number): number {
  return IsoLayout.BUFFERS + IsoLayout.BUFFER_SIZE * n;
}

export interface IsoRigOptions<C extends Clock> {
  /** Default: a VirtualClock. */
  clock?: C;
  /** How the test moves time; default VirtualClock.advance. */
  advance?: (ms: number) => void;
  maxFramesPerWakeup?: number;
  /** The controller's host-pause policy (UhciOptions.hostStall). */
  hostStall?: Partial<HostStallPolicy>;
}

export class IsoRig<C extends Clock = VirtualClock> {
  readonly ram = new RamGuestMemory(IsoLayout.RAM_SIZE);
  readonly irq = new LevelIrqLine();
  readonly clock: C;
  readonly hc: UhciController;
  private readonly advanceBy: (ms: number) => void;

  constructor(options: IsoRigOptions<C> = {}) {
    const clock = options.clock ?? new VirtualClock();
    this.clock = clock as C;
    this.advanceBy =
      options.advance ??
      ((ms) => {
        if (!(clock instanceof VirtualClock)) throw new Error("give `advance` with a custom clock");
        clock.advance(ms);
      });
    this.hc = new UhciController({
      memory: this.ram,
      irq: this.irq,
      clock,
      ...(options.maxFramesPerWakeup === undefined ? {} : { maxFramesPerWakeup: options.maxFramesPerWakeup }),
      ...(options.hostStall === undefined ? {} : { hostStall: options.hostStall }),
    });
  }

  read16(offset: number): number {
    return this.hc.ioRead(offset, 2);
  }
  write16(offset: number, value: number): void {
    this.hc.ioWrite(offset, 2, value);
  }
  write32(offset: number, value: number): void {
    this.hc.ioWrite(offset, 4, value);
  }
  get usbsts(): number {
    return this.read16(Reg.USBSTS);
  }
  get frnum(): number {
    return this.read16(Reg.FRNUM);
  }

  /** Moves the clock on by `ms` (frames and device completions fire on the way). */
  advance(ms: number): void {
    this.advanceBy(ms);
  }

  /** Plugs `device` into `port`, then resets and enables the port (UHCI 2.1.7) as a guest would. */
  plug(port: number, device: UsbDevice): void {
    this.hc.attach(port, device);
    this.resetPort(port);
  }

  resetPort(port: number): void {
    this.write16(Reg.PORTSC1 + 2 * port, Port.PR);
    this.write16(Reg.PORTSC1 + 2 * port, 0);
    this.write16(Reg.PORTSC1 + 2 * port, Port.PE | Port.CSC | Port.PEC);
  }

  /** Every frame list entry → `link`. */
  fillFrameList(link: number): void {
    fillFrameList(this.ram, IsoLayout.FRAME_LIST, link);
  }

  setFrameListEntry(index: number, link: number): void {
    setFrameListEntry(this.ram, IsoLayout.FRAME_LIST, index, link);
  }

  /** Guest bring-up: FRBASEADD, USBINTR, FRNUM (only writable while halted), then Run/Stop. */
  start(options: { intr?: number; frnum?: number } = {}): void {
    this.write32(Reg.FRBASEADD, IsoLayout.FRAME_LIST);
    this.write16(Reg.USBINTR, options.intr ?? 0);
    this.write16(Reg.FRNUM, options.frnum ?? 0);
    this.write16(Reg.USBCMD, Cmd.RS);
  }

  stop(): void {
    this.write16(Reg.USBCMD, 0);
  }

  bytes(address: number, length: number): number[] {
    return Array.from(this.ram.bytes.subarray(address, address + length));
  }

  fill(address: number, length: number, value: number): void {
    this.ram.bytes.fill(value, address, address + length);
  }
}
