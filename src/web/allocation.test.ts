import assert from "node:assert/strict";
import { PerformanceObserver, performance } from "node:perf_hooks";
import { after, before, describe, it } from "node:test";
import type { StreamFormat } from "../devices/audio/stream-format.ts";
import { CapturePipe, PlaybackPipe, RENDER_QUANTUM, REPORT_EVERY } from "./pipes.ts";
import { loadWorklet, portPair } from "./testing/audio-sim.ts";

/**
 * The bridges' per-frame calls allocate nothing, with a drift correction in force, while the
 * position glides back to whole frames, going down through the anti-alias filter, and at
 * pass-through: the microphone's `read` and the speaker's `write` run once per 1 ms USB frame, and
 * an earlier version boxed one double per call there (16–32 bytes per ms).
 *
 * Method: V8 allocates by bumping a pointer in the young generation, so with no garbage collection
 * in between, heapUsed after − before a window of calls is what they allocated. A "gc" performance
 * entry inside the window voids it (then it is retried); the smallest of a few windows counts, as a
 * one-off (a JIT compilation finishing) shows in one window only and a per-call allocation in all.
 * One boxed double per call would show as 16 × 20,000 = 320,000 bytes.
 */
const CALLS = 20000;
const gcs: number[] = [];
const observer = new PerformanceObserver((list) => {
  for (const entry of list.getEntries()) gcs.push(entry.startTime, entry.startTime + entry.duration);
});
before(() => observer.observe({ entryTypes: ["gc"] }));
after(() => observer.disconnect());

const tick = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

/** The smallest heap growth over a GC-free window of CALLS calls of `step`, in bytes. */
async function bytesPerWindow(step: () => void): Promise<number> {
  for (let i = 0; i < 30000; i++) step(); // warm up: the JIT settles
  let best = Number.POSITIVE_INFINITY;
  for (let attempt = 0, valid = 0; attempt < 12 && valid < 4 && best > 0; attempt++) {
    await tick();
    const t0 = performance.now();
    const h0 = process.memoryUsage().heapUsed;
    for (let i = 0; i < CALLS; i++) step();
    const h1 = process.memoryUsage().heapUsed;
    const t1 = performance.now();
    await tick();
    await tick();
    let collected = false;
    for (let k = 0; k + 1 < gcs.length; k += 2) if (gcs[k + 1]! >= t0 && gcs[k]! <= t1) collected = true;
    if (collected) continue;
    valid++;
    best = Math.min(best, h1 - h0);
  }
  return best;
}

/** The overhead of the measurement itself (two heapUsed calls around an empty window). */
async function emptyWindow(): Promise<number> {
  return bytesPerWindow(() => {});
}

interface Case {
  readonly name: string;
  readonly contextRate: number;
  readonly guestRate: number;
  readonly channels: number;
  /** Hold the fill this far from the target (ms): beyond the band, so a correction is in force. */
  readonly offsetMs: number;
}

const CASES: readonly Case[] = [
  {
    name: "48 ↔ 48 kHz stereo, pass-through",
    contextRate: 48000,
    guestRate: 48000,
    channels: 2,
    offsetMs: 0,
  },
  { name: "48 ↔ 48 kHz stereo, correcting", contextRate: 48000, guestRate: 48000, channels: 2, offsetMs: 10 },
  {
    name: "44.1 kHz ↔ 48 kHz stereo, correcting",
    contextRate: 44100,
    guestRate: 48000,
    channels: 2,
    offsetMs: 10,
  },
  {
    name: "48 kHz ↔ 16 kHz mono, correcting",
    contextRate: 48000,
    guestRate: 16000,
    channels: 1,
    offsetMs: 10,
  },
  { name: "96 kHz ↔ 8 kHz mono, correcting", contextRate: 96000, guestRate: 8000, channels: 1, offsetMs: 10 },
];

