/**
 * Time for devices: a clock and reusable timers.
 *
 * Timers are objects that are armed again and again, because the UHCI frame clock re-arms itself
 * every millisecond. A clock keeps only armed timers, in a heap: arming and firing cost O(log armed)
 * however many timers were ever made, and a disarmed or disposed timer is forgotten by its clock.
 * Re-arming allocates nothing in VirtualClock. RealTimeClock makes no host timer object per re-arm on
 * Node (one 1 ms `Timeout` re-armed in place); Node's own timer dispatch and `performance.now()` still
 * allocate a few hundred bytes per wake-up, which no clock written in JavaScript can avoid.
 */

/**
 * What a timer calls when it is due. It gets no argument: the time it was due is the timer's
 * {@link Timer.dueMs}. (A fractional time — a SOFMOD period, an emulator's clock origin, an answer due
 * 0.5 ms out — passed through a call V8 cannot inline is a new 16-byte heap object on every wake-up.)
 */
export type TimerCallback = () => void;

export interface Clock {
  /** Milliseconds since an arbitrary origin; may be fractional. */
  now(): number;
  /** A timer that calls `callback` once each time it is armed and due. */
  createTimer(callback: TimerCallback): Timer;
}

export interface Timer {
  /**
   * Arms (or re-arms) the timer to fire at the absolute time `atMs`; a time in the past fires soon,
   * NaN never (as +Infinity). Throws if the timer was disposed (a programming error in the host).
   */
  arm(atMs: number): void;
  disarm(): void;
  /** Disarms the timer for good: its owner is going away. Arming it again throws; disposing twice is fine. */
  dispose(): void;
  readonly armed: boolean;
  /**
   * When the timer is (or was last) due: the time it was armed for, or the clock's time then if that was
   * in the past. Inside its callback, the time it fired for. Written by a caller only just before
   * {@link armAtDue}.
   */
  dueMs: number;
  /**
   * Arms the timer for the time just written into {@link dueMs}: `timer.dueMs = t; timer.armAtDue()`
   * is `timer.arm(t)` without passing `t` through a call. For hot paths: V8 turns a fractional number
   * passed to a call it did not inline into a new 16-byte heap object, and whether it inlines `arm`
   * into a large caller depends on what it compiled before (measured: the async audio schedule
   * allocated 16 B per frame in 3 runs of 4 through `arm`, never through `armAtDue`).
   */
  armAtDue(): void;
}

/**
 * What both clocks keep for a timer: its due time, its creation order (timers due at the same time
 * fire in the order they were created) and its place in the clock's queue (−1: not armed).
 *
 * No time value crosses a call inside a clock: a number that is not a small integer (any fractional
 * due time — a SOFMOD period, the v86 adapter's clock origin, an async answer 0.5 ms out) is boxed in a
 * new 16-byte heap object when passed to or returned from a function V8 did not inline. So `arm` only
 * stores its argument (small enough to be inlined into most callers; `armAtDue` for the rest), `place`
 * reads the clock's time from a field and clamps in place, and a fired timer's callback finds its due
 * time in `dueMs`, not in an argument (see {@link TimerCallback}).
 */
abstract class QueuedTimer implements Timer {
  dueMs = 0;
  /** Index in the queue's heap, −1 when not armed. */
  slot = -1;
  protected disposed = false;

  constructor(
    readonly callback: TimerCallback,
    readonly order: number,
    protected readonly queue: TimerQueue,
  ) {}

  get armed(): boolean {
    return this.slot >= 0;
  }

  arm(atMs: number): void {
    // Kept small, so that V8 inlines it where it can and the time goes straight into the field.
    this.dueMs = atMs;
    this.place();
  }

  armAtDue(): void {
    this.place();
  }

  /** Validates `dueMs` as just set (clamped to now; NaN never fires) and queues the timer. */
  protected abstract place(): void;

  disarm(): void {
    if (this.slot < 0) return;
    this.queue.remove(this);
  }

  dispose(): void {
    this.disarm();
    this.disposed = true;
  }
}

/**
 * The armed timers of one clock, earliest (due time, creation order) first: a binary min-heap in an
 * array that only grows (to the most timers ever armed at once), so arming allocates nothing in steady
 * state.
 */
class TimerQueue {
  private readonly heap: (QueuedTimer | null)[] = [];
  private count = 0;
  private created = 0;

  /** The next creation order number. */
  nextOrder(): number {
    return this.created++;
  }

  get size(): number {
    return this.count;
  }

  /** The earliest armed timer, or null. */
  first(): QueuedTimer | null {
    return this.count > 0 ? this.heap[0]! : null;
  }

  /** Adds the timer, or moves it after its due time changed. */
  schedule(timer: QueuedTimer): void {
    let i = timer.slot;
    if (i < 0) {
      i = this.count++;
      if (i === this.heap.length) this.heap.push(timer);
      else this.heap[i] = timer;
      timer.slot = i;
    }
    this.siftDown(this.siftUp(i));
  }

