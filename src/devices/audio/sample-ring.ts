import { copyFrames } from "./channels.ts";

/**
 * A fixed-capacity FIFO of interleaved 16-bit frames between an application and a stream (the push
 * source and the pull sink). It never grows and never allocates after construction; writes beyond the
 * free space and reads beyond the stored frames are cut short and the caller counts the difference.
 * Both sides may use their own channel count (converted as in channels.ts).
 */
export class SampleRing {
  readonly channels: number;
  readonly capacityFrames: number;
  private readonly buffer: Int16Array;
  /** Frame slot of the oldest frame. */
  private head = 0;
  private count = 0;

  constructor(channels: number, capacityFrames: number) {
    if (!Number.isInteger(channels) || channels < 1) throw new RangeError(`channels ${channels} must be ≥ 1`);
    if (!Number.isInteger(capacityFrames) || capacityFrames < 1) {
      throw new RangeError(`capacity ${capacityFrames} must be at least one frame`);
    }
    this.channels = channels;
    this.capacityFrames = capacityFrames;
    this.buffer = new Int16Array(channels * capacityFrames);
  }

  /** Frames stored. */
  get availableFrames(): number {
    return this.count;
  }

  get freeFrames(): number {
    return this.capacityFrames - this.count;
  }

  /**
   * Appends up to `frames` frames of `samples` (interleaved with `channels` channels, from frame
   * `offset`); returns how many fitted.
   */
  write(samples: Int16Array, frames: number, channels: number, offset = 0): number {
    const n = Math.min(frames, this.freeFrames);
    let done = 0;
    while (done < n) {
      const slot = (this.head + this.count) % this.capacityFrames;
      const run = Math.min(n - done, this.capacityFrames - slot);
      copyFrames(samples, offset + done, channels, this.buffer, slot, this.channels, run);
      this.count += run;
      done += run;
    }
    return n;
  }

  /** Moves up to `frames` of the oldest frames into `out` (with `channels` channels, from frame 0). */
  read(out: Int16Array, frames: number, channels: number): number {
    const n = Math.min(frames, this.count);
    let done = 0;
    while (done < n) {
      const run = Math.min(n - done, this.capacityFrames - this.head);
      copyFrames(this.buffer, this.head, this.channels, out, done, channels, run);
      this.head = (this.head + run) % this.capacityFrames;
      this.count -= run;
      done += run;
    }
    return n;
  }

  clear(): void {
    this.head = 0;
    this.count = 0;
  }
}
