/** How many reports a HID device's queue holds unless told otherwise ({@link HidDeviceOptions}). */
export const DEFAULT_REPORT_QUEUE_LIMIT = 4096;

/**
 * A FIFO of fixed-length reports in one ring buffer that grows (doubling, only when a report is
 * queued, never when the host polls) up to a bound, {@link limit} reports. At the bound {@link push}
 * refuses; the device decides what to do with the event (HidDevice merges it into the newest report).
 */
export class ReportQueue {
  private buffer: Uint8Array;
  private capacity: number;
  /** Slot of the oldest report. */
  private head = 0;
  private count = 0;
  /** The most reports {@link push} accepts. */
  readonly limit: number;

  constructor(
    /** Bytes per report. */
    readonly reportLength: number,
    limit = DEFAULT_REPORT_QUEUE_LIMIT,
    initialCapacity = 64,
  ) {
    if (!Number.isInteger(reportLength) || reportLength <= 0) {
      throw new RangeError(`report length ${reportLength} must be a positive integer`);
    }
    if (!Number.isInteger(limit) || limit < 2) {
      throw new RangeError(`queue limit ${limit} must be an integer of at least 2`);
    }
    this.limit = limit;
    this.capacity = Math.max(1, Math.min(initialCapacity, limit));
    this.buffer = new Uint8Array(this.capacity * reportLength);
  }

  /** Reports waiting. */
  get length(): number {
    return this.count;
  }

  /** Whether the queue holds {@link limit} reports (or more, restored from a state saved without a bound). */
  get full(): boolean {
    return this.count >= this.limit;
  }

  /**
   * Appends a copy of the first {@link reportLength} bytes of `report`; returns false (and queues
   * nothing) when the queue is {@link full}.
   */
  push(report: Uint8Array): boolean {
    if (report.length < this.reportLength) {
      throw new RangeError(`report of ${report.length} bytes is shorter than ${this.reportLength}`);
    }
    if (this.count >= this.limit) return false;
    if (this.count === this.capacity) this.grow(Math.min(this.capacity * 2, this.limit));
    this.write(this.count, report);
    this.count++;
    return true;
  }

  /** Copies the newest report into `into` (its first {@link reportLength} bytes); false when empty. */
  copyNewest(into: Uint8Array): boolean {
    if (this.count === 0) return false;
    const base = ((this.head + this.count - 1) % this.capacity) * this.reportLength;
    const n = Math.min(this.reportLength, into.length);
    for (let i = 0; i < n; i++) into[i] = this.buffer[base + i]!;
    return true;
  }

  /** Overwrites the newest report with the first {@link reportLength} bytes of `report`; false when empty. */
  replaceNewest(report: Uint8Array): boolean {
    if (report.length < this.reportLength) {
      throw new RangeError(`report of ${report.length} bytes is shorter than ${this.reportLength}`);
    }
    if (this.count === 0) return false;
    this.write(this.count - 1, report);
    return true;
  }

  /** Writes report number `index` (0 = oldest). */
  private write(index: number, report: Uint8Array): void {
    const base = ((this.head + index) % this.capacity) * this.reportLength;
    for (let i = 0; i < this.reportLength; i++) this.buffer[base + i] = report[i]!;
  }

  /**
   * Copies the first `length` bytes of the oldest report into `into` (from index 0); returns false when
   * the queue is empty. The report stays queued until {@link shift}.
   */
  copyOldest(into: Uint8Array, length: number): boolean {
    if (this.count === 0) return false;
    const n = Math.min(length, this.reportLength, into.length);
    const base = this.head * this.reportLength;
    for (let i = 0; i < n; i++) into[i] = this.buffer[base + i]!;
    return true;
  }

  /** Drops the oldest report; returns false when the queue was empty. */
  shift(): boolean {
    if (this.count === 0) return false;
    this.head = (this.head + 1) % this.capacity;
    this.count--;
    return true;
  }

  /** Drops every report; returns how many were dropped. */
  clear(): number {
    const dropped = this.count;
    this.head = 0;
    this.count = 0;
    return dropped;
  }

  /** A copy of every queued report, oldest first, back to back (for a saved state). */
  contents(): Uint8Array {
    const out = new Uint8Array(this.count * this.reportLength);
    for (let i = 0; i < this.count; i++) {
      const slot = ((this.head + i) % this.capacity) * this.reportLength;
      out.set(this.buffer.subarray(slot, slot + this.reportLength), i * this.reportLength);
    }
    return out;
  }

  /**
   * Replaces the queue with `reports` (back to back, oldest first; a whole number of reports). More
   * than {@link limit} are kept (a state saved before queues had a bound): the queue stays full until
   * the host has taken enough of them.
   */
  replaceWith(reports: Uint8Array): void {
    if (reports.length % this.reportLength !== 0) {
      throw new RangeError(`${reports.length} bytes are not whole reports of ${this.reportLength}`);
    }
    const count = reports.length / this.reportLength;
    if (this.capacity < count) this.grow(count);
    this.buffer.set(reports, 0);
    this.head = 0;
    this.count = count;
  }

  private grow(capacity: number): void {
    const bigger = new Uint8Array(capacity * this.reportLength);
    // Unwrap: the oldest report goes to slot 0.
    const headBytes = this.head * this.reportLength;
    bigger.set(this.buffer.subarray(headBytes));
    bigger.set(this.buffer.subarray(0, headBytes), this.buffer.length - headBytes);
    this.buffer = bigger;
    this.capacity = capacity;
    this.head = 0;
  }
}
