/**
 * Writes UHCI schedule structures (UHCI 3.1–3.3) into fake guest memory and reads TDs back, so tests
 * can draw a chain in a comment and build exactly that.
 */
import type { RamGuestMemory } from "../../../src/machine/guest-memory.ts";
import { Ctrl, LinkBit } from "./uhci-spec.ts";

/** A terminating link pointer (UHCI 3.1: T = 1). */
export const TERM: number = LinkBit.T;

/** A link to the TD at `address`; `vf` selects depth-first (UHCI 3.2.1). */
export function tdLink(address: number, vf = false): number {
  return (address | (vf ? LinkBit.VF : 0)) >>> 0;
}

/** A link to the QH at `address` (UHCI 3.1: Q = 1). */
export function qhLink(address: number): number {
  return (address | LinkBit.Q) >>> 0;
}

export interface TdFields {
  /** DW0; default TERM. */
  link?: number;
  pid: number;
  /** Bytes (0..1280), encoded n−1; ignored when `maxLenField` is given. Default 0. */
  maxLen?: number;
  /** The raw 11-bit MaxLen field (to write illegal values). */
  maxLenField?: number;
  devAddr?: number;
  endpoint?: number;
  toggle?: boolean;
  buffer?: number;
  /** Default true. */
  active?: boolean;
  ioc?: boolean;
  spd?: boolean;
  ios?: boolean;
  ls?: boolean;
  /** C_ERR, 0..3; default 3. */
  cerr?: number;
  /** The raw ActLen field software leaves in the TD; default 0x7FF. */
  actLenField?: number;
}

/** Encodes a byte count as an n−1 length field (UHCI 3.2.2 ActLen, 3.2.3 MaxLen; 0 → 0x7FF). */
export function lengthField(bytes: number): number {
  return (bytes - 1) & 0x7ff;
}

export function tdCtrl(f: TdFields): number {
  let ctrl = ((f.cerr ?? 3) & 3) << Ctrl.CERR_SHIFT;
  if (f.active ?? true) ctrl |= Ctrl.ACTIVE;
  if (f.ioc) ctrl |= Ctrl.IOC;
  if (f.spd) ctrl |= Ctrl.SPD;
  if (f.ios) ctrl |= Ctrl.IOS;
  if (f.ls) ctrl |= Ctrl.LS;
  ctrl |= (f.actLenField ?? 0x7ff) & Ctrl.ACTLEN_MASK;
  return ctrl >>> 0;
}

export function tdToken(f: TdFields): number {
  const maxLenField = f.maxLenField ?? lengthField(f.maxLen ?? 0);
  return (
    (((maxLenField & 0x7ff) << 21) |
      (f.toggle ? 1 << 19 : 0) |
      (((f.endpoint ?? 0) & 0xf) << 15) |
      (((f.devAddr ?? 0) & 0x7f) << 8) |
      (f.pid & 0xff)) >>>
    0
  );
}

/** Writes a 16-byte TD at `address` (UHCI 3.2). */
export function writeTd(memory: RamGuestMemory, address: number, f: TdFields): void {
  memory.write32(address, f.link ?? TERM);
  memory.write32(address + 4, tdCtrl(f));
  memory.write32(address + 8, tdToken(f));
  memory.write32(address + 12, f.buffer ?? 0);
}

/** Writes a QH at `address` (UHCI 3.3): DW0 head (horizontal) link, DW1 element (vertical) link. */
export function writeQh(memory: RamGuestMemory, address: number, head: number, element: number): void {
  memory.write32(address, head);
  memory.write32(address + 4, element);
}

/** Points every frame list entry (UHCI 3.1) at `link`, so the test does not depend on FRNUM. */
export function fillFrameList(memory: RamGuestMemory, base: number, link: number): void {
  for (let i = 0; i < 1024; i++) memory.write32(base + 4 * i, link);
}

export function setFrameListEntry(memory: RamGuestMemory, base: number, index: number, link: number): void {
  memory.write32(base + 4 * index, link);
}

/** A TD as the guest reads it back. */
export interface TdView {
  link: number;
  ctrl: number;
  token: number;
  buffer: number;
  active: boolean;
  stalled: boolean;
  dataBufferError: boolean;
  babble: boolean;
  nak: boolean;
  crcTimeout: boolean;
  bitstuff: boolean;
  cerr: number;
  /** The raw ActLen field. */
  actLenField: number;
  /** ActLen decoded to bytes (0x7FF → 0). */
  actLen: number;
}

export function readTd(memory: RamGuestMemory, address: number): TdView {
  const ctrl = memory.read32(address + 4);
  const actLenField = ctrl & Ctrl.ACTLEN_MASK;
  return {
    link: memory.read32(address),
    ctrl,
    token: memory.read32(address + 8),
    buffer: memory.read32(address + 12),
    active: (ctrl & Ctrl.ACTIVE) !== 0,
    stalled: (ctrl & Ctrl.STALLED) !== 0,
    dataBufferError: (ctrl & Ctrl.DATA_BUFFER_ERROR) !== 0,
    babble: (ctrl & Ctrl.BABBLE) !== 0,
    nak: (ctrl & Ctrl.NAK) !== 0,
    crcTimeout: (ctrl & Ctrl.CRC_TIMEOUT) !== 0,
    bitstuff: (ctrl & Ctrl.BITSTUFF) !== 0,
    cerr: (ctrl >>> Ctrl.CERR_SHIFT) & 3,
    actLenField,
    actLen: (actLenField + 1) & 0x7ff,
  };
}

/** The element link of the QH at `address` (UHCI 3.3.2). */
export function qhElement(memory: RamGuestMemory, address: number): number {
  return memory.read32(address + 4);
}
