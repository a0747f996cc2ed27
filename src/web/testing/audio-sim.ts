/**
 * A simulated sound card and USB frame clock around the bridges' main-thread pipes and the real
 * worklet code (WORKLET_SOURCE, evaluated here with a stand-in AudioWorkletProcessor), for the Node
 * tests and the bench. Two clocks drift apart by a chosen ppm; the emulator may run its frames in
 * bursts; the signal is the frame-counter test signal, checked as it comes out.
 */
import { PacketPacer } from "../../devices/audio/packet-pacer.ts";
import type { StreamFormat } from "../../devices/audio/stream-format.ts";
import { counterSample, testSignalSample } from "../../devices/audio/test-signal.ts";
import { SeededRandom } from "../../machine/seeded-random.ts";
import type { MessagePortLike } from "../dom-types.ts";
import {
  type AudioBridgeStats,
  CapturePipe,
  PlaybackPipe,
  RENDER_QUANTUM,
  REPORT_EVERY,
  wireCapturePort,
  wirePlaybackPort,
} from "../pipes.ts";
import { Resampler } from "../resampler.ts";
import {
  MICROPHONE_PROCESSOR,
  SPEAKER_PROCESSOR,
  WORKLET_SOURCE,
  type WorkletProcessorOptions,
} from "../worklet-source.ts";

type Listener = (event: { readonly data: unknown }) => void;

/** One end of a message channel; messages are delivered when the receiving side's thread next runs. */
export class SimPort implements MessagePortLike {
  peer: SimPort | null = null;
  onmessage: Listener | null = null;
  private readonly listeners: Listener[] = [];
  private readonly inbox: unknown[] = [];

  postMessage(message: unknown, _transfer: ArrayBuffer[] = []): void {
    this.peer?.inbox.push(message);
  }
  addEventListener(_type: "message", listener: Listener): void {
    this.listeners.push(listener);
  }
  start(): void {}
  close(): void {
    this.peer = null;
  }
  /** Delivers what has arrived (the receiving thread's turn). */
  deliver(): void {
    for (let i = 0; i < this.inbox.length; i++) {
      const event = { data: this.inbox[i] };
      this.onmessage?.(event);
      for (const l of this.listeners) l(event);
    }
    this.inbox.length = 0;
  }
}

export function portPair(): [SimPort, SimPort] {
  const a = new SimPort();
  const b = new SimPort();
  a.peer = b;
  b.peer = a;
  return [a, b];
}

export interface SimProcessor {
  readonly port: SimPort;
  process(inputs: Float32Array[][], outputs: Float32Array[][]): boolean;
}
type ProcessorClass = new (options: { processorOptions: WorkletProcessorOptions }) => SimProcessor;

/** Evaluates the worklet module as a worklet scope would, returning its two processor classes. */
export function loadWorklet(port: () => SimPort): { microphone: ProcessorClass; speaker: ProcessorClass } {
  const registered = new Map<string, ProcessorClass>();
  class AudioWorkletProcessor {
    readonly port = port();
  }
  const run = new Function("AudioWorkletProcessor", "registerProcessor", WORKLET_SOURCE) as (
    base: typeof AudioWorkletProcessor,
    register: (name: string, cls: ProcessorClass) => void,
  ) => void;
  run(AudioWorkletProcessor, (name, cls) => registered.set(name, cls));
  const microphone = registered.get(MICROPHONE_PROCESSOR);
  const speaker = registered.get(SPEAKER_PROCESSOR);
  if (!microphone || !speaker) throw new Error("the worklet module did not register both processors");
  return { microphone, speaker };
}

/**
 * Reads channel 0 of a stream that carries the frame counter after a rate conversion: each output
 * frame's counter is the input position it was taken from, so consecutive values must step by the
 * conversion's ratio (input frames per output frame) — a dropped or repeated block shows as a jump.
 * Frames interpolated across the counter's wrap (32767 → −32768) are not judged.
 */
export class CounterDecoder {
  started = false;
  frames = 0;
  judged = 0;
  bad = 0;
  firstBadAt = -1;
  worst = 0;
  private position = 0;
  private warmup = 0;

  /**
   * `guardFrames`: input frames either side of the counter's wrap (and at the start, against the silent
   * history) whose outputs are not judged — 3 for the cubic; a filter's half-width going down in rate,
   * where the windowed sinc rings that far around the full-scale step.
   */
  constructor(
    private readonly step: number,
    private readonly tolerance: number,
    private readonly guardFrames = 3,
  ) {}

