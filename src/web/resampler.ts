import type { FrameRing } from "./frame-ring.ts";

/**
 * A streaming sample-rate converter with a ratio that may change at every call, on an input FIFO.
 *
 * - **Up or at the same rate: 4-point cubic (Catmull-Rom).** It passes through every input sample and
 *   reproduces straight lines exactly, so at a step of exactly 1 and an integer position the output is
 *   the input, bit for bit (the bridge's pass-through when the guest's rate is the context's), and a ramp
 *   such as the frame-counter test signal stays a ramp after any conversion.
 * - **Down (input rate above output rate): a Kaiser-windowed sinc low-pass evaluated at each output
 *   position** (a polyphase FIR whose phases are read from one table, linearly interpolated). Without it
 *   48 kHz → 8 kHz folds everything above 4 kHz back into the band (a microphone's hiss becomes audible
 *   hiss at 8 kHz). Passband to 0.4 × the output rate, stopband from 0.5 × (the output's Nyquist
 *   frequency), 60 dB designed; the weights of each output are normalised to sum to 1, so a constant
 *   or a slow ramp passes unchanged. Its cost grows with the ratio (about 52 × ratio / 0.1 taps per
 *   output), not with the input rate: ~220 taps per output at 48 → 8 kHz, 8 outputs per ms.
 * - **Exact pass-through at matched rates.** The drift controller sets the ratio; when it hands back
 *   exactly 1, {@link syncRatio} glides the read position to the nearest whole input frame (a step off
 *   by {@link ALIGN_STEP} until within {@link ALIGN_SNAP} of it, then it snaps), after which every output
 *   is an input sample again: {@link exact}.
 *
 * Input goes in (`write*`), output comes out (`read*`); the converter keeps the input frames the next
 * output still needs (`halfWidth − 1` before the read position, `halfWidth` after). Everything the
 * steady state uses is preallocated: no `write*`/`read*`/`syncRatio` call allocates (the filter's
 * table is made in `configure`, once per rate pair).
 */

/** Cubic: one frame of history, two ahead (taps i − 1 … i + 2). */
const CUBIC_HALF = 2;
/** Entries per input frame in the windowed-sinc table (linearly interpolated between them). */
const TABLE_STEPS = 64;
/** The sinc kernel's half-width is capped (a 768 kHz context to an 8 kHz guest would want ~2000). */
export const MAX_HALF_WIDTH = 1024;
/** Anti-alias design: passband edge and stopband edge as fractions of the output rate, and the attenuation. */
const PASS_EDGE = 0.4;
const STOP_EDGE = 0.5;
const ATTENUATION_DB = 60;
/** Aligning the position to a whole frame at ratio 1: the step is off by this much per output frame. */
export const ALIGN_STEP = 1e-4;
/** … and the position snaps to the whole frame once within this (a jump of at most 0.006 frame). */
export const ALIGN_SNAP = 0.006;

/** Modified Bessel function of the first kind, order 0 (the Kaiser window), by its series. */
function besselI0(x: number): number {
  let sum = 1;
  let term = 1;
  const q = (x * x) / 4;
  for (let k = 1; k < 64; k++) {
    term *= q / (k * k);
    sum += term;
    if (term < sum * 1e-12) break;
  }
  return sum;
}

export class Resampler {
  readonly channels: number;
  /** Input frames the FIFO holds at most. */
  readonly capacityFrames: number;
  private readonly buf: Float32Array;
  /** Input frames in `buf`. */
  private have = 0;
  /**
   * [0]: the read position in `buf`, in input frames (≥ halfWidth − 1: the history before it); kept in
   * a typed array so no double field is written per call and no double crosses a call.
   */
  private readonly position = new Float64Array([1]);
  /**
   * [0] the nominal step (input rate / output rate), [1] the step in force, [2] the ratio: doubles
   * written every call, kept in a typed array like the position so no field's representation can
   * make V8 box them (the 16 bytes per call measured in syncRatio came from reading the cell as
   * `cell?.[0] ?? 1`; src/web/allocation.test.ts guards the whole path).
   */
  private readonly steps = new Float64Array([1, 1, 1]);
  /** Input frames to discard before the next one kept: going down in rate, the read position may pass the input held. */
  private skipInput = 0;
  /** Where {@link syncRatio} reads the ratio (the drift controller's cell once bound; never null, see syncRatio). */
  private ratioCell: Float64Array = new Float64Array([1]);
  /** At ratio 1 with matched rates, the position is being moved to a whole frame. */
  private aligning = false;
  /** Taps either side of the position: 2 (cubic) or the sinc kernel's half-width. */
  private half = CUBIC_HALF;
  private sinc = false;
  /** The sinc kernel's right half, `TABLE_STEPS` entries per input frame (grown in configure, never per call). */
  private table = new Float64Array(0);
  /** One output's tap weights, and one output frame (sinc path). */
  private weights = new Float64Array(2 * CUBIC_HALF);
  private readonly frame: Float64Array;

