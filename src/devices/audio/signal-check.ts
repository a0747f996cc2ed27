import { counterSample, TRIANGLE_PERIOD, testSignalSample } from "./test-signal.ts";

/**
 * Compares received audio against the frame-counter test signal (test-signal.ts) and says exactly what
 * happened to it: where it starts, which frames are missing at the head, inside and at the tail, which
 * frames were inserted, and whether every frame that arrived is bit-exact.
 *
 * Made for audio that went through the controller and a real Linux guest, where leading silence (the
 * stream opens before the signal) and a missing tail (Linux never sends the last packets of a
 * playback) are normal: both are reported, neither is an error in itself.
 *
 * How the walk reads the stream:
 * - Silence is a frame whose samples are all zero. Leading and trailing silence is skipped.
 * - The signal starts at the first non-silent frame that is plausibly the signal: in stereo its
 *   triangle must match the counter; in mono the next frame must continue the counter. Non-silent
 *   frames before it count as inserted. The first frame's index is its counter value (stereo: the
 *   triangle also fixes f mod 3·65536, so a head loss of up to 196,607 frames is read correctly; mono:
 *   up to 65,535). In mono, frame 0 is a zero sample: a zero just before a first counter value of 1 is
 *   taken as frame 0.
 * - Each later frame is expected to carry the next counter value. A frame that does is received (and
 *   if another channel differs, mismatched). A silent frame that does not is inserted silence. A
 *   non-silent frame whose counter is ahead by less than 32768 is a gap (dropped frames) when the jump
 *   is confirmed — stereo: its triangle matches the new index; mono: the next frame continues from it.
 *   Anything else (a repeat, a step backwards, garbage) is an inserted frame.
 * A gap of 32768 frames or more inside the stream cannot be told from a step backwards.
 */

export const SignalEventKind = {
  /** Frames missing between two received frames. */
  Dropped: "dropped",
  /** Frames that are not the next frame of the signal (repeats, garbage, silence). */
  Inserted: "inserted",
  /** The counter is right but another channel differs. */
  Mismatched: "mismatched",
} as const;
export type SignalEventKind = (typeof SignalEventKind)[keyof typeof SignalEventKind];

/** One anomaly; consecutive anomalies of one kind are merged into one event. */
export interface SignalEvent {
  readonly kind: SignalEventKind;
  /** Position in the received stream (in frames) where the anomaly is seen. */
  readonly at: number;
  /** The signal frame index expected there (for drops, the first missing one). */
  readonly frame: number;
  /** Frames affected. */
  readonly count: number;
}

export interface TestSignalCheckOptions {
  /** Frames the generator produced (0 … expectedFrames − 1); gives {@link TestSignalReport.tailLossFrames}. */
  readonly expectedFrames?: number;
  /** How many events to list; default 32. Counts are always complete. */
  readonly maxEvents?: number;
}

export interface TestSignalReport {
  /** Some frame of the signal was recognised. */
  readonly found: boolean;
  readonly channels: number;
  /** Whole frames in the input. */
  readonly framesTotal: number;
  /** Position (in frames) of the signal's first frame in the input; −1 when not found. */
  readonly startOffset: number;
  /** All-zero frames before the start. */
  readonly leadingSilenceFrames: number;
  /** All-zero frames after the last non-silent frame. */
  readonly trailingSilenceFrames: number;
  /** Frames of the signal present in sequence (including mismatched ones). */
  readonly framesReceived: number;
  /** Index f of the first and last signal frame seen; −1 when not found. */
  readonly firstFrame: number;
  readonly lastFrame: number;
  /** Frames missing before the first one seen (= firstFrame). */
  readonly headLossFrames: number;
  /** Frames missing after the last one seen; null unless `expectedFrames` was given. */
  readonly tailLossFrames: number | null;
  /** Frames missing inside (gaps between received frames). */
  readonly dropped: number;
  /** Frames inside that are not the next frame of the signal, including non-silent frames before it. */
  readonly inserted: number;
  /** The part of {@link inserted} that is silence. */
  readonly insertedSilence: number;
  /** Received frames whose counter is right but whose other channels differ. */
  readonly mismatched: number;
  /** The signal was found, and every frame present is the expected one: no mismatch, nothing inserted. */
  readonly bitExact: boolean;
  /** Bit-exact with nothing missing anywhere (tail loss counts only when known). */
  readonly lossless: boolean;
  /** The first anomalies, in stream order. */
  readonly events: readonly SignalEvent[];
  /** All anomalies, including those not listed. */
  readonly eventCount: number;
}

const DEFAULT_MAX_EVENTS = 32;
/** Counter steps below this are read as gaps, above as steps backwards. */
const HALF_COUNTER = 0x8000;
/** f mod 3·65536 is what counter and triangle fix together (65536 ≡ 16 mod 48, 3·16 ≡ 0). */
const COUNTER_WRAPS_TO_TRY = 3;

/** Checks interleaved samples against the test signal. */
export function checkTestSignal(
  samples: Int16Array,
  channels: number,
  options: TestSignalCheckOptions = {},
): TestSignalReport {
  if (!Number.isInteger(channels) || channels < 1) throw new RangeError(`channels ${channels} must be ≥ 1`);
  return new Walk(samples, channels, options).run();
}

class Walk {
  private readonly frames: number;
  private readonly maxEvents: number;
  private readonly events: SignalEvent[] = [];
  private eventCount = 0;
  /** The last event, while it can still grow. */
  private open: { kind: SignalEventKind; at: number; frame: number; count: number } | null = null;
  private dropped = 0;
  private inserted = 0;
  private insertedSilence = 0;
  private mismatched = 0;
  private received = 0;