  push(value: number): void {
    const at = this.frames++;
    if (!this.started) {
      if (value === 0) return; // silence before the stream starts
      this.started = true;
      this.position = value;
      this.warmup = Math.ceil(this.guardFrames / this.step) + 1;
      return;
    }
    const expected = this.position + this.step;
    if (this.warmup > 0) {
      // The converter's first outputs interpolate against the silent history before the stream (a
      // filter's first output is off by tens): follow them, judge from the first one past it.
      this.warmup--;
      this.position = value;
      return;
    }
    const phase = (((expected + 32768) % 65536) + 65536) % 65536; // distance past the wrap point
    if (phase < this.guardFrames + this.step || phase > 65536 - this.guardFrames - this.step) {
      this.position = expected;
      return;
    }
    let diff = (value - expected) % 65536;
    if (diff > 32768) diff -= 65536;
    if (diff < -32768) diff += 65536;
    this.judged++;
    const size = Math.abs(diff);
    if (size > this.worst) this.worst = size;
    if (size > this.tolerance) {
      this.bad++;
      if (this.firstBadAt < 0) this.firstBadAt = at;
    }
    this.position = expected + diff;
  }
}

export interface SimOptions {
  readonly contextRate: number;
  readonly guestRate: number;
  readonly channels: 1 | 2;
  /** The sound card's clock against the frame clock: +300 = the sound card runs 300 ppm fast. */
  readonly driftPpm: number;
  readonly seconds: number;
  readonly transport?: "shared" | "message";
  /** USB frames the emulator runs back to back at each wake-up (it wakes every `burst` ms). Default 1. */
  readonly burst?: number;
  readonly targetMs?: number;
  /** From this time on, fill and counters are tracked as "settled". Default 30 s. */
  readonly settleSeconds?: number;
  /** Intervals [from, to) in seconds where the sound card stops (suspended context). */
  readonly cardStalls?: readonly (readonly [number, number])[];
  /** Intervals where the emulator stops (a paused page, a guest that stops streaming for a while). */
  readonly hostStalls?: readonly (readonly [number, number])[];
  /** Keep the guest-side (capture) or card-side (playback) output, 16-bit interleaved. */
  readonly keepOutput?: boolean;
  /**
   * A browser's timing (seeded, replayable): each emulator wake-up lands up to ± this many ms off its
   * 1 ms cadence (a late wake runs the frames that came due, in order, as the frame clock does).
   */
  readonly jitterMs?: number;
  /**
   * Main-thread stalls (layout, GC, a long task in the page): every `everySeconds` (a range) the
   * emulator stops for `ms` (a range), then runs the overdue frames back to back; the worklet runs on.
   */
  readonly mainStalls?: {
    readonly everySeconds: readonly [number, number];
    readonly ms: readonly [number, number];
  };
  /** The sound card renders this many quanta back to back per callback (an OS buffer of ~10 ms = 4). Default 1. */
  readonly cardBurst?: number;
  /**
   * Message transport: the worklet's batches reach the main thread after the emulator's task at each
   * wake-up rather than before it (its task was queued first), so the frames that came due read a
   * ring still missing the audio of the task's length. Default false.
   */
  readonly batchesAfterFrames?: boolean;
  /** Seed for the jitter and the stalls. Default 1. */
  readonly seed?: number;
  /** The pipe's own default target (and maximum) for the transport, instead of `targetMs` (default 20). */
  readonly bridgeDefaults?: boolean;
  /** Passed to the pipe (BridgeOptions.maxLatencyMs). */
  readonly maxMs?: number;
}

export interface SimResult {
  readonly underruns: number;
  readonly overruns: number;
  /** The pipe's `underrunFrames` (guest frames for the microphone, the context's for the speaker). */
  readonly underrunFrames: number;
  readonly settledUnderruns: number;
  readonly settledOverruns: number;
  /** Fill after settling, ms. */
  readonly minFillMs: number;
  readonly maxFillMs: number;
  readonly finalRatio: number;
  /** The ratio was exactly 1 at every USB frame. */
  readonly ratioAlwaysOne: boolean;
  readonly decoder: CounterDecoder;
  readonly output: Int16Array | null;
  readonly targetMs: number;
  readonly maxMs: number;
  /** The pipe's final counts: guest frames converted exactly / with a correction, and correction spans. */
  readonly exactFrames: number;
  readonly resampledFrames: number;
  readonly resampledSpans: number;
  /** Mean ratio over the USB frames after settling (the drift the controller absorbed, on average). */
  readonly meanSettledRatio: number;
  /** Main-thread stalls injected, and the longest, in ms. */
  readonly mainStalls: number;
  readonly longestStallMs: number;
  /** The pipe's stats at the end. */
  readonly stats: AudioBridgeStats;
}