  remove(timer: QueuedTimer): void {
    const i = timer.slot;
    if (i < 0) return;
    timer.slot = -1;
    const lastIndex = --this.count;
    const last = this.heap[lastIndex]!;
    this.heap[lastIndex] = null;
    if (i === lastIndex) return;
    this.heap[i] = last;
    last.slot = i;
    this.siftDown(this.siftUp(i));
  }

  private static before(a: QueuedTimer, b: QueuedTimer): boolean {
    return a.dueMs < b.dueMs || (a.dueMs === b.dueMs && a.order < b.order);
  }

  private siftUp(start: number): number {
    const heap = this.heap;
    const timer = heap[start]!;
    let i = start;
    while (i > 0) {
      const parentIndex = (i - 1) >> 1;
      const parent = heap[parentIndex]!;
      if (!TimerQueue.before(timer, parent)) break;
      heap[i] = parent;
      parent.slot = i;
      i = parentIndex;
    }
    heap[i] = timer;
    timer.slot = i;
    return i;
  }

  private siftDown(start: number): void {
    const heap = this.heap;
    const count = this.count;
    const timer = heap[start]!;
    let i = start;
    for (;;) {
      const left = 2 * i + 1;
      if (left >= count) break;
      const right = left + 1;
      let child = left;
      if (right < count && TimerQueue.before(heap[right]!, heap[left]!)) child = right;
      const smaller = heap[child]!;
      if (!TimerQueue.before(smaller, timer)) break;
      heap[i] = smaller;
      smaller.slot = i;
      i = child;
    }
    heap[i] = timer;
    timer.slot = i;
  }
}

/**
 * A VirtualClock's time, shared with its timers so that arming one reads it from a field. The field is
 * initialised with a number where it is declared: a field declared without one (or a constructor
 * parameter property) starts as `undefined` under ES2022 class-field semantics, V8 then keeps it as a
 * tagged field, and every fractional time stored into it is a new 16-byte heap number.
 */
class VirtualTime {
  ms = 0;
  constructor(ms: number) {
    this.ms = ms;
  }
}

class VirtualTimer extends QueuedTimer {
  constructor(
    callback: TimerCallback,
    queue: TimerQueue,
    private readonly time: VirtualTime,
  ) {
    super(callback, queue.nextOrder(), queue);
  }

  protected place(): void {
    if (this.disposed) throw new Error("Timer.arm: the timer was disposed");
    const now = this.time.ms;
    const atMs = this.dueMs;
    // Not Math.max: NaN must not reach the heap (it compares false both ways and breaks its order).
    if (!(atMs >= now)) this.dueMs = atMs < now ? now : Number.POSITIVE_INFINITY;
    this.queue.schedule(this);
  }
}

/**
 * A clock that moves only when told: for tests, benchmarks, the software guest, and emulators that
 * bring their own notion of time (the v86 adapter advances it from v86's timer hook).
 * While advancing, each timer fires with `now()` equal to its due time, in due-time order (timers due
 * at the same time in the order they were created).
 */
export class VirtualClock implements Clock {
  private readonly time: VirtualTime;
  private readonly timers = new TimerQueue();

  constructor(startMs = 0) {
    this.time = new VirtualTime(startMs);
  }

  now(): number {
    return this.time.ms;
  }

  createTimer(callback: TimerCallback): Timer {
    return new VirtualTimer(callback, this.timers, this.time);
  }

  /** Timers armed now (for tests: the clock holds nothing else). */
  get armedTimers(): number {
    return this.timers.size;
  }

  /** Moves time forward by `ms`, firing every timer that falls due on the way. */
  advance(ms: number): void {
    this.advanceTo(this.time.ms + ms);
  }

  /** Moves time forward to `targetMs` (never backwards), firing due timers in order. */
  advanceTo(targetMs: number): void {
    const time = this.time;
    if (!(targetMs >= time.ms)) return;
    for (;;) {
      const next = this.timers.first();
      if (next === null || !(next.dueMs <= targetMs)) break;
      this.timers.remove(next);
      // Never backwards: after jumpTo a timer may be due before now (otherwise due ≥ now always).
      if (next.dueMs > time.ms) time.ms = next.dueMs;
      next.callback();
    }
    time.ms = targetMs;
  }

  /**
   * Moves time forward to `targetMs` without firing anything: timers due on the way stay armed, due in
   * the past, and fire at the next advance. For an adapter that resumes a restored machine at its own
   * current time: the restored frame grid is placed relative to the new time, not run through the gap.
   */
  jumpTo(targetMs: number): void {
    if (targetMs > this.time.ms) this.time.ms = targetMs;
  }

  /** The earliest armed due time, or undefined when no timer is armed. */
  nextDueMs(): number | undefined {
    return this.timers.first()?.dueMs;
  }
}

/**
 * Waits up to this long are served by RealTimeClock's reusable 1 ms host tick on Node (re-armed in
 * place, no allocation; a wait of 3 ms takes three ticks); longer ones by a one-off host timer.
 */
export const REAL_TIME_TICK_HORIZON_MS = 4;
const REAL_TIME_TICK_MS = 1;

