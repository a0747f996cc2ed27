import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { checkTestSignal } from "../devices/audio/signal-check.ts";
import { type SimOptions, type SimResult, simulateCapture, simulatePlayback } from "./testing/audio-sim.ts";

/**
 * The bridges' main-thread pipes with the real worklet code, on a simulated sound card clock and USB
 * frame clock (testing/audio-sim.ts): drift absorbed by resampling, the frame-counter signal intact,
 * and under- and overruns counted when the buffer truly runs dry or overflows.
 */
const run = (direction: "capture" | "playback", options: SimOptions): SimResult =>
  direction === "capture" ? simulateCapture(options) : simulatePlayback(options);

const label = (o: SimOptions): string =>
  `${o.contextRate} Hz context, ${o.guestRate} Hz ${o.channels === 1 ? "mono" : "stereo"} guest, ` +
  `${o.driftPpm > 0 ? "+" : ""}${o.driftPpm} ppm, ${o.transport ?? "shared"} transport, frames in bursts of ${o.burst ?? 1}`;

/**
 * The drift was absorbed by resampling spans between exact ones: on average the ratio is the drift
 * (the microphone consumes the card's frames faster when the card runs fast; the speaker produces
 * more for it, taking fewer guest frames per output frame), and both kinds of span were counted.
 */
function assertAbsorbed(direction: "capture" | "playback", options: SimOptions, r: SimResult): void {
  const learned = (r.meanSettledRatio - 1) * 1e6 * (direction === "capture" ? 1 : -1);
  assert.ok(
    Math.abs(learned - options.driftPpm) < 100,
    `mean ratio ${r.meanSettledRatio} for ${options.driftPpm} ppm`,
  );
  assert.ok(r.resampledSpans >= 1, "the fill left the band and a correction started");
  assert.ok(
    r.resampledFrames > 0 && r.exactFrames > 0,
    `${r.exactFrames} exact, ${r.resampledFrames} resampled`,
  );
  const rate = direction === "capture" ? options.guestRate : options.guestRate;
  const total = r.exactFrames + r.resampledFrames;
  assert.ok(total > options.seconds * rate * 0.98, `${total} guest frames counted`);
}

const DRIFTS: readonly SimOptions[] = [
  { contextRate: 48000, guestRate: 48000, channels: 1, driftPpm: 300, seconds: 180 },
  {
    contextRate: 48000,
    guestRate: 48000,
    channels: 2,
    driftPpm: -1000,
    seconds: 180,
    transport: "message",
    burst: 4,
  },
  { contextRate: 44100, guestRate: 48000, channels: 1, driftPpm: 1000, seconds: 180, burst: 2 },
  { contextRate: 48000, guestRate: 44100, channels: 2, driftPpm: -300, seconds: 180 },
  { contextRate: 48000, guestRate: 8000, channels: 1, driftPpm: 1000, seconds: 180, transport: "message" },
  { contextRate: 96000, guestRate: 16000, channels: 1, driftPpm: -1000, seconds: 120, burst: 3 },
];

