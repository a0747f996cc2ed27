/**
 * A FIFO of fixed-length reports in one growable ring buffer. Nothing is ever dropped: a full ring
 * doubles (allocation happens only when an event is queued, never when the host polls), so a burst of
 * input reaches the host complete and in order however slowly the host polls.
 */
export class ReportQueue {
  private buffer: Uint8Array;
  private capacity: number;
  /** Slot of the oldest report. */
  private head = 0;
  private count = 0;

  constructor(
    /** Bytes per report. */
    readonly reportLength: number,
    initialCapacity = 64,
  ) {
    if (!Number.isInteger(reportLength) || reportLength <= 0) {
      throw new RangeError(`report length ${reportLength} must be a positive integer`);
    }
    this.capacity = Math.max(1, initialCapacity);
    this.buffer = new Uint8Array(this.capacity * reportLength);
  }

  /** Reports waiting. */
  get length(): number {
    return this.count;
  }

  /** Appends a copy of the first {@link reportLength} bytes of `report`. */
  push(report: Uint8Array): void {
    if (report.length < this.reportLength) {
      throw new RangeError(`report of ${report.length} bytes is shorter than ${this.reportLength}`);
    }
    if (this.count === this.capacity) this.grow();
    const slot = (this.head + this.count) % this.capacity;
    this.buffer.set(report.subarray(0, this.reportLength), slot * this.reportLength);
    this.count++;
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

  /** Replaces the queue with `reports` (back to back, oldest first; a whole number of reports). */
  replaceWith(reports: Uint8Array): void {
    if (reports.length % this.reportLength !== 0) {
      throw new RangeError(`${reports.length} bytes are not whole reports of ${this.reportLength}`);
    }
    const count = reports.length / this.reportLength;
    while (this.capacity < count) this.grow();
    this.buffer.set(reports, 0);
    this.head = 0;
    this.count = count;
  }

  private grow(): void {
    const bigger = new Uint8Array(this.capacity * 2 * this.reportLength);
    // Unwrap: the oldest report goes to slot 0.
    const headBytes = this.head * this.reportLength;
    bigger.set(this.buffer.subarray(headBytes));
    bigger.set(this.buffer.subarray(0, headBytes), this.buffer.length - headBytes);
    this.buffer = bigger;
    this.capacity *= 2;
    this.head = 0;
  }
}