const stalled = (t: number, stalls: readonly (readonly [number, number])[] | undefined): boolean =>
  stalls?.some(([a, b]) => t >= a && t < b) ?? false;

/** The microphone: the card's clock makes render quanta, the frame clock reads packets. */
export function simulateCapture(options: SimOptions): SimResult {
  return simulate(options, "capture");
}

/** The speaker: the frame clock writes packets, the card's clock plays render quanta. */
export function simulatePlayback(options: SimOptions): SimResult {
  return simulate(options, "playback");
}

function simulate(options: SimOptions, direction: "capture" | "playback"): SimResult {
  const { contextRate, guestRate, channels, seconds } = options;
  const transport = options.transport ?? "shared";
  const burst = options.burst ?? 1;
  const settle = options.settleSeconds ?? 30;
  const format: StreamFormat = { sampleRate: guestRate, channels };
  /** The simulated wall clock (ms): the time of the emulator's wake-up in progress. */
  let wallMs = 0;
  const pipeOptions = {
    contextRate,
    shared: transport === "shared",
    now: () => wallMs,
    ...(options.bridgeDefaults === true ? {} : { targetMs: options.targetMs ?? 20 }),
    ...(options.maxMs !== undefined ? { maxMs: options.maxMs } : {}),
  };
  const pipe = direction === "capture" ? new CapturePipe(pipeOptions) : new PlaybackPipe(pipeOptions);
  const [mainPort, workletPort] = portPair();
  const classes = loadWorklet(() => workletPort);
  const processorOptions: WorkletProcessorOptions = {
    transport,
    buffer: transport === "shared" ? pipe.ring.buffer : null,
    capacityFrames: pipe.ring.capacityFrames,
    reportEvery: REPORT_EVERY,
  };
  const processor = new (direction === "capture" ? classes.microphone : classes.speaker)({
    processorOptions,
  });
  if (transport === "message") {
    if (pipe instanceof CapturePipe) wireCapturePort(pipe, mainPort);
    else wirePlaybackPort(pipe, mainPort);
  }

  const step = direction === "capture" ? contextRate / guestRate : guestRate / contextRate;
  // Going down in rate the anti-alias filter rings for its half-width around the counter's wrap.
  const probe = new Resampler(1);
  probe.configure(step * 1000, 1000);
  const decoder = new CounterDecoder(step, 1 + step * 0.003, Math.max(3, probe.halfWidth + 1));
  const outFrames = Math.ceil(seconds * (direction === "capture" ? guestRate : contextRate) * 1.01) + 4096;
  const output = options.keepOutput ? new Int16Array(outFrames * channels) : null;
  let outAt = 0;
  const emit = (samples: ArrayLike<number>, frames: number, stride: number, offset: number): void => {
    for (let f = 0; f < frames; f++) {
      const base = offset + f * stride;
      decoder.push(samples[base] ?? 0);
      if (output && outAt < outFrames)
        for (let c = 0; c < channels; c++) output[outAt * channels + c] = samples[base + c] ?? 0;
      outAt++;
    }
  };

  // The card: a render quantum every 128 / (rate × (1 + drift)) seconds.
  const quantumSeconds = RENDER_QUANTUM / (contextRate * (1 + options.driftPpm * 1e-6));
  const left = new Float32Array(RENDER_QUANTUM);
  const right = new Float32Array(RENDER_QUANTUM);
  const card16 = new Int16Array(RENDER_QUANTUM * 2);
  let cardFrame = 100; // the signal starts at frame 100: frame 0 of the counter is a zero, read as silence
  const pacer = new PacketPacer(guestRate);
  const packet = new Int16Array(64 * channels);
  let guestFrame = 100;

  let quanta = 0;
  let frames = 0;
  const random = new SeededRandom(options.seed ?? 1);
  const jitter = options.jitterMs ?? 0;
  const cardBurst = options.cardBurst ?? 1;
  const stalls = options.mainStalls;
  const between = (range: readonly [number, number]): number =>
    range[0] + random.next() * (range[1] - range[0]);
  let nextStall = stalls ? between(stalls.everySeconds) : Number.POSITIVE_INFINITY;
  let stallCount = 0;
  let longestStall = 0;
  /** Wake-ups so far, and the time of the one due next (never before the last one). */
  let wakes = 0;
  let lastWake = 0;
  let ratioSum = 0;
  let ratioCount = 0;
  const nextWake = (): number => {
    let t = (wakes * burst + burst - 1) * 1e-3;
    if (jitter > 0) t += (random.next() * 2 - 1) * jitter * 1e-3;
    if (t >= nextStall && stalls) {
      const ms = between(stalls.ms);
      stallCount++;
      longestStall = Math.max(longestStall, ms);
      t = Math.max(t, nextStall + ms * 1e-3);
      nextStall = t + between(stalls.everySeconds);
    }
    lastWake = Math.max(lastWake, t);
    return lastWake;
  };
  let tWake = nextWake();
  let minFill = Number.POSITIVE_INFINITY;
  let maxFill = 0;
  let settledBase: { underruns: number; overruns: number } | null = null;
  let ratioAlwaysOne = true;
  pipe.start(format);
  const end = seconds;
  while (true) {
    // A callback of `cardBurst` quanta renders them back to back at the first one's time.
    const tCard = Math.floor(quanta / cardBurst) * cardBurst * quantumSeconds;
    if (Math.min(tCard, tWake) >= end) break;
    if (tCard <= tWake) {
      quanta++;
      if (stalled(tCard, options.cardStalls)) continue;
      workletPort.deliver();
      if (direction === "capture") {
        for (let i = 0; i < RENDER_QUANTUM; i++) {
          const f = cardFrame + i;
          left[i] = counterSample(f) / 32768;
          right[i] = (channels === 2 ? testSignalSample(f, 1) : counterSample(f)) / 32768;
        }
        cardFrame += RENDER_QUANTUM;
        processor.process([[left, right]], [[new Float32Array(RENDER_QUANTUM)]]);
      } else {
        processor.process([], [[left, right]]);
        for (let i = 0; i < RENDER_QUANTUM; i++) {
          card16[i * 2] = Math.round(left[i]! * 32768);
          card16[i * 2 + 1] = Math.round(right[i]! * 32768);
        }
        emit(card16, RENDER_QUANTUM, 2, 0);
      }
      continue;
    }
    // The emulator wakes and runs the USB frames that came due, back to back.
    const hostStalled = stalled(tWake, options.hostStalls);
    const wokeAt = tWake;
    wallMs = wokeAt * 1000;
    wakes++;
    tWake = nextWake();
    if (options.batchesAfterFrames !== true) mainPort.deliver();
    const due = Math.floor(wokeAt * 1000 + 1e-9) + 1 - frames;
    for (let b = 0; b < due; b++) {
      const t = frames * 1e-3;
      frames++;
      if (hostStalled) continue;
      const n = pacer.next();
      if (pipe instanceof CapturePipe) {
        const got = pipe.read(packet, n, format);
        packet.fill(0, got * channels, n * channels);
        emit(packet, n, channels, 0);
      } else {
        for (let i = 0; i < n; i++) {
          packet[i * channels] = counterSample(guestFrame + i);
          if (channels === 2) packet[i * channels + 1] = testSignalSample(guestFrame + i, 1);
        }
        guestFrame += n;
        pipe.write(packet, n, format);
      }
      const s = pipe.stats();
      if (s.ratio !== 1) ratioAlwaysOne = false;
      if (t >= settle) {
        ratioSum += s.ratio;
        ratioCount++;
        if (settledBase === null) settledBase = { underruns: s.underruns, overruns: s.overruns };
        minFill = Math.min(minFill, s.fillMs);
        maxFill = Math.max(maxFill, s.fillMs);
      }
    }
    if (options.batchesAfterFrames === true) mainPort.deliver();
  }
  const final = pipe.stats();
  return {
    stats: final,
    underruns: final.underruns,
    overruns: final.overruns,
    underrunFrames: final.underrunFrames,
    settledUnderruns: final.underruns - (settledBase?.underruns ?? final.underruns),
    settledOverruns: final.overruns - (settledBase?.overruns ?? final.overruns),
    minFillMs: minFill,
    maxFillMs: maxFill,
    finalRatio: final.ratio,
    ratioAlwaysOne,
    decoder,
    output: output ? output.subarray(0, Math.min(outAt, outFrames) * channels) : null,
    targetMs: final.targetMs,
    maxMs: (pipe.maxFrames * 1000) / contextRate,
    exactFrames: final.exactFrames,
    resampledFrames: final.resampledFrames,
    resampledSpans: final.resampledSpans,
    meanSettledRatio: ratioCount > 0 ? ratioSum / ratioCount : 1,
    mainStalls: stallCount,
    longestStallMs: longestStall,
  };
}