  constructor(channels: number, capacityFrames = 4096) {
    if (!Number.isInteger(channels) || channels < 1) throw new RangeError(`channels ${channels} must be ≥ 1`);
    this.channels = channels;
    this.capacityFrames = capacityFrames;
    this.buf = new Float32Array(channels * capacityFrames);
    this.frame = new Float64Array(channels);
    this.reset();
  }

  /** Input rate → output rate; resets the FIFO and the ratio correction. Going down, builds the anti-alias filter. */
  configure(inputRate: number, outputRate: number): void {
    if (!(inputRate > 0) || !(outputRate > 0))
      throw new RangeError(`rates ${inputRate} → ${outputRate} must be positive`);
    this.steps[0] = inputRate / outputRate;
    this.steps[2] = 1;
    this.steps[1] = this.steps[0]!;
    this.aligning = false;
    this.sinc = inputRate > outputRate;
    this.half = this.sinc ? this.designFilter(outputRate / inputRate) : CUBIC_HALF;
    if (this.weights.length < 2 * this.half) this.weights = new Float64Array(2 * this.half);
    this.reset();
  }

  /**
   * The Kaiser-windowed sinc for an output rate of `nu` cycles per input frame (< 1); returns its
   * half-width in input frames. Window length from Kaiser's formula for the transition band
   * (STOP_EDGE − PASS_EDGE) × nu and ATTENUATION_DB, β = 0.1102 (A − 8.7).
   */
  private designFilter(nu: number): number {
    const transition = (STOP_EDGE - PASS_EDGE) * nu;
    const taps = Math.ceil((ATTENUATION_DB - 7.95) / (2.285 * 2 * Math.PI * transition)) + 1;
    const half = Math.min(
      MAX_HALF_WIDTH,
      Math.max(CUBIC_HALF, Math.ceil(taps / 2)),
      this.capacityFrames >> 2,
    );
    const cutoff = ((PASS_EDGE + STOP_EDGE) / 2) * nu; // cycles per input frame
    const beta = 0.1102 * (ATTENUATION_DB - 8.7);
    const i0beta = besselI0(beta);
    const entries = half * TABLE_STEPS + 2;
    if (this.table.length < entries) this.table = new Float64Array(entries);
    const table = this.table;
    for (let j = 0; j < table.length; j++) {
      const x = j / TABLE_STEPS;
      if (x >= half) {
        table[j] = 0;
        continue;
      }
      const r = x / half;
      const window = besselI0(beta * Math.sqrt(1 - r * r)) / i0beta;
      const arg = 2 * Math.PI * cutoff * x;
      table[j] = (x === 0 ? 2 * cutoff : Math.sin(arg) / (Math.PI * x)) * window;
    }
    return half;
  }

  /** Taps either side of the position (2 for the cubic; the anti-alias filter's half-width going down). */
  get halfWidth(): number {
    return this.half;
  }

  /** Empties the FIFO: the next output starts at the next input frame, after `halfWidth − 1` frames of silent history. */
  reset(): void {
    const history = this.half - 1;
    this.buf.fill(0, 0, this.channels * history);
    this.have = history;
    this.position[0] = history;
    this.skipInput = 0;
    this.aligning = false;
    if (this.steps[2] === 1) this.steps[1] = this.steps[0]!;
  }

  /**
   * Input frames consumed per output frame = (input rate / output rate) × ratio. A ratio above 1
   * consumes input faster (drains the buffer before it); exactly 1 converts at the nominal rates.
   */
  setRatio(ratio: number): void {
    this.steps[2] = ratio;
    this.aligning = false;
    this.steps[1] = ratio === 1 ? this.steps[0]! : this.steps[0]! * ratio;
  }

  /** Takes the ratio from `cell[0]` at each {@link syncRatio} (the drift controller's output). */
  bindRatio(cell: Float64Array): void {
    this.ratioCell = cell;
  }