describe("the bridges' per-frame calls allocate nothing", () => {
  for (const c of CASES) {
    it(`${c.name}: microphone read and speaker write, 0 bytes per call`, async () => {
      const overhead = await emptyWindow();
      const format: StreamFormat = { sampleRate: c.guestRate, channels: c.channels };
      const perPacket = Math.floor(c.guestRate / 1000);
      const offset = Math.round((c.offsetMs * c.contextRate) / 1000);
      const packet = new Int16Array(perPacket * c.channels).map((_, i) => (i * 37) % 2000);
      const quantum = new Float32Array(RENDER_QUANTUM * 2).map((_, i) => Math.sin(i / 10) * 0.5);
      const drained = new Float32Array(RENDER_QUANTUM * 2);

      const capture = new CapturePipe({ contextRate: c.contextRate, shared: true });
      capture.start(format);
      const captureBytes = await bytesPerWindow(() => {
        // The card keeps the ring at target + offset; the controller corrects against it.
        while (capture.ring.availableFrames < capture.targetFrames + offset)
          capture.ring.write(quantum, 0, RENDER_QUANTUM);
        capture.read(packet, perPacket, format);
      });

      const playback = new PlaybackPipe({ contextRate: c.contextRate, shared: true });
      playback.start(format);
      const playbackBytes = await bytesPerWindow(() => {
        playback.write(packet, perPacket, format);
        while (playback.ring.availableFrames > playback.targetFrames + offset)
          playback.ring.read(drained, 0, RENDER_QUANTUM);
      });

      for (const [bridge, stats] of [
        ["microphone", capture.stats()],
        ["speaker", playback.stats()],
      ] as const) {
        assert.equal(stats.underruns + stats.overruns, 0, bridge);
        if (c.offsetMs === 0) assert.equal(stats.mode, "exact", `${bridge} passes through`);
        else assert.notEqual(stats.ratio, 1, `${bridge}: a correction is in force`);
      }
      // Less than 0.1 byte per call above the measurement's own overhead: nothing per call.
      assert.ok(
        captureBytes - overhead < CALLS / 10,
        `microphone: ${captureBytes - overhead} B per ${CALLS} calls`,
      );
      assert.ok(
        playbackBytes - overhead < CALLS / 10,
        `speaker: ${playbackBytes - overhead} B per ${CALLS} calls`,
      );
    });
  }

  it("the microphone worklet watching its source (no channels, runs of zeros, signal) and read, shared transport", async () => {
    const overhead = await emptyWindow();
    const format: StreamFormat = { sampleRate: 48000, channels: 2 };
    const capture = new CapturePipe({ contextRate: 48000, shared: true });
    const [, workletPort] = portPair();
    const { microphone } = loadWorklet(() => workletPort);
    const processor = new microphone({
      processorOptions: {
        transport: "shared",
        buffer: capture.ring.buffer,
        capacityFrames: capture.ring.capacityFrames,
        reportEvery: REPORT_EVERY,
      },
    });
    capture.start(format);
    const relay = new CapturePipe({ contextRate: 48000, shared: false });
    const signal = new Float32Array(RENDER_QUANTUM).map((_, i) => Math.sin(i / 10) * 0.5 + 0.6);
    const zeros = new Float32Array(RENDER_QUANTUM);
    // The card's inputs made once, as WebAudio reuses its own: a quantum with no channels (a
    // MediaStream source with no data), one of exact zeros, one of signal.
    const gap: Float32Array[][] = [[]];
    const silent = [[zeros, zeros]];
    const heard = [[signal, signal]];
    const outputs = [[new Float32Array(RENDER_QUANTUM)]];
    const packet = new Int16Array(96);
    let quanta = 0;
    const bytes = await bytesPerWindow(() => {
      while (capture.ring.availableFrames < capture.targetFrames) {
        const k = quanta++ % 8;
        processor.process(k === 0 ? gap : k < 3 ? silent : heard, outputs);
      }
      capture.read(packet, 48, format);
      // The message transport's main-thread side of the same counts (on the port's event).
      relay.receiveSourceCounts(quanta, quanta, quanta, quanta, quanta);
    });
    const s = capture.stats();
    assert.ok(s.sourceGaps > 0 && s.silentRuns > 0 && s.longestSilentRun === 384, JSON.stringify(s));
    assert.equal(relay.stats().silentRuns, quanta);
    assert.equal(s.underruns + s.overruns, 0);
    assert.ok(bytes - overhead < CALLS / 10, `${bytes - overhead} B per ${CALLS} calls`);
  });

  it("a stream's start waiting for real-time pace (packets catching up, then at pace), started again and again", async () => {
    const overhead = await emptyWindow();
    const format: StreamFormat = { sampleRate: 48000, channels: 2 };
    // The wall clock in whole ms, in a cell: the pipe's own work per read is measured, not the clock's
    // (a fractional number returned by a call that is not inlined is boxed: the browser's
    // performance.now() returns a fresh one, 16 bytes, read only while a start waits — at most
    // START_WAIT_PACKETS packets per stream start, never after).
    const wall = new Int32Array(1);
    const capture = new CapturePipe({ contextRate: 48000, shared: true, now: () => wall[0] ?? 0 });
    const packet = new Int16Array(96);
    const quantum = new Float32Array(RENDER_QUANTUM * 2).map((_, i) => Math.sin(i / 10) * 0.5);
    let calls = 0;
    let card = 0;
    const bytes = await bytesPerWindow(() => {
      // Every 400 packets the guest starts the stream again; its first 120 packets catch up a lag
      // (4 per wall ms), the rest keep pace. The card fills the ring on the wall clock.
      const k = calls++ % 400;
      if (k === 0) capture.start(format);
      if (k >= 120 || k % 4 === 0) wall[0] = (wall[0] ?? 0) + 1;
      for (; card < (wall[0] ?? 0) * 48; card += RENDER_QUANTUM)
        capture.ring.write(quantum, 0, RENDER_QUANTUM);
      capture.read(packet, 48, format);
    });
    const s = capture.stats();
    assert.ok(s.startWaits > 10 && s.startWaitFrames > 0, JSON.stringify(s));
    assert.equal(s.startWaitTimeouts, 0);
    assert.ok(s.exactFrames > 0, "primed after each wait");
    // A start and its priming (the resampler and drift controller reset) cost about 90 bytes once per
    // stream, as before the wait existed: 50 starts in a window. One boxed double per read in the
    // wait (120 of every 400 reads) would be 96,000 bytes.
    const starts = CALLS / 400;
    assert.ok(
      bytes - overhead < CALLS / 10 + starts * 128,
      `${bytes - overhead} B per ${CALLS} calls (${starts} starts)`,
    );
  });

  it("while the position glides back to whole frames (the correction released at matched rates)", async () => {
    const overhead = await emptyWindow();
    const format: StreamFormat = { sampleRate: 48000, channels: 2 };
    const capture = new CapturePipe({ contextRate: 48000, shared: true });
    capture.start(format);
    const packet = new Int16Array(96);
    const quantum = new Float32Array(RENDER_QUANTUM * 2);
    let offset = 480; // 10 ms above the target: tracking starts after 1 s…
    let calls = 0;
    const bytes = await bytesPerWindow(() => {
      // …and every 3 s the fill returns to the target, so the controller releases and glides back.
      if (++calls % 3000 === 0) offset = offset === 0 ? 480 : 0;
      while (capture.ring.availableFrames < capture.targetFrames + offset)
        capture.ring.write(quantum, 0, RENDER_QUANTUM);
      capture.read(packet, 48, format);
    });
    const s = capture.stats();
    assert.ok(
      s.resampledSpans >= 2 && s.exactFrames > 0,
      `${s.resampledSpans} spans, ${s.exactFrames} exact`,
    );
    assert.ok(bytes - overhead < CALLS / 10, `${bytes - overhead} B per ${CALLS} calls`);
  });
});
