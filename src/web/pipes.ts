import type { StreamFormat } from "../devices/audio/stream-format.ts";
import type { MessagePortLike } from "./dom-types.ts";
import { FillController, MODE_EXACT } from "./fill-controller.ts";
import {
  FrameRing,
  H_ACTIVE,
  H_LONGEST_SILENT_RUN,
  H_OVERRUN_FRAMES,
  H_OVERRUNS,
  H_PRIME,
  H_SILENT_FRAMES,
  H_SILENT_RUNS,
  H_SOURCE_GAP_FRAMES,
  H_SOURCE_GAPS,
  H_UNDERRUN_FRAMES,
  H_UNDERRUNS,
} from "./frame-ring.ts";
import { Resampler } from "./resampler.ts";
import { StartPace } from "./start-pace.ts";

/**
 * The main-thread halves of the bridges, free of WebAudio so they run (and are tested) anywhere: a
 * ring shared with the worklet (or fed through its port), a resampler between the context's rate and
 * the guest's, and the drift controller on the ring's fill. The device calls `read`/`write` once per
 * 1 ms USB frame; neither allocates.
 */

/** Two channels cross the ring whatever the guest streams (WebAudio mixes the microphone to it). */
export const RING_CHANNELS = 2;
/** The worklet's block: WebAudio renders 128 frames at a time. */
export const RENDER_QUANTUM = 128;
const CHUNK = 256;
/** Message transport: the speaker worklet reports its position every this many render quanta. */
export const REPORT_EVERY = 2;

/** The default target with the shared ring: the worklet writes into it whatever the main thread does. */
export const DEFAULT_TARGET_MS = 20;
/**
 * The default target with MessagePort batches (a page that is not cross-origin isolated): a batch
 * reaches the ring only between the main thread's tasks, and v86 runs there, so the fill swings by the
 * length of its tasks on top of the frame clock's. In the README's page (test/browser/embed.test.ts,
 * fill sampled every 20 ms) it swung from 26 ms to 0–3 ms within 100 ms with no long task (> 50 ms)
 * at all: a 20 ms target underran three times in the first second of an arecord, each costing a
 * re-prime of silence. 50 ms then underran mid-recording in 4 of 6 runs of that page on a loaded host
 * (18–45 ms each; where the page's long tasks were recorded, one of 52 or 67 ms fell in the capture):
 * a task drains the ring by its own length, since no batch lands during it. 80 ms holds such a task.
 */
export const DEFAULT_MESSAGE_TARGET_MS = 80;
/**
 * The default maximum with the message transport's default target. In the same page the emulator
 * stopped for ~125 ms at a time on a loaded host (the fill jumped from 50 to 175 ms with the 50 ms target then; a longtask of
 * 57 ms in it): the guest's recording misses those frames' packets but stays contiguous, so keeping
 * the audio (latency the drift controller then takes back) leaves it whole, where discarding it down
 * to the target (the old max(3 × target, target + 60) = 150 ms) put a break in it.
 */
export const DEFAULT_MESSAGE_MAX_MS = 300;

/**
 * Packets a capture stream's start waits at most for its reads to keep real-time pace (start-pace.ts)
 * before it primes anyway: 250 ms of silence at real time, the guest's recording starting that late.
 */
export const START_WAIT_PACKETS = 250;

/** The wall clock a capture pipe times its reads by (ms), looked up per call so a test can stand in for it. */
const wallClock = globalThis as unknown as { readonly performance?: { now(): number } };
const performanceNow = (): number => wallClock.performance?.now() ?? Date.now();

export interface PipeOptions {
  readonly contextRate: number;
  readonly targetMs?: number;
  readonly maxMs?: number;
  /** Put the ring in a SharedArrayBuffer (shared transport) or a plain ArrayBuffer (message transport). */
  readonly shared: boolean;
  /** Capture: the wall clock (ms) a stream's start judges its reads' pace by; default performance.now(). */
  readonly now?: () => number;
}