  constructor(
    private readonly samples: Int16Array,
    private readonly channels: number,
    private readonly options: TestSignalCheckOptions,
  ) {
    this.frames = Math.floor(samples.length / channels);
    this.maxEvents = options.maxEvents ?? DEFAULT_MAX_EVENTS;
  }

  run(): TestSignalReport {
    let end = this.frames - 1;
    while (end >= 0 && this.silent(end)) end--;
    let start = -1;
    let first = -1;
    for (let i = 0; i <= end; i++) {
      if (this.silent(i)) continue;
      first = this.plausibleIndex(i, end);
      if (first >= 0) {
        start = i;
        break;
      }
      this.note(SignalEventKind.Inserted, i, 0);
      this.inserted++;
    }
    if (start < 0) return this.report(-1, -1, -1, end);
    // Mono frame 0 is a zero sample: a silent frame just before counter value 1 is frame 0.
    if (this.channels === 1 && first === 1 && start > 0 && this.silent(start - 1)) {
      start--;
      first = 0;
    }
    this.receive(start, first);
    let previous = first;
    for (let i = start + 1; i <= end; i++) {
      const next = previous + 1;
      const step = (this.counter(i) - next) & 0xffff;
      if (step === 0) {
        this.receive(i, next);
        previous = next;
      } else if (this.silent(i)) {
        this.note(SignalEventKind.Inserted, i, next);
        this.inserted++;
        this.insertedSilence++;
      } else if (step < HALF_COUNTER && this.confirmsJump(i, next + step, end)) {
        this.note(SignalEventKind.Dropped, i, next, step);
        this.dropped += step;
        this.receive(i, next + step);
        previous = next + step;
      } else {
        this.note(SignalEventKind.Inserted, i, next);
        this.inserted++;
      }
    }
    return this.report(start, first, previous, end);
  }

  private report(start: number, first: number, last: number, end: number): TestSignalReport {
    this.flush();
    const found = start >= 0;
    const expected = this.options.expectedFrames;
    const tailLossFrames =
      expected === undefined ? null : found ? Math.max(0, expected - 1 - last) : expected;
    const headLossFrames = found ? first : 0;
    const bitExact = found && this.mismatched === 0 && this.inserted === 0;
    return {
      found,
      channels: this.channels,
      framesTotal: this.frames,
      startOffset: start,
      leadingSilenceFrames: found ? this.leadingSilence(start) : 0,
      trailingSilenceFrames: this.frames - 1 - end,
      framesReceived: this.received,
      firstFrame: first,
      lastFrame: last,
      headLossFrames,
      tailLossFrames,
      dropped: this.dropped,
      inserted: this.inserted,
      insertedSilence: this.insertedSilence,
      mismatched: this.mismatched,
      bitExact,
      lossless: bitExact && this.dropped === 0 && headLossFrames === 0 && (tailLossFrames ?? 0) === 0,
      events: this.events,
      eventCount: this.eventCount,
    };
  }

  private leadingSilence(start: number): number {
    let n = 0;
    while (n < start && this.silent(n)) n++;
    return n;
  }

  private receive(at: number, frame: number): void {
    this.received++;
    if (!this.matches(at, frame)) {
      this.mismatched++;
      this.note(SignalEventKind.Mismatched, at, frame);
    }
  }

  /** The signal frame index frame `at` plausibly starts with, or −1. */
  private plausibleIndex(at: number, end: number): number {
    const low = this.counter(at);
    if (this.channels === 1) {
      return at === end || this.counter(at + 1) === ((low + 1) & 0xffff) ? low : -1;
    }
    for (let wrap = 0; wrap < COUNTER_WRAPS_TO_TRY; wrap++) {
      const frame = low + wrap * 0x10000;
      if (this.matches(at, frame)) return frame;
    }
    return -1;
  }

  /** A forward jump to `frame` at position `at` is real, not garbage. */
  private confirmsJump(at: number, frame: number, end: number): boolean {
    if (this.channels > 1) return this.matches(at, frame);
    return at === end || this.counter(at + 1) === ((frame + 1) & 0xffff);
  }

  private matches(at: number, frame: number): boolean {
    const base = at * this.channels;
    if (this.samples[base] !== counterSample(frame)) return false;
    for (let c = 1; c < this.channels; c++) {
      if (this.samples[base + c] !== testSignalSample(frame % TRIANGLE_PERIOD, c)) return false;
    }
    return true;
  }

  private counter(at: number): number {
    return this.samples[at * this.channels]! & 0xffff;
  }

  private silent(at: number): boolean {
    const base = at * this.channels;
    for (let c = 0; c < this.channels; c++) if (this.samples[base + c] !== 0) return false;
    return true;
  }

  /** Records `count` frames of an anomaly, merging it into the open event when it continues it. */
  private note(kind: SignalEventKind, at: number, frame: number, count = 1): void {
    const open = this.open;
    if (
      open !== null &&
      open.kind === kind &&
      kind !== SignalEventKind.Dropped &&
      open.at + open.count === at
    ) {
      open.count += count;
      return;
    }
    this.flush();
    this.open = { kind, at, frame, count };
  }

  private flush(): void {
    if (this.open === null) return;
    this.eventCount++;
    if (this.events.length < this.maxEvents) this.events.push({ ...this.open });
    this.open = null;
  }
}
