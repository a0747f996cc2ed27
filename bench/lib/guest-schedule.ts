/**
 * Writes UHCI schedule structures (UHCI 3.1–3.3) into guest RAM the way a guest driver would, for the
 * benchmarks. Kept apart from the test helpers on purpose: benchmarks must not change when tests do.
 */
import { Link, TdCtrl, TdToken } from "../../src/controller/uhci/index.ts";
import type { RamGuestMemory } from "../../src/machine/index.ts";
import { Pid } from "../../src/usb/index.ts";

export { Pid };

/** A terminating link pointer (UHCI 3.1: T = 1). */
export const TERM = Link.T;

/** A link to the TD at `address`; `depthFirst` sets Vf (UHCI 3.2.1). */
export function tdLink(address: number, depthFirst = false): number {
  return (address | (depthFirst ? Link.VF : 0)) >>> 0;
}

/** A link to the QH at `address` (Q = 1). */
export function qhLink(address: number): number {
  return (address | Link.Q) >>> 0;
}

export interface TdSpec {
  pid: number;
  address: number;
  endpoint: number;
  /** Bytes, 0..1280. */
  maxLen: number;
  buffer: number;
  link?: number;
  active?: boolean;
  isochronous?: boolean;
  ioc?: boolean;
  lowSpeed?: boolean;
  /** C_ERR; Linux uses 3 for non-isochronous TDs and 0 for isochronous ones. */
  errors?: number;
}

/** DW1 as the guest writes it: ActLen = 0x7FF (nothing moved yet). */
export function tdCtrlWord(spec: TdSpec): number {
  let ctrl = ((spec.errors ?? (spec.isochronous ? 0 : 3)) & 3) << TdCtrl.CERR_SHIFT;
  if (spec.active ?? true) ctrl |= TdCtrl.ACTIVE;
  if (spec.isochronous) ctrl |= TdCtrl.IOS;
  if (spec.ioc) ctrl |= TdCtrl.IOC;
  if (spec.lowSpeed) ctrl |= TdCtrl.LS;
  return (ctrl | TdCtrl.ACTLEN_MASK) >>> 0;
}

/** DW2: MaxLen (n − 1), endpoint, address, PID. */
export function tdTokenWord(spec: TdSpec): number {
  return (
    ((((spec.maxLen - 1) & 0x7ff) << TdToken.MAXLEN_SHIFT) |
      ((spec.endpoint & 0xf) << TdToken.ENDPOINT_SHIFT) |
      ((spec.address & 0x7f) << TdToken.ADDRESS_SHIFT) |
      (spec.pid & 0xff)) >>>
    0
  );
}

export function writeTd(memory: RamGuestMemory, at: number, spec: TdSpec): void {
  memory.write32(at, spec.link ?? TERM);
  memory.write32(at + 4, tdCtrlWord(spec));
  memory.write32(at + 8, tdTokenWord(spec));
  memory.write32(at + 12, spec.buffer);
}

export function writeQh(memory: RamGuestMemory, at: number, head: number, element: number): void {
  memory.write32(at, head);
  memory.write32(at + 4, element);
}

/** A bump allocator over guest RAM: a 4 KiB-aligned frame list, 16-byte nodes, data buffers. */
export class GuestArena {
  private nextNode: number;
  private nextBuffer: number;

  constructor(
    readonly memory: RamGuestMemory,
    readonly frameList = 0x1000,
    nodesStart = 0x2000,
    private readonly nodesEnd = 0x10_0000,
    buffersStart = 0x10_0000,
  ) {
    this.nextNode = nodesStart;
    this.nextBuffer = buffersStart;
  }

  /** A 16-byte TD or QH slot (UHCI 3.2, 3.3: 16-byte aligned). */
  node(): number {
    const at = this.nextNode;
    this.nextNode += 16;
    if (this.nextNode > this.nodesEnd) throw new Error("bench arena: out of TD/QH space");
    return at;
  }

  /** A data buffer of `length` bytes (16-byte aligned). */
  buffer(length: number): number {
    const at = this.nextBuffer;
    this.nextBuffer += (length + 15) & ~15;
    if (this.nextBuffer > this.memory.size) throw new Error("bench arena: out of buffer space");
    return at;
  }
}
