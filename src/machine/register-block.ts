/**
 * Registers declared as data, with one generic block that applies the masks.
 *
 * A guest may access a register file with 8, 16 or 32-bit I/O at any offset; an access that spans two
 * registers is split between them, and a byte access touches only its own bits (a byte write to the low
 * half of a write-1-to-clear register clears nothing in the high half).
 */
export interface RegisterSpec {
  readonly name: string;
  /** Byte offset inside the block. */
  readonly offset: number;
  /** Width in bytes. */
  readonly width: 1 | 2 | 4;
  /** Value after reset. */
  readonly reset: number;
  /** Bits a write replaces. */
  readonly writable: number;
  /** Bits a write of 1 clears (R/WC); a write of 0 leaves them. */
  readonly writeOneToClear: number;
}

export type IoWidth = 1 | 2 | 4;

/** Told after a write has been applied: the register, its value before, and which bits the guest wrote. */
export type RegisterWriteListener = (
  register: number,
  before: number,
  written: number,
  byteMask: number,
) => void;

export class RegisterBlock {
  private readonly values: Uint32Array;
  /** For each byte of the block, the index of the register that holds it, or -1. */
  private readonly owner: Int16Array;

  constructor(
    readonly specs: readonly RegisterSpec[],
    readonly size: number,
    private readonly unmappedByte = 0,
  ) {
    this.values = new Uint32Array(specs.length);
    this.owner = new Int16Array(size).fill(-1);
    specs.forEach((spec, index) => {
      for (let b = 0; b < spec.width; b++) {
        const at = spec.offset + b;
        if (at >= size || this.owner[at] !== -1)
          throw new Error(`register ${spec.name} overlaps or overflows`);
        this.owner[at] = index;
      }
    });
    this.reset();
  }

  /** Index of a register by name (for building named constants once, at start-up). */
  indexOf(name: string): number {
    const index = this.specs.findIndex((s) => s.name === name);
    if (index < 0) throw new Error(`no register ${name}`);
    return index;
  }

  reset(): void {
    this.specs.forEach((spec, index) => {
      this.values[index] = spec.reset;
    });
  }

  /** The stored value of a register (device side). */
  get(register: number): number {
    return this.values[register] ?? 0;
  }

  /** Sets a register's stored value (device side; no masks applied). */
  set(register: number, value: number): void {
    const spec = this.specs[register];
    if (spec === undefined) return;
    this.values[register] = value & widthMask(spec.width);
  }

  /** A guest read of `width` bytes at `offset`; bytes outside the block or unmapped read as `unmappedByte`. */
  read(offset: number, width: IoWidth): number {
    let result = 0;
    for (let b = 0; b < width; b++) {
      const at = offset + b;
      const index = at >= 0 && at < this.size ? (this.owner[at] ?? -1) : -1;
      let byte = this.unmappedByte;
      if (index >= 0) {
        const spec = this.specs[index]!;
        byte = (this.values[index]! >>> ((at - spec.offset) * 8)) & 0xff;
      }
      result |= byte << (b * 8);
    }
    return result >>> 0;
  }

  /**
   * A guest write of `width` bytes at `offset`, split per register; each touched register gets the
   * writable and write-1-to-clear masks applied, then `listener` hears of it.
   */
  write(offset: number, width: IoWidth, value: number, listener?: RegisterWriteListener): void {
    let b = 0;
    while (b < width) {
      const at = offset + b;
      const index = at >= 0 && at < this.size ? (this.owner[at] ?? -1) : -1;
      if (index < 0) {
        b++;
        continue;
      }
      const spec = this.specs[index]!;
      let byteMask = 0;
      let written = 0;
      // Gather every byte of this access that falls into this register.
      while (b < width && offset + b < spec.offset + spec.width && offset + b < this.size) {
        const shift = (offset + b - spec.offset) * 8;
        byteMask |= 0xff << shift;
        written |= ((value >>> (b * 8)) & 0xff) << shift;
        b++;
      }
      byteMask >>>= 0;
      written >>>= 0;
      const before = this.values[index]!;
      const replace = spec.writable & byteMask;
      let after = (before & ~replace) | (written & replace);
      after &= ~(written & spec.writeOneToClear & byteMask);
      this.values[index] = after >>> 0;
      listener?.(index, before, written, byteMask);
    }
  }
}

function widthMask(width: IoWidth): number {
  return width === 4 ? 0xffffffff : (1 << (width * 8)) - 1;
}
