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
 * What the frame clock does when the host paused (a stopped process, a blocked event loop, a background
 * tab): see docs/architecture.md, "Host stalls", for what the guest sees in each mode and why these
 * numbers.
 */
export interface HostStallPolicy {
  /**
   * Overdue time (ms) beyond which a lag is a host pause rather than a slow guest. Below it, overdue
   * frames run in order, at most `maxFramesPerWakeup` per wake-up, and an emulator adapter feeds the
   * clock in small steps (the guest refills its iso URBs in between); above it, `mode` applies.
   */
  readonly thresholdMs: number;
  /**
   * - "replay" (default): the bus ran on while the CPU stood still (what real hardware does under an
   *   SMI or a stalled CPU): up to `maxReplayFrames` overdue frames run at once, in order — the TDs the
   *   guest had queued (≤ 18 ms of audio for snd-usb-audio), then empty frames. USB time rejoins the
   *   guest's clock, which jumped by the pause too: a playback stream loses about the pause (the guest
   *   counts an underrun), a capture stream from a device that answers per packet loses nothing.
   *   Frames beyond `maxReplayFrames` are held as in "hold".
   * - "hold": the bus stood still with the CPU. The overdue frames never happen: the grid moves on by
   *   whole frames (its phase kept), FRNUM continues from where it stopped, and every TD the guest
   *   queued runs in its frame. USB time then lags the guest's clock by every pause so far.
   * docs/architecture.md, "Host stalls", has what Linux did under each in v86.
   */
  readonly mode: "hold" | "replay";
  /**
   * "replay" only: overdue frames run after a pause, at most (default 512). Linux's uhci-hcd schedules
   * iso URBs only within 1024 frames of its last look at FRNUM (UHCI_NUMFRAMES; beyond, usb_submit_urb
   * fails with -EFBIG): a replay of 1000 frames plus the lag before it and the next URB's length went
   * past that after a 5 s pause (the guest logged `cannot submit urb (err = -27)`). Half the window
   * leaves room for the in-step lag (≤ thresholdMs), the URB and the frames until the guest looks; the
   * guest's queued TDs (≤ 18 ms of audio) are long replayed by then. Not much less either: the frames
   * replayed are what uhci-hcd fast-forwards snd-usb-audio's resubmitted playback URBs through (-EXDEV,
   * each taking its audio from the buffer), and aplay's 500 ms buffer must run dry for the guest to see
   * an underrun; otherwise its write, timed out in guest jiffies that jumped with the pause, fails
   * with EIO (docs/architecture.md, "Host stalls").
   */
  readonly maxReplayFrames: number;
}

export const DEFAULT_HOST_STALL_POLICY: HostStallPolicy = {
  thresholdMs: 100,
  mode: "replay",
  maxReplayFrames: 512,
};

/** What the frame clock did about host pauses ({@link FrameClock.stallStats}). */
export interface HostStallStats {
  /** Lags beyond `thresholdMs` found (at a wake-up, or told by {@link FrameClock.notePause}). */
  readonly pauses: number;
  /** Frames that never happened (the grid moved on by them): all of a pause's in "hold" mode, those
   * beyond `maxReplayFrames` in "replay" mode. FRNUM does not count them. */
  readonly framesHeld: number;
  /** "replay": overdue frames run after a pause (in order, the guest's queued TDs in them). */
  readonly framesReplayed: number;
  /** The largest lag found, in ms. */
  readonly longestPauseMs: number;
}

