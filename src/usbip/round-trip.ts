/**
 * URB round trips (CMD_SUBMIT sent → RET_SUBMIT read) measured on the host's clock, the newest
 * `capacity` kept in a ring (no allocation per URB), with percentiles on demand: the bench's number
 * for "URB round trip through the client" (issue 13 item 6).
 */
export class RoundTripStats {
  count = 0;
  maxMs = 0;
  private readonly samples: Float64Array;
  private next = 0;

  constructor(capacity = 8192) {
    this.samples = new Float64Array(capacity);
  }

  record(ms: number): void {
    this.samples[this.next] = ms;
    this.next = (this.next + 1) % this.samples.length;
    this.count++;
    if (ms > this.maxMs) this.maxMs = ms;
  }

  /** The `p`-th percentile (0–100) of the kept samples, in ms; NaN with none. */
  percentile(p: number): number {
    const n = Math.min(this.count, this.samples.length);
    if (n === 0) return Number.NaN;
    const sorted = this.samples.slice(0, n).sort();
    const rank = Math.min(n - 1, Math.max(0, Math.ceil((p / 100) * n) - 1));
    return sorted[rank]!;
  }

  summary(): { count: number; p50Ms: number; p99Ms: number; maxMs: number } {
    return { count: this.count, p50Ms: this.percentile(50), p99Ms: this.percentile(99), maxMs: this.maxMs };
  }
}

/** The host's monotonic clock (browsers, Workers and Node all have `performance`). */
export const hostNow = (): number => globalThis.performance.now();
