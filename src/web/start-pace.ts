/**
 * Whether the USB frames reading a microphone keep real-time pace, judged from the wall-clock times of
 * the reads alone (one read per 1 ms frame): the rule a capture stream's start waits on before it
 * primes (CapturePipe).
 *
 * Why: in v86 the guest starting arecord keeps the emulator busy, so USB time falls behind the wall
 * clock, and the overdue frames then run faster than real time (up to 4 per timer hook, or a host
 * pause's replay at once). A bridge that primed to its target during that catch-up read its ring
 * dry as the backlog replayed — an underrun with no late packet to show for it (the README's embed
 * page in Chromium: 102 frames at the start of the guest's first capture; the demo: packets 52 ms
 * ahead of the wall clock against a 40 ms target after a restore).
 *
 * The rule, with `a` = packets read − wall ms elapsed (how far the reads ran ahead of real time):
 * the reads are paced once at least {@link PACE_WINDOW} have been seen since the start, the last
 * {@link PACE_WINDOW} of them gained at most {@link PACE_TOLERANCE_MS} on the wall clock (no
 * catch-up in progress), and `a` is within {@link PACE_TOLERANCE_MS} of the most it has been since
 * the start (no lag built by a gap, still to be repaid: reads never run ahead of real time, so the
 * most-ahead point is the best estimate of "no lag"). A stream whose USB lags by a constant amount
 * but keeps pace is paced: only catching up drains the ring.
 *
 * Numbers only, in a preallocated ring: nothing allocated per read.
 */

/** Reads whose span is judged (about their length in ms at real time). */
export const PACE_WINDOW = 32;
/**
 * How much the reads may run ahead of the wall clock, over the window and against their best so far
 * (ms). v86 runs up to 4 frames per timer hook at pace (so reads come in bursts of up to 4), and a
 * main-thread task of a few ms delays a hook: below this the fluctuation is harmless against the
 * bridges' targets (20–50 ms).
 */
export const PACE_TOLERANCE_MS = 8;

export class StartPace {
  private readonly times = new Float64Array(PACE_WINDOW);
  private readsSinceReset = 0;
  private first = 0;
  /** The most the reads have run ahead of the wall clock since the start (packets − ms). */
  private bestAhead = 0;

  /** Reads noted since the stream started. */
  get reads(): number {
    return this.readsSinceReset;
  }

  /** A stream starts: what came before says nothing about its reads. */
  reset(): void {
    this.readsSinceReset = 0;
    this.bestAhead = 0;
  }

  /** One read at wall time `nowMs`: whether the reads keep real-time pace now (see the class). */
  note(nowMs: number): boolean {
    const n = this.readsSinceReset;
    const slot = n % PACE_WINDOW;
    if (n === 0) this.first = nowMs;
    const ahead = n - (nowMs - this.first);
    if (n === 0 || ahead > this.bestAhead) this.bestAhead = ahead;
    // The read PACE_WINDOW back sat in this slot: the window's gain is (its span short of real time).
    const gain = n >= PACE_WINDOW ? PACE_WINDOW - (nowMs - (this.times[slot] ?? 0)) : 0;
    this.times[slot] = nowMs;
    this.readsSinceReset = n + 1;
    return n >= PACE_WINDOW && gain <= PACE_TOLERANCE_MS && this.bestAhead - ahead <= PACE_TOLERANCE_MS;
  }
}