for (const direction of ["capture", "playback"] as const) {
  describe(`${direction === "capture" ? "microphone" : "speaker"} pipe: clock drift`, () => {
    for (const options of DRIFTS) {
      it(`${label(options)}: fill bounded, no under/overrun, the counter decodes everywhere`, () => {
        const r = run(direction, options);
        assert.equal(r.underruns, 0, "underruns");
        assert.equal(r.overruns, 0, "overruns");
        assert.ok(
          r.minFillMs > 8 && r.maxFillMs < r.targetMs + 12,
          `fill ${r.minFillMs.toFixed(1)}–${r.maxFillMs.toFixed(1)} ms after settling`,
        );
        assert.equal(
          r.decoder.bad,
          0,
          `first bad frame at ${r.decoder.firstBadAt}, worst ${r.decoder.worst}`,
        );
        const rate = direction === "capture" ? options.guestRate : options.contextRate;
        assert.ok(r.decoder.judged > options.seconds * rate * 0.98, `${r.decoder.judged} frames judged`);
        assertAbsorbed(direction, options, r);
      });
    }
  });

  describe(`${direction === "capture" ? "microphone" : "speaker"} pipe: matched rates`, () => {
    for (const [rate, transport] of [
      [48000, "shared"],
      [48000, "message"],
      [44100, "shared"],
    ] as const) {
      it(`${rate} Hz both sides, no drift, ${transport} transport: bit-exact, the ratio exactly 1 throughout`, () => {
        const r = run(direction, {
          contextRate: rate,
          guestRate: rate,
          channels: 2,
          driftPpm: 0,
          seconds: 30,
          transport,
          keepOutput: true,
          settleSeconds: 0,
        });
        assert.ok(r.ratioAlwaysOne);
        assert.equal(r.underruns + r.overruns, 0);
        assert.equal(r.resampledFrames, 0);
        assert.equal(r.resampledSpans, 0);
        const report = checkTestSignal(r.output ?? new Int16Array(0), 2);
        assert.ok(report.bitExact, JSON.stringify(report.events));
        assert.equal(report.dropped, 0);
        assert.equal(report.inserted, 0);
        assert.ok(report.framesReceived > rate * 29.9, `${report.framesReceived} frames`);
      });
    }
  });
}

/**
 * A browser's timing: the card renders 128-frame quanta on the audio thread (singly, or four per
 * callback as a 10 ms OS buffer does), while the emulator's 1 ms frames run on the main thread, each
 * wake-up up to ±3 ms off its cadence, with a 20–50 ms main-thread stall every 1–5 s (after which the
 * overdue frames run back to back). The microphone holds its default 20 ms; the speaker must hold
 * more than the longest stall (the card plays on while the emulator writes nothing), so it runs at
 * 70 ms here.
 */
const BROWSER_TIMING = {
  jitterMs: 3,
  mainStalls: { everySeconds: [1, 5], ms: [20, 50] },
} as const satisfies Partial<SimOptions>;
const targetFor = (direction: "capture" | "playback"): number => (direction === "capture" ? 20 : 70);

for (const direction of ["capture", "playback"] as const) {
  const name = direction === "capture" ? "microphone" : "speaker";
  describe(`${name} pipe, browser timing (jitter ±3 ms, 20–50 ms main-thread stalls)`, () => {
    for (const [transport, cardBurst] of [
      ["shared", 1],
      ["message", 1],
      ["shared", 4],
    ] as const) {
      it(`matched rates, 0 ppm, ${transport} transport, ${cardBurst} quanta per card callback: bit-exact, no under/overrun, exact throughout`, () => {
        const seconds = 60;
        const r = run(direction, {
          contextRate: 48000,
          guestRate: 48000,
          channels: 2,
          driftPpm: 0,
          seconds,
          transport,
          cardBurst,
          ...BROWSER_TIMING,
          targetMs: targetFor(direction),
          keepOutput: true,
          settleSeconds: 0,
          seed: cardBurst * 7 + (transport === "shared" ? 1 : 2),
        });
        assert.ok(
          r.mainStalls >= 10 && r.longestStallMs > 40,
          `${r.mainStalls} stalls, longest ${r.longestStallMs} ms`,
        );
        assert.equal(r.underruns, 0, "underruns");
        assert.equal(r.overruns, 0, "overruns");
        assert.ok(r.ratioAlwaysOne, "the ratio stayed exactly 1");
        assert.equal(r.resampledFrames, 0);
        assert.ok(r.exactFrames > seconds * 48000 * 0.99, `${r.exactFrames} exact frames`);
        const report = checkTestSignal(r.output ?? new Int16Array(0), 2);
        assert.ok(report.bitExact, JSON.stringify(report.events));
        assert.equal(report.dropped, 0);
        assert.equal(report.inserted, 0);
        assert.ok(report.framesReceived > 48000 * (seconds - 0.2), `${report.framesReceived} frames`);
      });
    }

    for (const [driftPpm, transport] of [
      [100, "shared"],
      [-100, "message"],
      [300, "message"],
      [-300, "shared"],
      [1000, "shared"],
      [-1000, "message"],
    ] as const) {
      const options: SimOptions = {
        contextRate: 48000,
        guestRate: 48000,
        channels: 2,
        driftPpm,
        seconds: 180,
        transport,
        ...BROWSER_TIMING,
        targetMs: targetFor(direction),
        seed: 100 + driftPpm,
      };
      it(`${label(options)}, 3 minutes: no under/overrun, exact and resampled spans counted, the counter decodes everywhere`, () => {
        const r = run(direction, options);
        assert.equal(r.underruns, 0, "underruns");
        assert.equal(r.overruns, 0, "overruns");
        assert.ok(r.minFillMs > 1, `fill down to ${r.minFillMs.toFixed(1)} ms`);
        assert.equal(
          r.decoder.bad,
          0,
          `first bad frame at ${r.decoder.firstBadAt}, worst ${r.decoder.worst}`,
        );
        assert.ok(r.decoder.judged > options.seconds * 48000 * 0.98, `${r.decoder.judged} frames judged`);
        assertAbsorbed(direction, options, r);
      });
    }
  });
}

