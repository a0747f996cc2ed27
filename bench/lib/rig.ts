/**
 * A controller on guest RAM, an IRQ line and a clock, brought up through its I/O registers the way a
 * guest driver does (port reset and enable, frame list base, interrupt enables, Run/Stop).
 */
import { UhciController, type UhciOptions } from "../../src/controller/uhci/index.ts";
import type { Clock, GuestMemory } from "../../src/machine/index.ts";
import { LevelIrqLine } from "../../src/machine/index.ts";
import type { UsbDevice } from "../../src/usb/index.ts";

/** UHCI 2.1 I/O offsets and the bits the benchmarks' guest writes. */
export const Io = {
  USBCMD: 0x00,
  USBSTS: 0x02,
  USBINTR: 0x04,
  FRNUM: 0x06,
  FRBASEADD: 0x08,
  PORTSC1: 0x10,
  CMD_RS: 0x0001,
  STS_ALL: 0x003f,
  STS_HSE: 0x0008,
  STS_HCPE: 0x0010,
  STS_HALTED: 0x0020,
  INTR_IOC: 0x0004,
  INTR_SHORT: 0x0008,
  INTR_TIMEOUT: 0x0001,
  PORT_PE: 0x0004,
  PORT_CSC: 0x0002,
  PORT_PEC: 0x0008,
  PORT_PR: 0x0200,
} as const;

export interface RigParts {
  memory: GuestMemory;
  clock: Clock;
  irq?: LevelIrqLine;
  controllerOptions?: Partial<Omit<UhciOptions, "memory" | "irq" | "clock">>;
}

export class BenchRig {
  readonly controller: UhciController;
  readonly irq: LevelIrqLine;

  constructor(parts: RigParts) {
    this.irq = parts.irq ?? new LevelIrqLine();
    this.controller = new UhciController({
      ...parts.controllerOptions,
      memory: parts.memory,
      irq: this.irq,
      clock: parts.clock,
    });
  }

  /** Plugs devices into root ports 0.. and resets and enables each port (UHCI 2.1.7). */
  plug(devices: readonly UsbDevice[]): void {
    devices.forEach((device, port) => {
      this.controller.attach(port, device);
      const portsc = Io.PORTSC1 + 2 * port;
      this.controller.ioWrite(portsc, 2, Io.PORT_PR);
      this.controller.ioWrite(portsc, 2, 0);
      this.controller.ioWrite(portsc, 2, Io.PORT_PE | Io.PORT_CSC | Io.PORT_PEC);
    });
  }

  /** FRBASEADD, USBINTR, then Run/Stop: the frame clock starts from this moment. */
  start(frameList: number, interruptEnables: number): void {
    this.controller.ioWrite(Io.FRBASEADD, 4, frameList);
    this.controller.ioWrite(Io.USBINTR, 2, interruptEnables);
    this.controller.ioWrite(Io.USBCMD, 2, Io.CMD_RS);
  }

  stop(): void {
    this.controller.ioWrite(Io.USBCMD, 2, 0);
  }

  get frnum(): number {
    return this.controller.ioRead(Io.FRNUM, 2) & 0x7ff;
  }

  get usbsts(): number {
    return this.controller.ioRead(Io.USBSTS, 2);
  }

  /** What a guest interrupt handler does first: acknowledge every status bit. */
  acknowledge(): number {
    const sts = this.usbsts;
    if (sts & Io.STS_ALL) this.controller.ioWrite(Io.USBSTS, 2, sts & Io.STS_ALL);
    return sts;
  }

  /** Throws if the controller halted or reported a host system / process error. */
  assertHealthy(what: string): void {
    const sts = this.usbsts;
    if (sts & (Io.STS_HALTED | Io.STS_HSE | Io.STS_HCPE)) {
      throw new Error(`${what}: controller halted or failed (USBSTS 0x${sts.toString(16)})`);
    }
  }
}
