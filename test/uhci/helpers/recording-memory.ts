/**
 * A GuestMemory that forwards to RAM and tells observers about every access that lands in RAM: reads
 * after they happen, writes just before they happen (so an observer can judge a write against the
 * memory as it was) and again just after.
 */
import { type GuestMemory, inRam, type RamGuestMemory } from "../../../src/machine/guest-memory.ts";

export interface MemoryObserver {
  onRead(address: number, length: number): void;
  /** `value` is the 32-bit value for write32, null for a byte-range write. */
  beforeWrite(address: number, length: number, value: number | null): void;
  afterWrite(address: number, length: number): void;
}

export class RecordingMemory implements GuestMemory {
  readonly size: number;
  observer: MemoryObserver | null = null;
  /** Writes that reached RAM. */
  writes = 0;
  /** Accesses refused because they touch bytes outside RAM (DMA faults the controller must handle). */
  failedReads = 0;
  failedWrites = 0;

  constructor(readonly ram: RamGuestMemory) {
    this.size = ram.size;
  }

  read32(address: number): number {
    const value = this.ram.read32(address);
    if (inRam(this.size, address, 4)) this.observer?.onRead(address, 4);
    else this.failedReads++;
    return value;
  }

  write32(address: number, value: number): boolean {
    const ok = inRam(this.size, address, 4);
    if (ok) this.observer?.beforeWrite(address, 4, value >>> 0);
    const done = this.ram.write32(address, value);
    if (done !== ok) throw new Error("RecordingMemory: RAM disagrees about bounds");
    if (done) {
      this.writes++;
      this.observer?.afterWrite(address, 4);
    } else this.failedWrites++;
    return done;
  }

  read(address: number, into: Uint8Array, length: number): boolean {
    const ok = this.ram.read(address, into, length);
    if (ok && length > 0) this.observer?.onRead(address, length);
    if (!ok) this.failedReads++;
    return ok;
  }

  write(address: number, from: Uint8Array, length: number): boolean {
    const ok = length <= from.length && inRam(this.size, address, length);
    if (ok && length > 0) this.observer?.beforeWrite(address, length, null);
    const done = this.ram.write(address, from, length);
    if (done !== ok) throw new Error("RecordingMemory: RAM disagrees about bounds");
    if (done && length > 0) {
      this.writes++;
      this.observer?.afterWrite(address, length);
    }
    if (!done) this.failedWrites++;
    return done;
  }
}