  /**
   * Applies the bound cell's ratio; no argument, so no double crosses a call (see FillController.ratioCell).
   * At a ratio of exactly 1 with matched rates, a position left between two input frames by an earlier
   * correction is moved to the nearer one (ALIGN_STEP per output frame: 0.005 frame per ms at 48 kHz,
   * at most 100 ms for half a frame; a pitch change of 0.2 cents), then snapped: from then on the
   * output is the input bit for bit.
   */
  syncRatio(): void {
    // A plain load: `cell?.[0] ?? 1` made V8 box the value (16 bytes per call).
    const r = this.ratioCell[0]!;
    this.steps[2] = r;
    if (r !== 1) {
      this.aligning = false;
      this.steps[1] = this.steps[0]! * r;
      return;
    }
    if (this.steps[0]! !== 1) {
      this.aligning = false;
      this.steps[1] = this.steps[0]!;
      return;
    }
    const pos = this.position[0]!;
    const whole = Math.round(pos);
    const off = pos - whole;
    if (off === 0 || (off < ALIGN_SNAP && off > -ALIGN_SNAP)) {
      this.position[0] = whole;
      this.aligning = false;
      this.steps[1] = 1;
      return;
    }
    // Behind the whole frame (off < 0): step a little long to reach it; past it: a little short.
    this.aligning = true;
    this.steps[1] = off < 0 ? 1 + ALIGN_STEP : 1 - ALIGN_STEP;
  }

  get ratio(): number {
    return this.steps[2]!;
  }

  /**
   * The outputs are taken at the nominal ratio with no correction: at matched rates (after any
   * alignment) each output is an input sample, bit for bit.
   */
  get exact(): boolean {
    if (this.steps[2]! !== 1 || this.aligning) return false;
    if (this.steps[0]! !== 1) return true;
    const pos = this.position[0]!;
    return pos === Math.floor(pos);
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
    const need =
      Math.floor(this.position[0]! + (frames - 1) * this.steps[1]!) +
      this.half +
      1 -
      this.have +
      this.skipInput;
    return Math.max(need, 0);
  }

