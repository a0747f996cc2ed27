/**
 * Ten minutes (virtual) of audio through the controller, driven by the software guest driver as
 * uhci-hcd + snd-usb-audio drive it: 48 kHz stereo and 44.1 kHz mono, capture (iso IN from the USB
 * microphone) and playback (iso OUT to the USB speaker), with the device answering at once (sync) or
 * later from a timer like passthrough (async: seed points 1–3). Every frame of the frame-counter test
 * signal must arrive, bit-exact, with no packet missed.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { StreamDirection } from "../../src/devices/audio/audio-model.ts";
import { HostModel, runSoftwareStream } from "../../src/streaming/software-stream.ts";

const TEN_MINUTES = 600;
const formats = [
  { sampleRate: 48_000, channels: 2 },
  { sampleRate: 44_100, channels: 1 },
] as const;
/** Linux's own shapes: snd-usb-audio capture 12 URBs × 1 packet, playback 3 × 6 (reference/uhci.md). */
const presets = {
  [StreamDirection.Capture]: { urbs: 12, packetsPerUrb: 1 },
  [StreamDirection.Playback]: { urbs: 3, packetsPerUrb: 6 },
} as const;

describe("ten minutes of streaming through the controller (software guest)", () => {
  for (const direction of [StreamDirection.Capture, StreamDirection.Playback]) {
    for (const { sampleRate, channels } of formats) {
      for (const host of [HostModel.Sync, HostModel.Async]) {
        it(`${direction} ${sampleRate} Hz ${channels === 2 ? "stereo" : "mono"}, ${host} device: bit-exact, nothing lost`, () => {
          const result = runSoftwareStream({
            direction,
            host,
            sampleRate,
            channels,
            seconds: TEN_MINUTES,
            ...presets[direction],
          });
          const check = result.check!;
          assert.equal(result.packets.missed, 0, "no iso TD still active after its frame (-EXDEV)");
          assert.equal(result.packets.errors, 0);
          assert.equal(check.dropped, 0, JSON.stringify(check.events.slice(0, 3)));
          assert.equal(check.inserted, 0, JSON.stringify(check.events.slice(0, 3)));
          assert.equal(check.headLossFrames, 0);
          assert.ok(check.bitExact);
          assert.equal(result.framesReceived, result.framesSent);
          // At least the whole ten minutes went through (capture runs a few frames longer).
          assert.ok(result.framesReceived >= sampleRate * TEN_MINUTES, `${result.framesReceived} frames`);
          if (direction === StreamDirection.Playback) assert.equal(check.tailLossFrames, 0);
          assert.ok(result.ok);
        });
      }
    }
  }

  it("the seed's 4 × 5 URBs stream losslessly from an async device whose first answer is 10 frames late", () => {
    const result = runSoftwareStream({
      direction: StreamDirection.Capture,
      host: HostModel.Async,
      sampleRate: 48_000,
      channels: 2,
      seconds: 30,
      urbs: 4,
      packetsPerUrb: 5,
    });
    assert.ok(
      result.ok,
      JSON.stringify({ packets: result.packets, events: result.check?.events.slice(0, 3) }),
    );
    // The first URB waited for the device's 10-frame start: its lag shows it.
    assert.ok(result.urbLagFrames.max >= 5, `max lag ${result.urbLagFrames.max}`);
    // Mechanism 3: the data is in guest memory when the device's completion call returns.
    assert.ok(result.completionToMemoryUs !== null && result.completionToMemoryUs.count > 0);
  });
});
