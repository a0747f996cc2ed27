import type { Clock, Timer } from "../../machine/clock.ts";

/** A frame clock's position ({@link FrameClock.saveState}). */
export interface FrameClockState {
  readonly running: boolean;
  /** Frame length in ms: (11936 + SOFMOD) / 12000 as SOFMOD was when RS was set. */
  readonly periodMs: number;
  /** Frames run since RS was set. */
  readonly framesRun: number;
  /** Clock time since the grid started (RS set); frame n is due at start + n × periodMs. */
  readonly sinceStartMs: number;
}

/**
 * The frame clock: frame n is due at base + n × period, on a fixed grid from the moment RS was set,
 * never re-armed from "now" (the seed, point 4: re-arming from the end of the last frame lets the
 * schedule drift, and a host that sees a periodic request late restarts its stream 10 frames out).
 *
 * After a stall it runs every overdue frame in order, at most `maxFramesPerWakeup` per wake-up; the rest
 * are carried to an immediate next wake-up, never skipped, so the frame count equals elapsed periods.
 */
export class FrameClock {
  private readonly timer: Timer;
  private baseMs = 0;
  private periodMs = 1;
  private framesRun = 0;
  private running = false;
  /** How many frames each wake-up ran, for benchmarks (index = frames, capped at the last bucket). */
  readonly framesPerWakeup: Uint32Array;

  constructor(
    private readonly clock: Clock,
    private readonly runFrame: () => void,
    private readonly maxFramesPerWakeup = 64,
  ) {
    this.timer = clock.createTimer(this.wake);
    this.framesPerWakeup = new Uint32Array(maxFramesPerWakeup + 1);
  }

  get isRunning(): boolean {
    return this.running;
  }

  /** Frames run since start(). */
  get frames(): number {
    return this.framesRun;
  }

  /** Starts the grid now: the first frame is due one period from now. */
  start(periodMs: number): void {
    this.running = true;
    this.periodMs = periodMs;
    this.baseMs = this.clock.now();
    this.framesRun = 0;
    this.timer.arm(this.baseMs + periodMs);
  }

  stop(): void {
    this.running = false;
    this.timer.disarm();
  }

  /**
   * The grid as data, relative to the clock: a snapshot taken at clock time T restored at clock time T'
   * resumes with the next frame due exactly as far from T' as it was from T (the grid phase), and with
   * any frames that were overdue at T still overdue.
   */
  saveState(): FrameClockState {
    return {
      running: this.running,
      periodMs: this.periodMs,
      framesRun: this.framesRun,
      sinceStartMs: this.running ? this.clock.now() - this.baseMs : 0,
    };
  }

  /** Puts the grid back as {@link saveState} described it, relative to the clock's time now. */
  restoreState(state: FrameClockState): void {
    this.timer.disarm();
    this.running = state.running;
    this.periodMs = state.periodMs;
    this.framesRun = state.framesRun;
    this.baseMs = this.clock.now() - state.sinceStartMs;
    if (this.running) this.timer.arm(this.baseMs + (this.framesRun + 1) * this.periodMs);
  }

  /** Frames whose due time has passed but have not run yet. */
  overdueFrames(nowMs = this.clock.now()): number {
    if (!this.running) return 0;
    // A small epsilon keeps floating-point rounding from delaying a frame that is exactly due.
    const due = Math.floor((nowMs - this.baseMs) / this.periodMs + 1e-9);
    return Math.max(0, due - this.framesRun);
  }

  private readonly wake = (): void => {
    if (!this.running) return;
    const batch = Math.min(this.overdueFrames(), this.maxFramesPerWakeup);
    this.framesPerWakeup[batch]!++;
    for (let i = 0; i < batch; i++) {
      this.framesRun++;
      this.runFrame();
      if (!this.running) return;
    }
    this.timer.arm(this.baseMs + (this.framesRun + 1) * this.periodMs);
  };
}
