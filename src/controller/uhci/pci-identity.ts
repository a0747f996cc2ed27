/**
 * The PCI face of the controller, as data: which function it is and the registers it has beyond the
 * standard header. {@link UhciPciFunction} (pci-config.ts) turns it into a live configuration space; the
 * schedule logic never sees it. Values are those of the Intel PIIX3 USB function (82371SB, function 2).
 */
export interface PciIdentity {
  readonly vendorId: number;
  readonly deviceId: number;
  /** Class code: base 0x0C (serial bus), sub 0x03 (USB), prog-if 0x00 (UHCI). */
  readonly classCode: number;
  readonly revision: number;
  /** The I/O BAR: index 4 (config offset 0x20); some guests (BSD) insist on BAR4. Size a power of 2. */
  readonly ioBar: { readonly index: number; readonly size: number };
  /** Interrupt pin: 4 = INTD on PIIX3. */
  readonly interruptPin: number;
  /** The function's own registers after the 64-byte header. */
  readonly registers: readonly PciConfigRegister[];
}

/** One register of the device-specific part of the configuration space (offsets 0x40–0xFF). */
export interface PciConfigRegister {
  readonly name: string;
  readonly offset: number;
  readonly width: 1 | 2 | 4;
  /** Value at reset. */
  readonly reset: number;
  /** Bits a write replaces (the rest are read-only). */
  readonly writable: number;
  /** Bits a write of 1 clears (R/WC); a write of 0 leaves them. */
  readonly writeOneToClear: number;
}

/** Config offset of USBLEGSUP, the legacy support register (PIIX3/PIIX4 function 2). */
export const USBLEGSUP_OFFSET = 0xc0;

/**
 * USBLEGSUP bits (82371AB PIIX4 datasheet, LEGSUP; the same register on PIIX3). Linux's uhci-hcd and
 * SeaBIOS write 0x8F00 to clear every status bit and turn off SMI and PIRQ routing, then Linux writes
 * 0x2000 to route the interrupt to PIRQD.
 */
export const UsbLegSup = {
  /** Status: SMI caused by the end of an A20GATE pass-through sequence (R/WC). */
  SMI_END_OF_PASS_THROUGH: 1 << 15,
  /** USB PIRQ enable: the controller's interrupt is routed to PIRQD (R/W; set at reset). */
  PIRQ_ENABLE: 1 << 13,
  /** Status: SMI caused by the USB interrupt (read-only: it follows the controller's interrupt). */
  SMI_BY_USB_IRQ: 1 << 12,
  /** Status: SMI caused by a port 64h write, port 64h read, port 60h write, port 60h read (R/WC). */
  SMI_BY_PORT_ACCESS: 0x0f00,
  /** Enables: SMI at end of pass-through, A20 pass-through, trap on IRQ, trap on 64h/60h writes/reads. */
  ENABLES: 0x00bf,
  /** Status: an A20GATE pass-through sequence is in progress (read-only). */
  PASS_THROUGH_STATUS: 1 << 6,
} as const;

export const PIIX3_UHCI: PciIdentity = {
  vendorId: 0x8086,
  deviceId: 0x7020,
  classCode: 0x0c0300,
  revision: 0x01,
  ioBar: { index: 4, size: 0x20 },
  interruptPin: 4,
  registers: [
    // SBRN: USB release 1.0 (read-only).
    { name: "SBRN", offset: 0x60, width: 1, reset: 0x10, writable: 0, writeOneToClear: 0 },
    {
      name: "USBLEGSUP",
      offset: USBLEGSUP_OFFSET,
      width: 2,
      reset: UsbLegSup.PIRQ_ENABLE,
      writable: UsbLegSup.PIRQ_ENABLE | UsbLegSup.ENABLES,
      writeOneToClear: UsbLegSup.SMI_END_OF_PASS_THROUGH | UsbLegSup.SMI_BY_PORT_ACCESS,
    },
  ],
};
