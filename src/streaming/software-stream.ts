import { type HostStallPolicy, UhciController } from "../controller/uhci/uhci-controller.ts";
import { AsyncIsoWrapper } from "../devices/async-host/async-iso-wrapper.ts";
import type { AsyncHostTiming } from "../devices/async-host/request-timing.ts";
import { StreamDirection } from "../devices/audio/audio-model.ts";
import { UsbMicrophone } from "../devices/audio/microphone.ts";
import { checkTestSignal, type TestSignalReport } from "../devices/audio/signal-check.ts";
import { MemorySink } from "../devices/audio/sinks/memory-sink.ts";
import type { AudioSource } from "../devices/audio/sources/audio-source.ts";
import { TestSignalSource } from "../devices/audio/sources/test-signal-source.ts";
import { UsbSpeaker } from "../devices/audio/speaker.ts";
import { generateTestSignal } from "../devices/audio/test-signal.ts";
import { setSamplingFrequency } from "../guest/iso-audio-requests.ts";
import type { IsoStream } from "../guest/iso-stream.ts";
import { guestMachineFor } from "../guest/machine-adapter.ts";
import { TransferStatus } from "../guest/transfer-result.ts";
import { UhciGuestDriver } from "../guest/uhci-guest-driver.ts";
import { VirtualClock } from "../machine/clock.ts";
import { RamGuestMemory } from "../machine/guest-memory.ts";
import { LevelIrqLine } from "../machine/irq-line.ts";
import type { UsbDevice } from "../usb/device.ts";
import { LiveSink, LiveSource } from "./live-audio.ts";
import { Percentiles, type Summary } from "./percentiles.ts";
import { judgeStream, STALL_RECOVERY_MS, type StallLoss } from "./stream-verdict.ts";
import { streamingAlternate } from "./uac1-alternate.ts";

export const HostModel = {
  /** The emulated device answers every packet at once from its own buffers. */
  Sync: "sync",
  /** Packets are answered later from a timer, as passthrough answers (seed points 1–3). */
  Async: "async",
} as const;
export type HostModel = (typeof HostModel)[keyof typeof HostModel];

export interface SoftwareStreamOptions {
  direction: StreamDirection;
  sampleRate: number;
  channels: 1 | 2;
  seconds: number;
  host: HostModel;
  /** URBs in flight × packets per URB (Linux playback 3×6, capture 12×1, the seed's 4×5). */
  urbs: number;
  packetsPerUrb: number;
  /** Capture: what the microphone produces (default: the frame-counter test signal). */
  source?: AudioSource;
  /** Playback: interleaved samples the guest plays (default: the frame-counter test signal). */
  playback?: Int16Array;
  /** Async host timing (default: first request 10 frames out, then 0.4 ms after each request, up to 0.3 ms jitter). */
  asyncTiming?: Partial<AsyncHostTiming>;
  /**
   * Host stalls: at `atMs` ms after the stream opened, the whole machine stops for `ms` ms — nothing
   * runs, neither the guest nor the controller, as when the host process is stopped — and then its
   * clock has jumped by `ms` (the guest's own time too, as Linux's does in v86). What the controller
   * makes of the overdue frames is its frame clock's stall policy. Each must start inside the stream.
   */
  stalls?: readonly HostStall[];
  /** The controller's host-pause policy (default: the controller's own, DEFAULT_HOST_STALL_POLICY). */
  hostStall?: Partial<HostStallPolicy>;
  /** Told the fraction done now and then. */
  onProgress?: (fraction: number) => void;
}

/** A host stall injected into a software stream. */
export interface HostStall {
  /**
   * When it begins: ms of the machine's time since the stream opened, earlier stalls included
   * (0 ≤ atMs < the stream's length + the stalls before it).
   */
  readonly atMs: number;
  /** How long the host is stopped, in ms (> 0). */
  readonly ms: number;
}