/** What a bridge reports, readable at any time (`stats()` allocates one object: call it from a UI timer, not per frame). */
export interface AudioBridgeStats {
  /** Times the buffer ran dry after it had been primed (each: silence until it holds the target again). */
  readonly underruns: number;
  /** Times the buffer passed `maxLatencyMs` or could not take a block (each: frames discarded down to the target). */
  readonly overruns: number;
  /**
   * Frames of silence sent or played instead of real audio, from each underrun until the buffer is
   * primed again. The microphone counts the guest's frames (the silence its packets carried, at the
   * guest's rate: what a recording shows as a gap); the speaker the context's (silence the card played).
   */
  readonly underrunFrames: number;
  /** Frames discarded by overruns, at the context's rate. */
  readonly overrunFrames: number;
  /**
   * Microphone (0 for the speaker), while the guest streams: what the source itself failed to deliver,
   * before the bridge — so a break in a recording can be told apart from a loss in the bridge or the
   * guest (those are the under- and overruns). `sourceGaps`: times the worklet's input arrived with no
   * channels (runs of such render quanta: Chromium's input while a MediaStream source has no data, or
   * while no stream is connected); `sourceGapFrames`: their frames, at the context's rate.
   */
  readonly sourceGaps: number;
  readonly sourceGapFrames: number;
  /**
   * Microphone (0 for the speaker), while the guest streams: runs of at least 64 frames (1.3 ms at
   * 48 kHz) in which the source gave no signal at all — exact digital zeros on every channel, or no
   * channels — and their frames (the context's rate; channel-less quanta included). A real microphone's
   * noise is never exactly zero for that long; a muted, disconnected or starved source is.
   */
  readonly silentRuns: number;
  readonly silentFrames: number;
  /** The longest such run, in the context's frames (0 if none reached 64). */
  readonly longestSilentRun: number;
  /**
   * Microphone (0 for the speaker): a stream's start primes only once the guest's packets keep
   * real-time pace (src/web/start-pace.ts), as packets that catch up a lag would read the primed ring
   * dry. `startWaits`: starts that waited with the ring already at its target; `startWaitFrames`: the
   * guest's frames of silence that wait added (beyond filling to the target); `startWaitTimeouts`:
   * waits that reached {@link START_WAIT_PACKETS} packets and primed anyway.
   */
  readonly startWaits: number;
  readonly startWaitFrames: number;
  readonly startWaitTimeouts: number;
  /** Frames queued between the sound card and the USB frame clock now, at the context's rate. */
  readonly fillFrames: number;
  readonly fillMs: number;
  /** The fill the drift controller holds. */
  readonly targetMs: number;
  /** Latency the bridge adds: the fill, one render quantum (128 frames) and the resampler's look-ahead. */
  readonly latencyMs: number;
  /** The resampling ratio correction in force: 1 = none (pass-through at matched rates); 1.0002 = consuming 200 ppm faster. */
  readonly ratio: number;
  /**
   * "exact": no correction in force (the fill is within the band around the target) and, at matched
   * rates, the read position on a whole frame — the guest's samples are the card's, bit for bit;
   * "resampling": a drift correction is in force, or gliding in or out of one.
   */
  readonly mode: "exact" | "resampling";
  /** Guest frames (read or written) converted in exact mode, and with a correction in force. */
  readonly exactFrames: number;
  readonly resampledFrames: number;
  /** Times the drift controller started correcting (the fill left the band around the target). */
  readonly resampledSpans: number;
  /** The AudioContext's rate. */
  readonly contextRate: number;
  /** The rate the guest streams at; 0 while it does not. */
  readonly guestRate: number;
  /** The guest's channel count; 0 while it does not stream. */
  readonly channels: number;
  /** The guest is streaming (between the device's start and stop). */
  readonly running: boolean;
  /** How samples cross to the worklet: a SharedArrayBuffer ring, or MessagePort batches. */
  readonly transport: "shared" | "message";
}

/** A config message for a worklet that cannot see the shared header (message transport). */
export interface WorkletConfig {
  readonly type: "config";
  readonly active: boolean;
  readonly prime: number;
}

