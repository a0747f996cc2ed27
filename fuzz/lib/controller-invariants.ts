/**
 * Invariants of a UHCI controller that hold after every step a guest or a device can take, checked only
 * through what a guest and the machine see: the I/O window, the IRQ line and the root ports.
 */
import type { UhciController } from "../../src/controller/uhci/uhci-controller.ts";
import type { LevelIrqLine } from "../../src/machine/irq-line.ts";
import { UsbSpeed } from "../../src/usb/constants.ts";
import { ABSENT_PORT, Cmd, Intr, Port, Reg, Sts } from "../../test/uhci/helpers/uhci-spec.ts";
import { check } from "./target.ts";

/** Why USBSTS.USBINT is set, as far as USBINTR can tell (UHCI 2.1.3 gates the two separately). */
export interface InterruptCauses {
  readonly ioc: boolean;
  readonly shortPacket: boolean;
}

/** PORTSC bits that exist (UHCI 2.1.7); 10, 11 and 15:13 are reserved and read 0. */
const PORTSC_DEFINED = 0x13ff;

const hex = (v: number): string => `0x${v.toString(16)}`;

/**
 * The IRQ line must be the level UHCI 2.1.3 defines: high exactly while an enabled cause is pending —
 * USBERRINT with the timeout/CRC enable, RD with the resume enable, USBINT with the IOC or short-packet
 * enable matching the cause behind it — or HSE/HCPE, which no enable masks.
 *
 * Which cause lies behind USBINT is not a register, so it is measured: the line is read first (a
 * controller that forgot to recompute it is caught there), then USBINTR is set to IOC alone and to
 * short-packet alone and the line watched, then USBINTR is restored. Writing USBINTR has no other effect
 * (UHCI 2.1.3), so probing changes nothing but the line's history. Returns the causes, or null when
 * HSE/HCPE keep the line high whatever they are.
 */
export function checkInterruptLine(hc: UhciController, irq: LevelIrqLine): InterruptCauses | null {
  const level = irq.level;
  const sts = hc.ioRead(Reg.USBSTS, 2);
  const intr = hc.ioRead(Reg.USBINTR, 2);
  hc.ioWrite(Reg.USBINTR, 2, 0);
  const masked = irq.level;
  hc.ioWrite(Reg.USBINTR, 2, Intr.IOC);
  const ioc = irq.level;
  hc.ioWrite(Reg.USBINTR, 2, Intr.SHORT_PACKET);
  const shortPacket = irq.level;
  hc.ioWrite(Reg.USBINTR, 2, intr);
  const what = (): string =>
    `USBSTS ${hex(sts)}, USBINTR ${hex(intr)}, line ${level ? "high" : "low"} ` +
    `(with USBINTR 0: ${masked}, IOC only: ${ioc}, short packet only: ${shortPacket})`;

  if ((sts & (Sts.HSE | Sts.HCPE)) !== 0) {
    check(level && masked && ioc && shortPacket, () => `HSE/HCPE must hold the line high: ${what()}`);
    return null;
  }
  check(!masked, () => `the line is high with every interrupt disabled: ${what()}`);
  const usbint = (sts & Sts.USBINT) !== 0;
  if (usbint) check(ioc || shortPacket, () => `USBINT is set with no cause behind it: ${what()}`);
  else check(!ioc && !shortPacket, () => `a USBINT cause survives with USBINT clear: ${what()}`);
  const expected =
    ((sts & Sts.USBERRINT) !== 0 && (intr & Intr.TIMEOUT_CRC) !== 0) ||
    ((sts & Sts.RD) !== 0 && (intr & Intr.RESUME) !== 0) ||
    (usbint && (((intr & Intr.IOC) !== 0 && ioc) || ((intr & Intr.SHORT_PACKET) !== 0 && shortPacket)));
  check(level === expected, () => `IRQ line should be ${expected ? "high" : "low"}: ${what()}`);
  check(irq.level === expected, () => `restoring USBINTR left the line wrong: ${what()}`);
  return { ioc, shortPacket };
}

/**
 * Register contents that hold whatever the guest wrote: reserved bits read 0, HCRESET has cleared
 * itself, RS and HCHalted agree (except while GRESET is held, when the controller is in reset), and
 * each PORTSC agrees with its port.
 */
export function checkRegisters(hc: UhciController): void {
  const cmd = hc.ioRead(Reg.USBCMD, 2);
  const sts = hc.ioRead(Reg.USBSTS, 2);
  const intr = hc.ioRead(Reg.USBINTR, 2);
  const frnum = hc.ioRead(Reg.FRNUM, 2);
  const base = hc.ioRead(Reg.FRBASEADD, 4);
  const sofmod = hc.ioRead(Reg.SOFMOD, 1);
  check((cmd & 0xff00) === 0, () => `USBCMD reserved bits: ${hex(cmd)}`);
  check((cmd & Cmd.HCRESET) === 0, () => `HCRESET did not clear itself: USBCMD ${hex(cmd)}`);
  check((sts & 0xffc0) === 0, () => `USBSTS reserved bits: ${hex(sts)}`);
  check((intr & 0xfff0) === 0, () => `USBINTR reserved bits: ${hex(intr)}`);
  check(frnum <= 0x7ff, () => `FRNUM ${hex(frnum)} beyond 11 bits`);
  check((base & 0xfff) === 0, () => `FRBASEADD ${hex(base)} not 4 KiB aligned`);
  check(sofmod <= 0x7f, () => `SOFMOD ${hex(sofmod)} beyond 7 bits`);
  if ((cmd & Cmd.GRESET) === 0) {
    const running = (cmd & Cmd.RS) !== 0;
    const halted = (sts & Sts.HCHALTED) !== 0;
    check(
      running !== halted,
      () => `RS ${running} but HCHalted ${halted}: USBCMD ${hex(cmd)} USBSTS ${hex(sts)}`,
    );
  }
  const ports = hc.ports;
  for (let i = 0; i < ports.length; i++) {
    const port = ports[i]!;
    const v = hc.ioRead(Reg.PORTSC1 + 2 * i, 2);
    const where = (): string => `PORTSC${i + 1} ${hex(v)}`;
    check((v & Port.RESERVED_ONE) !== 0, () => `${where()}: bit 7 must read 1`);
    check((v & ~PORTSC_DEFINED) === 0, () => `${where()}: reserved bits set`);
    const device = port.device;
    check(((v & Port.CCS) !== 0) === (device !== null), () => `${where()}: CCS disagrees with the port`);
    check(((v & Port.PE) !== 0) === port.enabled, () => `${where()}: PE disagrees with the port`);
    check(device !== null || (v & Port.PE) === 0, () => `${where()}: enabled with nothing connected`);
    const lowSpeed = device !== null && device.speed === UsbSpeed.Low;
    check(((v & Port.LSDA) !== 0) === lowSpeed, () => `${where()}: LSDA disagrees with the device`);
  }
  for (let offset = Reg.PORTSC1 + 2 * ports.length; offset < 0x20; offset += 2) {
    const v = hc.ioRead(offset, 2);
    check(v === ABSENT_PORT, () => `no port at ${hex(offset)} but it reads ${hex(v)}`);
  }
}