export interface SoftwareStreamResult {
  direction: StreamDirection;
  host: HostModel;
  format: { sampleRate: number; channels: number; bits: 16 };
  preset: { urbs: number; packetsPerUrb: number };
  /** Frames the stream was asked to carry: the guest records this many, or plays this many of its signal. */
  framesExpected: number;
  /**
   * Frames the source side produced: capture, the microphone's frames up to the last one the guest kept
   * (received + head loss + lost, whatever the host never fetched in time included); playback, the
   * frames of the signal the guest played.
   */
  framesSent: number;
  /** Frames the receiving side got (guest or speaker). */
  framesReceived: number;
  /**
   * Frames lost, located: missing from what arrived (signal gaps, seen by the frame-counter check) or
   * played as silence by the speaker because data came later than real time allows ({@link LiveSink}).
   */
  lost: { total: number; outsideStalls: number; fromSignal: number };
  /** Every injected stall and what it cost. */
  stalls: StallLoss[];
  packets: { ok: number; missed: number; errors: number };
  /** Packets missed (-EXDEV) outside any stall and its recovery window. */
  packetsMissedOutsideStalls: number;
  lateRestarts: number;
  /** Frames between a URB's last TD and the guest driver seeing it (0 = the next frame boundary). */
  urbLagFrames: Summary;
  /** Host time from a device's async completion call until its data is in guest memory (async only). */
  completionToMemoryUs: Summary | null;
  /**
   * The frame-counter check of what arrived (null when a custom source/signal was used). A capture with
   * stalls is checked in segments cut at each stall: this is the first segment's.
   */
  check: TestSignalReport | null;
  /** Frames of the signal missing before the first that arrived (stream start-up). */
  headLossFrames: number;
  /** Playback: frames of the signal missing after the last that arrived (0 for capture). */
  tailLossFrames: number;
  /** Every frame that arrived is the signal frame expected at its place: nothing inserted or altered. */
  bitExact: boolean;
  /** What arrived, interleaved. */
  samples: Int16Array;
  /** Nothing lost, inserted or altered beyond {@link AudioAllowance} (stream-verdict.ts). */
  ok: boolean;
  /** Why not ok, one line each. */
  problems: string[];
  /** Host seconds the run took. */
  hostSeconds: number;
}

const DEFAULT_ASYNC_TIMING: Partial<AsyncHostTiming> = { isoLatencyMs: 0.4, jitterMs: 0.3, seed: 7 };
/** How long past its due end a stream that has not finished is given before it is cut off. */
const GIVE_UP_AFTER_MS = 1000;

/**
 * One audio stream through the UHCI controller, driven by the software guest driver as Linux's
 * uhci-hcd + snd-usb-audio would drive it, on a virtual clock (as fast as the host allows): enumerate
 * the USB Audio Class device, select the streaming alternate for the channel count, set the sampling
 * frequency, keep URBs in flight, and compare what arrived with what was sent.
 */
