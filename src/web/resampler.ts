import type { FrameRing } from "./frame-ring.ts";

/**
 * A streaming sample-rate converter with a ratio that may change at every call: 4-point cubic
 * (Catmull-Rom) interpolation on an input FIFO. Catmull-Rom passes through every input sample and
 * reproduces straight lines exactly, so at a step of exactly 1 and phase 0 the output is the input,
 * bit for bit (the bridge's pass-through when the guest's rate is the context's and no drift needs
 * correcting), and a ramp such as the frame-counter test signal stays a ramp after any conversion.
 * No anti-alias filter: going down (48 kHz → 8 kHz) folds content above the new Nyquist back; see
 * docs/web-audio.md.
 *
 * Input goes in (`write*`), output comes out (`read*`); the converter keeps the input frames the next
 * output still needs (one before the read position, two after). Everything is preallocated: no call
 * allocates.
 */
export class Resampler {
  readonly channels: number;
  /** Input frames the FIFO holds at most. */
  readonly capacityFrames: number;
  private readonly buf: Float32Array;
  /** Input frames in `buf`. */
  private have = 0;
  /**
   * [0]: the read position in `buf`, in input frames (≥ 1: one frame of history before it); kept in
   * a typed array so no double field is written per call.
   */
  private readonly position = new Float64Array([1]);
  /** Input frames to discard before the next one kept: going down in rate, the read position may pass the input held. */
  private skipInput = 0;
  private baseStep = 1;
  private step = 1;
  private ratioValue = 1;
  private ratioCell: Float64Array | null = null;

  constructor(channels: number, capacityFrames = 4096) {
    if (!Number.isInteger(channels) || channels < 1) throw new RangeError(`channels ${channels} must be ≥ 1`);
    this.channels = channels;
    this.capacityFrames = capacityFrames;
    this.buf = new Float32Array(channels * capacityFrames);
    this.reset();
  }

  /** Input rate → output rate; resets the FIFO and the ratio correction. */
  configure(inputRate: number, outputRate: number): void {
    if (!(inputRate > 0) || !(outputRate > 0))
      throw new RangeError(`rates ${inputRate} → ${outputRate} must be positive`);
    this.baseStep = inputRate / outputRate;
    this.ratioValue = 1;
    this.step = this.baseStep;
    this.reset();
  }

  /** Empties the FIFO: the next output starts at the next input frame, after one frame of silent history. */
  reset(): void {
    this.buf.fill(0, 0, this.channels);
    this.have = 1;
    this.position[0] = 1;
    this.skipInput = 0;
  }

  /**
   * Input frames consumed per output frame = (input rate / output rate) × ratio. A ratio above 1
   * consumes input faster (drains the buffer before it); exactly 1 converts at the nominal rates.
   */
  setRatio(ratio: number): void {
    this.ratioValue = ratio;
    this.step = ratio === 1 ? this.baseStep : this.baseStep * ratio;
  }

  /** Takes the ratio from `cell[0]` at each {@link syncRatio} (the drift controller's output). */
  bindRatio(cell: Float64Array): void {
    this.ratioCell = cell;
  }

  /** Applies the bound cell's ratio; no argument, so no double crosses a call (see FillController.ratioCell). */
  syncRatio(): void {
    const r = this.ratioCell?.[0] ?? 1;
    if (r === this.ratioValue) return;
    this.ratioValue = r;
    this.step = r === 1 ? this.baseStep : this.baseStep * r;
  }

  get ratio(): number {
    return this.ratioValue;
  }

  /** Input frames held that no output has passed yet (the converter's own delay, in input frames). */
  get pendingFrames(): number {
    return this.have - this.skipInput - this.position[0]!;
  }

  /** {@link pendingFrames} in whole frames (an integer, cheap to pass on). */
  get pendingWholeFrames(): number {
    return (this.have - this.skipInput - Math.ceil(this.position[0]!)) | 0;
  }

  get inputRoom(): number {
    return this.capacityFrames - this.have;
  }

  /** Input frames still to write before `frames` output frames can be read. */
  inputNeeded(frames: number): number {
    if (frames <= 0) return 0;
    const need = Math.floor(this.position[0]! + (frames - 1) * this.step) + 3 - this.have + this.skipInput;
    return Math.max(need, 0);
  }

  /** Output frames readable now. */
  outputAvailable(): number {
    const pos = this.position[0]!;
    const room = this.have - 3 - pos;
    if (room < 0) return 0;
    let n = Math.floor(room / this.step) + 1;
    // The division may land a hair off either way; inputNeeded's test is the one that counts.
    while (n > 0 && Math.floor(pos + (n - 1) * this.step) + 3 > this.have) n--;
    while (Math.floor(pos + n * this.step) + 3 <= this.have) n++;
    return n;
  }

  /** Moves up to `frames` frames from a ring with the same channel count; returns how many. */
  writeFromRing(ring: FrameRing, frames: number): number {
    this.compact();
    const skipped = ring.skip(Math.min(frames, this.skipInput));
    this.skipInput -= skipped;
    const n = ring.read(this.buf, this.have, Math.min(frames - skipped, this.inputRoom));
    this.have += n;
    return skipped + n;
  }

