/** A summary of a sample of measurements. */
export interface Summary {
  count: number;
  p50: number;
  p99: number;
  max: number;
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

  summary(): Summary {
    if (this.n === 0) return { count: 0, p50: 0, p99: 0, max: 0 };
    const sorted = this.values.slice(0, this.n).sort();
    const rank = (p: number) => sorted[Math.min(this.n - 1, Math.max(0, Math.ceil(p * this.n) - 1))]!;
    return { count: this.n, p50: rank(0.5), p99: rank(0.99), max: sorted[this.n - 1]! };
  }
}
