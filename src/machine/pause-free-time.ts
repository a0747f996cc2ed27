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
 *
 * A slow host is not a pause, and a leash ({@link PauseFreeTime.leash}) handles it: a part of the
 * machine that must keep pace with the guest's clock (the v86 adapter's USB frames) holds time to a
 * limit, and `now()` never passes it — the time beyond is taken out as held time (`heldMs`), so the
 * guest's clock waits for the bus instead of running ahead of it. Why: under load v86's timer hook, where
 * USB frames run, came up to 335 ms apart while the guest kept reading time inside its slices; USB time
 * then lagged beyond the frame clock's 100 ms host-pause threshold, the overdue frames were replayed at
 * once, and playback frames beyond snd-usb-audio's ~20 ms of queued URBs carried nothing (issue 12, a
 * stick read and written while three streams ran; docs/architecture.md, "Host stalls").
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
  /** Milliseconds taken out because a leash held time (a slow host: the guest waited for the bus). */
  heldMs: number;
  /** Times time reached a leash's limit and stood there (each run of held calls counts once). */
  holds: number;
}

/**
 * A limit on a {@link PauseFreeTime}, held by one part of the machine ({@link PauseFreeTime.leash}). Time
 * never passes the lowest limit held; it never goes backwards either, so a limit below the time already
 * returned holds time where it is.
 */
export interface TimeLeash {
  /** From now on time does not pass `limitMs` (+Infinity or NaN: this leash holds nothing). */
  hold(limitMs: number): void;
  /** This leash holds nothing until its next {@link hold} (its owner's machine stopped). */
  release(): void;
  /** Releases the leash for good: it is forgotten, and holding it again does nothing. */
  dispose(): void;
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
  /** Held time so far, and how many runs of holding (see {@link PauseFreeTimeStats}). */
  private held = 0;
  private holdsSeen = 0;
  private holding = false;
  /** The last time returned: a limit below it holds time there (time never goes backwards). */
  private lastOut: number;
  /** The lowest limit of the engaged leashes (+Infinity: none), recomputed when one changes. */
  private limit = Number.POSITIVE_INFINITY;
  private readonly leashes: { limitMs: number }[] = [];

  constructor(options: PauseFreeTimeOptions = {}) {
    const perf = globalThis.performance;
    // Bound to the real function now: the pause-free one may later stand in for performance.now.
    this.realNow = options.realNow ?? perf.now.bind(perf);
    this.thresholdMs = options.thresholdMs ?? HOST_PAUSE_THRESHOLD_MS;
    this.heartbeatMs = options.heartbeatMs ?? DEFAULT_HEARTBEAT_MS;
    this.scheduler = options.scheduler ?? hostScheduler;
    this.lastRealMs = this.realNow();
    this.lastOut = this.lastRealMs;
    this.now = () => this.note(this.realNow());
    this.heartbeat = this.scheduler.start(() => {
      this.note(this.realNow());
    }, this.heartbeatMs);
  }

  get stats(): PauseFreeTimeStats {
    return {
      pauses: this.pausesSeen,
      removedMs: this.removed,
      longestMs: this.longest,
      heldMs: this.held,
      holds: this.holdsSeen,
    };
  }

  /**
   * A new leash on this time, holding nothing until its owner calls `hold`. Several may be held at once
   * (two emulators loaded in one realm share one time, since v86 binds its clock per module): time waits
   * for the lowest limit, so one machine's bus holds every guest of the realm, and a machine that stops
   * must release its leash (the v86 adapter does on "emulator-stopped" and detach).
   */
  leash(): TimeLeash {
    const entry = { limitMs: Number.POSITIVE_INFINITY };
    let disposed = false;
    this.leashes.push(entry);
    return {
      hold: (limitMs) => {
        if (disposed) return;
        // NaN (a broken caller) holds nothing rather than freezing time.
        entry.limitMs = limitMs >= Number.NEGATIVE_INFINITY ? limitMs : Number.POSITIVE_INFINITY;
        this.relimit();
      },
      release: () => {
        if (disposed) return;
        entry.limitMs = Number.POSITIVE_INFINITY;
        this.relimit();
      },
      dispose: () => {
        if (disposed) return;
        disposed = true;
        this.leashes.splice(this.leashes.indexOf(entry), 1);
        this.relimit();
      },
    };
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

  /** The lowest engaged limit, recomputed when a leash changes (not per call; allocates nothing). */
  private relimit(): void {
    let limit = Number.POSITIVE_INFINITY;
    for (let i = 0; i < this.leashes.length; i++) {
      const leashLimit = this.leashes[i]!.limitMs;
      if (leashLimit < limit) limit = leashLimit;
    }
    this.limit = limit;
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
    let t = this.lastRealMs - this.removed - this.held;
    // A leash: beyond its limit (never below what was already returned) time is held, and what it held
    // is taken out like a pause, so time resumes from the limit when the limit moves, without a jump.
    const cap = Math.max(this.limit, this.lastOut);
    if (t > cap) {
      this.held += t - cap;
      t = cap;
      if (!this.holding) this.holdsSeen++;
      this.holding = true;
    } else {
      // Rounding in the subtractions must not move time back by an ulp after a hold.
      if (t < this.lastOut) t = this.lastOut;
      // Still at the limit (the same instant asked twice) is the same hold; a nanosecond below ends it.
      if (t < cap - 1e-6) this.holding = false;
    }
    this.lastOut = t;
    return t;
  }
}
