import { FRAMES_PER_SECOND } from "./stream-format.ts";

/**
 * How many audio frames each 1 ms isochronous packet carries at a given rate: a synchronous endpoint
 * moves the samples of one USB frame per packet, its clock locked to SOF (USB 2.0 5.12.4.1).
 *
 * Each packet carries floor(rate / 1000) frames, and the remainder (rate mod 1000) accumulates: when
 * it reaches 1000 the packet carries one frame more. 44.1 kHz therefore sends nine packets of 44 then
 * one of 45, 22.05 kHz nineteen of 22 then one of 23 — the pattern a Linux host sends for playback —
 * and the long-run rate is exact: every 1000 packets carry exactly `rate` frames.
 */
export class PacketPacer {
  private base = 0;
  private remainder = 0;
  private accumulated = 0;

  constructor(rate: number) {
    this.reset(rate);
  }

  /** Starts the pattern afresh for `rate` (a new stream, or a new sampling frequency). */
  reset(rate: number): void {
    this.base = Math.floor(rate / FRAMES_PER_SECOND);
    this.remainder = rate % FRAMES_PER_SECOND;
    this.accumulated = 0;
  }

  /** Where the pattern stands: the remainder carried so far (0..999), part of a stream's saved state. */
  get carried(): number {
    return this.accumulated;
  }

  /** Restarts the pattern for `rate` from a saved {@link carried} value (0..999). */
  resume(rate: number, carried: number): void {
    this.reset(rate);
    this.accumulated = carried;
  }

  /** Frames in the next packet. */
  next(): number {
    this.accumulated += this.remainder;
    if (this.accumulated >= FRAMES_PER_SECOND) {
      this.accumulated -= FRAMES_PER_SECOND;
      return this.base + 1;
    }
    return this.base;
  }

  /** Frames a packet may carry at this rate: the base count, and one more when the rate has a remainder. */
  isNominal(frames: number): boolean {
    return frames === this.base || (this.remainder !== 0 && frames === this.base + 1);
  }
}
