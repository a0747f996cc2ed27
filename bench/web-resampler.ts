/**
 * Benchmark: what the WebAudio bridge costs the main thread per 1 ms USB frame — the microphone's
 * `read` (ring → resampler → 16-bit packet) and the speaker's `write` (packet → resampler → ring), at
 * matched rates (pass-through), converting, and with a drift correction in force — and whether those
 * calls allocate. The worklet's side is fed and drained directly (a render quantum whenever the ring
 * needs one), so only the main thread's work is timed.
 *
 * Allocation: heapUsed across a window of calls with no GC in it (a window whose heap shrank had one
 * and is retried); the smallest of up to five windows counts, as a one-off (a JIT compilation
 * finishing) shows in one window and a per-call allocation in all. An allocation of even 16 bytes per
 * call would show as hundreds of kilobytes. src/web/allocation.test.ts asserts the same zero.
 *
 * Going down in rate (48 → 16 kHz, 96 → 8 kHz, 48 → 44.1 kHz) the resampler runs its anti-alias
 * filter (a windowed sinc, `filterTaps` taps per output frame); up or at the same rate the cubic.
 */
import { PerformanceObserver } from "node:perf_hooks";
import type { StreamFormat } from "../src/devices/audio/stream-format.ts";
import { CapturePipe, PlaybackPipe, RENDER_QUANTUM } from "../src/web/pipes.ts";
import { Resampler } from "../src/web/resampler.ts";

export interface WebResamplerCase {
  name: string;
  contextRate: number;
  guestRate: number;
  channels: number;
  /** The fill is held 10 ms above the target, so the controller's correction is in force (ratio ≠ 1). */
  correcting: boolean;
  /** The ratio in force at the end, microphone / speaker. */
  ratios: [number, number];
  /** Taps per output frame, microphone / speaker: 4 = the cubic, more = the anti-alias filter (going down in rate). */
  filterTaps: [number, number];
  captureMicrosPerFrame: number;
  playbackMicrosPerFrame: number;
  /** Share of one core the call takes at one call per ms. */
  captureCpuPercent: number;
  playbackCpuPercent: number;
  captureBytesPerCall: number | null;
  playbackBytesPerCall: number | null;
}

export interface WebResamplerResult {
  calls: number;
  cases: WebResamplerCase[];
}

const CASES = [
  {
    name: "48 kHz ↔ 48 kHz stereo, pass-through",
    contextRate: 48000,
    guestRate: 48000,
    channels: 2,
    correcting: false,
  },
  {
    name: "48 kHz ↔ 48 kHz stereo, drift correction",
    contextRate: 48000,
    guestRate: 48000,
    channels: 2,
    correcting: true,
  },
  {
    name: "44.1 kHz context ↔ 48 kHz stereo guest",
    contextRate: 44100,
    guestRate: 48000,
    channels: 2,
    correcting: true,
  },
  {
    name: "48 kHz context ↔ 16 kHz mono guest",
    contextRate: 48000,
    guestRate: 16000,
    channels: 1,
    correcting: true,
  },
  {
    name: "96 kHz context ↔ 8 kHz mono guest",
    contextRate: 96000,
    guestRate: 8000,
    channels: 1,
    correcting: true,
  },
] as const;

let gcs = 0;
const observer = new PerformanceObserver((list) => {
  gcs += list.getEntries().length;
});

/** Runs `calls` frames of `step`, timed; and a window of them for allocation. */
function measure(step: () => void, calls: number): { micros: number; bytesPerCall: number | null } {
  for (let i = 0; i < Math.min(calls, 20000); i++) step(); // warm up (JIT)
  const started = process.hrtime.bigint();
  for (let i = 0; i < calls; i++) step();
  const micros = Number(process.hrtime.bigint() - started) / 1000 / calls;
  let bytesPerCall: number | null = null;
  for (let attempt = 0; attempt < 5 && bytesPerCall !== 0; attempt++) {
    const window = 20000;
    const gcBefore = gcs;
    const before = process.memoryUsage().heapUsed;
    for (let i = 0; i < window; i++) step();
    const after = process.memoryUsage().heapUsed;
    // The observer reports a GC only later; a collection inside the window also shrinks the heap.
    if (gcs !== gcBefore || after < before) continue;
    const bytes = (after - before) / window;
    bytesPerCall = bytesPerCall === null ? bytes : Math.min(bytesPerCall, bytes);
  }
  return { micros, bytesPerCall };
}

export function runWebResampler(quick: boolean, log: (line: string) => void): WebResamplerResult {
  observer.observe({ entryTypes: ["gc"] });
  const calls = quick ? 20000 : 200000;
  const cases: WebResamplerCase[] = [];
  for (const c of CASES) {
    const format: StreamFormat = { sampleRate: c.guestRate, channels: c.channels };
    const perPacket = Math.floor(c.guestRate / 1000);
    const offset = c.correcting ? Math.round(c.contextRate / 100) : 0;
    const packet = new Int16Array(perPacket * c.channels);
    const quantum = new Float32Array(RENDER_QUANTUM * 2).map((_, i) => Math.sin(i / 10) * 0.5);
    const drained = new Float32Array(RENDER_QUANTUM * 2);

    const capture = new CapturePipe({ contextRate: c.contextRate, shared: true });
    capture.start(format);
    const captureStep = (): void => {
      // The card keeps the ring at its target; the ratio is forced by a constant fill error.
      while (capture.ring.availableFrames < capture.targetFrames + offset)
        capture.ring.write(quantum, 0, RENDER_QUANTUM);
      capture.read(packet, perPacket, format);
    };
    const cap = measure(captureStep, calls);

    const playback = new PlaybackPipe({ contextRate: c.contextRate, shared: true });
    playback.start(format);
    const playbackStep = (): void => {
      playback.write(packet, perPacket, format);
      while (playback.ring.availableFrames > playback.targetFrames + offset)
        playback.ring.read(drained, 0, RENDER_QUANTUM);
    };
    const play = measure(playbackStep, calls);
    const taps = (from: number, to: number): number => {
      const probe = new Resampler(1);
      probe.configure(from, to);
      return 2 * probe.halfWidth;
    };
    const row: WebResamplerCase = {
      ...c,
      ratios: [capture.stats().ratio, playback.stats().ratio],
      filterTaps: [taps(c.contextRate, c.guestRate), taps(c.guestRate, c.contextRate)],
      captureMicrosPerFrame: round(cap.micros),
      playbackMicrosPerFrame: round(play.micros),
      captureCpuPercent: round(cap.micros / 10),
      playbackCpuPercent: round(play.micros / 10),
      captureBytesPerCall: cap.bytesPerCall === null ? null : round(cap.bytesPerCall),
      playbackBytesPerCall: play.bytesPerCall === null ? null : round(play.bytesPerCall),
    };
    cases.push(row);
    log(
      `   ${c.name}: microphone read ${row.captureMicrosPerFrame} µs (${row.captureBytesPerCall ?? "?"} B), speaker write ${row.playbackMicrosPerFrame} µs (${row.playbackBytesPerCall ?? "?"} B) per 1 ms frame; ratio ${row.ratios[0]} / ${row.ratios[1]}; taps ${row.filterTaps[0]} / ${row.filterTaps[1]}`,
    );
  }
  observer.disconnect();
  return { calls, cases };
}

const round = (v: number): number => Math.round(v * 1000) / 1000;