describe("small targets (8–10 ms, for a low-latency loopback)", () => {
  for (const direction of ["capture", "playback"] as const) {
    for (const [targetMs, driftPpm, transport] of [
      [8, 0, "shared"],
      [10, 0, "message"],
      [8, 300, "shared"],
      [10, -300, "message"],
    ] as const) {
      it(`${direction === "capture" ? "microphone" : "speaker"}, target ${targetMs} ms, ${driftPpm} ppm, ${transport} transport, ±1 ms jitter: no under/overrun, the fill held near the target`, () => {
        const r = run(direction, {
          contextRate: 48000,
          guestRate: 48000,
          channels: 1,
          driftPpm,
          seconds: 120,
          transport,
          targetMs,
          jitterMs: 1,
          keepOutput: driftPpm === 0,
          seed: targetMs + driftPpm,
        });
        assert.equal(r.underruns + r.overruns, 0, `${r.underruns} underruns, ${r.overruns} overruns`);
        assert.equal(r.targetMs, targetMs);
        assert.ok(r.maxMs >= targetMs + 60, `overrun threshold ${r.maxMs} ms`);
        assert.ok(
          r.minFillMs > 0.5 && r.maxFillMs < targetMs + 10,
          `fill ${r.minFillMs.toFixed(1)}–${r.maxFillMs.toFixed(1)} ms`,
        );
        assert.equal(r.decoder.bad, 0);
        if (driftPpm === 0) {
          assert.ok(checkTestSignal(r.output ?? new Int16Array(0), 1).bitExact);
          assert.equal(r.resampledFrames, 0);
        } else {
          assert.ok(r.resampledSpans >= 1);
        }
      });
    }
  }
});