abstract class Pipe {
  readonly contextRate: number;
  readonly targetFrames: number;
  readonly maxFrames: number;
  readonly ring: FrameRing;
  readonly shared: boolean;
  /** Message transport: tells the worklet what the shared header would (set by the bridge). */
  notify: ((config: WorkletConfig) => void) | null = null;
  protected readonly resampler = new Resampler(RING_CHANNELS, 8192);
  protected readonly controller: FillController;
  protected format: StreamFormat | null = null;
  protected underruns = 0;
  protected underrunFrames = 0;
  protected overruns = 0;
  protected overrunFrames = 0;
  protected exactFrames = 0;
  protected resampledFrames = 0;
  protected startWaits = 0;
  protected startWaitFrames = 0;
  protected startWaitTimeouts = 0;

  constructor(options: PipeOptions) {
    const rate = options.contextRate;
    if (!(rate >= 3000 && rate <= 768000))
      throw new RangeError(`context rate ${rate} Hz is not an audio rate`);
    const messageDefaults = options.targetMs === undefined && !options.shared;
    const targetMs = options.targetMs ?? (options.shared ? DEFAULT_TARGET_MS : DEFAULT_MESSAGE_TARGET_MS);
    if (!(targetMs >= 1 && targetMs <= 1000))
      throw new RangeError(`target latency ${targetMs} ms must be 1–1000`);
    // The default leaves room for a main-thread stall of 50 ms or so (the microphone's card keeps
    // filling the ring while the emulator does not run) before an overrun discards anything.
    const maxMs =
      options.maxMs ?? (messageDefaults ? DEFAULT_MESSAGE_MAX_MS : Math.max(3 * targetMs, targetMs + 60));
    if (!(maxMs > targetMs))
      throw new RangeError(`max latency ${maxMs} ms must be above the target ${targetMs} ms`);
    this.contextRate = rate;
    this.targetFrames = Math.round((targetMs * rate) / 1000);
    this.maxFrames = Math.round((maxMs * rate) / 1000);
    this.shared = options.shared;
    // Room for the maximum plus a render quantum and a burst of packets beyond it.
    this.ring = FrameRing.create(
      RING_CHANNELS,
      this.maxFrames + 4 * RENDER_QUANTUM + rate / 50,
      options.shared,
    );
    this.controller = new FillController({ rate, targetFrames: this.targetFrames });
    this.resampler.bindRatio(this.controller.ratioCell);
  }

  /** Frames queued between the two clocks, as the controller sees them. */
  abstract fillFrames(): number;

  stats(): AudioBridgeStats {
    const fill = this.fillFrames();
    const header = this.ring.header;
    const msPerFrame = 1000 / this.contextRate;
    const resamplerDelay = this.format ? this.resampler.pendingFrames * this.inputFrameScale() : 0;
    return {
      underruns: this.underruns + Atomics.load(header, H_UNDERRUNS),
      overruns: this.overruns + Atomics.load(header, H_OVERRUNS),
      underrunFrames: this.underrunFrames + Atomics.load(header, H_UNDERRUN_FRAMES),
      overrunFrames: this.overrunFrames + Atomics.load(header, H_OVERRUN_FRAMES),
      // Unsigned: a stream with no source counts 2^31 frames in 12 h at 48 kHz.
      sourceGaps: Atomics.load(header, H_SOURCE_GAPS) >>> 0,
      sourceGapFrames: Atomics.load(header, H_SOURCE_GAP_FRAMES) >>> 0,
      silentRuns: Atomics.load(header, H_SILENT_RUNS) >>> 0,
      silentFrames: Atomics.load(header, H_SILENT_FRAMES) >>> 0,
      longestSilentRun: Atomics.load(header, H_LONGEST_SILENT_RUN) >>> 0,
      startWaits: this.startWaits,
      startWaitFrames: this.startWaitFrames,
      startWaitTimeouts: this.startWaitTimeouts,
      fillFrames: fill,
      fillMs: fill * msPerFrame,
      targetMs: this.targetFrames * msPerFrame,
      latencyMs: (fill + RENDER_QUANTUM + resamplerDelay) * msPerFrame,
      ratio: this.controller.ratio,
      mode: this.isExact() ? "exact" : "resampling",
      exactFrames: this.exactFrames,
      resampledFrames: this.resampledFrames,
      resampledSpans: this.controller.trackingSpans,
      contextRate: this.contextRate,
      guestRate: this.format?.sampleRate ?? 0,
      channels: this.format?.channels ?? 0,
      running: this.format !== null,
      transport: this.shared ? "shared" : "message",
    };
  }

