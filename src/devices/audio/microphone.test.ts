import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { PacketStatus } from "../../usb/packet.ts";
import { PacketHost } from "../../usb/testing/packet-host.ts";
import { UsbMicrophone, type UsbMicrophoneOptions } from "./microphone.ts";
import { checkTestSignal } from "./signal-check.ts";
import type { AudioSource } from "./sources/audio-source.ts";
import { BufferSource } from "./sources/buffer-source.ts";
import { PushSource } from "./sources/push-source.ts";
import { TestSignalSource } from "./sources/test-signal-source.ts";
import { generateTestSignal } from "./test-signal.ts";
import { rateBytes, audioRequests as req, volumeBytes } from "./testing/requests.ts";
import { AudioRequest } from "./uac1.ts";

const EP = 0x81;
const FU = 2;
/** What Linux offers per IN packet: wMaxPacketSize of the stereo setting. */
const MAX_PACKET = 196;

/** A microphone, enumerated, streaming at `rate` on alternate setting `alt` (1 = stereo, 2 = mono). */
function streaming(rate: number, alt = 1, options: UsbMicrophoneOptions = {}) {
  const device = new UsbMicrophone(options);
  const host = new PacketHost(device);
  host.enumerate();
  assert.equal(host.setInterface(1, alt), PacketStatus.Ack);
  assert.equal(
    host.control(req.samplingFrequency(AudioRequest.SetCur, EP), rateBytes(rate)).status,
    PacketStatus.Ack,
  );
  return { device, host };
}

/** Polls `packets` IN packets; returns each packet's byte count and all samples received. */
function record(
  host: PacketHost,
  packets: number,
  length = MAX_PACKET,
): { sizes: number[]; samples: Int16Array } {
  const sizes: number[] = [];
  const bytes: number[] = [];
  for (let i = 0; i < packets; i++) {
    const packet = host.isoIn(EP, length);
    assert.equal(packet.status, PacketStatus.Ack);
    sizes.push(packet.actualLength);
    for (let b = 0; b < packet.actualLength; b++) bytes.push(packet.data[b]!);
  }
  const samples = new Int16Array(bytes.length / 2);
  for (let i = 0; i < samples.length; i++)
    samples[i] = ((bytes[2 * i]! | (bytes[2 * i + 1]! << 8)) << 16) >> 16;
  return { sizes, samples };
}

