import type { Clock, Timer } from "../../machine/clock.ts";

/** A frame clock's position ({@link FrameClock.saveState}). */
export interface FrameClockState {
  readonly running: boolean;
  /**
   * Frame length in ms of the grid now: (11936 + SOFMOD) / 12000. A SOFMOD written since, whose first
   * frame has not come yet, is not here: the controller derives it again from SOFMOD on restore.
   */
  readonly periodMs: number;
  /** Frames run since RS was set. */
  readonly framesRun: number;
  /**
   * Clock time since the grid's origin: frame n (from the next one on) is due at origin + n × periodMs.
   * The origin is when RS was set or, after a SOFMOD change, where the new period's grid extends back to.
   */
  readonly sinceStartMs: number;
}

/**
 * The frame clock: frame n is due at base + n × period, on a fixed grid from the moment RS was set,
 * never re-armed from "now" (the seed, point 4: re-arming from the end of the last frame lets the
 * schedule drift, and a host that sees a periodic request late restarts its stream 10 frames out).
 *
 * After a stall it runs every overdue frame in order, at most `maxFramesPerWakeup` per wake-up; the rest
 * are carried to an immediate next wake-up, never skipped, so the frame count equals elapsed periods.
 *
 * A new period ({@link setPeriod}: the guest wrote SOFMOD while running) takes effect from the frame
 * after the one in progress (UHCI 2.1.6: "the SOF timing of the next frame will be adjusted"): the
 * frame in progress keeps its length, and the grid continues from its end with the new period — still
 * a fixed grid, never re-armed from "now".
 */
export class FrameClock {
  private readonly timer: Timer;
  /**
   * The grid: frame n is due at anchorMs + (n − anchorFrame) × periodMs, for every frame not yet run.
   * The anchor is frame 0 at RS, or the end of the last frame of the old length after a SOFMOD change.
   */
  private anchorMs = 0;
  private anchorFrame = 0;
  private periodMs = 1;
  private framesRun = 0;
  private running = false;
  /** A period written while running, waiting for its first frame (0: none). */
  private pendingPeriodMs = 0;
  /** The frame in progress when the pending period was written: the last one of the old length. */
  private pendingAfterFrame = 0;
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

  /** The frame length of the grid now, in ms (a pending {@link setPeriod} not yet in force is not). */
  get period(): number {
    return this.periodMs;
  }

  /** Starts the grid now: the first frame is due one period from now. */
  start(periodMs: number): void {
    this.running = true;
    this.periodMs = periodMs;
    this.pendingPeriodMs = 0;
    this.anchorMs = this.clock.now();
    this.anchorFrame = 0;
    this.framesRun = 0;
    this.timer.arm(this.dueMs(1));
  }

  stop(): void {
    this.running = false;
    this.pendingPeriodMs = 0;
    this.timer.disarm();
  }

  /**
   * A new frame length while running. The frame in progress now (the first one not yet due) keeps the
   * old length; every frame after it has the new one. A second change before then replaces the first.
   * While stopped it does nothing: {@link start} takes the period.
   */
  setPeriod(periodMs: number): void {
    if (!this.running) return;
    if (periodMs === this.periodMs) {
      this.pendingPeriodMs = 0;
      return;
    }
    this.pendingPeriodMs = periodMs;
    // Frames already due but not yet run (a host stall) keep their old due times too.
    this.pendingAfterFrame = this.lastDueFrame(this.clock.now()) + 1;
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
      // The grid extended back to frame 0 (a point before the anchor, or after it if the period grew).
      sinceStartMs: this.running ? this.clock.now() - (this.anchorMs - this.anchorFrame * this.periodMs) : 0,
    };
  }

  /** Puts the grid back as {@link saveState} described it, relative to the clock's time now. */
  restoreState(state: FrameClockState): void {
    this.timer.disarm();
    this.running = state.running;
    this.periodMs = state.periodMs;
    this.pendingPeriodMs = 0;
    this.framesRun = state.framesRun;
    this.anchorMs = this.clock.now() - state.sinceStartMs;
    this.anchorFrame = 0;
    if (this.running) this.timer.arm(this.dueMs(this.framesRun + 1));
  }

  /** Frames whose due time has passed but have not run yet. */
  overdueFrames(nowMs = this.clock.now()): number {
    if (!this.running) return 0;
    return Math.max(0, this.lastDueFrame(nowMs) - this.framesRun);
  }

  /** When frame n is due on the grid now. */
  private dueMs(n: number): number {
    return this.anchorMs + (n - this.anchorFrame) * this.periodMs;
  }

  /** The last frame due at `nowMs` on the grid now. */
  private lastDueFrame(nowMs: number): number {
    // A small epsilon keeps floating-point rounding from delaying a frame that is exactly due.
    return this.anchorFrame + Math.floor((nowMs - this.anchorMs) / this.periodMs + 1e-9);
  }

  /** The pending period's first frame is next: the grid continues from the end of this one. */
  private applyPendingPeriod(): void {
    this.anchorMs = this.dueMs(this.framesRun);
    this.anchorFrame = this.framesRun;
    this.periodMs = this.pendingPeriodMs;
    this.pendingPeriodMs = 0;
  }

  private readonly wake = (): void => {
    if (!this.running) return;
    const now = this.clock.now();
    let ran = 0;
    while (ran < this.maxFramesPerWakeup && this.framesRun < this.lastDueFrame(now)) {
      this.framesRun++;
      ran++;
      this.runFrame();
      if (!this.running) break;
      if (this.pendingPeriodMs !== 0 && this.framesRun >= this.pendingAfterFrame) this.applyPendingPeriod();
    }
    this.framesPerWakeup[ran]!++;
    if (this.running) this.timer.arm(this.dueMs(this.framesRun + 1));
  };
}
