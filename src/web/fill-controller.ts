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
  private filtered = 0;
  private integral = 0;
  private correction = 0;
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

  /** Forgets the history (a new stream, or after an underrun or overrun re-primed the buffer). */
  reset(keepIntegral = false): void {
    this.primed = false;
    this.filtered = 0;
    if (!keepIntegral) {
      this.integral = 0;
      this.correction = 0;
    }
  }

  /** The smoothed fill error in seconds (positive: above target). */
  get errorSeconds(): number {
    return this.filtered;
  }

  /** The ratio in force: 1 + correction. */
  get ratio(): number {
    return this.correction === 0 ? 1 : 1 + this.correction;
  }

  /**
   * One measurement: the fill now, `dt` seconds after the previous one. Returns the ratio to use
   * (above 1: the buffer is too full, consume faster / produce less). Allocates nothing.
   */
  update(fillFrames: number, dt: number): number {
    const error = (fillFrames - this.targetFrames) / this.rate;
    if (!this.primed) {
      this.filtered = error;
      this.primed = true;
    } else {
      const a = dt >= this.smoothing ? 1 : dt / this.smoothing;
      this.filtered += (error - this.filtered) * a;
    }
    const e = this.filtered;
    const outside = e > this.deadband ? e - this.deadband : e < -this.deadband ? e + this.deadband : 0;
    let u = this.kp * outside + this.integral;
    const pinned = u > this.maxCorrection ? 1 : u < -this.maxCorrection ? -1 : 0;
    if (pinned === 0 || Math.sign(outside) !== pinned) {
      this.integral += this.ki * outside * dt;
      if (this.integral > this.maxCorrection) this.integral = this.maxCorrection;
      else if (this.integral < -this.maxCorrection) this.integral = -this.maxCorrection;
    }
    u = this.kp * outside + this.integral;
    if (u > this.maxCorrection) u = this.maxCorrection;
    else if (u < -this.maxCorrection) u = -this.maxCorrection;
    this.correction = Math.round(u / QUANTUM) * QUANTUM;
    if (this.correction === 0) this.correction = 0; // no −0
    return this.ratio;
  }
}
