/**
 * Time that does not see the host pausing: real time minus the total length of the host pauses found.
 *
 * Why: v86 keeps the guest's time with `performance.now()` (PIT, APIC, RTC periodic interrupts, TSC),
 * so when the host pauses (a stopped process, an event loop blocked in a busy wait, a laptop asleep, a
 * background tab) the guest's clock jumps by the pause when it resumes. Linux's PCM read waits with a
 * timeout of 1.1 × the buffer counted in guest jiffies, so a 0.7 s pause ended a default `arecord` with
 * EIO although no audio was missing (docs/architecture.md, "Host stalls"). Given this time instead, the
 * guest's clock stands still while the host does, as a real machine's would across a suspend.
 *
 * A pause is found two ways, both cheap: a heartbeat timer (every {@link DEFAULT_HEARTBEAT_MS}) and
 * every `now()` call note the real time; when more than {@link HOST_PAUSE_THRESHOLD_MS} has gone by
 * since the last note, everything beyond one heartbeat interval is a pause and is taken out. A guest
 * that is merely idle is not paused: the heartbeat keeps noting time while nobody asks for it.
 * `now()` allocates nothing and never goes backwards.
 */

/**
 * A gap in the host's attention longer than this is a host pause. The same 100 ms as the UHCI frame
 * clock's host-stall threshold (`DEFAULT_HOST_STALL_POLICY.thresholdMs`): above ordinary timer and GC
 * slop and Linux's iso lookahead (18 ms), below the shortest pause that hurt the guest (0.5 s).
 */
export const HOST_PAUSE_THRESHOLD_MS = 100;

/** The heartbeat's period: short enough that a busy but running host never looks paused. */
export const DEFAULT_HEARTBEAT_MS = 5;

/** A timer the heartbeat runs on (the host's `setInterval` by default; tests inject their own). */
export interface HeartbeatScheduler {
  start(callback: () => void, periodMs: number): unknown;
  stop(handle: unknown): void;
}

export interface PauseFreeTimeOptions {
  /** The host's real time in ms (default `performance.now()` as it is when the object is made). */
  realNow?: () => number;
  /** Default {@link HOST_PAUSE_THRESHOLD_MS}. */
  thresholdMs?: number;
  /** Default {@link DEFAULT_HEARTBEAT_MS}. */
  heartbeatMs?: number;
  /** Default: `setInterval` (unref'd on Node, so the heartbeat never keeps a process alive). */
  scheduler?: HeartbeatScheduler;
}

export interface PauseFreeTimeStats {
  /** Host pauses found. */
  pauses: number;
  /** Milliseconds taken out of time in all (each pause less one heartbeat interval). */
  removedMs: number;
  /** The longest single pause taken out (ms). */
  longestMs: number;
}

const hostScheduler: HeartbeatScheduler = {
  start(callback, periodMs) {
    const handle: unknown = setInterval(callback, periodMs);
    // Node: a heartbeat alone must not keep the process running. Browsers return a number.
    if (
      typeof handle === "object" &&
      handle !== null &&
      "unref" in handle &&
      typeof handle.unref === "function"
    )
      handle.unref();
    return handle;
  },
  stop(handle) {
    clearInterval(handle as Parameters<typeof clearInterval>[0]);
  },
};

export class PauseFreeTime {
  /** Pause-free milliseconds (same origin as the real clock until the first pause). Bound: pass it around. */
  readonly now: () => number;
  private readonly realNow: () => number;
  private readonly thresholdMs: number;
  private readonly heartbeatMs: number;
  private readonly scheduler: HeartbeatScheduler;
  private heartbeat: unknown;
  private running = true;
  private lastRealMs: number;
  private removed = 0;
  private pausesSeen = 0;
  private longest = 0;

  constructor(options: PauseFreeTimeOptions = {}) {
    const perf = globalThis.performance;
    // Bound to the real function now: the pause-free one may later stand in for performance.now.
    this.realNow = options.realNow ?? perf.now.bind(perf);
    this.thresholdMs = options.thresholdMs ?? HOST_PAUSE_THRESHOLD_MS;
    this.heartbeatMs = options.heartbeatMs ?? DEFAULT_HEARTBEAT_MS;
    this.scheduler = options.scheduler ?? hostScheduler;
    this.lastRealMs = this.realNow();
    this.now = () => this.note(this.realNow());
    this.heartbeat = this.scheduler.start(() => {
      this.note(this.realNow());
    }, this.heartbeatMs);
  }

  get stats(): PauseFreeTimeStats {
    return { pauses: this.pausesSeen, removedMs: this.removed, longestMs: this.longest };
  }

  /** Whether the heartbeat still runs (after dispose, only `now()` calls can find a pause). */
  get heartbeatRunning(): boolean {
    return this.running;
  }

  /** Stops the heartbeat. `now()` keeps working, still finding gaps between its own calls. */
  dispose(): void {
    if (!this.running) return;
    this.running = false;
    this.scheduler.stop(this.heartbeat);
  }

  private note(realMs: number): number {
    const gap = realMs - this.lastRealMs;
    // A real clock never runs backwards; a hostile or broken one must not make time do so either.
    if (gap > this.thresholdMs) {
      const pause = gap - this.heartbeatMs;
      this.removed += pause;
      this.pausesSeen++;
      if (pause > this.longest) this.longest = pause;
    }
    if (realMs > this.lastRealMs) this.lastRealMs = realMs;
    return this.lastRealMs - this.removed;
  }
}
