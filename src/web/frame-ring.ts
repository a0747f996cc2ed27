/**
 * A single-producer single-consumer FIFO of interleaved float frames, laid out in one buffer so it can
 * live in a SharedArrayBuffer between the main thread and an AudioWorklet (when the page is
 * `crossOriginIsolated`), or in a plain ArrayBuffer on one side of a MessagePort. The worklet's copy of
 * this logic (worklet-source.ts) uses the same layout: the header slots below are the contract.
 *
 * Header (Int32, Atomics): the write and read counters count frames since creation and wrap at 2^32
 * (`(write - read) | 0` is the fill), so each side owns one counter and never writes the other's; the
 * other slots carry flags and counters, each written by one side only (noted per slot).
 */

/** Frames written (producer). */
export const H_WRITE = 0;
/** Frames read (consumer). */
export const H_READ = 1;
/** 1 while the guest streams (main thread). */
export const H_ACTIVE = 2;
/** Underrun events / frames counted by the worklet (speaker: its output ran dry). */
export const H_UNDERRUNS = 3;
export const H_UNDERRUN_FRAMES = 4;
/** Overrun events / frames counted by the worklet (microphone: a render quantum did not fit). */
export const H_OVERRUNS = 5;
export const H_OVERRUN_FRAMES = 6;
/** Speaker: frames the worklet waits for before it plays, after a start or an underrun (main thread). */
export const H_PRIME = 7;
/** Render quanta the worklet has run (worklet): shows it is alive. */
export const H_QUANTA = 8;
/**
 * Microphone, what the source failed to deliver while the guest streams (worklet; with the message
 * transport copied from the worklet's own header by the main thread): runs of render quanta that
 * arrived with no channels and their frames; runs of frames with no signal at all (no channels, or
 * exact zeros on every channel) at least SILENT_RUN_MIN_FRAMES long, their frames, and the longest.
 */
export const H_SOURCE_GAPS = 9;
export const H_SOURCE_GAP_FRAMES = 10;
export const H_SILENT_RUNS = 11;
export const H_SILENT_FRAMES = 12;
export const H_LONGEST_SILENT_RUN = 13;
/**
 * The shortest run of exact digital zeros (on every channel) counted as the source delivering
 * nothing: 64 frames, 1.3 ms at 48 kHz. A signal crosses zero on single frames (the frame-counter
 * test signal is exactly 0 on one frame in 65536), and a real microphone's noise keeps its samples
 * off zero; 64 zeros in a row on every channel come from a muted, disconnected or starved source.
 */
export const SILENT_RUN_MIN_FRAMES = 64;
export const HEADER_SLOTS = 16;
const HEADER_BYTES = HEADER_SLOTS * 4;

export class FrameRing {
  readonly channels: number;
  readonly capacityFrames: number;
  readonly buffer: ArrayBuffer | SharedArrayBuffer;
  readonly header: Int32Array;
  private readonly data: Float32Array;

  /** Bytes a ring of `channels` × `capacityFrames` needs. */
  static bytesFor(channels: number, capacityFrames: number): number {
    return HEADER_BYTES + channels * capacityFrames * 4;
  }

  /** A new ring of at least `minFrames` (rounded up to a power of two); `shared` puts it in a SharedArrayBuffer (only where the page is cross-origin isolated). */
  static create(channels: number, minFrames: number, shared: boolean): FrameRing {
    let capacityFrames = 1;
    while (capacityFrames < minFrames) capacityFrames *= 2;
    const bytes = FrameRing.bytesFor(channels, capacityFrames);
    return new FrameRing(
      shared ? new SharedArrayBuffer(bytes) : new ArrayBuffer(bytes),
      channels,
      capacityFrames,
    );
  }

  constructor(buffer: ArrayBuffer | SharedArrayBuffer, channels: number, capacityFrames: number) {
    if (!Number.isInteger(channels) || channels < 1) throw new RangeError(`channels ${channels} must be ≥ 1`);
    // A power of two, so slot = counter mod capacity stays continuous when the 32-bit counters wrap.
    if (
      !Number.isInteger(capacityFrames) ||
      capacityFrames < 1 ||
      (capacityFrames & (capacityFrames - 1)) !== 0
    ) {
      throw new RangeError(`capacity ${capacityFrames} must be a power of two`);
    }
    if (buffer.byteLength < FrameRing.bytesFor(channels, capacityFrames)) {
      throw new RangeError(
        `a ring of ${capacityFrames} × ${channels} needs ${FrameRing.bytesFor(channels, capacityFrames)} bytes`,
      );
    }
    this.buffer = buffer;
    this.channels = channels;
    this.capacityFrames = capacityFrames;
    this.header = new Int32Array(buffer, 0, HEADER_SLOTS);
    this.data = new Float32Array(buffer, HEADER_BYTES, channels * capacityFrames);
  }

  /** Frames stored (either side may ask). */
  get availableFrames(): number {
    const n = (Atomics.load(this.header, H_WRITE) - Atomics.load(this.header, H_READ)) | 0;
    // A corrupted header (a hostile page editing the shared buffer) must not make the host misbehave.
    return n < 0 ? 0 : Math.min(n, this.capacityFrames);
  }

  get freeFrames(): number {
    return this.capacityFrames - this.availableFrames;
  }

  /** Producer: appends up to `frames` frames of `source` (interleaved, ring's channels, from frame `offset`); returns how many fitted. */
  write(source: Float32Array, offset: number, frames: number): number {
    const n = Math.min(frames, this.freeFrames);
    const ch = this.channels;
    const write = Atomics.load(this.header, H_WRITE);
    let slot = (write >>> 0) % this.capacityFrames;
    let from = offset * ch;
    for (let done = 0; done < n; ) {
      const run = Math.min(n - done, this.capacityFrames - slot);
      // Element copies, not set(subarray()): a subarray is an allocation, and this runs every 1 ms.
      const count = run * ch;
      const base = slot * ch;
      for (let i = 0; i < count; i++) this.data[base + i] = source[from + i] ?? 0;
      from += count;
      done += run;
      slot = 0;
    }
    Atomics.store(this.header, H_WRITE, (write + n) | 0);
    return n;
  }

  /** Consumer: moves up to `frames` of the oldest frames into `target` from frame `offset`; returns how many. */
  read(target: Float32Array, offset: number, frames: number): number {
    const n = Math.min(frames, this.availableFrames);
    const ch = this.channels;
    const read = Atomics.load(this.header, H_READ);
    let slot = (read >>> 0) % this.capacityFrames;
    let to = offset * ch;
    for (let done = 0; done < n; ) {
      const run = Math.min(n - done, this.capacityFrames - slot);
      const count = run * ch;
      const base = slot * ch;
      for (let i = 0; i < count; i++) target[to + i] = this.data[base + i] ?? 0;
      to += count;
      done += run;
      slot = 0;
    }
    Atomics.store(this.header, H_READ, (read + n) | 0);
    return n;
  }

  /** Consumer: drops up to `frames` of the oldest frames; returns how many. */
  skip(frames: number): number {
    const n = Math.min(frames, this.availableFrames);
    Atomics.store(this.header, H_READ, (Atomics.load(this.header, H_READ) + n) | 0);
    return n;
  }

  get(slot: number): number {
    return Atomics.load(this.header, slot);
  }

  set(slot: number, value: number): void {
    Atomics.store(this.header, slot, value | 0);
  }
}