  /** Appends `frames` 16-bit frames of `sourceChannels` channels (mono duplicated, stereo averaged to mono). */
  writeInt16(source: Int16Array, offset: number, frames: number, sourceChannels: number): number {
    this.compact();
    const skipped = Math.min(frames, this.skipInput);
    this.skipInput -= skipped;
    const n = Math.min(frames - skipped, this.inputRoom);
    const ch = this.channels;
    let to = this.have * ch;
    let from = (offset + skipped) * sourceChannels;
    for (let f = 0; f < n; f++) {
      if (sourceChannels === ch) {
        for (let c = 0; c < ch; c++) this.buf[to + c] = (source[from + c] ?? 0) / 32768;
      } else if (ch === 1) {
        let sum = 0;
        for (let c = 0; c < sourceChannels; c++) sum += source[from + c] ?? 0;
        this.buf[to] = sum / sourceChannels / 32768;
      } else {
        for (let c = 0; c < ch; c++) this.buf[to + c] = (source[from + (c % sourceChannels)] ?? 0) / 32768;
      }
      to += ch;
      from += sourceChannels;
    }
    this.have += n;
    return skipped + n;
  }

  /** Appends float frames with the converter's channel count. */
  writeFloat(source: Float32Array, offset: number, frames: number): number {
    this.compact();
    const skipped = Math.min(frames, this.skipInput);
    this.skipInput -= skipped;
    const n = Math.min(frames - skipped, this.inputRoom);
    const count = n * this.channels;
    const to = this.have * this.channels;
    const from = (offset + skipped) * this.channels;
    for (let i = 0; i < count; i++) this.buf[to + i] = source[from + i] ?? 0;
    this.have += n;
    return skipped + n;
  }

  /**
   * Reads up to `frames` output frames as 16-bit samples with `outChannels` channels into `out` from
   * frame `offset` (rounded, clamped; stereo averaged to mono, mono duplicated); returns how many.
   * The loops keep the position in a local and interpolate inline, and compaction waits for the next
   * write: with a call after the loop, V8 boxed a double on every read (16 bytes per 1 ms packet,
   * found with bench/web-resampler.ts).
   */
  readInt16(out: Int16Array, offset: number, frames: number, outChannels: number): number {
    const n = Math.min(frames, this.outputAvailable());
    const ch = this.channels;
    const buf = this.buf;
    const step = this.step;
    const mixDown = outChannels === 1 && ch > 1;
    const lanes = mixDown ? ch : outChannels;
    let pos = this.position[0]!;
    let to = offset * outChannels;
    for (let k = 0; k < n; k++) {
      const i = Math.floor(pos);
      const t = pos - i;
      const base = (i - 1) * ch;
      let sum = 0;
      for (let oc = 0; oc < lanes; oc++) {
        const b = base + (oc % ch);
        const p1 = buf[b + ch] ?? 0;
        let v = p1;
        if (t !== 0) {
          // Catmull-Rom between p1 and p2; at t = 0 it is p1 exactly (the pass-through).
          const p0 = buf[b] ?? 0;
          const p2 = buf[b + 2 * ch] ?? 0;
          const p3 = buf[b + 3 * ch] ?? 0;
          v = p1 + 0.5 * t * (p2 - p0 + t * (2 * p0 - 5 * p1 + 4 * p2 - p3 + t * (3 * (p1 - p2) + p3 - p0)));
        }
        if (mixDown) {
          sum += v;
        } else {
          const s = Math.round(v * 32768);
          out[to + oc] = s > 32767 ? 32767 : Math.max(s, -32768);
        }
      }
      if (mixDown) {
        const s = Math.round((sum / ch) * 32768);
        out[to] = s > 32767 ? 32767 : Math.max(s, -32768);
      }
      to += outChannels;
      pos += step;
    }
    this.position[0] = pos;
    return n;
  }

  /** Reads up to `frames` output frames as floats (the converter's channels) into `out` from frame `offset`. */
  readFloat(out: Float32Array, offset: number, frames: number): number {
    const n = Math.min(frames, this.outputAvailable());
    const ch = this.channels;
    const buf = this.buf;
    const step = this.step;
    let pos = this.position[0]!;
    let to = offset * ch;
    for (let k = 0; k < n; k++) {
      const i = Math.floor(pos);
      const t = pos - i;
      const base = (i - 1) * ch;
      for (let c = 0; c < ch; c++) {
        const b = base + c;
        const p1 = buf[b + ch] ?? 0;
        if (t === 0) {
          out[to + c] = p1;
        } else {
          const p0 = buf[b] ?? 0;
          const p2 = buf[b + 2 * ch] ?? 0;
          const p3 = buf[b + 3 * ch] ?? 0;
          out[to + c] =
            p1 + 0.5 * t * (p2 - p0 + t * (2 * p0 - 5 * p1 + 4 * p2 - p3 + t * (3 * (p1 - p2) + p3 - p0)));
        }
      }
      to += ch;
      pos += step;
    }
    this.position[0] = pos;
    return n;
  }

  /**
   * Drops input frames no later output needs (all before pos − 1), keeping `pos` small and exact.
   * Going down in rate the position may already be past the input held (a step of 6 from 48 kHz to
   * 8 kHz): the frames up to it that have not arrived yet are discarded as they do.
   */
  private compact(): void {
    const pos = this.position[0]!;
    const drop = (Math.floor(pos) - 1) | 0; // an int32, so the fields below stay small integers
    if (drop <= 0) return;
    if (drop < this.have) {
      this.buf.copyWithin(0, drop * this.channels, this.have * this.channels);
      this.have -= drop;
    } else {
      this.skipInput += drop - this.have;
      this.have = 0;
    }
    this.position[0] = pos - drop;
  }
}
