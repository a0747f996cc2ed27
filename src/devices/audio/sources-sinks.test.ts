import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { copyFrames } from "./channels.ts";
import { PacketPacer } from "./packet-pacer.ts";
import { SampleRing } from "./sample-ring.ts";
import { MemorySink } from "./sinks/memory-sink.ts";
import { PullSink } from "./sinks/pull-sink.ts";
import { SilenceSource } from "./sources/audio-source.ts";
import { BufferSource } from "./sources/buffer-source.ts";
import { PushSource } from "./sources/push-source.ts";
import { SineSource } from "./sources/sine-source.ts";
import { TestSignalSource } from "./sources/test-signal-source.ts";
import { generateTestSignal } from "./test-signal.ts";
import { applyGains, gainOfLevel, UNITY_GAIN, volumeRange } from "./volume.ts";

const STEREO_48K = { sampleRate: 48000, channels: 2 };
const MONO_8K = { sampleRate: 8000, channels: 1 };

describe("PacketPacer", () => {
  it("spreads the remainder: every 1000 packets carry exactly `rate` frames, in two sizes at most", () => {
    for (const rate of [8000, 11025, 16000, 22050, 32000, 44100, 48000, 47999]) {
      const pacer = new PacketPacer(rate);
      const sizes = Array.from({ length: 1000 }, () => pacer.next());
      assert.equal(
        sizes.reduce((a, b) => a + b, 0),
        rate,
      );
      assert.ok(sizes.every((n) => pacer.isNominal(n)));
      assert.ok(new Set(sizes).size <= 2);
    }
    const pacer = new PacketPacer(48000);
    assert.deepEqual([pacer.isNominal(48), pacer.isNominal(49), pacer.isNominal(47)], [true, false, false]);
  });
});

describe("volume law", () => {
  it("0 dB is unity (bypassed), −∞ is zero, −6.02 dB halves", () => {
    assert.equal(gainOfLevel(0), UNITY_GAIN);
    assert.equal(gainOfLevel(-0x8000), 0);
    assert.ok(Math.abs(gainOfLevel(-1541) / UNITY_GAIN - 0.5) < 0.001);
    const samples = Int16Array.of(-32768, 32767, 3, -3);
    applyGains(samples, 4, Float64Array.of(UNITY_GAIN, UNITY_GAIN), 2);
    assert.deepEqual(Array.from(samples), [-32768, 32767, 3, -3]);
    applyGains(samples, 4, Float64Array.of(UNITY_GAIN * 2, UNITY_GAIN / 2), 2);
    assert.deepEqual(Array.from(samples), [-32768, 16384, 6, -1], "clamped; rounded half up");
  });

  it("checks ranges", () => {
    assert.deepEqual(volumeRange({ minDb: -60, maxDb: 0, resolutionDb: 1 }), {
      min: -15360,
      max: 0,
      res: 256,
    });
    assert.throws(() => volumeRange({ minDb: -200, maxDb: 0, resolutionDb: 1 }), RangeError);
    assert.throws(() => volumeRange({ minDb: -10, maxDb: 0, resolutionDb: 0 }), RangeError);
  });
});

describe("channel conversion and the ring", () => {
  it("copies equal layouts, duplicates mono, averages to mono", () => {
    const out = new Int16Array(6);
    copyFrames(Int16Array.of(1, 2, 3), 0, 1, out, 0, 2, 3);
    assert.deepEqual(Array.from(out), [1, 1, 2, 2, 3, 3]);
    const mono = new Int16Array(2);
    copyFrames(Int16Array.of(1, 2, -3, -4), 0, 2, mono, 0, 1, 2);
    assert.deepEqual(Array.from(mono), [2, -3]);
  });

  it("wraps around without losing order and cuts writes and reads short", () => {
    const ring = new SampleRing(2, 5);
    const out = new Int16Array(10);
    assert.equal(ring.write(generateTestSignal(4, 2), 4, 2), 4);
    assert.equal(ring.read(out, 3, 2), 3);
    assert.equal(ring.write(generateTestSignal(10, 2, 4), 10, 2), 4, "only the free space");
    assert.equal(ring.read(out, 10, 2), 5);
    assert.deepEqual(out, generateTestSignal(5, 2, 3));
  });
});

