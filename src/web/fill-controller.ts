/**
 * The drift controller: keeps the frames queued between two clocks (the sound card's and the USB frame
 * clock) near a target by nudging the resampling ratio, never by dropping or repeating frames.
 *
 * A PI controller on the fill error, in seconds of audio:
 * - the measured fill is smoothed (first-order low-pass, `smoothingSeconds`): it is a sawtooth, since
 *   the worklet moves 128-frame render quanta while the USB side moves one packet per ms, and the
 *   emulator runs frames in bursts;
 * - a dead band around the target (`deadbandSeconds`, by default one render quantum plus one USB
 *   frame: the sawtooth's own span) where the error counts as zero, so with matched rates and no
 *   drift the ratio stays exactly 1 and the stream passes through bit for bit;
 * - correction u = kp·e + ki·∫e, bounded to ±`maxCorrection` (default 2000 ppm: twice the ±1000 ppm
 *   the bridge is tested at, a pitch change of 3.5 cents, well below what anyone hears); the integral
 *   stops while the output is pinned at the bound (anti-windup);
 * - with e in seconds, de/dt = drift − u, so the loop is s² + kp·s + ki: kp = 0.7 /s, ki = 0.25 /s²
 *   give ω = 0.5 rad/s, ζ = 0.7 — settled within ~10 s, and slow enough that the smoothing (τ = 0.25 s)
 *   and the sawtooth do not reach the ratio.
 * The ratio is 1 + u, u rounded to 0.1 ppm (so a vanishing integral gives back exactly 1).
 */
export interface FillControllerOptions {
  /** Frames per second of the buffer being controlled. */
  readonly rate: number;
  readonly targetFrames: number;
  readonly deadbandSeconds?: number;
  readonly smoothingSeconds?: number;
  readonly kp?: number;
  readonly ki?: number;
  readonly maxCorrection?: number;
}

export const DEFAULT_MAX_CORRECTION = 2000e-6;
const QUANTUM = 1e-7;

export class FillController {
  readonly rate: number;
  readonly targetFrames: number;
  readonly deadband: number;
  readonly maxCorrection: number;
  private readonly smoothing: number;
  private readonly kp: number;
  private readonly ki: number;
  /**
   * The ratio in force, in a typed array rather than a return value: a double returned or passed
   * across a call V8 does not inline is boxed (16 bytes each), and this runs every 1 ms. The
   * resampler reads it from here (Resampler.bindRatio).
   */
  readonly ratioCell = new Float64Array([1]);
  private secondsPerUnit = 0.001;
  /** [smoothed error (s), integral, correction]: a typed array, so the per-call updates store no boxed doubles. */
  private readonly state = new Float64Array(3);
  private primed = false;

  constructor(options: FillControllerOptions) {
    this.rate = options.rate;
    this.targetFrames = options.targetFrames;
    this.deadband = options.deadbandSeconds ?? (128 + options.rate / 1000) / options.rate;
    this.smoothing = options.smoothingSeconds ?? 0.25;
    this.kp = options.kp ?? 0.7;
    this.ki = options.ki ?? 0.25;
    this.maxCorrection = options.maxCorrection ?? DEFAULT_MAX_CORRECTION;
  }

  /** The unit of `update`'s `elapsed`: frames at this rate (the guest's, for a packet's frames). */
  setTimeBase(unitsPerSecond: number): void {
    this.secondsPerUnit = 1 / unitsPerSecond;
  }

  /** Forgets the history (a new stream, or after an underrun or overrun re-primed the buffer). */
  reset(keepIntegral = false): void {
    this.primed = false;
    this.state[0] = 0;
    if (!keepIntegral) {
      this.state[1] = 0;
      this.state[2] = 0;
      this.ratioCell[0] = 1;
    }
  }

  /** The smoothed fill error in seconds (positive: above target). */
  get errorSeconds(): number {
    return this.state[0] ?? 0;
  }

  /** The ratio in force: 1 + correction. */
  get ratio(): number {
    return this.ratioCell[0] ?? 1;
  }

  /**
   * One measurement: the fill now (whole frames), `elapsed` time units (see setTimeBase) after the
   * previous one. Sets the ratio to use in {@link ratioCell} (above 1: the buffer is too full, consume
   * faster / produce less). Allocates nothing.
   */
  update(fillFrames: number, elapsed: number): void {
    const state = this.state;
    const dt = elapsed * this.secondsPerUnit;
    const error = (fillFrames - this.targetFrames) / this.rate;
    let e = error;
    if (this.primed) {
      const a = dt >= this.smoothing ? 1 : dt / this.smoothing;
      e = state[0]! + (error - state[0]!) * a;
    }
    this.primed = true;
    state[0] = e;
    const outside = e > this.deadband ? e - this.deadband : e < -this.deadband ? e + this.deadband : 0;
    const max = this.maxCorrection;
    let integral = state[1]!;
    const trial = this.kp * outside + integral;
    const pinned = trial > max ? 1 : trial < -max ? -1 : 0;
    if (pinned === 0 || Math.sign(outside) !== pinned) {
      integral += this.ki * outside * dt;
      integral = integral > max ? max : Math.max(integral, -max);
      state[1] = integral;
    }
    let u = this.kp * outside + integral;
    u = u > max ? max : Math.max(u, -max);
    const correction = Math.round(u / QUANTUM) * QUANTUM;
    state[2] = correction;
    this.ratioCell[0] = correction === 0 ? 1 : 1 + correction;
  }
}