/** Node's timer object (browsers return a number, which has nothing to re-arm). */
interface RefreshableHandle {
  refresh(): unknown;
}
type HostHandle = ReturnType<typeof setTimeout>;

class RealTimer extends QueuedTimer {
  constructor(
    callback: TimerCallback,
    queue: TimerQueue,
    private readonly clock: RealTimeClock,
  ) {
    super(callback, queue.nextOrder(), queue);
  }

  protected place(): void {
    if (this.disposed) throw new Error("Timer.arm: the timer was disposed");
    const now = performance.now();
    const atMs = this.dueMs;
    if (!(atMs >= now)) this.dueMs = atMs < now ? now : Number.POSITIVE_INFINITY;
    this.queue.schedule(this);
    this.clock.reschedule();
  }

  override disarm(): void {
    if (this.slot < 0) return;
    super.disarm();
    this.clock.reschedule();
  }
}

/**
 * Host real time from `performance.now()`, with host timers: one host wake-up per clock (not one host
 * timer per armed timer), set for the earliest due time.
 *
 * On Node a `setTimeout` call makes a new `Timeout` object (and a timer list for a new delay), which
 * would be an allocation per frame for the frame clock. So waits up to
 * {@link REAL_TIME_TICK_HORIZON_MS} use one 1 ms `Timeout` that is re-armed in place with `refresh()`
 * from inside its own callback; Node never fires a timer sooner than 1 ms, so that is as early as a
 * `setTimeout` of the exact wait. The tick is never cleared (a cleared `Timeout` cannot be refreshed):
 * when nothing is due any more it fires once more, finds nothing, and stops. In browsers `setTimeout`
 * returns a number and is simply called with the exact wait.
 */
export class RealTimeClock implements Clock {
  private readonly timers = new TimerQueue();
  /** Node's reusable 1 ms tick, once made; undefined on a host without `refresh()`. */
  private tick: HostHandle | undefined;
  private tickPending = false;
  /** A one-off host timer (a long wait, or any wait on a host without `refresh()`). */
  private oneOff: HostHandle | undefined;
  /** Whether the host can re-arm a timer in place: unknown until the first `setTimeout`. */
  private refreshable: boolean | undefined;
  /** When the pending host wake-up (tick or one-off) is expected; +Infinity when none is pending. */
  private hostWakeMs = Number.POSITIVE_INFINITY;
  private firing = false;

  now(): number {
    return performance.now();
  }

  createTimer(callback: TimerCallback): Timer {
    return new RealTimer(callback, this.timers, this);
  }

  /** Makes sure a host wake-up comes by the earliest armed due time. */
  reschedule(): void {
    if (this.firing) return; // fire() reschedules once its callbacks have run
    const first = this.timers.first();
    if (first === null || first.dueMs === Number.POSITIVE_INFINITY) {
      // Nothing to wake for: drop a one-off; a pending tick fires once more and finds nothing.
      if (this.oneOff !== undefined) clearTimeout(this.oneOff);
      this.oneOff = undefined;
      if (!this.tickPending) this.hostWakeMs = Number.POSITIVE_INFINITY;
      return;
    }
    const now = this.now();
    const wait = Math.max(0, first.dueMs - now);
    if (this.hostWakeMs <= now + wait) return; // a wake-up is coming in time
    if (wait <= REAL_TIME_TICK_HORIZON_MS && this.refreshable !== false) {
      if (this.tick === undefined) {
        this.tick = setTimeout(this.fire, REAL_TIME_TICK_MS);
        this.refreshable = typeof (this.tick as unknown as Partial<RefreshableHandle>).refresh === "function";
        if (!this.refreshable) {
          // A browser: this host timer is an ordinary one-off.
          this.oneOff = this.tick;
          this.tick = undefined;
        } else {
          this.tickPending = true;
        }
      } else if (!this.tickPending) {
        (this.tick as unknown as RefreshableHandle).refresh();
        this.tickPending = true;
      }
      // A tick already pending (set less than 1 ms ago) comes as soon as a new one could.
      this.hostWakeMs = now + Math.min(wait, REAL_TIME_TICK_MS);
      return;
    }
    if (this.oneOff !== undefined) clearTimeout(this.oneOff);
    this.oneOff = setTimeout(this.fire, wait);
    if (this.refreshable === undefined)
      this.refreshable = typeof (this.oneOff as unknown as Partial<RefreshableHandle>).refresh === "function";
    this.hostWakeMs = now + wait;
  }

  private readonly fire = (): void => {
    // Either host timer may be calling: both are spent or superseded now.
    this.tickPending = false;
    if (this.oneOff !== undefined) clearTimeout(this.oneOff);
    this.oneOff = undefined;
    this.hostWakeMs = Number.POSITIVE_INFINITY;
    this.firing = true;
    try {
      const now = this.now();
      for (;;) {
        const next = this.timers.first();
        if (next === null || !(next.dueMs <= now)) break;
        this.timers.remove(next);
        next.callback();
      }
    } finally {
      this.firing = false;
      this.reschedule();
    }
  };
}
