/**
 * A `Clock` that behaves like host real time rather than an ideal virtual clock: a timer callback runs
 * when the host gets round to it, which may be later than it was due, and `now()` in the callback is
 * the late time. `lateness()` says by how much each callback is late; {@link stall} models the host
 * being blocked (GC pause, tab in the background, a long emulator slice) for a while, after which every
 * due timer fires at once with `now()` at the end of the stall — what RealTimeClock's setTimeout does.
 */
import type { Clock, Timer, TimerCallback } from "../../../src/machine/clock.ts";

class FakeHostTimer implements Timer {
  armed = false;
  dueMs = 0;
  fireAtMs = 0;
  constructor(
    readonly callback: TimerCallback,
    private readonly clock: FakeHostClock,
  ) {}
  arm(atMs: number): void {
    this.dueMs = atMs;
    this.fireAtMs = Math.max(atMs, this.clock.now()) + this.clock.lateness();
    this.armed = true;
  }
  disarm(): void {
    this.armed = false;
  }
  dispose(): void {
    this.armed = false;
  }
  armAtDue(): void {
    this.arm(this.dueMs);
  }
}

export class FakeHostClock implements Clock {
  private currentMs: number;
  private readonly timers: FakeHostTimer[] = [];
  /** Callbacks run so far. */
  wakeups = 0;
  /** Called after each timer callback (to look at the controller between wake-ups). */
  afterWakeup: (() => void) | null = null;

  constructor(
    /** How late each callback runs, drawn when the timer is armed; default never late. */
    readonly lateness: () => number = () => 0,
    startMs = 0,
  ) {
    this.currentMs = startMs;
  }

  now(): number {
    return this.currentMs;
  }

  createTimer(callback: TimerCallback): Timer {
    const timer = new FakeHostTimer(callback, this);
    this.timers.push(timer);
    return timer;
  }

  /** Lets time run to `targetMs`, each callback firing at its (late) time, in that order. */
  runTo(targetMs: number): void {
    for (;;) {
      const next = this.nextFiring(targetMs);
      if (next === undefined) break;
      this.currentMs = Math.max(this.currentMs, next.fireAtMs);
      this.fire(next);
    }
    this.currentMs = Math.max(this.currentMs, targetMs);
  }

  /** The host is blocked for `ms`: time jumps, then everything due fires late, at the new time. */
  stall(ms: number): void {
    this.currentMs += ms;
    this.runTo(this.currentMs);
  }

  private fire(timer: FakeHostTimer): void {
    timer.armed = false;
    this.wakeups++;
    timer.callback();
    this.afterWakeup?.();
  }

  private nextFiring(limitMs: number): FakeHostTimer | undefined {
    let best: FakeHostTimer | undefined;
    for (const timer of this.timers) {
      if (timer.armed && timer.fireAtMs <= limitMs && (best === undefined || timer.fireAtMs < best.fireAtMs))
        best = timer;
    }
    return best;
  }
}

/** Wraps a clock so that `after` runs after every timer callback (to measure frames per wake-up). */
export class ObservedClock implements Clock {
  constructor(
    private readonly inner: Clock,
    private readonly after: () => void,
  ) {}
  now(): number {
    return this.inner.now();
  }
  createTimer(callback: TimerCallback): Timer {
    return this.inner.createTimer(() => {
      callback();
      this.after();
    });
  }
}
