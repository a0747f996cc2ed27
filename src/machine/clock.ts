/**
 * Time for devices: a clock and reusable timers.
 *
 * Timers are objects that are armed again and again (never one allocation per wake-up), because the
 * UHCI frame clock re-arms itself every millisecond.
 */
export interface Clock {
  /** Milliseconds since an arbitrary origin; may be fractional. */
  now(): number;
  /** A timer that calls `callback` (with the time it was due) once each time it is armed and due. */
  createTimer(callback: (dueMs: number) => void): Timer;
}

export interface Timer {
  /** Arms (or re-arms) the timer to fire at the absolute time `atMs`; a time in the past fires soon. */
  arm(atMs: number): void;
  disarm(): void;
  readonly armed: boolean;
}

class VirtualTimer implements Timer {
  armed = false;
  dueMs = 0;
  constructor(
    readonly callback: (dueMs: number) => void,
    private readonly clock: VirtualClock,
  ) {}
  arm(atMs: number): void {
    this.dueMs = Math.max(atMs, this.clock.now());
    this.armed = true;
  }
  disarm(): void {
    this.armed = false;
  }
}

/**
 * A clock that moves only when told: for tests, benchmarks, the software guest, and emulators that
 * bring their own notion of time (the v86 adapter advances it from v86's timer hook).
 * While advancing, each timer fires with `now()` equal to its due time, in due-time order.
 */
export class VirtualClock implements Clock {
  private currentMs: number;
  private readonly timers: VirtualTimer[] = [];

  constructor(startMs = 0) {
    this.currentMs = startMs;
  }

  now(): number {
    return this.currentMs;
  }

  createTimer(callback: (dueMs: number) => void): Timer {
    const timer = new VirtualTimer(callback, this);
    this.timers.push(timer);
    return timer;
  }

  /** Moves time forward by `ms`, firing every timer that falls due on the way. */
  advance(ms: number): void {
    this.advanceTo(this.currentMs + ms);
  }

  /** Moves time forward to `targetMs` (never backwards), firing due timers in order. */
  advanceTo(targetMs: number): void {
    if (!(targetMs >= this.currentMs)) return;
    for (;;) {
      const next = this.nextDue(targetMs);
      if (next === undefined) break;
      // Never backwards: after jumpTo a timer may be due before now (otherwise due ≥ now always).
      this.currentMs = Math.max(this.currentMs, next.dueMs);
      next.armed = false;
      next.callback(next.dueMs);
    }
    this.currentMs = targetMs;
  }

  /**
   * Moves time forward to `targetMs` without firing anything: timers due on the way stay armed, due in
   * the past, and fire at the next advance. For an adapter that resumes a restored machine at its own
   * current time: the restored frame grid is placed relative to the new time, not run through the gap.
   */
  jumpTo(targetMs: number): void {
    if (targetMs > this.currentMs) this.currentMs = targetMs;
  }

  /** The earliest armed due time, or undefined when no timer is armed. */
  nextDueMs(): number | undefined {
    return this.nextDue(Number.POSITIVE_INFINITY)?.dueMs;
  }

  private nextDue(limitMs: number): VirtualTimer | undefined {
    let best: VirtualTimer | undefined;
    for (const timer of this.timers) {
      if (timer.armed && timer.dueMs <= limitMs && (best === undefined || timer.dueMs < best.dueMs))
        best = timer;
    }
    return best;
  }
}

class RealTimer implements Timer {
  private handle: ReturnType<typeof setTimeout> | undefined;
  private dueMs = 0;
  constructor(
    private readonly callback: (dueMs: number) => void,
    private readonly clock: RealTimeClock,
  ) {}
  get armed(): boolean {
    return this.handle !== undefined;
  }
  arm(atMs: number): void {
    this.disarm();
    this.dueMs = atMs;
    this.handle = setTimeout(this.fire, Math.max(0, atMs - this.clock.now()));
  }
  disarm(): void {
    if (this.handle !== undefined) clearTimeout(this.handle);
    this.handle = undefined;
  }
  private readonly fire = (): void => {
    this.handle = undefined;
    this.callback(this.dueMs);
  };
}

/** Host real time from `performance.now()`, with Node/browser timers. */
export class RealTimeClock implements Clock {
  now(): number {
    return performance.now();
  }
  createTimer(callback: (dueMs: number) => void): Timer {
    return new RealTimer(callback, this);
  }
}