describe("UsbMicrophone streaming", () => {
  it("STALLs IN on the zero-bandwidth setting; streams once a setting is selected", () => {
    const device = new UsbMicrophone();
    const host = new PacketHost(device);
    host.enumerate();
    assert.equal(host.isoIn(EP, MAX_PACKET).status, PacketStatus.Stall);
    assert.equal(device.capture.active, false);
    host.setInterface(1, 1);
    assert.equal(host.isoIn(EP, MAX_PACKET).actualLength, 192, "48 kHz stereo: 48 frames × 4 bytes");
    host.setInterface(1, 0);
    assert.equal(host.isoIn(EP, MAX_PACKET).status, PacketStatus.Stall);
  });

  it("44.1 kHz: nine packets of 44 frames then one of 45, exactly 441,000 frames in 10 s", () => {
    const { device, host } = streaming(44100);
    const { sizes } = record(host, 10_000);
    const frames = sizes.map((bytes) => bytes / 4);
    assert.deepEqual(
      frames.slice(0, 20),
      [44, 44, 44, 44, 44, 44, 44, 44, 44, 45, 44, 44, 44, 44, 44, 44, 44, 44, 44, 45],
    );
    assert.equal(
      frames.reduce((a, b) => a + b, 0),
      441_000,
    );
    for (let second = 0; second < 10; second++) {
      const sum = frames.slice(second * 1000, (second + 1) * 1000).reduce((a, b) => a + b, 0);
      assert.equal(sum, 44100, `second ${second}`);
    }
    const stats = device.capture.stats;
    assert.deepEqual(
      [stats.packets, stats.frames, stats.bytes, stats.unexpectedSizePackets, stats.underrunFrames],
      [10_000, 441_000, 1_764_000, 0, 0],
    );
  });

  it("22.05 kHz mono sends 22 frames nineteen times then 23; 8 kHz sends 8 every time", () => {
    const a = streaming(22050, 2);
    const frames = record(a.host, 2000).sizes.map((bytes) => bytes / 2);
    assert.deepEqual(frames.slice(0, 20), [...new Array(19).fill(22), 23]);
    assert.equal(
      frames.reduce((x, y) => x + y, 0),
      44100,
    );
    const b = streaming(8000, 2);
    assert.ok(record(b.host, 100).sizes.every((bytes) => bytes === 16));
  });

  it("sends the test signal bit-exact at 0 dB, in stereo and in mono", () => {
    for (const [alt, channels] of [
      [1, 2],
      [2, 1],
    ] as const) {
      const { host } = streaming(48000, alt, { source: new TestSignalSource() });
      const { samples } = record(host, 2000);
      assert.deepEqual(samples, generateTestSignal(96_000, channels));
      const report = checkTestSignal(samples, channels, { expectedFrames: 96_000 });
      assert.equal(report.lossless, true);
    }
  });

  it("restarts the test signal at frame 0 when a stream starts", () => {
    const { host } = streaming(48000, 1, { source: new TestSignalSource() });
    record(host, 10);
    host.setInterface(1, 0);
    host.setInterface(1, 1);
    const { samples } = record(host, 1);
    assert.deepEqual(samples, generateTestSignal(48, 2));
  });

  it("mute sends zeros; unmuting restores the exact signal", () => {
    const { host } = streaming(48000, 1, { source: new TestSignalSource() });
    host.control(req.setMute(FU), [1]);
    assert.ok(record(host, 5).samples.every((s) => s === 0));
    host.control(req.setMute(FU), [0]);
    assert.deepEqual(record(host, 1).samples, generateTestSignal(48, 2, 240));
  });

  it("scales by the amplitude law: −6 dB is ×round(65536·10^(−6/20))/65536, rounded; −∞ gives zeros", () => {
    const pattern = Int16Array.from({ length: 96 }, (_, i) => (i * 7919 - 32768) % 65536);
    pattern[0] = -32768;
    pattern[1] = 32767;
    const { host } = streaming(48000, 1, { source: new BufferSource(pattern, 2, { loop: true }) });
    assert.deepEqual(record(host, 1).samples, pattern, "0 dB: bit-exact");
    host.control(req.setVolume(FU), volumeBytes(-6 * 256));
    const quiet = record(host, 1).samples;
    const factor = Math.round(65536 * 10 ** (-6 / 20));
    assert.deepEqual(
      quiet,
      pattern.map((s) => Math.round((s * factor) / 65536)),
    );
    host.control(req.setVolume(FU), volumeBytes(0x8000));
    assert.ok(record(host, 1).samples.every((s) => s === 0));
  });

  it("pads an underrun of the push source with silence and counts it", () => {
    const source = new PushSource({ channels: 2, capacityFrames: 1000 });
    const { device, host } = streaming(48000, 1, { source });
    source.push(generateTestSignal(100, 2));
    const { samples } = record(host, 3);
    assert.deepEqual(samples.subarray(0, 200), generateTestSignal(100, 2));
    assert.ok(samples.subarray(200).every((s) => s === 0));
    assert.equal(source.underrunFrames, 44);
    assert.deepEqual([device.capture.stats.underrunFrames, device.capture.stats.underrunPackets], [44, 1]);
  });

  it("a host buffer too small for the frames due gets the whole frames that fit; none are lost", () => {
    const { device, host } = streaming(48000, 1, { source: new TestSignalSource() });
    const small = record(host, 2, 100);
    assert.deepEqual(small.sizes, [100, 100], "25 whole frames each");
    assert.equal(device.capture.stats.unexpectedSizePackets, 2);
    const rest = record(host, 1);
    assert.deepEqual([...small.samples, ...rest.samples], [...generateTestSignal(50 + 48, 2)]);
  });

  it("counts a source that throws and still answers with silence", () => {
    const broken: AudioSource = {
      read() {
        throw new Error("boom");
      },
    };
    const { device, host } = streaming(16000, 1, { source: broken });
    const packet = host.isoIn(EP, MAX_PACKET);
    assert.deepEqual([packet.status, packet.actualLength], [PacketStatus.Ack, 64]);
    assert.equal(device.capture.stats.callbackErrors, 1);
  });

  it("tells the source when streams start, change rate and stop", () => {
    const calls: string[] = [];
    const source: AudioSource = {
      start: (f) => calls.push(`start ${f.sampleRate}/${f.channels}`),
      stop: () => calls.push("stop"),
      read: (_out, frames) => frames,
    };
    const { device, host } = streaming(44100, 2, { source });
    host.control(req.samplingFrequency(AudioRequest.SetCur, EP), rateBytes(44100));
    host.setInterface(1, 1);
    host.setInterface(1, 0);
    host.setInterface(1, 1);
    host.enumerate();
    assert.deepEqual(calls, [
      "start 48000/1",
      "start 44100/1",
      "start 44100/2",
      "stop",
      "start 44100/2",
      "stop",
    ]);
    assert.equal(device.capture.stats.streamStarts, 3, "counters survive a bus reset");
  });
});