export function runSoftwareStream(options: SoftwareStreamOptions): SoftwareStreamResult {
  const started = performance.now();
  const { direction, sampleRate, channels, seconds } = options;
  const totalFrames = Math.round(sampleRate * seconds);
  const streamMs = seconds * 1000;
  const stalls = [...(options.stalls ?? [])].sort((a, b) => a.atMs - b.atMs);
  // The stream lasts its audio plus every stall before a point: a stall must begin before that.
  let earlierMs = 0;
  for (const stall of stalls) {
    if (
      !(stall.atMs >= 0 && stall.atMs < streamMs + earlierMs) ||
      !(stall.ms > 0 && Number.isFinite(stall.ms))
    )
      throw new RangeError(
        `a stall of ${stall.ms} ms at ${stall.atMs} ms is not inside a ${streamMs} ms stream (+ ${earlierMs} ms of stalls before it)`,
      );
    earlierMs += stall.ms;
  }
  const stalledMs = stalls.reduce((sum, s) => sum + s.ms, 0);
  const memory = new RamGuestMemory(4 << 20);
  const irq = new LevelIrqLine();
  const clock = new VirtualClock();
  const controller = new UhciController({
    memory,
    irq,
    clock,
    ...(options.hostStall === undefined ? {} : { hostStall: options.hostStall }),
  });

  const sink = new MemorySink({ channels, maxFrames: totalFrames + sampleRate });
  // The devices live in real time: a microphone loses what the host does not fetch in time, a speaker
  // plays silence when data comes late (live-audio.ts). Without that, a stream that stalls or cannot
  // keep up would look lossless, its pulled signal merely delayed.
  // What the devices lost, summed per stall window (by when it happened) and outside any.
  const deviceLoss = new Float64Array(stalls.length);
  let deviceLossOutside = 0;
  const noteDeviceLoss = (atMs: number, frames: number) => {
    const index = inWindowOf(atMs);
    if (index >= 0) deviceLoss[index]! += frames;
    else deviceLossOutside += frames;
  };
  const liveSource = new LiveSource(options.source ?? new TestSignalSource(), clock, noteDeviceLoss);
  const liveSink = new LiveSink(sink, clock, noteDeviceLoss);
  const audio =
    direction === StreamDirection.Capture
      ? new UsbMicrophone({ source: liveSource })
      : new UsbSpeaker({ sink: liveSink });
  const completion = new Percentiles();
  let device: UsbDevice = audio;
  if (options.host === HostModel.Async) {
    const wrapper = new AsyncIsoWrapper(audio, {
      clock,
      timing: { ...DEFAULT_ASYNC_TIMING, ...options.asyncTiming },
    });
    wrapper.onCompleted = (_packet, ms) => completion.add(ms * 1000);
    device = wrapper;
  }
  controller.attach(0, device);

  const driver = UhciGuestDriver.start(guestMachineFor({ controller, memory, irq, clock }), {
    dmaBase: 0x10000,
    dmaSize: 0x200000,
    // Take the interrupt within 1/8 ms, as an OS does: async completions land between frames.
    interruptChecksPerMs: 8,
  });
  const enumerated = driver.enumerate(0);
  if (!enumerated.ok) throw new Error(`the guest could not enumerate the ${audio.name}: ${enumerated.error}`);
  const guestDevice = enumerated.device;
  const alternate = streamingAlternate(guestDevice.info.configuration, direction, channels, sampleRate);
  const endpoint = alternate.endpoint;
  const selected = guestDevice.setInterface(alternate.interfaceNumber, alternate.alternate);
  if (selected.status !== TransferStatus.Ok) throw new Error(`SET_INTERFACE failed: ${selected.status}`);
  const rate = guestDevice.control(setSamplingFrequency(endpoint, sampleRate));
  if (rate.status !== TransferStatus.Ok) throw new Error(`SET_CUR sampling frequency failed: ${rate.status}`);

  const bytesPerFrame = channels * 2;
  // The guest records exactly the frames asked for, as `arecord -s N` does.
  const received = new Int16Array(totalFrames * channels);
  let receivedSamples = 0;
  const signal = options.playback ?? generateTestSignal(totalFrames, channels);
  const signalBytes = new Uint8Array(signal.buffer, signal.byteOffset, signal.byteLength);
  let playedBytes = 0;
  const lag = new Percentiles();
  /** Audio frames in packet `index` of a stream: rate/1000 with the remainder carried (44/45 at 44.1 kHz). */
  const framesInPacket = (index: number) =>
    Math.floor(((index + 1) * sampleRate) / 1000) - Math.floor((index * sampleRate) / 1000);

  let stream: IsoStream;
  if (direction === StreamDirection.Capture) {
    stream = guestDevice.openIsoStream(endpoint, {
      urbs: options.urbs,
      packetsPerUrb: options.packetsPerUrb,
      onData: (data) => {
        const samples = Math.min(data.length >> 1, received.length - receivedSamples);
        for (let i = 0; i < samples; i++) {
          received[receivedSamples + i] = ((data[2 * i]! | (data[2 * i + 1]! << 8)) << 16) >> 16;
        }
        receivedSamples += samples;
      },
      onUrbComplete: (urb) => lag.add(urb.lagFrames),
    });
  } else {
    stream = guestDevice.openIsoStream(endpoint, {
      urbs: options.urbs,
      packetsPerUrb: options.packetsPerUrb,
      packetSize: (index) => framesInPacket(index) * bytesPerFrame,
      fill: (buffer) => {
        const n = Math.max(0, Math.min(buffer.length, signalBytes.length - playedBytes));
        buffer.set(signalBytes.subarray(playedBytes, playedBytes + n));
        buffer.fill(0, n);
        playedBytes += buffer.length;
      },
      onUrbComplete: (urb) => lag.add(urb.lagFrames),
    });
  }

  // Where the receiving side stood at each stall's start and at the end of its recovery window: losses
  // seen between the two are the stall's, any other loss is the stream's own.
  const position = () => (direction === StreamDirection.Capture ? receivedSamples / channels : sink.frames);
  const openedMs = clock.now();
  // A stall's window: from its start to the end of its recovery (set when the stall begins).
  function inWindowOf(atMs: number): number {
    return windows.findIndex((w) => w.happened && atMs - openedMs >= w.fromMs && atMs - openedMs <= w.toMs);
  }
  const windows = stalls.map((s) => ({
    ...s,
    /** Set when the stall happens; a stall that never happened holds no loss (no frame, no time). */
    happened: false,
    /** Its recovery window was closed before its 100 ms of running: by the next stall or the end. */
    cutShort: false,
    fromMs: 0,
    toMs: 0,
    fromFrame: Number.POSITIVE_INFINITY,
    toFrame: Number.NEGATIVE_INFINITY,
    missedBefore: 0,
    missedAfter: -1,
  }));
  // Capture runs until the guest has every frame it asked for (arecord -s N); playback until the guest
  // has queued its whole signal (aplay then drains). Either gives up a second after its time is due.
  const finished = () =>
    direction === StreamDirection.Capture
      ? receivedSamples >= received.length
      : playedBytes >= signalBytes.length;
  const endMs = streamMs + stalledMs + GIVE_UP_AFTER_MS;
  const runTo = (untilMs: number) => {
    for (;;) {
      const now = clock.now() - openedMs;
      if (now >= untilMs || finished()) return;
      driver.run(Math.max(1, Math.min(1000, Math.ceil(untilMs - now))));
      options.onProgress?.(Math.min(1, (clock.now() - openedMs) / (streamMs + stalledMs)));
    }
  };
  const closeWindow = (w: (typeof windows)[number]) => {
    w.cutShort = clock.now() - openedMs < w.toMs;
    w.toFrame = position();
    w.missedAfter = stream.stats.packetsMissed;
  };
  let stallIndex = 0;
  let pendingRecovery: (typeof windows)[number] | null = null;
  // Every pass either stalls, closes a window, ends, or runs time forward to a point still ahead.
  for (;;) {
    const now = clock.now() - openedMs;
    if (pendingRecovery !== null && now >= pendingRecovery.toMs) {
      closeWindow(pendingRecovery);
      pendingRecovery = null;
    }
    const nextStall = windows[stallIndex];
    if (nextStall !== undefined && now >= nextStall.atMs && !finished()) {
      // A stall inside the last one's recovery window ends that window here.
      if (pendingRecovery !== null) closeWindow(pendingRecovery);
      nextStall.happened = true;
      nextStall.fromMs = now;
      nextStall.fromFrame = position();
      nextStall.missedBefore = stream.stats.packetsMissed;
      // The host stops: nothing runs, and then the clock has jumped (VirtualClock.jumpTo fires nothing).
      clock.jumpTo(clock.now() + nextStall.ms);
      nextStall.toMs = now + nextStall.ms + STALL_RECOVERY_MS;
      pendingRecovery = nextStall;
      stallIndex++;
      continue;
    }
    if (finished() || now >= endMs) break;
    runTo(Math.min(nextStall?.atMs ?? endMs, pendingRecovery?.toMs ?? endMs, endMs));
  }
  if (pendingRecovery !== null) closeWindow(pendingRecovery);
  stream.drain(200);
  stream.close();
  driver.run(2);

  const captured =
    direction === StreamDirection.Capture ? received.subarray(0, receivedSamples) : sink.samples.slice();
  const usesTestSignal =
    direction === StreamDirection.Capture ? options.source === undefined : options.playback === undefined;
  const stats = stream.stats;
  const packets = { ok: stats.packetsOk, missed: stats.packetsMissed, errors: stats.packetsError };

  // Locate every loss: signal gaps by where they show in what arrived, device-side losses by time.
  const stallLosses = windows.map(() => 0);
  let lostOutside = 0;
  const problems: string[] = [];
  // Frame `at` of what arrived came while a window was open when the window began at or before it and
  // closed after it (toFrame is the count at the close: frame toFrame itself came later).
  const inWindowAt = (at: number) => windows.findIndex((w) => at >= w.fromFrame && at < w.toFrame);
  const account = (index: number, frames: number) => {
    if (index >= 0) stallLosses[index]! += frames;
    else lostOutside += frames;
  };

  let check: TestSignalReport | null = null;
  let headLossFrames = 0;
  let tailLossFrames = 0;
  let bitExact = true;
  let framesReceived = Math.floor(captured.length / channels);
  if (usesTestSignal && direction === StreamDirection.Playback) {
    // The speaker's signal has small gaps at most (TDs the bus skipped); time lost shows as underruns.
    check = fullCheck(captured, channels, totalFrames);
    for (const event of check.events)
      if (event.kind === "dropped") account(inWindowAt(event.at), event.count);
    for (const [index, frames] of deviceLoss.entries()) stallLosses[index]! += frames;
    lostOutside += deviceLossOutside;
    headLossFrames = check.headLossFrames;
    tailLossFrames = check.tailLossFrames ?? 0;
    bitExact = check.bitExact;
    framesReceived = check.framesReceived;
    if (!check.found) problems.push("the test signal was not found in what arrived");
  } else if (usesTestSignal) {
    // Capture: a gap may be longer than the frame counter's period (65,536 frames, 1.4 s at 48 kHz),
    // which no reader of the signal alone can measure. So what arrived is cut at every break the
    // checker could misread — the first break after each stall began (packets the bus ran before a
    // stall may reach the guest after it), and any forward jump of half the counter or more — and each
    // segment is checked on its own (bit-exact, its small gaps located). A cut's gap is read from the
    // counter (and in stereo the triangle) modulo the signal's period; the microphone's own count of
    // what it threw away (LiveSource) there picks the multiple, and must all show as missing.
    const half = 0x8000;
    const counterAt = (frame: number) => captured[frame * channels]! & 0xffff;
    const step = (frame: number) => (counterAt(frame) - counterAt(frame - 1)) & 0xffff;
    const cutSet = new Set<number>();
    for (const w of windows) {
      if (!w.happened) continue;
      if (w.fromFrame === 0) {
        cutSet.add(0);
        continue;
      }
      for (let f = Math.max(1, w.fromFrame); f < Math.min(framesReceived, w.toFrame); f++)
        if (step(f) !== 1) {
          cutSet.add(f);
          break;
        }
    }
    for (let f = 1; f < framesReceived; f++) if (step(f) >= half) cutSet.add(f);
    const cuts = [...cutSet].sort((a, b) => a - b);
    const period = channels === 2 ? 3 * 65_536 : 65_536;
    // Per place (a stall's window, or -1 outside any): the gaps read at its cuts, mod the period.
    const places = [-1, ...windows.keys()];
    const gapsAt = new Map<number, number>(places.map((k) => [k, 0]));
    const dropsAt = new Map<number, number>(places.map((k) => [k, 0]));
    // A cut at frame 0 (a stall before anything arrived) measures the head.
    const placeOf = (cut: number) =>
      cut === 0 ? windows.findIndex((w) => w.happened && w.fromFrame === 0) : inWindowAt(cut);
    let lastFrame = -1;
    const bounds = cuts[0] === 0 ? cuts : [0, ...cuts];
    for (const [n, start] of bounds.entries()) {
      const end = bounds[n + 1] ?? framesReceived;
      if (end <= start) continue;
      const segment = fullCheck(captured.subarray(start * channels, end * channels), channels);
      if (!segment.found) {
        problems.push(`no test signal in frames ${start}–${end} of what arrived`);
        bitExact = false;
        continue;
      }
      if (start === 0) check = segment;
      bitExact &&= segment.bitExact && segment.leadingSilenceFrames === 0;
      for (const event of segment.events) {
        if (event.kind !== "dropped") continue;
        const place = inWindowAt(start + event.at);
        account(place, event.count);
        dropsAt.set(place, dropsAt.get(place)! + event.count);
      }
      if (start === 0 && !cutSet.has(0)) {
        headLossFrames = segment.headLossFrames;
      } else {
        const place = placeOf(start);
        const gapModulo = (((segment.firstFrame - lastFrame - 1) % period) + period) % period;
        gapsAt.set(place, gapsAt.get(place)! + gapModulo);
      }
      lastFrame = segment.lastFrame;
    }
    // The microphone notes a loss when it happens, what arrived shows it when the next frame comes:
    // after a stall with nothing arriving for its whole recovery window, the two places differ. So
    // every frame thrown away must show as missing somewhere, not necessarily in the same place.
    let shown = 0;
    for (const place of places) {
      const read = gapsAt.get(place)!;
      const thrownAway = place < 0 ? deviceLossOutside : deviceLoss[place]!;
      const gap = read + Math.max(0, Math.round((thrownAway - read) / period)) * period;
      account(place, gap);
      shown += gap + dropsAt.get(place)!;
    }
    const thrownAway = deviceLossOutside + deviceLoss.reduce((sum, n) => sum + n, 0);
    if (shown < thrownAway)
      problems.push(
        `what arrived misses ${shown} frames, fewer than the ${thrownAway} the microphone threw away`,
      );
  }
  if (direction === StreamDirection.Capture && framesReceived < totalFrames)
    problems.push(`the guest got ${framesReceived} of the ${totalFrames} frames it asked for`);
  let missedInStalls = 0;
  for (const w of windows) missedInStalls += Math.max(0, w.happened ? w.missedAfter - w.missedBefore : 0);
  const packetsMissedOutsideStalls = packets.missed - missedInStalls;
  const stallReport: StallLoss[] = windows.map((w, i) => ({
    atMs: w.atMs,
    ms: w.ms,
    lostFrames: stallLosses[i]!,
  }));
  const lostTotal = lostOutside + stallLosses.reduce((sum, n) => sum + n, 0);
  for (const w of windows) {
    if (!w.happened) problems.push(`the stall at ${w.atMs} ms did not happen: the stream had finished`);
    else if (w.toFrame <= w.fromFrame && !w.cutShort)
      problems.push(
        `nothing arrived in the ${STALL_RECOVERY_MS} ms of running after the stall at ${w.atMs} ms: the stream did not recover`,
      );
  }
  // Capture: the frames the microphone produced for what the guest kept, whether they arrived or not.
  const framesSent =
    direction === StreamDirection.Capture
      ? framesReceived + headLossFrames + lostTotal
      : Math.min(totalFrames, playedBytes / bytesPerFrame);

  const verdict = judgeStream({
    sampleRate,
    framesExpected: totalFrames,
    framesReceived,
    bitExact,
    headLossFrames,
    tailLossFrames,
    lostOutsideStalls: lostOutside,
    stalls: stallReport,
    framesMissing: 0,
    packetsMissed: packetsMissedOutsideStalls,
    packetErrors: packets.errors,
  });
  problems.push(...verdict.problems);
  return {
    direction,
    host: options.host,
    format: { sampleRate, channels, bits: 16 },
    preset: { urbs: options.urbs, packetsPerUrb: options.packetsPerUrb },
    framesExpected: totalFrames,
    framesSent,
    framesReceived,
    // Frames missing from the signal itself (the rest of a playback's loss is the speaker's silence).
    lost: {
      total: lostTotal,
      outsideStalls: lostOutside,
      fromSignal: direction === StreamDirection.Capture ? lostTotal : lostTotal - liveSink.lostFrames,
    },
    stalls: stallReport,
    packets,
    packetsMissedOutsideStalls,
    lateRestarts: stats.lateRestarts,
    urbLagFrames: lag.summary(),
    completionToMemoryUs: options.host === HostModel.Async ? completion.summary() : null,
    check,
    headLossFrames,
    tailLossFrames,
    bitExact,
    samples: captured,
    ok: problems.length === 0,
    problems,
    hostSeconds: (performance.now() - started) / 1000,
  };
}

/** The frame-counter check with every anomaly listed (the counts are always complete; the list too here). */
function fullCheck(samples: Int16Array, channels: number, expectedFrames?: number): TestSignalReport {
  const options = expectedFrames === undefined ? {} : { expectedFrames };
  const first = checkTestSignal(samples, channels, options);
  return first.eventCount > first.events.length
    ? checkTestSignal(samples, channels, { ...options, maxEvents: first.eventCount })
    : first;
}
