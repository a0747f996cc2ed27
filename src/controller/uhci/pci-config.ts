import { type PciIdentity, PIIX3_UHCI, USBLEGSUP_OFFSET } from "./pci-identity.ts";

/** A PCI function's configuration space: 256 bytes (PCI Local Bus 3.0, 6.1). */
export const PCI_CONFIG_SIZE = 256;

/** Offsets in the type 0 configuration header (PCI Local Bus 3.0, 6.1). */
export const PciConfigOffset = {
  VENDOR_ID: 0x00,
  DEVICE_ID: 0x02,
  COMMAND: 0x04,
  STATUS: 0x06,
  REVISION_ID: 0x08,
  /** Three bytes: programming interface, sub-class, base class. */
  CLASS_CODE: 0x09,
  CACHE_LINE_SIZE: 0x0c,
  LATENCY_TIMER: 0x0d,
  HEADER_TYPE: 0x0e,
  /** BAR n is at BAR0 + 4 n. */
  BAR0: 0x10,
  INTERRUPT_LINE: 0x3c,
  INTERRUPT_PIN: 0x3d,
} as const;

/** Command register bits (PCI Local Bus 3.0, 6.2.2). */
export const PciCommand = {
  IO_SPACE: 1 << 0,
  MEMORY_SPACE: 1 << 1,
  BUS_MASTER: 1 << 2,
} as const;

/** Status register bits (PCI Local Bus 3.0, 6.2.3). */
export const PciStatus = {
  FAST_BACK_TO_BACK: 1 << 7,
  /** DEVSEL# timing 01: medium. */
  DEVSEL_MEDIUM: 1 << 9,
  SIGNALED_TARGET_ABORT: 1 << 11,
  RECEIVED_TARGET_ABORT: 1 << 12,
  RECEIVED_MASTER_ABORT: 1 << 13,
} as const;

/** Told when a guest write moved a BAR: its index and the base before and after. */
export type BarMovedListener = (bar: number, from: number, to: number) => void;

/**
 * The controller's PCI function: its 256-byte configuration space as data — a reset value and a
 * writable and a write-1-to-clear mask for every byte — read and written at any offset and width, as a
 * host bridge delivers configuration cycles.
 *
 * What it holds (PIIX3/PIIX4 USB function 2):
 * - vendor/device ID, revision, class 0C0300 (UHCI), header type 0: read-only;
 * - command: I/O space enable and bus master enable writable, the rest read-only 0;
 * - status: 0x0280 (fast back-to-back capable, DEVSEL medium) with the abort bits write-1-to-clear;
 * - latency timer: bits 7:4 writable (the low 4 bits are reserved);
 * - BAR4: an I/O BAR of 32 bytes: bit 0 reads 1, bits 4:1 read 0, bits 31:5 hold the base, so writing
 *   all ones reads back the size mask 0xFFFFFFE1 (PCI 6.2.5.1). The other BARs read 0 (absent);
 * - interrupt line (writable, for the firmware's notes) and pin 4 = INTD (read-only);
 * - the identity's own registers: SBRN at 0x60 and USBLEGSUP at 0xC0 with its R/WC status bits;
 * - every other byte reads 0 and ignores writes, as reserved registers on the PIIX do.
 *
 * The controller does not gate anything on these bits (I/O decode, bus mastering, USBLEGSUP's PIRQ
 * enable): an emulator maps the I/O window where {@link ioBase} says and routes the interrupt as its
 * chipset does. Nothing a guest writes makes it throw.
 */
export class UhciPciFunction {
  readonly identity: PciIdentity;
  /**
   * The configuration space as the bus reads it, little-endian. Live: an emulator that reads
   * configuration cycles straight from memory (v86) may read it, or view it as 32-bit words; writes go
   * through {@link write}, except a snapshot restore, which may copy saved bytes back in.
   */
  readonly bytes = new Uint8Array(PCI_CONFIG_SIZE);
  /** Told when a write moves the I/O BAR, so the emulator moves its I/O handlers. */
  onBarMoved: BarMovedListener | null = null;
  private readonly resetBytes = new Uint8Array(PCI_CONFIG_SIZE);
  private readonly writable = new Uint8Array(PCI_CONFIG_SIZE);
  private readonly writeOneToClear = new Uint8Array(PCI_CONFIG_SIZE);
  private readonly barOffset: number;