describe("sources", () => {
  it("silence and the test signal never underrun; the test signal restarts per stream unless told not to", () => {
    const out = new Int16Array(96);
    assert.equal(new SilenceSource().read(out, 48, STEREO_48K), 48);
    const signal = new TestSignalSource();
    signal.read(out, 48, STEREO_48K);
    signal.start(STEREO_48K);
    assert.equal(signal.nextFrame, 0);
    const continuous = new TestSignalSource({ restartOnStart: false });
    continuous.read(out, 48, STEREO_48K);
    continuous.start(STEREO_48K);
    continuous.read(out, 48, STEREO_48K);
    assert.deepEqual(out, generateTestSignal(48, 2, 48));
  });

  it("the sine has the asked peak and frequency, the same in every channel, continuous across packets", () => {
    const sine = new SineSource({ frequency: 1000, amplitude: 0.5 });
    const out = new Int16Array(96);
    sine.read(out, 48, STEREO_48K);
    assert.equal(out[0], 0);
    assert.equal(out[24], 16384, "a quarter period in: the peak");
    assert.equal(out[48], 0);
    for (let i = 0; i < 96; i += 2) assert.equal(out[i], out[i + 1]);
    sine.read(out, 1, STEREO_48K);
    assert.ok(Math.abs(out[0]!) <= 1, "the next period starts where the last ended");
    assert.throws(() => new SineSource({ amplitude: 2 }), RangeError);
    assert.throws(() => new SineSource({ frequency: 0 }), RangeError);
  });

  it("the push source converts channels, counts overflow and underrun, reports the stream's format", () => {
    const push = new PushSource({ channels: 1, capacityFrames: 4 });
    assert.equal(push.push(Int16Array.of(1, 2, 3, 4, 5)), 4);
    assert.equal(push.overflowFrames, 1);
    push.start(STEREO_48K);
    assert.deepEqual(push.format, STEREO_48K);
    const out = new Int16Array(12);
    assert.equal(push.read(out, 6, STEREO_48K), 4);
    assert.deepEqual(Array.from(out.subarray(0, 8)), [1, 1, 2, 2, 3, 3, 4, 4]);
    assert.equal(push.underrunFrames, 2);
    assert.throws(() => new PushSource({ channels: 2 }).push(Int16Array.of(1)), RangeError);
  });

  it("a buffer source stops at its end or loops, and may restart with each stream", () => {
    const once = new BufferSource(Int16Array.of(7, 8), 1, { restartOnStart: true });
    const out = new Int16Array(4);
    assert.equal(once.read(out, 4, MONO_8K), 2);
    assert.equal(once.ended, true);
    once.start(MONO_8K);
    assert.equal(once.read(out, 1, MONO_8K), 1);
    const looped = new BufferSource(Int16Array.of(7, 8), 1, { loop: true });
    assert.equal(looped.read(out, 4, MONO_8K), 4);
    assert.deepEqual(Array.from(out), [7, 8, 7, 8]);
    assert.equal(new BufferSource(new Int16Array(0), 1, { loop: true }).read(out, 4, MONO_8K), 0);
  });
});

describe("sinks", () => {
  it("the memory sink keeps the first stream's layout, converts later ones, records formats, honours maxFrames", () => {
    const sink = new MemorySink({ maxFrames: 5 });
    sink.start(STEREO_48K);
    assert.equal(sink.write(Int16Array.of(1, 2, 3, 4), 2, STEREO_48K), 2);
    sink.start(MONO_8K);
    assert.equal(sink.write(Int16Array.of(9, 9, 9, 9), 4, MONO_8K), 3);
    assert.deepEqual(
      [sink.channels, sink.frames, Array.from(sink.samples)],
      [2, 5, [1, 2, 3, 4, 9, 9, 9, 9, 9, 9]],
    );
    assert.deepEqual(sink.streamFormats, [STEREO_48K, MONO_8K]);
  });

  it("the memory sink grows without losing what it kept", () => {
    const sink = new MemorySink();
    const signal = generateTestSignal(48_000, 2);
    for (let f = 0; f < 48_000; f += 48) sink.write(signal.subarray(f * 2, f * 2 + 96), 48, STEREO_48K);
    assert.deepEqual(sink.samples, signal);
  });

  it("the pull sink reads in its own layout", () => {
    const sink = new PullSink({ channels: 1, capacityFrames: 10 });
    sink.write(Int16Array.of(2, 4, 6, 8), 2, STEREO_48K);
    const out = new Int16Array(5);
    assert.equal(sink.read(out), 2);
    assert.deepEqual(Array.from(out.subarray(0, 2)), [3, 7]);
    assert.equal(sink.availableFrames, 0);
  });
});
