/**
 * The PCI face of the controller, as data: an emulator adapter registers these; the schedule logic never
 * sees them. Values are those of the Intel PIIX3 USB function (82371SB datasheet, function 2).
 */
export interface PciIdentity {
  readonly vendorId: number;
  readonly deviceId: number;
  /** Class code: base 0x0C (serial bus), sub 0x03 (USB), prog-if 0x00 (UHCI). */
  readonly classCode: number;
  readonly revision: number;
  /** The I/O BAR: index 4 (config offset 0x20); some guests (BSD) insist on BAR4. */
  readonly ioBar: { readonly index: number; readonly size: number };
  /** Interrupt pin: 4 = INTD on PIIX3. */
  readonly interruptPin: number;
  /** Extra config-space bytes: SBRN at 0x60 (0x10 = USB 1.0) and USBLEGSUP at 0xC0. */
  readonly configBytes: readonly { readonly offset: number; readonly width: 1 | 2; readonly value: number }[];
  /** USBLEGSUP (config 0xC0): bits that a write of 1 clears. */
  readonly legacySupportWriteOneToClear: number;
}

export const PIIX3_UHCI: PciIdentity = {
  vendorId: 0x8086,
  deviceId: 0x7020,
  classCode: 0x0c0300,
  revision: 0x01,
  ioBar: { index: 4, size: 0x20 },
  interruptPin: 4,
  configBytes: [
    { offset: 0x60, width: 1, value: 0x10 },
    { offset: 0xc0, width: 2, value: 0x2000 },
  ],
  legacySupportWriteOneToClear: 0x8f00,
};
