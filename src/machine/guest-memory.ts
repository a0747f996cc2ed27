import { copyBytes, SHORT_COPY_BYTES, WordViewCache, type WordViews, wordViews } from "./byte-copy.ts";

/**
 * Guest physical memory as a DMA master sees it.
 *
 * Every access is bounds-checked against the size of RAM. An access that touches any byte outside
 * RAM is a DMA fault: reported to the caller through the return value, never thrown and never
 * wrapped around, because the addresses come from whatever a guest wrote into its schedule.
 */
export interface GuestMemory {
  /** Bytes of RAM, starting at physical address 0. */
  readonly size: number;
  /** A little-endian 32-bit read; {@link DMA_FAULT} if any of the four bytes is outside RAM. */
  read32(address: number): number;
  /** A little-endian 32-bit write; false (and nothing written) if any byte is outside RAM. */
  write32(address: number, value: number): boolean;
  /** Fills `length` bytes of `into` (from index 0) from guest memory; false and nothing read on a fault. */
  read(address: number, into: Uint8Array, length: number): boolean;
  /** Writes the first `length` bytes of `from` to guest memory; false and nothing written on a fault. */
  write(address: number, from: Uint8Array, length: number): boolean;
}

/** What {@link GuestMemory.read32} returns for an address outside RAM; no uint32 equals it. */
export const DMA_FAULT = -1;

/** True when [address, address + length) lies inside RAM of `size` bytes (no wrap-around). */
export function inRam(size: number, address: number, length: number): boolean {
  return (
    Number.isInteger(address) &&
    Number.isInteger(length) &&
    address >= 0 &&
    length >= 0 &&
    address + length <= size
  );
}

/**
 * Guest memory backed by one host `Uint8Array`: for tests, benchmarks and the software guest.
 * Range copies allocate nothing (see byte-copy.ts: the frame walker copies on every transaction).
 */
export class RamGuestMemory implements GuestMemory {
  readonly bytes: Uint8Array;
  readonly size: number;
  private readonly view: DataView;
  private readonly ram: WordViews;
  private readonly packetViews = new WordViewCache();

  constructor(size: number) {
    if (!Number.isInteger(size) || size <= 0)
      throw new RangeError(`RAM size must be a positive integer, got ${size}`);
    this.ram = wordViews(new Uint8Array(size));
    this.bytes = this.ram.bytes;
    this.size = size;
    this.view = new DataView(this.bytes.buffer);
  }

  read32(address: number): number {
    // -1 is DMA_FAULT, written as a literal: V8 does not fold a module's constant into optimised code,
    // so a result that may be it stays boxed, and every word of 2^31 or more read was a 16-byte heap
    // number (a TD token with MaxLen 0x7FF: one per frame on an idle Linux schedule).
    if (!inRam(this.size, address, 4)) return -1;
    return this.view.getUint32(address, true);
  }

  write32(address: number, value: number): boolean {
    if (!inRam(this.size, address, 4)) return false;
    this.view.setUint32(address, value >>> 0, true);
    return true;
  }

  read(address: number, into: Uint8Array, length: number): boolean {
    if (length > into.length || !inRam(this.size, address, length)) return false;
    if (length < SHORT_COPY_BYTES) {
      const bytes = this.bytes;
      for (let i = 0; i < length; i++) into[i] = bytes[address + i]!;
    } else {
      copyBytes(this.ram, address, this.packetViews.of(into), 0, length);
    }
    return true;
  }

  write(address: number, from: Uint8Array, length: number): boolean {
    if (length > from.length || !inRam(this.size, address, length)) return false;
    if (length < SHORT_COPY_BYTES) {
      const bytes = this.bytes;
      for (let i = 0; i < length; i++) bytes[address + i] = from[i]!;
    } else {
      copyBytes(this.packetViews.of(from), 0, this.ram, address, length);
    }
    return true;
  }

  /** Convenience for tests and the software guest: a 16-bit little-endian read (throws outside RAM). */
  read16(address: number): number {
    return this.view.getUint16(address, true);
  }

  /** Convenience for tests and the software guest: a 16-bit little-endian write (throws outside RAM). */
  write16(address: number, value: number): void {
    this.view.setUint16(address, value, true);
  }
}
