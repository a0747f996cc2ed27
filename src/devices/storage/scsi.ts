/**
 * SCSI facts the mass-storage device needs: operation codes (SPC-4, SBC-3), sense keys and additional
 * sense codes (SPC-4 4.5.6, annex D). Only what a host is seen to send to a USB stick: Linux's sd and
 * usb-storage, SeaBIOS's blockcmd.c and usb-msc.c, GRUB's scsi.c.
 */
export const ScsiOp = {
  TestUnitReady: 0x00,
  RequestSense: 0x03,
  Read6: 0x08,
  Write6: 0x0a,
  Inquiry: 0x12,
  ModeSelect6: 0x15,
  ModeSense6: 0x1a,
  StartStopUnit: 0x1b,
  SendDiagnostic: 0x1d,
  PreventAllowMediumRemoval: 0x1e,
  ReadFormatCapacities: 0x23,
  ReadCapacity10: 0x25,
  Read10: 0x28,
  Write10: 0x2a,
  Verify10: 0x2f,
  SynchronizeCache10: 0x35,
  ModeSelect10: 0x55,
  ModeSense10: 0x5a,
  Read16: 0x88,
  Write16: 0x8a,
  Verify16: 0x8f,
  SynchronizeCache16: 0x91,
  /** SERVICE ACTION IN(16); service action 0x10 is READ CAPACITY(16). */
  ServiceActionIn16: 0x9e,
  ReportLuns: 0xa0,
  Read12: 0xa8,
  Write12: 0xaa,
  Verify12: 0xaf,
} as const;

/** READ CAPACITY(16)'s service action (SBC-3 5.16). */
export const READ_CAPACITY_16_ACTION = 0x10;

/** Sense keys (SPC-4 table 28). */
export const SenseKey = {
  NoSense: 0x0,
  NotReady: 0x2,
  MediumError: 0x3,
  IllegalRequest: 0x5,
  UnitAttention: 0x6,
  DataProtect: 0x7,
} as const;

/**
 * A sense condition: key, additional sense code and qualifier packed as `key << 16 | asc << 8 | ascq`,
 * so a condition is a plain number (no allocation when a command fails).
 */
export type Sense = number;
const sense = (key: number, asc: number, ascq: number): Sense => (key << 16) | (asc << 8) | ascq;

/** The conditions the device reports (SPC-4 annex D). */
export const Senses = {
  None: sense(SenseKey.NoSense, 0x00, 0x00),
  /** 3A/00: no medium (the host ejected it, or none was inserted). */
  MediumNotPresent: sense(SenseKey.NotReady, 0x3a, 0x00),
  /** 11/00: a read the store could not do (a host file that shrank, an I/O error). */
  UnrecoveredReadError: sense(SenseKey.MediumError, 0x11, 0x00),
  /** 0C/00: a write (or a cache flush) the store could not do. */
  WriteError: sense(SenseKey.MediumError, 0x0c, 0x00),
  /** 20/00: an operation code the device does not implement. */
  InvalidOpcode: sense(SenseKey.IllegalRequest, 0x20, 0x00),
  /** 21/00: a block range that leaves the medium. */
  LbaOutOfRange: sense(SenseKey.IllegalRequest, 0x21, 0x00),
  /** 24/00: a field of the CDB the device does not support (EVPD page, descriptor sense, BYTCHK…). */
  InvalidFieldInCdb: sense(SenseKey.IllegalRequest, 0x24, 0x00),
  /** 25/00: a CDB addressed to a LUN that does not exist (SCSI-2 hosts put the LUN in CDB byte 1). */
  LunNotSupported: sense(SenseKey.IllegalRequest, 0x25, 0x00),
  /** 39/00: MODE SENSE for saved values (the device keeps none). */
  SavingParametersNotSupported: sense(SenseKey.IllegalRequest, 0x39, 0x00),
  /** 53/02: eject refused while the host prevents medium removal. */
  MediumRemovalPrevented: sense(SenseKey.IllegalRequest, 0x53, 0x02),
  /** 27/00: a write to a write-protected medium. */
  WriteProtected: sense(SenseKey.DataProtect, 0x27, 0x00),
  /** 28/00: a medium was inserted (or loaded): the host must re-read capacity and partitions. */
  MediumChanged: sense(SenseKey.UnitAttention, 0x28, 0x00),
} as const;

export function senseKeyOf(s: Sense): number {
  return (s >>> 16) & 0x0f;
}
export function ascOf(s: Sense): number {
  return (s >>> 8) & 0xff;
}
export function ascqOf(s: Sense): number {
  return s & 0xff;
}

/** Fixed-format sense data is 18 bytes (SPC-4 4.5.3, additional sense length 10). */
export const FIXED_SENSE_LENGTH = 18;

/**
 * Writes fixed-format sense data (SPC-4 4.5.3) into `out` at 0: response code 70h (current error),
 * VALID and the INFORMATION field (the failing LBA) when `information` is not negative.
 */
export function encodeFixedSense(out: Uint8Array, s: Sense, information: number): void {
  out.fill(0, 0, FIXED_SENSE_LENGTH);
  const valid = information >= 0 && information <= 0xffff_ffff;
  out[0] = 0x70 | (valid ? 0x80 : 0);
  out[2] = senseKeyOf(s);
  if (valid) writeU32(out, 3, information);
  out[7] = FIXED_SENSE_LENGTH - 8;
  out[12] = ascOf(s);
  out[13] = ascqOf(s);
}

export function readU16(b: Uint8Array, at: number): number {
  return ((b[at] ?? 0) << 8) | (b[at + 1] ?? 0);
}
export function readU24(b: Uint8Array, at: number): number {
  return ((b[at] ?? 0) << 16) | ((b[at + 1] ?? 0) << 8) | (b[at + 2] ?? 0);
}
export function readU32(b: Uint8Array, at: number): number {
  return (((b[at] ?? 0) << 24) | ((b[at + 1] ?? 0) << 16) | ((b[at + 2] ?? 0) << 8) | (b[at + 3] ?? 0)) >>> 0;
}
/** A 64-bit big-endian LBA as a number; beyond 2^53 it is not exact, but then it is out of range anyway. */
export function readU64(b: Uint8Array, at: number): number {
  return readU32(b, at) * 0x1_0000_0000 + readU32(b, at + 4);
}
export function writeU16(b: Uint8Array, at: number, v: number): void {
  b[at] = (v >>> 8) & 0xff;
  b[at + 1] = v & 0xff;
}
export function writeU32(b: Uint8Array, at: number, v: number): void {
  b[at] = (v >>> 24) & 0xff;
  b[at + 1] = (v >>> 16) & 0xff;
  b[at + 2] = (v >>> 8) & 0xff;
  b[at + 3] = v & 0xff;
}
export function writeU64(b: Uint8Array, at: number, v: number): void {
  writeU32(b, at, Math.floor(v / 0x1_0000_0000));
  writeU32(b, at + 4, v >>> 0);
}