  /** Context frames per resampler input frame. */
  protected abstract inputFrameScale(): number;

  /** No correction in force and the resampler on whole frames (see AudioBridgeStats.mode). */
  protected isExact(): boolean {
    return this.controller.mode === MODE_EXACT && this.resampler.exact;
  }

  /** Counts `frames` guest frames as exact or resampled (by the state they were converted in). */
  protected countFrames(frames: number, exact: boolean): void {
    if (exact) this.exactFrames += frames;
    else this.resampledFrames += frames;
  }

  protected sameFormat(format: StreamFormat): boolean {
    const f = this.format;
    return f !== null && f.sampleRate === format.sampleRate && f.channels === format.channels;
  }

  protected setActive(active: boolean): void {
    Atomics.store(this.ring.header, H_ACTIVE, active ? 1 : 0);
    Atomics.store(this.ring.header, H_PRIME, this.targetFrames);
    this.notify?.({ type: "config", active, prime: this.targetFrames });
  }
}

/**
 * Microphone: the worklet writes the context's frames into the ring; each IN packet reads the
 * guest's frames out through the resampler. Starts with silence until the ring holds the target and
 * the packets keep real-time pace (not counted as loss; the wait for pace is counted apart); a ring
 * that runs dry is an underrun (silence, counted, primed again); a ring above the maximum is an
 * overrun (the oldest frames beyond the target are dropped, counted).
 */
export class CapturePipe extends Pipe {
  private primed = false;
  private afterUnderrun = false;
  private overflowing = false;
  private readonly now: () => number;
  private readonly pace = new StartPace();
  /** The stream's start still waits for its packets to keep real-time pace (the pace counts them). */
  private waitingForPace = false;
  private startWaited = false;

  constructor(options: PipeOptions) {
    super(options);
    this.now = options.now ?? performanceNow;
  }

  fillFrames(): number {
    return this.ring.availableFrames;
  }

  protected inputFrameScale(): number {
    return 1;
  }

  start(format: StreamFormat): void {
    this.format = format;
    this.resampler.configure(this.contextRate, format.sampleRate);
    this.controller.reset();
    this.controller.setTimeBase(format.sampleRate);
    this.ring.skip(this.ring.capacityFrames);
    this.primed = false;
    this.afterUnderrun = false;
    this.pace.reset();
    this.waitingForPace = true;
    this.startWaited = false;
    this.setActive(true);
  }

  stop(): void {
    this.format = null;
    this.setActive(false);
  }

  /** Message transport: a batch of interleaved stereo frames from the worklet. */
  receive(data: Float32Array): void {
    if (this.format === null) return;
    const frames = Math.floor(data.length / RING_CHANNELS);
    const fit = this.ring.write(data, 0, frames);
    if (fit < frames) {
      if (!this.overflowing) this.overruns++;
      this.overflowing = true;
      this.overrunFrames += frames - fit;
    } else {
      this.overflowing = false;
    }
  }

  /**
   * Message transport: the worklet's counts of what the source failed to deliver (cumulative, carried
   * on each samples message), kept where the shared transport's worklet writes them.
   */
  receiveSourceCounts(
    sourceGaps: number,
    sourceGapFrames: number,
    silentRuns: number,
    silentFrames: number,
    longestSilentRun: number,
  ): void {
    const header = this.ring.header;
    Atomics.store(header, H_SOURCE_GAPS, sourceGaps | 0);
    Atomics.store(header, H_SOURCE_GAP_FRAMES, sourceGapFrames | 0);
    Atomics.store(header, H_SILENT_RUNS, silentRuns | 0);
    Atomics.store(header, H_SILENT_FRAMES, silentFrames | 0);
    Atomics.store(header, H_LONGEST_SILENT_RUN, longestSilentRun | 0);
  }