/**
 * The frame clock: frame n is due at base + n × period, on a fixed grid from the moment RS was set,
 * never re-armed from "now" (the seed, point 4: re-arming from the end of the last frame lets the
 * schedule drift, and a host that sees a periodic request late restarts its stream 10 frames out).
 *
 * Overdue frames run in order, at most `maxFramesPerWakeup` per wake-up; the rest are carried to an
 * immediate next wake-up. A lag beyond {@link HostStallPolicy.thresholdMs} is a host pause: in "replay"
 * mode (default) up to `maxReplayFrames` run at once and the grid moves on by any beyond; in "hold"
 * mode it moves on by all of them (whole frames, its phase kept: those frames never happen).
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
  readonly stallPolicy: HostStallPolicy;
  /** Catching up from a pause: frames before `replayEnd` are replayed, the rest up to now held. */
  private catchingUp = false;
  private replayEnd = 0;
  /** The time USB rejoins after a pause: the host's time when it was found. */
  private rejoinMs = 0;
  private pauses = 0;
  private framesReplayed = 0;
  private framesHeld = 0;
  private longestPauseMs = 0;
  /** The host time of the last wake-up that ran a frame, and whether the frame now running is the
   * first one run since the host time moved ({@link hostTimePassed}). */
  private lastRunMs = Number.NEGATIVE_INFINITY;
  private freshFrame = true;

  constructor(
    private readonly clock: Clock,
    private readonly runFrame: () => void,
    private readonly maxFramesPerWakeup = 64,
    stallPolicy: Partial<HostStallPolicy> = {},
  ) {
    this.timer = clock.createTimer(this.wake);
    this.framesPerWakeup = new Uint32Array(maxFramesPerWakeup + 1);
    const policy = { ...DEFAULT_HOST_STALL_POLICY, ...stallPolicy };
    // A hostile or mistaken option never makes the clock spin or stop: NaN and negatives fall back.
    this.stallPolicy = {
      mode: policy.mode === "hold" ? "hold" : "replay",
      thresholdMs: policy.thresholdMs >= 0 ? policy.thresholdMs : DEFAULT_HOST_STALL_POLICY.thresholdMs,
      maxReplayFrames:
        policy.maxReplayFrames >= 0
          ? Math.floor(policy.maxReplayFrames)
          : DEFAULT_HOST_STALL_POLICY.maxReplayFrames,
    };
  }

  /** Pauses found and frames replayed or held since construction (readable stats). */
  get stallStats(): HostStallStats {
    return {
      pauses: this.pauses,
      framesHeld: this.framesHeld,
      framesReplayed: this.framesReplayed,
      longestPauseMs: this.longestPauseMs,
    };
  }

  get isRunning(): boolean {
    return this.running;
  }

  /**
   * Whether a device that answers later has had host time to answer since the frame before the one
   * being run: false for a frame replayed after a host pause and for every frame after the first one a
   * wake-up runs at the same host time (overdue frames run back to back). Async requests age only in
   * frames where it is true (AsyncQueue.endFrame): frames that pass in no host time would otherwise
   * cancel requests no device could yet have answered.
   */
  get hostTimePassed(): boolean {
    return this.freshFrame && !this.catchingUp;
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
    this.catchingUp = false;
    this.armFor(1);
  }

  stop(): void {
    this.running = false;
    this.pendingPeriodMs = 0;
    this.catchingUp = false;
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
    this.catchingUp = false;
    if (this.running) this.armFor(this.framesRun + 1);
  }

  /** Frames whose due time has passed but have not run yet. */
  overdueFrames(nowMs = this.clock.now()): number {
    if (!this.running) return 0;
    return Math.max(0, this.lastDueFrame(nowMs) - this.framesRun);
  }

  /**
   * Arms the wake-up for frame n, its due time going field to field (Timer.armAtDue): through `arm`'s
   * argument, a call V8 did not inline into the large `wake` boxed it, 16 B on every frame (seen once in
   * CI's `bench --quick`: every schedule at 16 B/frame, sampled in `wake`). `n` is an integer, which
   * crosses a call unboxed.
   */
  private armFor(n: number): void {
    this.timer.dueMs = this.anchorMs + (n - this.anchorFrame) * this.periodMs;
    this.timer.armAtDue();
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

  /**
   * For a clock's owner about to move a virtual clock to `nowMs` (an emulator adapter whose host
   * resumed; a test): if the frames would lag `nowMs` by more than the threshold, this is a host pause
   * and the policy applies while the clock advances (a virtual clock fires each frame's timer at its
   * own due time, so the frame clock cannot see the lag itself). Returns whether it is a pause.
   */
  notePause(nowMs: number): boolean {
    if (!this.running) return false;
    if (this.catchingUp) {
      if (nowMs > this.rejoinMs) this.rejoinMs = nowMs;
      return true;
    }
    return this.beginCatchUp(nowMs);
  }

  private beginCatchUp(nowMs: number): boolean {
    if (this.lastDueFrame(nowMs) <= this.framesRun) return false;
    // How late the oldest overdue frame is.
    const lagMs = nowMs - this.dueMs(this.framesRun + 1);
    if (!(lagMs > this.stallPolicy.thresholdMs)) return false;
    this.pauses++;
    if (lagMs > this.longestPauseMs) this.longestPauseMs = lagMs;
    if (this.stallPolicy.mode === "hold") {
      this.holdTo(nowMs);
      if (this.running) this.armFor(this.framesRun + 1);
      return true;
    }
    this.catchingUp = true;
    this.replayEnd = this.framesRun + this.stallPolicy.maxReplayFrames;
    this.rejoinMs = nowMs;
    return true;
  }

  /**
   * The frames due by `nowMs` not yet run never happen: the grid moves on by whole frames (its phase
   * kept), so the next frame is due within one period of `nowMs`; FRNUM does not count them.
   */
  private holdTo(nowMs: number): void {
    const held = this.lastDueFrame(nowMs) - this.framesRun;
    if (held <= 0) return;
    this.anchorMs += held * this.periodMs;
    this.framesHeld += held;
  }

  private readonly wake = (): void => {
    if (!this.running) return;
    const now = this.clock.now();
    // On a host clock the wake-up itself sees the lag; on a virtual clock notePause() saw it. The lag
    // is compared here, not in beginCatchUp: passing the fractional `now` to a call V8 does not inline
    // boxes it, 16 B on every frame (bench allocations); the call is made only for a pause.
    if (!this.catchingUp && now - this.dueMs(this.framesRun + 1) > this.stallPolicy.thresholdMs)
      this.beginCatchUp(now);
    const target = this.catchingUp && this.rejoinMs > now ? this.rejoinMs : now;
    let due = this.lastDueFrame(now);
    let ran = 0;
    this.freshFrame = now !== this.lastRunMs;
    while (ran < this.maxFramesPerWakeup && this.framesRun < due) {
      if (this.catchingUp && this.framesRun >= this.replayEnd) {
        this.holdTo(target);
        break;
      }
      this.framesRun++;
      ran++;
      if (this.catchingUp) this.framesReplayed++;
      this.lastRunMs = now;
      this.runFrame();
      this.freshFrame = false;
      if (!this.running) break;
      if (this.pendingPeriodMs !== 0 && this.framesRun >= this.pendingAfterFrame) {
        this.applyPendingPeriod();
        due = this.lastDueFrame(now);
      }
    }
    if (this.catchingUp && this.framesRun >= this.lastDueFrame(target)) this.catchingUp = false;
    this.framesPerWakeup[ran]!++;
    if (this.running) this.armFor(this.framesRun + 1);
  };
}
