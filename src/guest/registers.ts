/**
 * The UHCI I/O registers as the guest driver sees them: offsets in the 32-byte window and bit names.
 *
 * The guest keeps its own copy of these facts (it does not import the controller) so that it can drive
 * any UHCI implementation, exactly like a real operating system driver would.
 */

/** Byte offsets inside the I/O window (UHCI 2.1, table 1). */
export const UhciRegister = {
  /** UHCI 2.1.1: USB command, 16 bits. */
  UsbCmd: 0x00,
  /** UHCI 2.1.2: USB status, 16 bits, R/WC. */
  UsbSts: 0x02,
  /** UHCI 2.1.3: interrupt enables, 16 bits. */
  UsbIntr: 0x04,
  /** UHCI 2.1.4: frame number, 16 bits (11 significant). */
  FrNum: 0x06,
  /** UHCI 2.1.5: frame list base address, 32 bits, 4 KiB aligned. */
  FrBaseAdd: 0x08,
  /** UHCI 2.1.6: start-of-frame modify, 8 bits. */
  SofMod: 0x0c,
  /** UHCI 2.1.7: first port status/control register; port n is at PortSc1 + 2n. */
  PortSc1: 0x10,
} as const;

/** The I/O window is 32 bytes (UHCI 2.1), so at most (0x20 − 0x10) / 2 = 8 port registers fit. */
export const UHCI_IO_WINDOW = 0x20;

/** UHCI 2.1.1: USBCMD bits. */
export const UsbCmd = {
  /** Run/Stop: the controller executes the schedule while set. */
  RunStop: 1 << 0,
  /** Host controller reset; the controller clears it when the reset is done. */
  HcReset: 1 << 1,
  /** Global reset: resets the bus and the controller while held. */
  GlobalReset: 1 << 2,
  /** Enter global suspend mode (only while halted). */
  EnterGlobalSuspend: 1 << 3,
  /** Force global resume; also set by the controller on a remote wakeup during global suspend. */
  ForceGlobalResume: 1 << 4,
  /** Software debug (single step). */
  SoftwareDebug: 1 << 5,
  /** Configure flag: a semaphore for software, no effect on the controller. */
  ConfigureFlag: 1 << 6,
  /** Max packet for bandwidth reclamation: 1 = 64 bytes. */
  MaxPacket64: 1 << 7,
} as const;

/** UHCI 2.1.2: USBSTS bits (all write-1-to-clear). */
export const UsbSts = {
  /** A TD with IOC completed, or a short packet was detected with SPD set. */
  UsbInt: 1 << 0,
  /** A transaction ended in error (C_ERR exhausted, STALL, babble…). */
  UsbErrInt: 1 << 1,
  /** Resume detected while globally suspended. */
  ResumeDetect: 1 << 2,
  /** Host system error (a DMA fault): the controller halts. */
  HostSystemError: 1 << 3,
  /** Host controller process error (a malformed TD): the controller halts. */
  HcProcessError: 1 << 4,
  /** The controller is halted (RS clear or a fatal error). */
  HcHalted: 1 << 5,
} as const;

/** Every USBSTS bit the controller defines (UHCI 2.1.2). */
export const USBSTS_ALL = 0x3f;

/** UHCI 2.1.3: USBINTR bits. */
export const UsbIntr = {
  TimeoutCrc: 1 << 0,
  Resume: 1 << 1,
  InterruptOnComplete: 1 << 2,
  ShortPacket: 1 << 3,
} as const;

/** UHCI 2.1.7: PORTSC bits. */
export const PortSc = {
  /** Current connect status (RO). */
  CurrentConnect: 1 << 0,
  /** Connect status change (R/WC). */
  ConnectChange: 1 << 1,
  /** Port enabled (R/W). */
  Enable: 1 << 2,
  /** Port enable change (R/WC): the hardware disabled the port. */
  EnableChange: 1 << 3,
  /** Line status D+ (RO). */
  LineDPlus: 1 << 4,
  /** Line status D− (RO). */
  LineDMinus: 1 << 5,
  /** Resume detect (R/W): resume signalling seen on, or driven onto, a suspended port. */
  ResumeDetect: 1 << 6,
  /** Reserved, always reads 1: how drivers tell a port register from empty I/O space. */
  AlwaysOne: 1 << 7,
  /** Low-speed device attached (RO). */
  LowSpeed: 1 << 8,
  /** Port reset (R/W). */
  Reset: 1 << 9,
  /** Over-current change (R/WC) on PIIX4 and later; reserved in UHCI 1.1 but cleared by Linux too. */
  OverCurrentChange: 1 << 11,
  /** Suspend (R/W). */
  Suspend: 1 << 12,
} as const;

/** PORTSC bits that a write of 1 clears: never write them back as read (UHCI 2.1.7). */
export const PORTSC_WRITE_CLEAR = PortSc.ConnectChange | PortSc.EnableChange | PortSc.OverCurrentChange;

/** PORTSC bits 15:13 are reserved and must be written as zero (UHCI 2.1.7). */
export const PORTSC_WRITE_ZERO = 0xe000;

/** SOFMOD's reset value: 11936 + 64 = 12000 bit times, exactly 1 ms per frame (UHCI 2.1.6). */
export const SOFMOD_DEFAULT = 64;

/** FRNUM bits 10:0 count frames; bits 9:0 index the frame list (UHCI 2.1.4). */
export const FRNUM_MASK = 0x7ff;
