import type { RegisterSpec } from "../../machine/register-block.ts";

/** The UHCI I/O space is 32 bytes at BAR4 (UHCI 2.1, PIIX3 datasheet 2.2.2). */
export const UHCI_IO_SIZE = 0x20;

/** UHCI 2.1.1: USBCMD — USB command register. */
export const UsbCmd = {
  /** Run/Stop: the HC executes the schedule while set. */
  RS: 1 << 0,
  /** Host Controller Reset: resets the HC; self-clearing. */
  HCRESET: 1 << 1,
  /** Global Reset: drives reset on the bus and resets the HC while held. */
  GRESET: 1 << 2,
  /** Enter Global Suspend Mode. */
  EGSM: 1 << 3,
  /** Force Global Resume; set by the HC on remote wakeup during global suspend. */
  FGR: 1 << 4,
  /** Software Debug: the HC stops (clears RS) after each transaction. */
  SWDBG: 1 << 5,
  /** Configure Flag: software's "configuration done" semaphore; no effect on the HC. */
  CF: 1 << 6,
  /** Max Packet for full-speed bandwidth reclamation: 1 = 64 bytes, 0 = 32. */
  MAXP: 1 << 7,
} as const;

/** UHCI 2.1.2: USBSTS — USB status register (R/WC). */
export const UsbSts = {
  /** USB Interrupt: a TD with IOC completed, or a short packet was detected (SPD). */
  USBINT: 1 << 0,
  /** USB Error Interrupt: a transaction ended in error (C_ERR reached 0, stall, babble). */
  USBERRINT: 1 << 1,
  /** Resume Detect: remote wakeup seen while globally suspended. */
  RD: 1 << 2,
  /** Host System Error: a DMA access failed; the HC halts. */
  HSE: 1 << 3,
  /** Host Controller Process Error: a TD was malformed (bad PID, illegal MaxLen); the HC halts. */
  HCPE: 1 << 4,
  /** HC Halted: set when RS is clear or the HC halted on an error. */
  HCHALTED: 1 << 5,
} as const;

/** UHCI 2.1.3: USBINTR — interrupt enables. */
export const UsbIntr = {
  /** Timeout/CRC interrupt enable (gates USBERRINT). */
  TIMEOUT_CRC: 1 << 0,
  /** Resume interrupt enable (gates RD). */
  RESUME: 1 << 1,
  /** Interrupt On Complete enable (gates USBINT from IOC). */
  IOC: 1 << 2,
  /** Short Packet interrupt enable (gates USBINT from a short packet). */
  SHORT_PACKET: 1 << 3,
} as const;

/** UHCI 2.1.7: PORTSC — port status and control. */
export const PortSc = {
  /** Current Connect Status (RO). */
  CCS: 1 << 0,
  /** Connect Status Change (R/WC). */
  CSC: 1 << 1,
  /** Port Enabled (R/W; the HC clears it on disconnect). */
  PE: 1 << 2,
  /** Port Enable Change (R/WC): the port was disabled by the hardware. */
  PEC: 1 << 3,
  /** Line status D+ (RO). */
  LINE_DPLUS: 1 << 4,
  /** Line status D− (RO). */
  LINE_DMINUS: 1 << 5,
  /** Resume Detect (R/W): resume signalling seen on (or driven onto) a suspended port. */
  RD: 1 << 6,
  /** Reserved; always reads 1. Linux counts ports by this bit. */
  ALWAYS_ONE: 1 << 7,
  /** Low Speed Device Attached (RO). */
  LSDA: 1 << 8,
  /** Port Reset (R/W). */
  PR: 1 << 9,
  /** Suspend (R/W). */
  SUSP: 1 << 12,
} as const;

/** What a PORTSC read returns beyond the implemented ports (QEMU, Bochs; Linux stops counting there). */
export const ABSENT_PORT_VALUE = 0xff7f;

const reg = (
  name: string,
  offset: number,
  width: 1 | 2 | 4,
  reset: number,
  writable: number,
  writeOneToClear = 0,
): RegisterSpec => ({ name, offset, width, reset, writable, writeOneToClear });

export const REG = {
  USBCMD: 0,
  USBSTS: 1,
  USBINTR: 2,
  FRNUM: 3,
  FRBASEADD: 4,
  SOFMOD: 5,
  PORTSC1: 6,
} as const;

/** The register file as data (UHCI 2.1, table 1). PORTSC n is REG.PORTSC1 + n. */
export function uhciRegisterSpecs(portCount: number): RegisterSpec[] {
  const specs = [
    reg("USBCMD", 0x00, 2, 0, 0x00ff),
    reg("USBSTS", 0x02, 2, UsbSts.HCHALTED, 0, 0x003f),
    reg("USBINTR", 0x04, 2, 0, 0x000f),
    reg("FRNUM", 0x06, 2, 0, 0x07ff),
    reg("FRBASEADD", 0x08, 4, 0, 0xfffff000),
    reg("SOFMOD", 0x0c, 1, 64, 0x7f),
  ];
  for (let i = 0; i < portCount; i++) {
    specs.push(
      reg(
        `PORTSC${i + 1}`,
        0x10 + 2 * i,
        2,
        PortSc.ALWAYS_ONE,
        PortSc.PE | PortSc.RD | PortSc.PR | PortSc.SUSP,
        PortSc.CSC | PortSc.PEC,
      ),
    );
  }
  // The rest of the port area reads as "no port here" so a guest's port probe stops (Linux uhci-hcd).
  for (let offset = 0x10 + 2 * portCount; offset < UHCI_IO_SIZE; offset += 2) {
    specs.push(reg(`ABSENT${offset.toString(16)}`, offset, 2, ABSENT_PORT_VALUE, 0));
  }
  return specs;
}