  read(out: Int16Array, frames: number, format: StreamFormat): number {
    const ch = format.channels;
    if (!this.sameFormat(format)) this.start(format);
    let fill = this.ring.availableFrames;
    if (this.waitingForPace && !this.waitedForPace(frames, fill)) {
      // Silence while the packets run faster than real time (start-pace.ts). A ring that reaches the
      // target meanwhile goes back to half of it: the stream starts from what the card hears when the
      // packets keep pace, not from a backlog the drift controller would take seconds to work off; and
      // it then primes as a stream that never waited does, as the card's blocks take the fill up to
      // the target. (Kept just under the target, the next block primed it a whole block above: a
      // shared ring fed in 10 ms card callbacks sat 5 ms high, and jitter pushed the drift controller
      // out of its band.)
      if (fill >= this.targetFrames) this.ring.skip(fill - (this.targetFrames >> 1));
      out.fill(0, 0, frames * ch);
      return frames;
    }
    if (!this.primed) {
      if (fill < this.targetFrames) {
        out.fill(0, 0, frames * ch);
        // Silence before the first fill is the stream starting; after an underrun it is loss, and
        // every frame of it is counted (the embed page's capture held 800 silent frames where the
        // bridge had counted 52, the re-priming left out).
        if (!this.afterUnderrun) return frames;
        this.underrunFrames += frames > 0 ? Math.floor(frames) : 0;
        return 0;
      }
      this.primed = true;
      this.resampler.reset();
      this.controller.reset(true);
    }
    if (fill > this.maxFrames) {
      // Frames arrived faster than any drift explains (the page was paused and the worklet was not):
      // drop the oldest down to the target rather than carry the extra latency for minutes.
      const dropped = this.ring.skip(fill - this.targetFrames);
      this.overruns++;
      this.overrunFrames += dropped;
      this.resampler.reset();
      this.controller.reset(true);
      fill = this.ring.availableFrames;
    }
    this.controller.update(fill + this.resampler.pendingWholeFrames, frames);
    this.resampler.syncRatio();
    const exact = this.isExact();
    let done = 0;
    while (done < frames) {
      const want = Math.min(frames - done, CHUNK);
      const need = this.resampler.inputNeeded(want);
      if (need > this.ring.availableFrames) break;
      this.resampler.writeFromRing(this.ring, need);
      const got = this.resampler.readInt16(out, done, want, ch);
      done += got;
      if (got === 0) break;
    }
    if (done < frames) {
      // The ring ran dry: what is there goes out, the rest is silence, and the stream primes again.
      this.resampler.writeFromRing(this.ring, this.ring.availableFrames);
      done += this.resampler.readInt16(out, done, frames - done, ch);
      out.fill(0, done * ch, frames * ch);
      this.underruns++;
      this.underrunFrames += Math.floor(frames) - done;
      this.primed = false;
      this.afterUnderrun = true;
    }
    this.countFrames(done, exact);
    return done;
  }

  /**
   * A read while the stream's start waits for real-time pace: false while it still waits (counted
   * from the first read that found the ring at its target: silence the wait added), true when the
   * packets keep pace or {@link START_WAIT_PACKETS} have gone by (the start no longer waits).
   */
  private waitedForPace(frames: number, fill: number): boolean {
    const paced = this.pace.note(this.now());
    if (!paced && this.pace.reads <= START_WAIT_PACKETS) {
      if (fill >= this.targetFrames && !this.startWaited) {
        this.startWaits++;
        this.startWaited = true;
      }
      if (this.startWaited) this.startWaitFrames += frames > 0 ? Math.floor(frames) : 0;
      return false;
    }
    if (!paced) this.startWaitTimeouts++;
    this.waitingForPace = false;
    return true;
  }
}

