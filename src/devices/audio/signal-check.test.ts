import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { checkTestSignal, SignalEventKind } from "./signal-check.ts";
import { generateTestSignal, testSignalSample } from "./test-signal.ts";

/** Builds a stream from pieces: silence (a frame count) or stretches of the signal [first, end). */
function stream(channels: number, ...pieces: (number | [number, number])[]): Int16Array {
  const parts = pieces.map((p) =>
    typeof p === "number" ? new Int16Array(p * channels) : generateTestSignal(p[1] - p[0], channels, p[0]),
  );
  const out = new Int16Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

describe("the test signal", () => {
  it("is the counter in channel 0 and the 48-frame triangle, shifted 12 frames per channel", () => {
    assert.deepEqual(
      [0, 1, 2, 3].map((c) => testSignalSample(0, c)),
      [0, -16384, -16384 + 1365 * 12, 16376],
    );
    assert.equal(testSignalSample(23, 1), -16384 + 1365 * 23);
    assert.equal(testSignalSample(24, 1), 16376);
    assert.equal(testSignalSample(47, 1), 16376 - 1365 * 23);
    assert.equal(testSignalSample(48, 1), -16384);
    assert.equal(testSignalSample(32767, 0), 32767);
    assert.equal(testSignalSample(32768, 0), -32768);
    assert.equal(testSignalSample(65537, 0), 1);
    assert.deepEqual(Array.from(generateTestSignal(2, 2, 5)), [5, -16384 + 5 * 1365, 6, -16384 + 6 * 1365]);
  });
});

describe("checkTestSignal", () => {
  it("a clean stream with leading and trailing silence is lossless", () => {
    const r = checkTestSignal(stream(2, 100, [0, 5000], 30), 2, { expectedFrames: 5000 });
    assert.deepEqual(
      [r.found, r.startOffset, r.leadingSilenceFrames, r.trailingSilenceFrames, r.framesReceived],
      [true, 100, 100, 30, 5000],
    );
    assert.deepEqual([r.firstFrame, r.lastFrame, r.headLossFrames, r.tailLossFrames], [0, 4999, 0, 0]);
    assert.deepEqual([r.dropped, r.inserted, r.mismatched, r.bitExact, r.lossless], [0, 0, 0, true, true]);
    assert.deepEqual(r.events, []);
  });

  it("reports head and tail loss (Linux drops the last packets of a playback)", () => {
    const r = checkTestSignal(stream(2, 10, [96, 4760]), 2, { expectedFrames: 4800 });
    assert.deepEqual([r.headLossFrames, r.tailLossFrames, r.firstFrame, r.lastFrame], [96, 40, 96, 4759]);
    assert.deepEqual([r.bitExact, r.lossless, r.dropped], [true, false, 0]);
    assert.equal(
      checkTestSignal(stream(2, [0, 100]), 2).tailLossFrames,
      null,
      "unknown without expectedFrames",
    );
  });

  it("finds a dropped frame and a dropped packet", () => {
    const r = checkTestSignal(stream(2, [0, 1000], [1001, 2000], [2048, 3000]), 2);
    assert.deepEqual(
      [r.dropped, r.inserted, r.framesReceived, r.bitExact, r.lossless],
      [49, 0, 2951, true, false],
    );
    assert.deepEqual(r.events, [
      { kind: SignalEventKind.Dropped, at: 1000, frame: 1000, count: 1 },
      { kind: SignalEventKind.Dropped, at: 1999, frame: 2000, count: 48 },
    ]);
  });

  it("finds an inserted duplicate frame, a repeated packet and inserted silence", () => {
    const r = checkTestSignal(
      stream(2, [0, 500], [499, 1000], [952, 1000], [1000, 1500], 44, [1500, 2000]),
      2,
    );
    assert.deepEqual([r.inserted, r.insertedSilence, r.dropped, r.bitExact], [1 + 48 + 44, 44, 0, false]);
    assert.deepEqual(
      r.events.map((e) => [e.kind, e.at, e.count]),
      [
        [SignalEventKind.Inserted, 500, 1],
        [SignalEventKind.Inserted, 1001, 48],
        [SignalEventKind.Inserted, 1549, 44],
      ],
    );
  });

  it("silence replacing lost frames is inserted + dropped", () => {
    const r = checkTestSignal(stream(2, [0, 500], 48, [548, 1000]), 2);
    assert.deepEqual([r.inserted, r.insertedSilence, r.dropped, r.framesReceived], [48, 48, 48, 952]);
  });

  it("a frame with the right counter and a wrong triangle is mismatched; garbage is inserted", () => {
    const samples = stream(2, [0, 200]);
    samples[2 * 50 + 1] = 123; // frame 50's triangle
    samples[2 * 120] = 7; // frame 120's counter: garbage that looks like a big step backwards
    samples[2 * 150] = 170; // frame 150's counter: a forward jump the triangle does not confirm
    const r = checkTestSignal(samples, 2);
    // A frame replaced by garbage is one inserted and one dropped.
    assert.deepEqual([r.mismatched, r.inserted, r.dropped, r.framesReceived], [1, 2, 2, 198]);
    assert.equal(r.bitExact, false);
  });

  it("mono: frame 0 is a zero sample right before counter 1; gaps are confirmed by the next frame", () => {
    const clean = checkTestSignal(stream(1, 20, [0, 300]), 1, { expectedFrames: 300 });
    assert.deepEqual(
      [clean.startOffset, clean.leadingSilenceFrames, clean.firstFrame, clean.lossless],
      [20, 20, 0, true],
    );
    const gap = checkTestSignal(stream(1, [0, 100], [145, 300]), 1);
    assert.deepEqual([gap.dropped, gap.inserted, gap.framesReceived], [45, 0, 255]);
    const spike = stream(1, [0, 100]);
    spike[50] = 90; // a lone forward jump not followed by 91: frame 50 replaced
    const replaced = checkTestSignal(spike, 1);
    assert.deepEqual([replaced.inserted, replaced.dropped, replaced.framesReceived], [1, 1, 99]);
  });

  it("unwraps the 16-bit counter, and reads a large head loss from the triangle", () => {
    const r = checkTestSignal(stream(2, [65000, 70000]), 2, { expectedFrames: 70000 });
    assert.deepEqual([r.firstFrame, r.lastFrame, r.framesReceived, r.lossless], [65000, 69999, 5000, false]);
    assert.equal(r.headLossFrames, 65000);
    const far = checkTestSignal(stream(2, [150_000, 150_100]), 2);
    assert.equal(far.firstFrame, 150_000);
  });

  it("counts non-silent garbage before the signal as inserted; silence alone is not found", () => {
    const samples = stream(2, 5, [0, 100]);
    samples[0] = 999;
    const r = checkTestSignal(samples, 2);
    assert.deepEqual([r.found, r.startOffset, r.inserted, r.leadingSilenceFrames], [true, 5, 1, 0]);
    const none = checkTestSignal(new Int16Array(200), 2, { expectedFrames: 10 });
    assert.deepEqual(
      [none.found, none.bitExact, none.tailLossFrames, none.firstFrame],
      [false, false, 10, -1],
    );
  });

  it("lists at most maxEvents but counts them all", () => {
    const pieces: [number, number][] = [];
    for (let i = 0; i < 50; i++) pieces.push([i * 10, i * 10 + 5]);
    const r = checkTestSignal(stream(2, ...pieces), 2, { maxEvents: 4 });
    assert.deepEqual([r.events.length, r.eventCount, r.dropped], [4, 49, 49 * 5]);
  });
});
