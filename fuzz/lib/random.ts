import { SeededRandom } from "../../src/machine/seeded-random.ts";

/**
 * The fuzzers' random source: the project's seeded mulberry32 (machine/seeded-random.ts) with a few generator helpers. Every choice a
 * target makes comes from one of these, so an execution is fully determined by its seed.
 */
export class FuzzRandom extends SeededRandom {
  /** An integer in [lo, hi] (both inclusive). */
  int(lo: number, hi: number): number {
    return lo + this.below(hi - lo + 1);
  }

  /** `n` random bytes. */
  bytes(n: number): Uint8Array {
    const out = new Uint8Array(n);
    for (let i = 0; i < n; i++) out[i] = this.u32() & 0xff;
    return out;
  }

  /** An index chosen with the given relative weights. */
  weighted(weights: readonly number[]): number {
    let total = 0;
    for (const w of weights) total += w;
    let roll = this.next() * total;
    for (let i = 0; i < weights.length; i++) {
      roll -= weights[i]!;
      if (roll < 0) return i;
    }
    return weights.length - 1;
  }

  /** A copy of `items` in random order (Fisher–Yates). */
  shuffled<T>(items: readonly T[]): T[] {
    const out = [...items];
    for (let i = out.length - 1; i > 0; i--) {
      const j = this.below(i + 1);
      [out[i], out[j]] = [out[j]!, out[i]!];
    }
    return out;
  }

  /**
   * A 32-bit value as a hostile guest writes it: mostly uniform, often one of the values that break
   * arithmetic (0, all ones, sign bits, small and near-boundary numbers).
   */
  garbage32(): number {
    switch (this.below(8)) {
      case 0:
        return this.pick(INTERESTING_32);
      case 1:
        return (1 << this.below(32)) >>> 0;
      case 2:
        return this.below(0x100);
      default:
        return this.u32();
    }
  }
}

const INTERESTING_32: readonly number[] = [
  0, 1, 2, 0x7f, 0x80, 0xff, 0x100, 0x7fff, 0x8000, 0xffff, 0x1_0000, 0x7fff_ffff, 0x8000_0000, 0xffff_fffe,
  0xffff_ffff, 0xffff_fff0, 0x0fff_fff0,
];

/**
 * The seed of execution `index` in a run with base seed `base`: a 32-bit mix (splitmix32), so that
 * neighbouring executions do not start from neighbouring PRNG states.
 */
export function seedAt(base: number, index: number): number {
  let z = (base + Math.imul(index + 1, 0x9e37_79b9)) >>> 0;
  z = Math.imul(z ^ (z >>> 16), 0x85eb_ca6b) >>> 0;
  z = Math.imul(z ^ (z >>> 13), 0xc2b2_ae35) >>> 0;
  return (z ^ (z >>> 16)) >>> 0;
}

export function formatSeed(seed: number): string {
  return `0x${(seed >>> 0).toString(16).padStart(8, "0")}`;
}
