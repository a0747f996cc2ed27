/**
 * The drift controller: keeps the frames queued between two clocks (the sound card's and the USB frame
 * clock) near a target by nudging the resampling ratio, never by dropping or repeating frames — and
 * leaves the ratio at exactly 1 whenever the fill is within a tolerance band of the target, so at
 * matched rates the stream passes through bit for bit (issue 11: "bit-exact where the rates match").
 *
 * Three modes, with hysteresis:
 * - **exact**: the ratio is exactly 1. The measured fill is a sawtooth (the worklet moves 128-frame
 *   render quanta, the USB side one packet per ms, the emulator runs frames in bursts and late, and a
 *   main-thread stall of 20–50 ms swings it by as much), so it is smoothed (first-order low-pass,
 *   `smoothingSeconds`, τ = 0.25 s) and only a smoothed error beyond the band (`exactBandSeconds`,
 *   default 0.4 × the target, at most 6 ms, at least one render quantum plus one USB frame) for `engageSeconds`
 *   (1 s) on end counts as drift: a stall's spike decays long before, real drift (≤ 1 ms per second
 *   at 1000 ppm) does not.
 * - **tracking**: a PI controller on the smoothed error e (seconds of audio, fill − target) sets the
 *   correction u; the ratio is 1 + u. With e in seconds, de/dt = drift − u, so the loop is
 *   s² + kp·s + ki: kp = 0.7 /s, ki = 0.25 /s² give ω = 0.5 rad/s, ζ = 0.7 — the drift learned within
 *   ~10 s, slow enough that the smoothing and the sawtooth do not reach the ratio. u is bounded to
 *   ±`maxCorrection` (2000 ppm: twice the ±1000 ppm the bridge is tested at, a pitch change of 3.5
 *   cents); the integral stops while pinned (anti-windup) and is kept across modes (the drift learned
 *   last time is where the next tracking span starts).
 * - **releasing**: once |e| is under `releaseSeconds` (a quarter of the band), u glides back to 0
 *   and the mode is exact again. The resampler then moves its read position to a whole input frame
 *   (Resampler.syncRatio) and the output is the input again.
 * u never jumps: it moves by at most `slewPerSecond` (2000 ppm per second) towards where the mode
 * wants it, so engaging and releasing are glides, not steps. u is rounded to 0.1 ppm, and 0 gives back
 * a ratio of exactly 1.
 */
export interface FillControllerOptions {
  /** Frames per second of the buffer being controlled. */
  readonly rate: number;
  readonly targetFrames: number;
  /** Half-width of the band around the target where the ratio stays exactly 1, in seconds. */
  readonly exactBandSeconds?: number;
  /** Tracking lets go when the smoothed error is back within this, in seconds. Default a quarter of the band. */
  readonly releaseSeconds?: number;
  /** How long the smoothed error must stay beyond the band before tracking starts, in seconds. Default 1. */
  readonly engageSeconds?: number;
  readonly smoothingSeconds?: number;
  readonly kp?: number;
  readonly ki?: number;
  readonly maxCorrection?: number;
  /** The most the correction moves per second. Default `maxCorrection` per second. */
  readonly slewPerSecond?: number;
}

export const DEFAULT_MAX_CORRECTION = 2000e-6;
const QUANTUM = 1e-7;
/**
 * The default band is 0.4 × the target but at most 6 ms: what the band must cover (the smoothed
 * sawtooth, the message transport's estimate) does not grow with the target, and every ms the fill
 * may sag below the target is a ms less for a main-thread stall to eat before the speaker runs dry.
 */
const MAX_DEFAULT_BAND = 0.006;

/** The ratio is exactly 1. */
export const MODE_EXACT = 0;
/** The fill left the band: the PI controller corrects. */
export const MODE_TRACKING = 1;
/** Back near the target: the correction glides to 0. */
export const MODE_RELEASING = 2;

// Slots of FillController.state (a typed array, so the per-call updates store no boxed doubles).
const S_ERROR = 0;
const S_INTEGRAL = 1;
const S_CORRECTION = 2;
const S_OUTSIDE = 3;

export class FillController {
  readonly rate: number;
  readonly targetFrames: number;
  /** The exact band's half-width, in seconds. */
  readonly band: number;
  readonly release: number;
  readonly engage: number;
  readonly maxCorrection: number;
  private readonly smoothing: number;
  private readonly kp: number;
  private readonly ki: number;
  private readonly slew: number;
  /**
   * The ratio in force, in a typed array rather than a return value: a double returned or passed
   * across a call V8 does not inline is boxed (16 bytes each), and this runs every 1 ms. The
   * resampler reads it from here (Resampler.bindRatio).
   */
  readonly ratioCell = new Float64Array([1]);
  private secondsPerUnit = 0.001;
  /** [smoothed error (s), integral, correction, seconds the error has been beyond the band]. */
  private readonly state = new Float64Array(4);
  private primed = false;
  private modeValue = MODE_EXACT;
  private spans = 0;