/**
 * Speaker: each OUT packet goes through the resampler into the ring the worklet plays from. The
 * worklet counts underruns (its output ran dry); a ring above the maximum is an overrun: packets are
 * dropped (counted) until it is back at the target.
 */
export class PlaybackPipe extends Pipe {
  private readonly scratch = new Float32Array(RING_CHANNELS * CHUNK);
  private shedding = false;
  /** The ring is filling up to the target (after a start or an underrun): the controller waits. */
  private filling = true;
  private seenUnderruns = 0;
  /** Message transport: frames posted to the worklet, and the worklet's read counter as last reported. */
  private sent = 0;
  private reportedRead = 0;
  /** Guest frames written since the worklet's last report (whole frames: an integer, never a double to box). */
  private framesSinceReport = 0;

  /**
   * Message transport: frames posted minus the worklet's read counter as last reported, less what
   * the card has played since (estimated from the guest frames written since the report, at the
   * context's rate), plus the frames queued here for the next batch. Without that correction the
   * estimate sits a report interval above the truth and swings by two, which pushed matched-rate
   * streams out of the band where the ratio stays exactly 1.
   */
  fillFrames(): number {
    if (this.shared) return this.ring.availableFrames;
    const guestRate = this.format?.sampleRate ?? this.contextRate;
    const playedSince = Math.round((this.framesSinceReport * this.contextRate) / guestRate);
    const inFlight = ((this.sent - this.reportedRead) | 0) - playedSince;
    return this.ring.availableFrames + Math.max(inFlight, 0);
  }

  protected inputFrameScale(): number {
    const f = this.format;
    return f ? this.contextRate / f.sampleRate : 1;
  }

  start(format: StreamFormat): void {
    this.format = format;
    this.resampler.configure(format.sampleRate, this.contextRate);
    this.controller.reset();
    this.controller.setTimeBase(format.sampleRate);
    this.shedding = false;
    this.filling = true;
    this.seenUnderruns = Atomics.load(this.ring.header, H_UNDERRUNS);
    this.setActive(true);
  }

  stop(): void {
    this.format = null;
    this.setActive(false);
  }

  /**
   * Message transport, on the worklet's report: records its position and counters, and hands back the
   * frames queued since (the bridge posts them, transferring the buffer). Null when none are queued.
   */
  onReport(
    read: number,
    underruns: number,
    underrunFrames: number,
    overruns: number,
    overrunFrames: number,
  ): Float32Array | null {
    this.reportedRead = read | 0;
    this.framesSinceReport = 0;
    const header = this.ring.header;
    Atomics.store(header, H_UNDERRUNS, underruns | 0);
    Atomics.store(header, H_UNDERRUN_FRAMES, underrunFrames | 0);
    Atomics.store(header, H_OVERRUNS, overruns | 0);
    Atomics.store(header, H_OVERRUN_FRAMES, overrunFrames | 0);
    return this.takeBatch();
  }

  /** Message transport: everything queued, as one buffer to post (this allocates; it runs on the port's event, not per frame). */
  takeBatch(): Float32Array | null {
    const n = this.ring.availableFrames;
    if (n === 0) return null;
    const batch = new Float32Array(n * RING_CHANNELS);
    this.ring.read(batch, 0, n);
    this.sent = (this.sent + n) | 0;
    return batch;
  }