describe("under- and overruns are counted when the buffer truly empties or overflows", () => {
  const base = {
    contextRate: 48000,
    guestRate: 48000,
    channels: 1,
    driftPpm: 0,
    seconds: 30,
    settleSeconds: 15,
  } as const;

  for (const transport of ["shared", "message"] as const) {
    it(`microphone, ${transport}: the card stops for 200 ms → one underrun, then none`, () => {
      const r = simulateCapture({ ...base, transport, cardStalls: [[10, 10.2]] });
      assert.equal(r.underruns, 1);
      assert.equal(r.overruns, 0);
      assert.equal(r.settledUnderruns, 0);
    });

    it(`microphone, ${transport}: the emulator stops for 500 ms → overrun counted, back to the target after`, () => {
      const r = simulateCapture({ ...base, transport, hostStalls: [[10, 10.5]] });
      assert.ok(r.overruns >= 1, `${r.overruns} overruns`);
      assert.equal(r.underruns, 0);
      assert.equal(r.settledOverruns, 0);
      assert.ok(r.maxFillMs < r.targetMs + 10, `fill up to ${r.maxFillMs} ms after`);
    });

    it(`speaker, ${transport}: the guest stops sending for 200 ms → one underrun, then none`, () => {
      const r = simulatePlayback({ ...base, transport, hostStalls: [[10, 10.2]] });
      assert.equal(r.underruns, 1);
      assert.equal(r.overruns, 0);
      assert.equal(r.settledUnderruns, 0);
    });

    it(`speaker, ${transport}: the card stops for 500 ms → overrun counted, back to the target after`, () => {
      const r = simulatePlayback({ ...base, transport, cardStalls: [[10, 10.5]] });
      assert.ok(r.overruns >= 1, `${r.overruns} overruns`);
      assert.equal(r.underruns, 0);
      assert.equal(r.settledOverruns, 0);
      assert.ok(r.maxFillMs < r.targetMs + 10, `fill up to ${r.maxFillMs} ms after`);
    });
  }
});

/** Frames of channel 0 inside silent runs (two or more zeros: the counter is zero at one frame only) after the signal starts. */
function silentFrames(output: Int16Array, channels: number): number {
  let started = false;
  let run = 0;
  let silent = 0;
  for (let i = 0; i < output.length; i += channels) {
    const zero = output[i] === 0;
    if (!started) {
      started = !zero;
      continue;
    }
    if (zero) run++;
    else {
      if (run >= 2) silent += run;
      run = 0;
    }
  }
  return silent + (run >= 2 ? run : 0);
}

describe("every frame of silence sent or played instead of audio is counted (underrunFrames)", () => {
  const base = {
    contextRate: 48000,
    guestRate: 48000,
    channels: 1,
    driftPpm: 0,
    seconds: 14,
    settleSeconds: 12,
    keepOutput: true,
  } as const;
  for (const transport of ["shared", "message"] as const) {
    it(`microphone, ${transport}: the silence in the guest's packets, priming again included, in guest frames`, () => {
      const r = simulateCapture({ ...base, transport, cardStalls: [[10, 10.2]] });
      const silent = silentFrames(r.output ?? new Int16Array(0), 1);
      assert.equal(r.underruns, 1);
      // The 200 ms stall plus the re-priming to the 20 ms target: well beyond the ring's last frames.
      assert.ok(silent > 48 * 150, `${silent} silent frames`);
      assert.equal(r.underrunFrames, silent);
    });

    it(`microphone, ${transport}, 44.1 kHz card → 48 kHz guest: counted in the guest's frames`, () => {
      const r = simulateCapture({ ...base, contextRate: 44100, transport, cardStalls: [[10, 10.2]] });
      const silent = silentFrames(r.output ?? new Int16Array(0), 1);
      assert.equal(r.underrunFrames, silent);
      assert.ok(silent > 48 * 150, `${silent} silent frames`);
      assert.equal(r.underruns, 1);
    });

    it(`speaker, ${transport}: the silence the card played, priming again included, in the context's frames`, () => {
      const r = simulatePlayback({ ...base, transport, hostStalls: [[10, 10.2]] });
      const silent = silentFrames(r.output ?? new Int16Array(0), 1);
      assert.equal(r.underrunFrames, silent);
      assert.ok(silent > 48 * 150, `${silent} silent frames`);
      assert.equal(r.underruns, 1);
    });
  }
});