  constructor(options: FillControllerOptions) {
    this.rate = options.rate;
    this.targetFrames = options.targetFrames;
    const sawtooth = (128 + options.rate / 1000) / options.rate;
    this.band =
      options.exactBandSeconds ??
      Math.max(sawtooth, Math.min((0.4 * options.targetFrames) / options.rate, MAX_DEFAULT_BAND));
    this.release = options.releaseSeconds ?? this.band / 4;
    this.engage = options.engageSeconds ?? 1;
    this.smoothing = options.smoothingSeconds ?? 0.25;
    this.kp = options.kp ?? 0.7;
    this.ki = options.ki ?? 0.25;
    this.maxCorrection = options.maxCorrection ?? DEFAULT_MAX_CORRECTION;
    this.slew = options.slewPerSecond ?? this.maxCorrection;
  }

  /** The unit of `update`'s `elapsed`: frames at this rate (the guest's, for a packet's frames). */
  setTimeBase(unitsPerSecond: number): void {
    this.secondsPerUnit = 1 / unitsPerSecond;
  }

  /**
   * Forgets the history (a new stream), or after an underrun or overrun re-primed the buffer only the
   * smoothed fill (`keepCorrection`: the learned drift, the correction and the mode stay).
   */
  reset(keepCorrection = false): void {
    this.primed = false;
    this.state[S_ERROR] = 0;
    this.state[S_OUTSIDE] = 0;
    if (!keepCorrection) {
      this.state[S_INTEGRAL] = 0;
      this.state[S_CORRECTION] = 0;
      this.ratioCell[0] = 1;
      this.modeValue = MODE_EXACT;
    }
  }

  /** The smoothed fill error in seconds (positive: above target). */
  get errorSeconds(): number {
    return this.state[S_ERROR] ?? 0;
  }

  /** The ratio in force: 1 + correction. */
  get ratio(): number {
    return this.ratioCell[0] ?? 1;
  }

  /** MODE_EXACT, MODE_TRACKING or MODE_RELEASING. */
  get mode(): number {
    return this.modeValue;
  }

  /** Times tracking started (the fill left the band). */
  get trackingSpans(): number {
    return this.spans;
  }

  /**
   * One measurement: the fill now (whole frames), `elapsed` time units (see setTimeBase) after the
   * previous one. Sets the ratio to use in {@link ratioCell} (above 1: the buffer is too full, consume
   * faster / produce less). Allocates nothing.
   */
  update(fillFrames: number, elapsed: number): void {
    const state = this.state;
    const dt = elapsed > 0 ? elapsed * this.secondsPerUnit : 0;
    const error = (fillFrames - this.targetFrames) / this.rate;
    let e = error;
    if (this.primed) {
      const a = dt >= this.smoothing ? 1 : dt / this.smoothing;
      e = state[S_ERROR]! + (error - state[S_ERROR]!) * a;
    }
    this.primed = true;
    state[S_ERROR] = e;
    const size = e < 0 ? -e : e;
    const max = this.maxCorrection;
    let goal = 0;
    if (this.modeValue === MODE_EXACT) {
      if (size > this.band) {
        state[S_OUTSIDE] = state[S_OUTSIDE]! + dt;
        if (state[S_OUTSIDE]! >= this.engage) {
          this.modeValue = MODE_TRACKING;
          this.spans++;
          state[S_OUTSIDE] = 0;
        }
      } else {
        state[S_OUTSIDE] = 0;
      }
    } else if (this.modeValue === MODE_RELEASING && size > this.band) {
      this.modeValue = MODE_TRACKING;
    }
    if (this.modeValue === MODE_TRACKING) {
      // The integral stays in the typed array rather than a local: a local updated in a branch and
      // used after it was boxed by V8 (16 bytes per call, measured in src/web/allocation.test.ts).
      const trial = this.kp * e + state[S_INTEGRAL]!;
      const pinned = trial > max ? 1 : trial < -max ? -1 : 0;
      if (pinned === 0 || Math.sign(e) !== pinned) {
        const next = state[S_INTEGRAL]! + this.ki * e * dt;
        state[S_INTEGRAL] = next > max ? max : Math.max(next, -max);
      }
      goal = this.kp * e + state[S_INTEGRAL]!;
      goal = goal > max ? max : Math.max(goal, -max);
      if (size < this.release) this.modeValue = MODE_RELEASING;
    }
    // Glide towards the goal.
    let u = state[S_CORRECTION]!;
    const room = this.slew * dt;
    u = goal > u + room ? u + room : Math.max(goal, u - room);
    const correction = Math.round(u / QUANTUM) * QUANTUM;
    state[S_CORRECTION] = correction;
    if (this.modeValue === MODE_RELEASING && correction === 0) this.modeValue = MODE_EXACT;
    this.ratioCell[0] = correction === 0 ? 1 : 1 + correction;
  }
}
