import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { checkTestSignal } from "../devices/audio/signal-check.ts";
import { MemorySink } from "../devices/audio/sinks/memory-sink.ts";
import { TestSignalSource } from "../devices/audio/sources/test-signal-source.ts";
import type { StreamFormat } from "../devices/audio/stream-format.ts";
import { VirtualClock } from "../machine/clock.ts";
import { LIVE_BUFFER_MS, LiveSink, LiveSource } from "./live-audio.ts";

const format: StreamFormat = { sampleRate: 48_000, channels: 2 };

/** A loss listener that keeps what it is told. */
function recorder() {
  const losses: { atMs: number; frames: number }[] = [];
  return { losses, onLoss: (atMs: number, frames: number) => losses.push({ atMs, frames }) };
}

describe("LiveSource: a microphone that keeps only LIVE_BUFFER_MS of audio for the host", () => {
  it("loses nothing while the host fetches one packet per ms, however late within the buffer", () => {
    const clock = new VirtualClock();
    const { losses, onLoss } = recorder();
    const live = new LiveSource(new TestSignalSource(), clock, onLoss);
    live.start(format);
    clock.advance(LIVE_BUFFER_MS - 1); // the host starts late, but within the buffer
    const out = new Int16Array(48 * 2);
    const got = new Int16Array(48 * 2 * 1000);
    for (let i = 0; i < 1000; i++) {
      live.read(out, 48, format);
      got.set(out, i * 96);
      clock.advance(1);
    }
    assert.equal(losses.length, 0);
    const check = checkTestSignal(got, 2);
    assert.ok(check.lossless && check.bitExact && check.firstFrame === 0);
  });

  it("throws away what the host did not fetch in time, and the signal shows the gap", () => {
    const clock = new VirtualClock();
    const { losses, onLoss } = recorder();
    const live = new LiveSource(new TestSignalSource(), clock, onLoss);
    live.start(format);
    const out = new Int16Array(48 * 2);
    const got = new Int16Array(48 * 2 * 3);
    live.read(out, 48, format);
    got.set(out, 0);
    clock.advance(500); // a 500 ms stall: the microphone kept the last 32 ms
    live.read(out, 48, format);
    got.set(out, 96);
    live.read(out, 48, format);
    got.set(out, 192);
    assert.equal(losses.length, 1);
    const lost = 500 * 48 - 48 - LIVE_BUFFER_MS * 48;
    assert.deepEqual(losses[0], { atMs: 500, frames: lost });
    assert.equal(live.lostFrames, lost);
    const check = checkTestSignal(got, 2);
    assert.equal(check.dropped, lost);
    assert.ok(check.bitExact);
  });
});

describe("LiveSink: a speaker that plays in real time from LIVE_BUFFER_MS after its first data", () => {
  it("counts the silence it plays when data comes late, and passes every frame on", () => {
    const clock = new VirtualClock();
    const memory = new MemorySink({ channels: 2 });
    const { losses, onLoss } = recorder();
    const live = new LiveSink(memory, clock, onLoss);
    live.start(format);
    const packet = new Int16Array(48 * 2);
    for (let i = 0; i < 100; i++) {
      live.write(packet, 48, format);
      clock.advance(1);
    }
    assert.equal(losses.length, 0);
    clock.advance(300); // the host stalls 300 ms: the speaker had 32 ms queued
    live.write(packet, 48, format);
    assert.equal(losses.length, 1);
    assert.equal(losses[0]!.frames, (300 - LIVE_BUFFER_MS) * 48);
    // Playing resumed from that data: steady packets again lose nothing.
    for (let i = 0; i < 100; i++) {
      clock.advance(1);
      live.write(packet, 48, format);
    }
    assert.equal(losses.length, 1);
    assert.equal(live.lostFrames, (300 - LIVE_BUFFER_MS) * 48);
    assert.equal(memory.frames, 201 * 48);
  });
});
