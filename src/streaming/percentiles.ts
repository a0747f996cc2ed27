/** A summary of a sample of measurements. */
export interface Summary {
  count: number;
  p50: number;
  p99: number;
  max: number;
}

/**
 * The q-quantile (0..1) of ascending `sorted` values by nearest rank: the smallest value with at least
 * q of the sample at or below it. NaN for an empty sample. The one percentile definition of the project:
 * stream reports here and every benchmark (bench/lib/stats.ts) use it, so their p50/p99 agree.
 */
export function quantileSorted(sorted: ArrayLike<number>, q: number): number {
  if (sorted.length === 0) return Number.NaN;
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1));
  return sorted[rank]!;
}

/** Collects measurements (in a growable typed array) and summarises them with nearest-rank percentiles. */
export class Percentiles {
  private values = new Float64Array(1024);
  private n = 0;

  add(value: number): void {
    if (this.n === this.values.length) {
      const grown = new Float64Array(this.values.length * 2);
      grown.set(this.values);
      this.values = grown;
    }
    this.values[this.n++] = value;
  }

  get count(): number {
    return this.n;
  }

  /** p50, p99 and max; all 0 when nothing was added (a report prints numbers, not NaN). */
  summary(): Summary {
    if (this.n === 0) return { count: 0, p50: 0, p99: 0, max: 0 };
    const sorted = this.values.slice(0, this.n).sort();
    return {
      count: this.n,
      p50: quantileSorted(sorted, 0.5),
      p99: quantileSorted(sorted, 0.99),
      max: sorted[this.n - 1]!,
    };
  }
}
