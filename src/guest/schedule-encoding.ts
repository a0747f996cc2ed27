import type { GuestMemory } from "../machine/guest-memory.ts";

/**
 * Encoding and decoding of the schedule's data structures: link pointers, transfer descriptors (TDs)
 * and queue heads (QHs), as the driver writes them into guest memory (UHCI 3.1–3.3).
 * Pure functions of numbers, plus two helpers that move a whole TD or QH to and from memory.
 */

/** UHCI 3.1: link pointer bits (frame list entries, TD DW0, QH head and element). */
export const LinkBits = {
  /** T: nothing follows (the pointer is not valid). */
  Terminate: 1 << 0,
  /** Q: the pointer leads to a QH (clear: to a TD). */
  QueueHead: 1 << 1,
  /** Vf: in a TD's link, go on depth-first to the next TD of the same queue (UHCI 3.2.1). */
  DepthFirst: 1 << 2,
} as const;

/** Link pointer bits 31:4 hold a 16-byte aligned address (UHCI 3.1). */
export const LINK_ADDRESS_MASK = 0xfffffff0;

/** An invalid link: the end of a list, or an empty queue (UHCI 3.1). */
export const LINK_TERMINATE = LinkBits.Terminate;

/** A link to the TD at `address`; `depthFirst` sets Vf (only meaningful in a TD's link, UHCI 3.2.1). */
export function linkToTd(address: number, depthFirst = false): number {
  return ((address & LINK_ADDRESS_MASK) | (depthFirst ? LinkBits.DepthFirst : 0)) >>> 0;
}

/** A link to the QH at `address` (UHCI 3.1: Q set). */
export function linkToQh(address: number): number {
  return ((address & LINK_ADDRESS_MASK) | LinkBits.QueueHead) >>> 0;
}

export interface DecodedLink {
  readonly terminate: boolean;
  readonly queueHead: boolean;
  readonly depthFirst: boolean;
  readonly address: number;
}

export function decodeLink(link: number): DecodedLink {
  return {
    terminate: (link & LinkBits.Terminate) !== 0,
    queueHead: (link & LinkBits.QueueHead) !== 0,
    depthFirst: (link & LinkBits.DepthFirst) !== 0,
    address: (link & LINK_ADDRESS_MASK) >>> 0,
  };
}

/** UHCI 3.2: a TD is four little-endian dwords, 16-byte aligned. */
export const TdLayout = {
  Link: 0,
  ControlStatus: 4,
  Token: 8,
  Buffer: 12,
  Size: 16,
} as const;

/** UHCI 3.3: a QH is two dwords; the driver allocates 16 bytes so it stays 16-byte aligned. */
export const QhLayout = {
  /** Horizontal link to the next QH (or TD) of the schedule. */
  Head: 0,
  /** Vertical link to the queue's first TD (or a nested QH). */
  Element: 4,
  Size: 16,
} as const;

/** UHCI 3.2.2: TD control/status dword (DW1) bits. */
export const TdStatus = {
  /** SPD: a short packet stops the queue and raises USBINT (with the short packet interrupt enabled). */
  ShortPacketDetect: 1 << 29,
  /** C_ERR, bits 28:27: errors tolerated before the TD fails; 0 = unlimited. */
  ErrorCountShift: 27,
  ErrorCountMask: 3 << 27,
  /** LS: the device is low speed. */
  LowSpeed: 1 << 26,
  /** IOS: isochronous (executed once, no handshake). */
  Isochronous: 1 << 25,
  /** IOC: raise USBINT at the end of the frame in which the TD completes. */
  InterruptOnComplete: 1 << 24,
  /** Active: the controller should execute the TD; cleared when it is done. */
  Active: 1 << 23,
  Stalled: 1 << 22,
  DataBufferError: 1 << 21,
  Babble: 1 << 20,
  /** NAK received (informational; the TD stays active). */
  Nak: 1 << 19,
  CrcTimeout: 1 << 18,
  Bitstuff: 1 << 17,
  /** ActLen, bits 10:0: bytes moved minus one (0x7FF = none). */
  ActualLengthMask: 0x7ff,
} as const;

/** The status bits that mean the TD failed (UHCI 3.2.2; NAK alone is not a failure). */
export const TD_ERROR_BITS =
  TdStatus.Stalled | TdStatus.DataBufferError | TdStatus.Babble | TdStatus.CrcTimeout | TdStatus.Bitstuff;

/** UHCI 3.2.3: TD token dword (DW2) fields. */
export const TdToken = {
  MaxLengthShift: 21,
  /** D: the data toggle. */
  Toggle: 1 << 19,
  EndpointShift: 15,
  DeviceAddressShift: 8,
  PidMask: 0xff,
} as const;

/** MaxLen/ActLen encode n − 1 in 11 bits, so 0x7FF means zero bytes (UHCI 3.2.2, 3.2.3). */
export const LENGTH_FIELD_MASK = 0x7ff;

/** The most bytes one TD can carry: MaxLen 0x4FF (UHCI 3.2.3; 0x500–0x7FE are illegal). */
export const MAX_TD_BYTES = 0x500;

/** Bytes → the n − 1 form of MaxLen and ActLen. */
export function encodeLengthField(bytes: number): number {
  return (bytes - 1) & LENGTH_FIELD_MASK;
}

/** The n − 1 form → bytes (0x7FF → 0). */
export function decodeLengthField(field: number): number {
  return (field + 1) & LENGTH_FIELD_MASK;
}

export interface TdControlFields {
  readonly active: boolean;
  /** C_ERR: 0–3; drivers use 3 (UHCI 3.2.2; Linux uhci-hcd too). Ignored for isochronous TDs. */
  readonly errorCount: number;
  readonly lowSpeed?: boolean;
  readonly isochronous?: boolean;
  readonly interruptOnComplete?: boolean;
  readonly shortPacketDetect?: boolean;
}

