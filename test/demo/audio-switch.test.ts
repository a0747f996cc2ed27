/**
 * The demo page's switch between bridge profiles (demo/audio-switch.ts): the headset's source and sink
 * move from the steady bridges to the loopback's and back while the guest streams, and the packet meter
 * that tells a main-thread stall from an audio-thread one.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import {
  FrameGapMeter,
  START_WAIT_PACKETS,
  SwitchableSink,
  SwitchableSource,
} from "../../demo/audio-switch.ts";
import type { AudioSink, AudioSource, StreamFormat } from "../../src/index.ts";
import { START_WAIT_PACKETS as LIBRARY_START_WAIT_PACKETS } from "../../src/web/index.ts";

const FORMAT: StreamFormat = { sampleRate: 48000, channels: 1 };

/** A source or sink that records what the switch asked of it. */
class Recording implements AudioSource, AudioSink {
  readonly calls: string[] = [];
  constructor(private readonly value: number) {}
  start(format: StreamFormat): void {
    this.calls.push(`start ${format.sampleRate}`);
  }
  stop(): void {
    this.calls.push("stop");
  }
  read(out: Int16Array, frames: number): number {
    out.fill(this.value, 0, frames);
    this.calls.push("read");
    return frames;
  }
  write(_samples: Int16Array, frames: number): number {
    this.calls.push("write");
    return frames;
  }
}

describe("demo: switching the headset between bridges", () => {
  it("a source switched mid-stream stops the old bridge and starts the new one on the stream's format", () => {
    const steady = new Recording(1);
    const loop = new Recording(2);
    const source = new SwitchableSource(steady);
    const out = new Int16Array(48);
    source.start(FORMAT);
    source.read(out, 48, FORMAT);
    assert.equal(out[0], 1);
    source.use(loop);
    assert.deepEqual(steady.calls, ["start 48000", "read", "stop"]);
    assert.deepEqual(loop.calls, ["start 48000"]);
    source.read(out, 48, FORMAT);
    assert.equal(out[0], 2);
    assert.equal(source.active, loop);
  });

  it("a switch while the guest does not stream starts nothing; the next start goes to the new bridge", () => {
    const steady = new Recording(1);
    const loop = new Recording(2);
    const sink = new SwitchableSink(steady);
    sink.use(loop);
    assert.deepEqual(loop.calls, []);
    sink.start(FORMAT);
    sink.write(new Int16Array(48), 48, FORMAT);
    sink.stop();
    assert.deepEqual(loop.calls, ["start 48000", "write", "stop"]);
    assert.deepEqual(steady.calls, ["stop"]);
  });

  it("a microphone stream's start goes straight to its bridge, which waits for real-time pace itself", () => {
    const steady = new Recording(1);
    const source = new SwitchableSource(steady);
    const out = new Int16Array(48);
    source.start(FORMAT);
    source.read(out, 48, FORMAT);
    source.stop();
    assert.deepEqual(steady.calls, ["start 48000", "read", "stop"]);
    assert.equal(out[0], 1);
    // The bound the browser test allows for a recording's leading silence is the library's.
    assert.equal(START_WAIT_PACKETS, LIBRARY_START_WAIT_PACKETS);
  });

  it("switching to the bridge already in use changes nothing", () => {
    const steady = new Recording(1);
    const sink = new SwitchableSink(steady);
    sink.start(FORMAT);
    sink.use(steady);
    assert.deepEqual(steady.calls, ["start 48000"]);
  });
});

describe("demo: the USB packet meter", () => {
  it("reports the largest gap, the gaps over 10/20/50 ms, and how far packets fell behind the wall clock", () => {
    let now = 0;
    const meter = new FrameGapMeter(() => now);
    // 10 packets on time, then a 60 ms stall, then 59 overdue packets caught up within 15 ms.
    for (let i = 0; i < 10; i++, now += 1) meter.tick();
    now += 59;
    for (let i = 0; i < 59; i++, now += 0.25) meter.tick();
    const gaps = meter.snapshot();
    assert.equal(gaps.maxGapMs, 60);
    assert.equal(gaps.over10, 1);
    assert.equal(gaps.over20, 1);
    assert.equal(gaps.over50, 1);
    assert.equal(gaps.packets, 69);
    // Before the stall's first packet ran, 69 ms had passed for 10 packets: 59 ms behind.
    assert.equal(gaps.maxBehindMs, 59);
    assert.equal(gaps.maxAheadMs, 0);
  });

  it("a stream's stop and restart is not a late packet; reset clears the counts", () => {
    let now = 0;
    const meter = new FrameGapMeter(() => now);
    meter.tick();
    now += 1;
    meter.tick();
    meter.pause();
    now += 5000;
    meter.tick();
    now += 1;
    meter.tick();
    assert.equal(meter.snapshot().maxGapMs, 1);
    assert.equal(meter.snapshot().maxBehindMs, 0);
    meter.reset();
    assert.deepEqual(meter.snapshot(), {
      maxGapMs: 0,
      maxAheadMs: 0,
      maxBehindMs: 0,
      over10: 0,
      over20: 0,
      over50: 0,
      packets: 0,
    });
  });
});
