/** Timing helpers shared by the benchmarks. */
import { PerformanceObserver, performance } from "node:perf_hooks";

/** A Float64Array that grows by doubling (so pushing between timed regions rarely allocates). */
export class SampleBuffer {
  private data: Float64Array;
  length = 0;
  constructor(capacity = 1024) {
    this.data = new Float64Array(capacity);
  }
  push(value: number): void {
    if (this.length === this.data.length) {
      const bigger = new Float64Array(this.data.length * 2);
      bigger.set(this.data);
      this.data = bigger;
    }
    this.data[this.length++] = value;
  }
  values(): Float64Array {
    return this.data.subarray(0, this.length);
  }
}

export interface GcEvent {
  start: number;
  end: number;
  /** perf_hooks kind: 1 minor (scavenge), 2 major (mark-compact), 4 incremental, 8 weak callbacks. */
  kind: number;
}

/** Records every GC with its time window (PerformanceObserver entries arrive asynchronously). */
export class GcRecorder {
  readonly events: GcEvent[] = [];
  private readonly observer = new PerformanceObserver((list) => {
    for (const e of list.getEntries()) {
      const detail = (e as { detail?: { kind?: number } }).detail;
      this.events.push({ start: e.startTime, end: e.startTime + e.duration, kind: detail?.kind ?? 0 });
    }
  });
  constructor() {
    this.observer.observe({ entryTypes: ["gc"] });
  }
  /** GCs overlapping [from, to] and their total milliseconds inside it. */
  within(from: number, to: number): { count: number; minor: number; ms: number } {
    let count = 0;
    let minor = 0;
    let ms = 0;
    for (const e of this.events) {
      if (e.end < from || e.start > to) continue;
      count++;
      if (e.kind === 1) minor++;
      ms += Math.min(e.end, to) - Math.max(e.start, from);
    }
    return { count, minor, ms };
  }
  stop(): void {
    this.observer.disconnect();
  }
}

/** Lets pending callbacks (PerformanceObserver deliveries, immediates) run. */
export function tick(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

export const now = (): number => performance.now();