describe("the default target suits the transport (the README's page: message transport, v86 on the main thread)", () => {
  // The emulator holds the main thread 20–30 ms at a time, running the frames that come due while the
  // worklet's batches wait for the next task (measured in test/browser/embed.test.ts: the fill swung
  // from 26 ms to 0–3 ms with no long task), ±3 ms jitter, a 44.1 kHz card and a 48 kHz guest. The
  // batches arrive after each task (batchesAfterFrames): delivered before it, a stream whose start
  // waited for real-time pace primes at a task's end and a 20 ms fill never ran dry, so what ran it
  // dry is the batches' wait, not the bursts.
  const page = {
    batchesAfterFrames: true,
    contextRate: 44100,
    guestRate: 48000,
    channels: 1,
    driftPpm: 0,
    seconds: 20,
    settleSeconds: 5,
    transport: "message",
    jitterMs: 3,
  } as const;
  for (const burst of [20, 30]) {
    it(`frames in ${burst} ms tasks: 20 ms underruns; the message transport's default (80 ms) does not`, () => {
      const small = simulateCapture({ ...page, burst, targetMs: 20 });
      assert.ok(small.underruns > 0, "a 20 ms fill runs dry under such tasks");
      const r = simulateCapture({ ...page, burst, bridgeDefaults: true });
      assert.equal(r.targetMs, 80);
      assert.equal(r.underruns, 0);
      assert.equal(r.overruns, 0);
      assert.equal(r.decoder.bad, 0, "the counter decodes at every frame");
    });
  }

  it("the emulator stopped for 130 ms (a loaded host): the default keeps the audio; the old 150 ms maximum cut it", () => {
    const stalled = { ...page, burst: 20, hostStalls: [[10, 10.13]] as const };
    const old = simulateCapture({ ...stalled, targetMs: 50, maxMs: 150 });
    assert.ok(old.overruns > 0 && old.decoder.bad > 0, "discarding down to the target breaks the counter");
    const r = simulateCapture({ ...stalled, bridgeDefaults: true });
    assert.equal(r.maxMs, 300);
    assert.equal(r.overruns + r.underruns, 0);
    assert.equal(r.decoder.bad, 0, "the guest's packets stay contiguous");
  });

  it("the shared ring keeps 20 ms by default, and an explicit small target is kept", async () => {
    const { CapturePipe, PlaybackPipe } = await import("./pipes.ts");
    assert.equal(new CapturePipe({ contextRate: 48000, shared: true }).stats().targetMs, 20);
    assert.equal(new PlaybackPipe({ contextRate: 48000, shared: true }).stats().targetMs, 20);
    assert.equal(new PlaybackPipe({ contextRate: 48000, shared: false }).stats().targetMs, 80);
    assert.equal(new CapturePipe({ contextRate: 48000, shared: false, targetMs: 8 }).stats().targetMs, 8);
  });
});

describe("a guest that changes its format mid-stream, or sends odd packets", () => {
  it("re-primes on a rate change without throwing, and odd frame counts or buffers never throw", async () => {
    const { CapturePipe, PlaybackPipe } = await import("./pipes.ts");
    const capture = new CapturePipe({ contextRate: 48000, shared: false });
    const playback = new PlaybackPipe({ contextRate: 48000, shared: false });
    const quantum = new Float32Array(256).fill(0.25);
    const small = new Int16Array(4);
    const big = new Int16Array(4096);
    const formats = [
      { sampleRate: 48000, channels: 2 },
      { sampleRate: 8000, channels: 1 },
      { sampleRate: 44100, channels: 2 },
      { sampleRate: 22050, channels: 1 },
    ];
    for (let ms = 0; ms < 2000; ms++) {
      const format = formats[Math.floor(ms / 300) % formats.length] ?? formats[0]!;
      capture.receive(quantum);
      capture.receive(quantum);
      // Frames beyond the buffer, none, a negative or fractional count: cut short, never thrown.
      for (const frames of [48, 0, -3, 2.5, 5000]) {
        capture.read(frames === 5000 ? small : big, frames, format);
        playback.write(frames === 5000 ? small : big, frames, format);
      }
    }
    assert.equal(capture.stats().running, true);
    assert.equal(capture.stats().guestRate, 44100, "the format of the last packets");
    assert.ok(Number.isFinite(capture.stats().fillMs));
    assert.ok(Number.isFinite(playback.stats().fillMs));
  });
});
