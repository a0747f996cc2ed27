/**
 * The project's one seeded PRNG (mulberry32): the same seed gives the same sequence on every platform,
 * so a run that used it (completion jitter in an async device, a fuzzer's execution, a randomised test)
 * replays exactly. It lives in machine/ because it knows nothing of USB and every layer above may need
 * one: devices (async-host jitter), tests and the fuzzers all draw from this class.
 *
 * Not for anything that must be unpredictable: 32 bits of state, no cryptographic strength.
 */
export class SeededRandom {
  private state: number;

  constructor(seed: number) {
    this.state = seed >>> 0;
  }

  /** A uniformly distributed 32-bit unsigned integer. */
  u32(): number {
    this.state = (this.state + 0x6d2b79f5) >>> 0;
    let t = this.state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return (t ^ (t >>> 14)) >>> 0;
  }

  /** A number in [0, 1). */
  next(): number {
    return this.u32() / 0x1_0000_0000;
  }

  /** An integer in [0, n). */
  below(n: number): number {
    return Math.floor(this.next() * n);
  }

  /** True with probability p. */
  chance(p: number): boolean {
    return this.next() < p;
  }

  /** One of `items` (which must not be empty). */
  pick<T>(items: readonly T[]): T {
    return items[this.below(items.length)]!;
  }
}
