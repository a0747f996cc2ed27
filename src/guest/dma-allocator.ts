import { type GuestMemory, inRam } from "../machine/guest-memory.ts";

/**
 * A first-fit allocator over one region of guest RAM: the frame list (4 KiB aligned, UHCI 2.1.5),
 * TDs and QHs (16-byte aligned, UHCI 3.2, 3.3) and data buffers all come from here.
 *
 * Freed blocks coalesce with their neighbours, so a long run of transfers does not fragment the region.
 * Every block is zero-filled when handed out: a TD built from stale bytes could look active.
 */
export class DmaAllocator {
  /** Free extents, sorted by address, never adjacent (adjacent ones are merged). */
  private readonly free: { start: number; size: number }[];
  /** Live blocks: start address → size in bytes. */
  private readonly live = new Map<number, number>();
  private used = 0;

  /**
   * @param memory guest RAM the region lies in; blocks are zeroed through it.
   * @param base first byte of the region.
   * @param size bytes in the region.
   */
  constructor(
    private readonly memory: GuestMemory,
    readonly base: number,
    readonly size: number,
  ) {
    if (!inRam(memory.size, base, size) || size < 16) {
      throw new RangeError(`DMA region [${base}, +${size}) is not inside ${memory.size} bytes of RAM`);
    }
    // Round the region in to 16-byte boundaries so every block starts aligned (UHCI 3.2).
    const start = alignUp(base, 16);
    const end = Math.floor((base + size) / 16) * 16;
    this.free = [{ start, size: end - start }];
  }

  /** Bytes currently handed out (after rounding each block up to 16 bytes). */
  get bytesInUse(): number {
    return this.used;
  }

  /** Number of live blocks. */
  get blockCount(): number {
    return this.live.size;
  }

  /**
   * A zero-filled block of `size` bytes aligned to `align` (a power of two ≥ 16). Throws a RangeError
   * when the region is exhausted: the caller asked for more than it was given.
   */
  alloc(size: number, align = 16): number {
    if (!Number.isInteger(size) || size < 0) throw new RangeError(`cannot allocate ${size} bytes`);
    if (!Number.isInteger(align) || align < 16 || (align & (align - 1)) !== 0) {
      throw new RangeError(`alignment ${align} is not a power of two ≥ 16`);
    }
    const rounded = Math.max(16, alignUp(size, 16));
    for (let i = 0; i < this.free.length; i++) {
      const extent = this.free[i]!;
      const start = alignUp(extent.start, align);
      const end = extent.start + extent.size;
      if (start + rounded > end) continue;
      // Split the extent into the part before the block (alignment padding) and the part after it.
      const pieces: { start: number; size: number }[] = [];
      if (start > extent.start) pieces.push({ start: extent.start, size: start - extent.start });
      if (start + rounded < end) pieces.push({ start: start + rounded, size: end - start - rounded });
      this.free.splice(i, 1, ...pieces);
      this.live.set(start, rounded);
      this.used += rounded;
      this.memory.write(start, new Uint8Array(rounded), rounded);
      return start;
    }
    throw new RangeError(
      `DMA region exhausted: ${rounded} bytes (align ${align}) wanted, ${this.size - this.used} free in pieces`,
    );
  }

  /** Returns a block. Freeing an address that is not a live block throws (a driver bug). */
  release(address: number): void {
    const size = this.live.get(address);
    if (size === undefined) throw new Error(`0x${address.toString(16)} is not an allocated DMA block`);
    this.live.delete(address);
    this.used -= size;
    let index = this.free.findIndex((extent) => extent.start > address);
    if (index < 0) index = this.free.length;
    this.free.splice(index, 0, { start: address, size });
    // Merge with the following extent, then with the preceding one.
    const next = this.free[index + 1];
    if (next !== undefined && address + size === next.start) {
      this.free[index]!.size += next.size;
      this.free.splice(index + 1, 1);
    }
    const prev = this.free[index - 1];
    if (prev !== undefined && prev.start + prev.size === address) {
      prev.size += this.free[index]!.size;
      this.free.splice(index, 1);
    }
  }

  /** True when `address` is the start of a live block. */
  owns(address: number): boolean {
    return this.live.has(address);
  }

  /** The free extents (for tests and diagnostics). */
  freeExtents(): readonly { readonly start: number; readonly size: number }[] {
    return this.free.map((e) => ({ ...e }));
  }
}

function alignUp(value: number, align: number): number {
  return Math.ceil(value / align) * align;
}
