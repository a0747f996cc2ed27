import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { checkTestSignal } from "../devices/audio/signal-check.ts";
import { generateTestSignal } from "../devices/audio/test-signal.ts";
import { Resampler } from "./resampler.ts";
import { CounterDecoder } from "./testing/audio-sim.ts";

/** Runs `input` (16-bit interleaved) through a converter in uneven chunks; returns the output. */
function convert(input: Int16Array, channels: number, from: number, to: number, ratio = 1): Int16Array {
  return convertWith(new Resampler(channels), input, channels, from, to, ratio);
}

function convertWith(
  r: Resampler,
  input: Int16Array,
  channels: number,
  from: number,
  to: number,
  ratio = 1,
): Int16Array {
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

/** RMS of the second half of `out` (past the filter's start). */
function rms(out: Int16Array): number {
  let sum = 0;
  const from = Math.floor(out.length / 2);
  for (let k = from; k < out.length; k++) sum += (out[k] ?? 0) ** 2;
  return Math.sqrt(sum / (out.length - from));
}

const tone = (rate: number, frequency: number, seconds = 1): Int16Array =>
  Int16Array.from({ length: Math.round(rate * seconds) }, (_, i) =>
    Math.round(16000 * Math.sin((2 * Math.PI * frequency * i) / rate + 0.3)),
  );

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
        const r = new Resampler(1);
        const out = convertWith(r, input, 1, from, to, ratio);
        const step = (from / to) * ratio;
        // Going down, the anti-alias filter rings for its half-width around the counter's wrap.
        const decoder = new CounterDecoder(step, 1.001, r.halfWidth + 1);
        for (const v of out) decoder.push(v);
        assert.equal(decoder.bad, 0, `first bad frame ${decoder.firstBadAt}, worst ${decoder.worst}`);
        assert.ok(decoder.judged > out.length * 0.99);
        // Each value is rounded (±0.5), so consecutive ones step by the ratio ± 1.
        // The output count is the input's at the converted rate, to within the three input frames held back.
        assert.ok(
          Math.abs(out.length - (from * 2) / step) <= (r.halfWidth + 1) / step + 2,
          `${out.length} frames`,
        );
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

  for (const [from, to, half] of [
    [8000, 48000, 2],
    [48000, 48000, 2],
    [48000, 8000, 0],
  ] as const) {
    it(`says exactly how much input the next outputs need (${from} → ${to} Hz)`, () => {
      const r = new Resampler(1);
      r.configure(from, to);
      if (half !== 0) assert.equal(r.halfWidth, half, "the cubic: one frame of history, two ahead");
      else assert.ok(r.halfWidth > 50, `going down, the anti-alias filter's half-width ${r.halfWidth}`);
      const input = generateTestSignal(4096, 1, 100);
      const out = new Int16Array(64);
      let taken = 0;
      for (const n of [1, 8, 13, 48, 6]) {
        const need = r.inputNeeded(n);
        if (need > 1) {
          taken += r.writeInt16(input, taken, need - 1, 1);
          assert.ok(r.outputAvailable() < n, `one input frame short of ${n} outputs`);
        }
        taken += r.writeInt16(input, taken, Math.min(need, 1), 1);
        assert.ok(r.outputAvailable() >= n, `${r.outputAvailable()} outputs for ${n}`);
        assert.equal(r.inputNeeded(n), 0);
        assert.equal(r.readInt16(out, 0, n, 1), n);
      }
    });
  }

  for (const [from, to] of [
    [48000, 8000],
    [48000, 16000],
    [96000, 8000],
    [48000, 44100],
    [44100, 22050],
  ] as const) {
    it(`filters before converting down from ${from} to ${to} Hz: tones above the new Nyquist ≥ 40 dB down, the passband kept`, () => {
      const reference = rms(convert(tone(from, to * 0.1), 1, from, to));
      assert.ok(Math.abs(reference - 16000 / Math.SQRT2) < 50, `passband tone RMS ${reference}`);
      const edge = rms(convert(tone(from, to * 0.38), 1, from, to));
      assert.ok(Math.abs(20 * Math.log10(edge / reference)) < 0.1, "flat to 0.38 × the output rate");
      // Above the output's Nyquist frequency every tone would fold back into the band.
      for (const f of [0.51, 0.55, 0.7, 0.93, 1.37, 2.3]) {
        const frequency = to * f;
        if (frequency >= from / 2) continue;
        const level = 20 * Math.log10(rms(convert(tone(from, frequency), 1, from, to)) / reference);
        assert.ok(level < -40, `${frequency} Hz folds back at ${level.toFixed(1)} dB`);
      }
    });
  }

  it("glides back to whole input frames at ratio 1 (matched rates), then passes the input bit for bit", () => {
    const r = new Resampler(1);
    r.configure(48000, 48000);
    const cell = new Float64Array([1.0013]);
    r.bindRatio(cell);
    const input = generateTestSignal(48 * 2000, 1, 100);
    const out = new Int16Array(48);
    let taken = 0;
    let exactFrom = -1;
    for (let ms = 0; ms < 1900; ms++) {
      if (ms === 300) cell[0] = 1; // the controller lets go, the position is between two frames
      r.syncRatio();
      taken += r.writeInt16(input, taken, r.inputNeeded(48), 1);
      const wasExact = r.exact;
      assert.equal(r.readInt16(out, 0, 48, 1), 48);
      if (ms < 300) {
        assert.equal(wasExact, false);
        continue;
      }
      if (wasExact && exactFrom < 0) exactFrom = ms;
      if (exactFrom >= 0) {
        assert.ok(wasExact, `exact again at ${ms} ms`);
        // Output k is input frame (its position): a counter step of exactly 1 inside the packet.
        for (let k = 1; k < 48; k++)
          assert.equal((((out[k] ?? 0) - (out[k - 1] ?? 0)) & 0xffff) % 65536, 1, `step at ${ms} ms`);
      }
    }
    // At most half a frame to move at 1e-4 frame per output frame: ≤ 5000 outputs, ~104 ms.
    assert.ok(exactFrom > 300 && exactFrom <= 300 + 110, `exact from ${exactFrom} ms`);
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