  /** Output frames readable now. */
  outputAvailable(): number {
    const pos = this.position[0]!;
    const step = this.steps[1]!;
    const ahead = this.half + 1;
    const room = this.have - ahead - pos;
    if (room < 0) return 0;
    let n = Math.floor(room / step) + 1;
    // The division may land a hair off either way; inputNeeded's test is the one that counts.
    while (n > 0 && Math.floor(pos + (n - 1) * step) + ahead > this.have) n--;
    while (Math.floor(pos + n * step) + ahead <= this.have) n++;
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
   * found with bench/web-resampler.ts). The sinc path computes each output into `frame` (the position
   * passed through the typed array, so no double crosses the call).
   */
  readInt16(out: Int16Array, offset: number, frames: number, outChannels: number): number {
    const n = Math.min(frames, this.outputAvailable());
    const ch = this.channels;
    const buf = this.buf;
    const step = this.steps[1]!;
    const sinc = this.sinc;
    const frame = this.frame;
    const mixDown = outChannels === 1 && ch > 1;
    const lanes = mixDown ? ch : outChannels;
    let pos = this.position[0]!;
    let to = offset * outChannels;
    for (let k = 0; k < n; k++) {
      const i = Math.floor(pos);
      const t = pos - i;
      const base = (i - 1) * ch;
      if (sinc) {
        this.position[0] = pos;
        this.filterFrame();
      }
      let sum = 0;
      for (let oc = 0; oc < lanes; oc++) {
        const c = oc % ch;
        let v: number;
        if (sinc) {
          v = frame[c] ?? 0;
        } else {
          const b = base + c;
          const p1 = buf[b + ch] ?? 0;
          v = p1;
          if (t !== 0) {
            // Catmull-Rom between p1 and p2; at t = 0 it is p1 exactly (the pass-through).
            const p0 = buf[b] ?? 0;
            const p2 = buf[b + 2 * ch] ?? 0;
            const p3 = buf[b + 3 * ch] ?? 0;
            v =
              p1 + 0.5 * t * (p2 - p0 + t * (2 * p0 - 5 * p1 + 4 * p2 - p3 + t * (3 * (p1 - p2) + p3 - p0)));
          }
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
    const step = this.steps[1]!;
    const sinc = this.sinc;
    const frame = this.frame;
    let pos = this.position[0]!;
    let to = offset * ch;
    for (let k = 0; k < n; k++) {
      const i = Math.floor(pos);
      const t = pos - i;
      const base = (i - 1) * ch;
      if (sinc) {
        this.position[0] = pos;
        this.filterFrame();
        for (let c = 0; c < ch; c++) out[to + c] = frame[c] ?? 0;
      } else {
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
      }
      to += ch;
      pos += step;
    }
    this.position[0] = pos;
    return n;
  }

  /**
   * The anti-alias path: the output at `position[0]` into `frame`, one value per channel. Taps are the
   * input frames i − half + 1 … i + half (i = ⌊position⌋, t = position − i); each weight is the kernel
   * at the tap's distance from the position, read from the table and linearly interpolated. Left of
   * the position the distances are t + 1, t + 2, … and right of it 1 − t, 2 − t, …: each side walks
   * the table in whole-frame strides with one interpolation fraction, so a tap costs one
   * interpolation and one multiply-add per channel. The weights are normalised to sum to 1 (the
   * table's sampling leaves the sum a little off 1, which would scale the signal and bend the
   * counter's ramp). Mono and stereo have their own loops (the bridge's ring is stereo).
   */
  private filterFrame(): void {
    const pos = this.position[0]!;
    const half = this.half;
    const i = Math.floor(pos);
    const t = pos - i;
    const table = this.table;
    const ch = this.channels;
    const buf = this.buf;
    // Left: the tap i − k (k = 0 … half − 1) lies t + k frames away; right: i + 1 + k lies 1 − t + k.
    const left = t * TABLE_STEPS;
    const leftIndex = left | 0;
    const leftFrac = left - leftIndex;
    const right = (1 - t) * TABLE_STEPS;
    const rightIndex = right | 0;
    const rightFrac = right - rightIndex;
    let sum = 0;
    if (ch === 2) {
      let acc0 = 0;
      let acc1 = 0;
      let j = leftIndex;
      let at = i * 2;
      for (let k = 0; k < half; k++) {
        const a = table[j] ?? 0;
        const w = a + leftFrac * ((table[j + 1] ?? 0) - a);
        sum += w;
        acc0 += w * (buf[at] ?? 0);
        acc1 += w * (buf[at + 1] ?? 0);
        j += TABLE_STEPS;
        at -= 2;
      }
      j = rightIndex;
      at = (i + 1) * 2;
      for (let k = 0; k < half; k++) {
        const a = table[j] ?? 0;
        const w = a + rightFrac * ((table[j + 1] ?? 0) - a);
        sum += w;
        acc0 += w * (buf[at] ?? 0);
        acc1 += w * (buf[at + 1] ?? 0);
        j += TABLE_STEPS;
        at += 2;
      }
      const norm = sum === 0 ? 0 : 1 / sum;
      this.frame[0] = acc0 * norm;
      this.frame[1] = acc1 * norm;
      return;
    }
    const weights = this.weights;
    let j = leftIndex;
    for (let k = 0; k < half; k++) {
      const a = table[j] ?? 0;
      const w = a + leftFrac * ((table[j + 1] ?? 0) - a);
      weights[k] = w;
      sum += w;
      j += TABLE_STEPS;
    }
    j = rightIndex;
    for (let k = 0; k < half; k++) {
      const a = table[j] ?? 0;
      const w = a + rightFrac * ((table[j + 1] ?? 0) - a);
      weights[half + k] = w;
      sum += w;
      j += TABLE_STEPS;
    }
    const norm = sum === 0 ? 0 : 1 / sum;
    for (let c = 0; c < ch; c++) {
      let acc = 0;
      let at = i * ch + c;
      for (let k = 0; k < half; k++) {
        acc += (weights[k] ?? 0) * (buf[at] ?? 0);
        at -= ch;
      }
      at = (i + 1) * ch + c;
      for (let k = 0; k < half; k++) {
        acc += (weights[half + k] ?? 0) * (buf[at] ?? 0);
        at += ch;
      }
      this.frame[c] = acc * norm;
    }
  }

  /**
   * Drops input frames no later output needs (all before pos − (half − 1)), keeping `pos` small and
   * exact. Going down in rate the position may already be past the input held (a step of 6 from
   * 48 kHz to 8 kHz): the frames up to it that have not arrived yet are discarded as they do.
   */
  private compact(): void {
    const pos = this.position[0]!;
    const drop = (Math.floor(pos) - (this.half - 1)) | 0; // an int32, so the fields below stay small integers
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