  constructor(identity: PciIdentity = PIIX3_UHCI) {
    this.identity = identity;
    const { index, size } = identity.ioBar;
    if (!Number.isInteger(index) || index < 0 || index > 5) throw new RangeError(`no BAR ${index}`);
    if (!Number.isInteger(size) || size < 4 || (size & (size - 1)) !== 0 || size > 0x10000) {
      throw new RangeError(`an I/O BAR's size is a power of 2 from 4 to 64 KiB, not ${size}`);
    }
    this.barOffset = PciConfigOffset.BAR0 + 4 * index;
    const O = PciConfigOffset;
    const claimed = new Uint8Array(PCI_CONFIG_SIZE);
    const field = (offset: number, width: number, reset: number, writable = 0, writeOneToClear = 0) => {
      for (let b = 0; b < width; b++) {
        const at = offset + b;
        if (at < 0 || at >= PCI_CONFIG_SIZE || claimed[at]) {
          throw new RangeError(`config register at 0x${offset.toString(16)} overlaps or overflows`);
        }
        claimed[at] = 1;
        this.resetBytes[at] = (reset >>> (8 * b)) & 0xff;
        this.writable[at] = (writable >>> (8 * b)) & 0xff;
        this.writeOneToClear[at] = (writeOneToClear >>> (8 * b)) & 0xff;
      }
    };
    field(O.VENDOR_ID, 2, identity.vendorId);
    field(O.DEVICE_ID, 2, identity.deviceId);
    field(O.COMMAND, 2, 0, PciCommand.IO_SPACE | PciCommand.BUS_MASTER);
    field(
      O.STATUS,
      2,
      PciStatus.FAST_BACK_TO_BACK | PciStatus.DEVSEL_MEDIUM,
      0,
      PciStatus.SIGNALED_TARGET_ABORT | PciStatus.RECEIVED_TARGET_ABORT | PciStatus.RECEIVED_MASTER_ABORT,
    );
    field(O.REVISION_ID, 1, identity.revision);
    field(O.CLASS_CODE, 3, identity.classCode);
    field(O.LATENCY_TIMER, 1, 0, 0xf0);
    // Header type 0, single-function bit clear: the multi-function bit is function 0's (the ISA bridge).
    field(O.HEADER_TYPE, 1, 0);
    // PCI 6.2.5.1: bit 0 = 1 (I/O space); the bits below the size read 0; the rest hold the base.
    field(this.barOffset, 4, 1, ~(size - 1) >>> 0);
    field(O.INTERRUPT_LINE, 1, 0, 0xff);
    field(O.INTERRUPT_PIN, 1, identity.interruptPin);
    for (const r of identity.registers) {
      if (r.offset < 0x40) throw new RangeError(`${r.name} at 0x${r.offset.toString(16)} is in the header`);
      field(r.offset, r.width, r.reset, r.writable, r.writeOneToClear);
    }
    this.bytes.set(this.resetBytes);
  }

  /** PCI reset (RST#): every register back to its reset value; a BAR that moved reports it. */
  reset(): void {
    const before = this.ioBase;
    this.bytes.set(this.resetBytes);
    this.barMoved(before);
  }

  /** A configuration read of 1, 2 or 4 bytes at `offset`; bytes outside the 256 read as 0. */
  read(offset: number, width: 1 | 2 | 4): number {
    let value = 0;
    for (let b = 0; b < width; b++) {
      const at = offset + b;
      if (at >= 0 && at < PCI_CONFIG_SIZE) value |= this.bytes[at]! << (8 * b);
    }
    return value >>> 0;
  }

  /**
   * A configuration write of 1, 2 or 4 bytes at `offset` (any alignment, any value): each byte keeps its
   * read-only bits, takes its writable ones, and clears its write-1-to-clear bits written as 1.
   */
  write(offset: number, width: 1 | 2 | 4, value: number): void {
    const before = this.ioBase;
    let touchedBar = false;
    for (let b = 0; b < width; b++) {
      const at = offset + b;
      if (at < 0 || at >= PCI_CONFIG_SIZE) continue;
      const written = (value >>> (8 * b)) & 0xff;
      const mask = this.writable[at]!;
      const old = this.bytes[at]!;
      this.bytes[at] = ((old & ~mask) | (written & mask)) & ~(written & this.writeOneToClear[at]!);
      if (at >= this.barOffset && at < this.barOffset + 4) touchedBar = true;
    }
    if (touchedBar) this.barMoved(before);
  }

  read8(offset: number): number {
    return this.read(offset, 1);
  }
  read16(offset: number): number {
    return this.read(offset, 2);
  }
  read32(offset: number): number {
    return this.read(offset, 4);
  }
  write8(offset: number, value: number): void {
    this.write(offset, 1, value);
  }
  write16(offset: number, value: number): void {
    this.write(offset, 2, value);
  }
  write32(offset: number, value: number): void {
    this.write(offset, 4, value);
  }

  /** The I/O BAR's base: where the controller's 32-byte register window is (0 until firmware sets it). */
  get ioBase(): number {
    return (this.read32(this.barOffset) & ~(this.identity.ioBar.size - 1)) >>> 0;
  }
  /** Command register: I/O space decoding enabled. */
  get ioSpaceEnabled(): boolean {
    return (this.bytes[PciConfigOffset.COMMAND]! & PciCommand.IO_SPACE) !== 0;
  }
  /** Command register: the function may master the bus (DMA). */
  get busMasterEnabled(): boolean {
    return (this.bytes[PciConfigOffset.COMMAND]! & PciCommand.BUS_MASTER) !== 0;
  }
  /** Interrupt line: what firmware wrote (the IRQ it routed the pin to); the function ignores it. */
  get interruptLine(): number {
    return this.bytes[PciConfigOffset.INTERRUPT_LINE]!;
  }
  /** Interrupt pin: 1–4 = INTA–INTD. */
  get interruptPin(): number {
    return this.bytes[PciConfigOffset.INTERRUPT_PIN]!;
  }
  /** USBLEGSUP (0xC0) as it reads now, 0 if the identity has no such register. */
  get legacySupport(): number {
    return this.read16(USBLEGSUP_OFFSET);
  }

  private barMoved(before: number): void {
    const after = this.ioBase;
    if (after !== before) this.onBarMoved?.(this.identity.ioBar.index, before, after);
  }
}
