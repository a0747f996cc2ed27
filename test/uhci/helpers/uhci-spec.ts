/**
 * UHCI register offsets and bit values, written down again from the Intel UHCI Design Guide rev 1.1
 * rather than imported from the controller, so that a wrong constant in the implementation shows up
 * as a failing test instead of agreeing with itself.
 */

/** UHCI 2.1, table 1: I/O register offsets from the I/O base (BAR4). */
export const Reg = {
  USBCMD: 0x00,
  USBSTS: 0x02,
  USBINTR: 0x04,
  FRNUM: 0x06,
  FRBASEADD: 0x08,
  SOFMOD: 0x0c,
  PORTSC1: 0x10,
  PORTSC2: 0x12,
} as const;

/** UHCI 2.1.1 USBCMD. */
export const Cmd = {
  RS: 0x0001,
  HCRESET: 0x0002,
  GRESET: 0x0004,
  EGSM: 0x0008,
  FGR: 0x0010,
  SWDBG: 0x0020,
  CF: 0x0040,
  MAXP: 0x0080,
} as const;

/** UHCI 2.1.2 USBSTS. */
export const Sts = {
  USBINT: 0x0001,
  USBERRINT: 0x0002,
  RD: 0x0004,
  HSE: 0x0008,
  HCPE: 0x0010,
  HCHALTED: 0x0020,
} as const;

/** UHCI 2.1.3 USBINTR. */
export const Intr = {
  TIMEOUT_CRC: 0x0001,
  RESUME: 0x0002,
  IOC: 0x0004,
  SHORT_PACKET: 0x0008,
} as const;

/** UHCI 2.1.7 PORTSC. */
export const Port = {
  CCS: 0x0001,
  CSC: 0x0002,
  PE: 0x0004,
  PEC: 0x0008,
  LINE_DPLUS: 0x0010,
  LINE_DMINUS: 0x0020,
  RD: 0x0040,
  RESERVED_ONE: 0x0080,
  LSDA: 0x0100,
  PR: 0x0200,
  SUSP: 0x1000,
} as const;

/** UHCI 3.1 / 3.2.1 / 3.3: link pointer bits. */
export const LinkBit = {
  T: 0x1,
  Q: 0x2,
  VF: 0x4,
} as const;

/** UHCI 3.2.2: TD control and status (DW1). */
export const Ctrl = {
  SPD: 1 << 29,
  CERR_SHIFT: 27,
  LS: 1 << 26,
  IOS: 1 << 25,
  IOC: 1 << 24,
  ACTIVE: 1 << 23,
  STALLED: 1 << 22,
  DATA_BUFFER_ERROR: 1 << 21,
  BABBLE: 1 << 20,
  NAK: 1 << 19,
  CRC_TIMEOUT: 1 << 18,
  BITSTUFF: 1 << 17,
  ACTLEN_MASK: 0x7ff,
} as const;

/** UHCI 3.2.3: token PIDs (USB 2.0 table 8-1). */
export const PID = {
  SETUP: 0x2d,
  IN: 0x69,
  OUT: 0xe1,
} as const;

/** The value a PORTSC read returns for a port the controller does not have (QEMU, Bochs; Linux probes it). */
export const ABSENT_PORT = 0xff7f;
