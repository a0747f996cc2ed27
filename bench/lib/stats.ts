/**
 * Small order statistics for benchmark samples. Percentiles are the project's one nearest-rank
 * definition (src/streaming/percentiles.ts), so a benchmark's p99 means what `uhci stream`'s does.
 */
import { type Summary as PercentileSummary, quantileSorted } from "../../src/streaming/percentiles.ts";

export { quantileSorted };

export interface Summary extends PercentileSummary {
  min: number;
  p90: number;
  mean: number;
}

export function summarize(values: ArrayLike<number>): Summary {
  const sorted = Float64Array.from(values).sort();
  let sum = 0;
  for (let i = 0; i < sorted.length; i++) sum += sorted[i]!;
  return {
    count: sorted.length,
    min: sorted.length > 0 ? sorted[0]! : Number.NaN,
    p50: quantileSorted(sorted, 0.5),
    p90: quantileSorted(sorted, 0.9),
    p99: quantileSorted(sorted, 0.99),
    max: sorted.length > 0 ? sorted[sorted.length - 1]! : Number.NaN,
    mean: sorted.length > 0 ? sum / sorted.length : Number.NaN,
  };
}

/** Counts of values in equal-width bins over [lo, hi); values outside go to the end bins. */
export function histogram(values: ArrayLike<number>, lo: number, hi: number, bins: number): number[] {
  const counts = new Array<number>(bins).fill(0);
  const width = (hi - lo) / bins;
  for (let i = 0; i < values.length; i++) {
    const b = Math.min(bins - 1, Math.max(0, Math.floor((values[i]! - lo) / width)));
    counts[b]!++;
  }
  return counts;
}

/** Rounds for reports: `digits` significant digits, as a number. */
export function round(value: number, digits = 4): number {
  if (!Number.isFinite(value) || value === 0) return value;
  return Number(value.toPrecision(digits));
}

/** Rounds every number in a summary. */
export function roundSummary(s: Summary, digits = 4): Summary {
  return {
    count: s.count,
    min: round(s.min, digits),
    p50: round(s.p50, digits),
    p90: round(s.p90, digits),
    p99: round(s.p99, digits),
    max: round(s.max, digits),
    mean: round(s.mean, digits),
  };
}
