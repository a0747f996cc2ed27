import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { checkTestSignal } from "../devices/audio/signal-check.ts";
import { generateTestSignal } from "../devices/audio/test-signal.ts";
import { Resampler } from "./resampler.ts";
import { CounterDecoder } from "./testing/audio-sim.ts";

/** Runs `input` (16-bit interleaved) through a converter in uneven chunks; returns the output. */
function convert(input: Int16Array, channels: number, from: number, to: number, ratio = 1): Int16Array {
  const r = new Resampler(channels);
  r.configure(from, to);
  r.setRatio(ratio);
  const inFrames = input.length / channels;
  const out = new Int16Array(Math.ceil((inFrames * to) / from / ratio + 8) * channels);
  let at = 0;
  let taken = 0;
  for (let chunk = 1; taken < inFrames; chunk = (chunk * 7 + 3) % 61) {
    taken += r.writeInt16(input, taken, Math.min(chunk + 1, inFrames - taken), channels);
    at += r.readInt16(out, at, r.outputAvailable(), channels);
  }
  return out.subarray(0, at * channels);
}

describe("Resampler", () => {
  it("passes the signal through bit for bit at equal rates and a ratio of exactly 1", () => {
    const input = generateTestSignal(48000, 2, 100);
    const out = convert(input, 2, 48000, 48000);
    const report = checkTestSignal(out, 2);
    assert.ok(report.bitExact, JSON.stringify(report.events));
    assert.equal(report.dropped, 0);
    assert.equal(report.framesReceived, 48000 - 2, "all but the two frames still held for interpolation");
  });

  for (const [from, to] of [
    [48000, 44100],
    [44100, 48000],
    [48000, 8000],
    [8000, 48000],
    [22050, 32000],
  ] as const) {
    for (const ratio of [1, 1.001, 0.999]) {
      it(`keeps the frame counter a ramp from ${from} to ${to} Hz at ratio ${ratio}: every frame decodes`, () => {
        const input = generateTestSignal(from * 2, 1, 100);
        const out = convert(input, 1, from, to, ratio);
        const step = (from / to) * ratio;
        const decoder = new CounterDecoder(step, 1.001);
        for (const v of out) decoder.push(v);
        assert.equal(decoder.bad, 0, `first bad frame ${decoder.firstBadAt}, worst ${decoder.worst}`);
        assert.ok(decoder.judged > out.length * 0.99);
        // Each value is rounded (±0.5), so consecutive ones step by the ratio ± 1.
        // The output count is the input's at the converted rate, to within the three input frames held back.
        assert.ok(Math.abs(out.length - (from * 2) / step) <= 3 / step + 2, `${out.length} frames`);
      });
    }
  }

  it("converts a sine with little distortion (1 kHz, 44.1 → 48 kHz)", () => {
    const from = 44100;
    const to = 48000;
    const input = Int16Array.from({ length: from }, (_, i) =>
      Math.round(16000 * Math.sin((2 * Math.PI * 1000 * i) / from)),
    );
    const out = convert(input, 1, from, to);
    let signal = 0;
    let noise = 0;
    for (let k = 100; k < out.length - 100; k++) {
      const ideal = 16000 * Math.sin((2 * Math.PI * 1000 * k * from) / to / from);
      signal += ideal * ideal;
      noise += ((out[k] ?? 0) - ideal) ** 2;
    }
    const snr = 10 * Math.log10(signal / noise);
    assert.ok(snr > 50, `SNR ${snr.toFixed(1)} dB`);
  });

  it("says how much input the next outputs need, and going down in rate skips input it passed", () => {
    const r = new Resampler(1);
    r.configure(48000, 8000);
    assert.equal(
      r.inputNeeded(8),
      45,
      "7 steps of 6 after the first position, plus two frames of look-ahead",
    );
    const input = generateTestSignal(45, 1, 100);
    assert.equal(r.writeInt16(input, 0, 45, 1), 45);
    assert.equal(r.outputAvailable(), 8);
    const out = new Int16Array(8);
    assert.equal(r.readInt16(out, 0, 8, 1), 8);
    assert.deepEqual(Array.from(out), [100, 106, 112, 118, 124, 130, 136, 142]);
    // The next output is at frame 148: the three frames before its history frame are never used.
    assert.equal(r.inputNeeded(8), 48);
    const more = generateTestSignal(48, 1, 145);
    r.writeInt16(more, 0, 48, 1);
    assert.equal(r.readInt16(out, 0, 8, 1), 8);
    assert.deepEqual(Array.from(out), [148, 154, 160, 166, 172, 178, 184, 190]);
  });

  it("maps channels: stereo averaged to mono, mono duplicated to stereo", () => {
    const r = new Resampler(2);
    r.configure(8000, 8000);
    r.writeInt16(Int16Array.of(100, 200, 300, 400), 0, 2, 1); // mono in: duplicated
    r.writeInt16(Int16Array.of(10, 30, 50, 70, 90, 110), 0, 3, 2);
    const mono = new Int16Array(3);
    assert.equal(r.readInt16(mono, 0, 3, 1), 3);
    assert.deepEqual(Array.from(mono), [100, 200, 20]);
  });
});