  write(samples: Int16Array, frames: number, format: StreamFormat): number {
    if (!this.sameFormat(format)) this.start(format);
    if (frames > 0) this.framesSinceReport = (this.framesSinceReport + Math.floor(frames)) | 0;
    const fill = this.fillFrames();
    if (this.shedding || fill > this.maxFrames) {
      if (!this.shedding) this.overruns++;
      this.shedding = fill > this.targetFrames;
      if (this.shedding) {
        this.overrunFrames += Math.round((frames * this.contextRate) / format.sampleRate);
        return 0;
      }
      this.controller.reset(true);
    }
    // While the worklet waits for the ring to prime, the fill says nothing about drift.
    const underruns = Atomics.load(this.ring.header, H_UNDERRUNS);
    if (underruns !== this.seenUnderruns) {
      this.seenUnderruns = underruns;
      this.filling = true;
    }
    if (this.filling && fill >= this.targetFrames) {
      this.filling = false;
      this.controller.reset(true);
    }
    if (!this.filling) {
      this.controller.update(fill, frames);
      this.resampler.syncRatio();
    }
    const exact = this.isExact();
    let taken = 0;
    while (taken < frames) {
      const n = this.resampler.writeInt16(
        samples,
        taken,
        Math.min(frames - taken, CHUNK / 8),
        format.channels,
      );
      taken += n;
      for (let out = this.resampler.outputAvailable(); out > 0; out = this.resampler.outputAvailable()) {
        const got = this.resampler.readFloat(this.scratch, 0, Math.min(out, CHUNK));
        const fit = this.ring.write(this.scratch, 0, got);
        if (fit < got) {
          if (!this.shedding) this.overruns++;
          this.shedding = true;
          this.overrunFrames += got - fit;
        }
      }
      if (n === 0) break;
    }
    this.countFrames(taken, exact);
    return taken;
  }
}

/** The messages the worklet posts (message transport). */
interface SamplesMessage {
  readonly type: "samples";
  readonly data: Float32Array;
  /** Microphone: the worklet's source counts so far (AudioBridgeStats). */
  readonly sourceGaps?: unknown;
  readonly sourceGapFrames?: unknown;
  readonly silentRuns?: unknown;
  readonly silentFrames?: unknown;
  readonly longestSilentRun?: unknown;
}

/** A count from a message: a finite number, else 0 (a message is data, never trusted to be well formed). */
const count = (value: unknown): number => (typeof value === "number" && Number.isFinite(value) ? value : 0);
interface ReportMessage {
  readonly type: "report";
  readonly read: number;
  readonly underruns: number;
  readonly underrunFrames: number;
  readonly overruns: number;
  readonly overrunFrames: number;
}

function isSamples(m: unknown): m is SamplesMessage {
  return (
    typeof m === "object" &&
    m !== null &&
    (m as { type?: unknown }).type === "samples" &&
    (m as { data?: unknown }).data instanceof Float32Array
  );
}

function isReport(m: unknown): m is ReportMessage {
  if (typeof m !== "object" || m === null || (m as { type?: unknown }).type !== "report") return false;
  const r = m as Record<string, unknown>;
  return ["read", "underruns", "underrunFrames", "overruns", "overrunFrames"].every(
    (k) => typeof r[k] === "number",
  );
}

/** The port a capture pipe listens on (message transport): the worklet's batches go into the ring. */
export function wireCapturePort(pipe: CapturePipe, port: MessagePortLike): void {
  port.addEventListener("message", (event) => {
    const m = event.data;
    if (!isSamples(m)) return;
    pipe.receive(m.data);
    pipe.receiveSourceCounts(
      count(m.sourceGaps),
      count(m.sourceGapFrames),
      count(m.silentRuns),
      count(m.silentFrames),
      count(m.longestSilentRun),
    );
  });
  pipe.notify = (config) => port.postMessage(config, []);
  port.start();
}

/**
 * The port a playback pipe talks on (message transport): each report of the worklet's position is
 * answered with the frames queued since the last one, so samples move in batches of a few render quanta.
 */
export function wirePlaybackPort(pipe: PlaybackPipe, port: MessagePortLike): void {
  port.addEventListener("message", (event) => {
    const m = event.data;
    if (!isReport(m)) return;
    const batch = pipe.onReport(m.read, m.underruns, m.underrunFrames, m.overruns, m.overrunFrames);
    if (batch !== null) port.postMessage({ type: "samples", data: batch }, [batch.buffer as ArrayBuffer]);
  });
  pipe.notify = (config) => port.postMessage(config, []);
  port.start();
}
