/**
 * Judges every controller write against what the schedule in guest memory lets the controller write
 * (UHCI 3.2, 3.3): a TD's control/status word (TD + 4), a QH's element link (QH + 4, only ever set to a
 * TD's link pointer, UHCI 3.3.2), or bytes inside the data buffer of an IN TD the controller fetched.
 *
 * Soundness: a node can only be reached by the controller by following links from a frame list entry it
 * used, so the oracle keeps the closure of every link of every node it knows, under every memory state
 * the image passes through (it re-reads a node whenever a write touches it). A node's type is the Q bit
 * of the link that led to it; an address reached both ways is both. On top of reachability, the
 * controller must have read a word before it can act on it: a TD's buffer counts only once its token
 * and buffer words were read, a status word only once it was read. Nothing is ever forgotten during
 * an image, so a value the controller read earlier and remembered is still covered.
 */
import type { RamGuestMemory } from "../../../src/machine/guest-memory.ts";
import type { MemoryObserver } from "./recording-memory.ts";
import { LinkBit, PID } from "./uhci-spec.ts";

export class ScheduleOracle implements MemoryObserver {
  private readonly tds = new Set<number>();
  private readonly qhs = new Set<number>();
  /** Every DW0 seen on a TD node: the values a QH element may be advanced to. */
  private readonly tdLinks = new Set<number>();
  /** Per 32-bit word of RAM: read by the controller at least once. */
  private readonly wordRead: Uint8Array;
  /** Per byte of RAM: inside the buffer of a fetched IN TD. */
  private readonly inBuffer: Uint8Array;
  private readonly pending: number[] = [];
  /** Frame list bases whose entries become roots again whenever something writes over them. */
  private readonly frameLists = new Set<number>();
  readonly violations: string[] = [];

  constructor(private readonly ram: RamGuestMemory) {
    this.wordRead = new Uint8Array(Math.ceil(ram.size / 4));
    this.inBuffer = new Uint8Array(ram.size);
  }

  /** Whether a link with Q set has led to `address` (a write at address + 4 may be a QH element). */
  hasQh(address: number): boolean {
    return this.qhs.has(address);
  }

  get nodeCount(): number {
    return this.tds.size + this.qhs.size;
  }

  /** A frame list entry the controller is about to use. */
  addRoot(link: number): void {
    this.pending.push(link);
    this.drain();
  }

  /**
   * A frame list the controller may run from: entries that a write changes later (the guest's, or an IN
   * buffer the guest pointed at the frame list) become roots too. For runs where several frames pass
   * between looks (a host stall), so that a frame list entry rewritten mid-run is still followed.
   */
  watchFrameList(base: number): void {
    this.frameLists.add(base >>> 0);
  }

  /** The guest changed memory: nodes in the touched blocks are read again, as after a controller write. */
  guestWrote(address: number, length: number): void {
    this.afterWrite(address, length);
  }

  onRead(address: number, length: number): void {
    for (let w = address >>> 2; w <= (address + length - 1) >>> 2; w++) this.wordRead[w] = 1;
    for (let block = address & ~15; block <= address + length - 1; block += 16) {
      if (this.tds.has(block)) this.markBuffer(block);
    }
  }

  beforeWrite(address: number, length: number, value: number | null): void {
    if (length === 4 && (address & 15) === 4 && this.wordRead[address >>> 2] === 1) {
      const node = address - 4;
      if (this.tds.has(node)) return; // UHCI 3.2.2: TD control/status
      if (this.qhs.has(node) && value !== null && this.tdLinks.has(value)) return; // UHCI 3.3.2
    }
    for (let i = 0; i < length; i++) {
      if (this.inBuffer[address + i] !== 1) {
        const what = value === null ? "" : ` value 0x${value.toString(16)}`;
        this.violations.push(
          `write of ${length} bytes at 0x${address.toString(16)}${what}: byte 0x${(address + i).toString(16)} ` +
            "is neither a fetched TD's status, a QH element set to a TD link, nor an IN buffer",
        );
        return;
      }
    }
  }

  afterWrite(address: number, length: number): void {
    // The write may have changed links, tokens or buffers of nodes in the touched 16-byte blocks.
    for (let block = address & ~15; block <= address + length - 1; block += 16) {
      if (this.qhs.has(block)) this.expandQh(block);
      if (this.tds.has(block)) this.expandTd(block);
    }
    for (const base of this.frameLists) {
      const start = Math.max(address, base);
      const end = Math.min(address + length, base + 4096, this.ram.size);
      for (let entry = start - (start % 4); entry < end && entry + 4 <= this.ram.size; entry += 4) {
        this.pending.push(this.ram.read32(entry));
      }
    }
    this.drain();
  }

  private drain(): void {
    const size = this.ram.size;
    while (this.pending.length > 0) {
      const link = this.pending.pop()!;
      if (link & LinkBit.T) continue;
      const address = (link & ~15) >>> 0;
      if (link & LinkBit.Q) {
        if (address + 8 > size || this.qhs.has(address)) continue;
        this.qhs.add(address);
        this.expandQh(address);
      } else {
        if (address + 16 > size || this.tds.has(address)) continue;
        this.tds.add(address);
        this.expandTd(address);
      }
    }
  }

  private expandQh(address: number): void {
    this.pending.push(this.ram.read32(address), this.ram.read32(address + 4));
  }

  private expandTd(address: number): void {
    const link = this.ram.read32(address);
    this.tdLinks.add(link);
    this.pending.push(link);
    this.markBuffer(address);
  }

  /** Marks an IN TD's buffer once the controller has read its token and buffer pointer. */
  private markBuffer(td: number): void {
    if (this.wordRead[(td + 8) >>> 2] !== 1 || this.wordRead[(td + 12) >>> 2] !== 1) return;
    const token = this.ram.read32(td + 8);
    if ((token & 0xff) !== PID.IN) return;
    const field = token >>> 21;
    if (field >= 0x500) return; // 0x7FF: zero length; 0x500..0x7FE: illegal (HCPE, nothing moves)
    const buffer = this.ram.read32(td + 12);
    const end = Math.min(buffer + field + 1, this.ram.size);
    if (buffer < end) this.inBuffer.fill(1, buffer, end);
  }
}