/** Builds a TD's control/status dword; the status bits and ActLen start cleared (ActLen = 0x7FF: none). */
export function encodeTdControl(fields: TdControlFields): number {
  if (!Number.isInteger(fields.errorCount) || fields.errorCount < 0 || fields.errorCount > 3) {
    throw new RangeError(`C_ERR ${fields.errorCount} is not 0–3`);
  }
  let value = (fields.errorCount << TdStatus.ErrorCountShift) | TdStatus.ActualLengthMask;
  if (fields.active) value |= TdStatus.Active;
  if (fields.lowSpeed) value |= TdStatus.LowSpeed;
  if (fields.isochronous) value |= TdStatus.Isochronous;
  if (fields.interruptOnComplete) value |= TdStatus.InterruptOnComplete;
  if (fields.shortPacketDetect) value |= TdStatus.ShortPacketDetect;
  return value >>> 0;
}

export interface DecodedTdStatus {
  readonly active: boolean;
  readonly stalled: boolean;
  readonly dataBufferError: boolean;
  readonly babble: boolean;
  readonly nak: boolean;
  readonly crcTimeout: boolean;
  readonly bitstuff: boolean;
  /** Bytes moved (ActLen + 1, modulo the 11-bit field). */
  readonly actualLength: number;
  readonly errorCount: number;
  readonly interruptOnComplete: boolean;
  readonly shortPacketDetect: boolean;
}

export function decodeTdStatus(value: number): DecodedTdStatus {
  return {
    active: (value & TdStatus.Active) !== 0,
    stalled: (value & TdStatus.Stalled) !== 0,
    dataBufferError: (value & TdStatus.DataBufferError) !== 0,
    babble: (value & TdStatus.Babble) !== 0,
    nak: (value & TdStatus.Nak) !== 0,
    crcTimeout: (value & TdStatus.CrcTimeout) !== 0,
    bitstuff: (value & TdStatus.Bitstuff) !== 0,
    actualLength: decodeLengthField(value & TdStatus.ActualLengthMask),
    errorCount: (value & TdStatus.ErrorCountMask) >>> TdStatus.ErrorCountShift,
    interruptOnComplete: (value & TdStatus.InterruptOnComplete) !== 0,
    shortPacketDetect: (value & TdStatus.ShortPacketDetect) !== 0,
  };
}

export interface TdTokenFields {
  /** SETUP 0x2D, IN 0x69 or OUT 0xE1 (USB 2.0 table 8-1). */
  readonly pid: number;
  readonly deviceAddress: number;
  readonly endpoint: number;
  readonly toggle: 0 | 1;
  /** Bytes the TD may move: 0–1280. */
  readonly maxLength: number;
}

/** Builds a TD token dword. Throws on values the hardware cannot express (driver misuse). */
export function encodeTdToken(fields: TdTokenFields): number {
  const { pid, deviceAddress, endpoint, maxLength } = fields;
  if (!Number.isInteger(maxLength) || maxLength < 0 || maxLength > MAX_TD_BYTES) {
    throw new RangeError(`a TD carries 0–${MAX_TD_BYTES} bytes, not ${maxLength}`);
  }
  if (!Number.isInteger(deviceAddress) || deviceAddress < 0 || deviceAddress > 127) {
    throw new RangeError(`device address ${deviceAddress} is not 0–127`);
  }
  if (!Number.isInteger(endpoint) || endpoint < 0 || endpoint > 15) {
    throw new RangeError(`endpoint ${endpoint} is not 0–15`);
  }
  return (
    ((encodeLengthField(maxLength) << TdToken.MaxLengthShift) |
      (fields.toggle ? TdToken.Toggle : 0) |
      (endpoint << TdToken.EndpointShift) |
      (deviceAddress << TdToken.DeviceAddressShift) |
      (pid & TdToken.PidMask)) >>>
    0
  );
}

export function decodeTdToken(value: number): TdTokenFields {
  return {
    pid: value & TdToken.PidMask,
    deviceAddress: (value >>> TdToken.DeviceAddressShift) & 0x7f,
    endpoint: (value >>> TdToken.EndpointShift) & 0x0f,
    toggle: (value & TdToken.Toggle) !== 0 ? 1 : 0,
    maxLength: decodeLengthField(value >>> TdToken.MaxLengthShift),
  };
}

/** The four dwords of a TD. */
export interface TdWords {
  readonly link: number;
  readonly controlStatus: number;
  readonly token: number;
  readonly buffer: number;
}

/**
 * Writes a TD. The control/status dword goes last, so that a TD made active is complete in memory
 * before the controller could see Active (UHCI 3.2: the controller acts on Active alone).
 */
export function writeTd(memory: GuestMemory, address: number, td: TdWords): void {
  memory.write32(address + TdLayout.Link, td.link);
  memory.write32(address + TdLayout.Token, td.token);
  memory.write32(address + TdLayout.Buffer, td.buffer);
  memory.write32(address + TdLayout.ControlStatus, td.controlStatus);
}

export function readTd(memory: GuestMemory, address: number): TdWords {
  return {
    link: memory.read32(address + TdLayout.Link) >>> 0,
    controlStatus: memory.read32(address + TdLayout.ControlStatus) >>> 0,
    token: memory.read32(address + TdLayout.Token) >>> 0,
    buffer: memory.read32(address + TdLayout.Buffer) >>> 0,
  };
}

export function writeQh(memory: GuestMemory, address: number, head: number, element: number): void {
  memory.write32(address + QhLayout.Element, element);
  memory.write32(address + QhLayout.Head, head);
}
