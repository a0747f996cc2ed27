import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { PacketStatus } from "../../usb/packet.ts";
import { PacketHost } from "../../usb/testing/packet-host.ts";
import { UsbHeadset } from "./headset.ts";
import { PacketPacer } from "./packet-pacer.ts";
import { checkTestSignal } from "./signal-check.ts";
import { MemorySink } from "./sinks/memory-sink.ts";
import { PullSink } from "./sinks/pull-sink.ts";
import { PushSource } from "./sources/push-source.ts";
import { UsbSpeaker, type UsbSpeakerOptions } from "./speaker.ts";
import { generateTestSignal } from "./test-signal.ts";
import { rateBytes, audioRequests as req, volumeBytes } from "./testing/requests.ts";
import { AudioRequest } from "./uac1.ts";
import { encodeSamples } from "./wav.ts";

const EP = 0x01;
const FU = 2;

function streaming(rate: number, alt = 1, options: UsbSpeakerOptions = {}) {
  const sink = new MemorySink();
  const device = new UsbSpeaker({ sink, ...options });
  const host = new PacketHost(device);
  host.enumerate();
  assert.equal(host.setInterface(1, alt), PacketStatus.Ack);
  assert.equal(
    host.control(req.samplingFrequency(AudioRequest.SetCur, EP), rateBytes(rate)).status,
    PacketStatus.Ack,
  );
  return { device, host, sink };
}

/** Plays interleaved samples as a Linux host does: rate/1000 frames per packet, the remainder spread. */
function play(host: PacketHost, samples: Int16Array, channels: number, rate: number): number {
  const pacer = new PacketPacer(rate);
  const bytes = new Uint8Array(1023);
  let frame = 0;
  let packets = 0;
  const total = samples.length / channels;
  while (frame < total) {
    const frames = Math.min(pacer.next(), total - frame);
    encodeSamples(samples.subarray(frame * channels, (frame + frames) * channels), frames * channels, bytes);
    const packet = host.isoOut(EP, bytes.subarray(0, frames * channels * 2));
    assert.equal(packet.status, PacketStatus.Ack);
    frame += frames;
    packets++;
  }
  return packets;
}

describe("UsbSpeaker streaming", () => {
  it("takes 10 s of 44.1 kHz stereo in 44/45-frame packets: every frame, bit-exact, counted", () => {
    const { device, sink } = streaming(44100);
    const host = new PacketHost(device);
    const signal = generateTestSignal(441_000, 2);
    assert.equal(play(host, signal, 2, 44100), 10_000);
    assert.deepEqual(sink.samples, signal);
    const stats = device.playback.stats;
    assert.deepEqual(
      [stats.packets, stats.frames, stats.bytes, stats.unexpectedSizePackets, stats.overrunFrames],
      [10_000, 441_000, 1_764_000, 0, 0],
    );
    assert.deepEqual(stats.format, { sampleRate: 44100, channels: 2 });
    assert.equal(checkTestSignal(sink.samples, 2, { expectedFrames: 441_000 }).lossless, true);
  });

  it("mono on alternate setting 2, 22.05 kHz", () => {
    const { host, sink } = streaming(22050, 2);
    const signal = generateTestSignal(22050, 1);
    assert.equal(play(host, signal, 1, 22050), 1000);
    assert.equal(sink.channels, 1);
    assert.deepEqual(sink.samples, signal);
  });

  it("mute writes zeros to the sink; −20 dB scales", () => {
    const { host, sink } = streaming(48000);
    host.control(req.setMute(FU), [1]);
    play(host, generateTestSignal(96, 2), 2, 48000);
    assert.ok(sink.samples.every((s) => s === 0));
    assert.equal(sink.frames, 96);
    host.control(req.setMute(FU), [0]);
    host.control(req.setVolume(FU), volumeBytes(-20 * 256));
    sink.clear();
    play(host, Int16Array.of(10000, -10000), 2, 48000);
    const g = Math.round(65536 * 0.1);
    assert.deepEqual(Array.from(sink.samples), [
      Math.round((10000 * g) / 65536),
      Math.round((-10000 * g) / 65536),
    ]);
  });

  it("counts packets of unexpected sizes and still keeps their whole frames", () => {
    const { device, host, sink } = streaming(48000);
    host.isoOut(EP, new Uint8Array(47 * 4)); // one frame short of 48
    host.isoOut(EP, new Uint8Array(48 * 4 + 2)); // a trailing half frame
    host.isoOut(EP, new Uint8Array(0));
    host.isoOut(EP, new Uint8Array(48 * 4));
    assert.equal(device.playback.stats.unexpectedSizePackets, 3);
    assert.equal(sink.frames, 47 + 48 + 48);
    assert.equal(device.playback.stats.bytes, 47 * 4 + 48 * 4 + 2 + 48 * 4);
  });

  it("STALLs OUT on the zero-bandwidth setting and counts non-isochronous packets", () => {
    const device = new UsbSpeaker();
    const host = new PacketHost(device);
    host.enumerate();
    assert.equal(host.isoOut(EP, new Uint8Array(192)).status, PacketStatus.Stall);
    host.setInterface(1, 1);
    host.packet.init(0xe1, 1, 1, 192, false);
    device.handlePacket(host.packet);
    assert.equal(host.packet.status, PacketStatus.Ack);
    assert.equal(device.playback.stats.nonIsochronousPackets, 1);
  });

  it("a pull sink hands the application a contiguous stretch and counts what did not fit", () => {
    const sink = new PullSink({ channels: 2, capacityFrames: 100 });
    const { device, host } = streaming(48000, 1, { sink });
    play(host, generateTestSignal(144, 2), 2, 48000);
    assert.equal(sink.overrunFrames, 44);
    assert.equal(device.playback.stats.overrunFrames, 44);
    const out = new Int16Array(300);
    assert.equal(sink.read(out), 100);
    assert.deepEqual(out.subarray(0, 200), generateTestSignal(100, 2));
    assert.deepEqual(sink.format, { sampleRate: 48000, channels: 2 });
  });

  it("headset loopback: what the host plays, piped into the microphone, comes back bit-exact", () => {
    const loop = new PushSource({ channels: 2, capacityFrames: 4800 });
    const pipe = new MemorySink();
    const device = new UsbHeadset({ microphone: { source: loop }, speaker: { sink: pipe } });
    const host = new PacketHost(device);
    host.enumerate();
    host.setInterface(1, 1);
    host.setInterface(2, 1);
    const signal = generateTestSignal(4800, 2);
    play(host, signal, 2, 48000);
    loop.push(pipe.samples);
    const received: number[] = [];
    for (let i = 0; i < 100; i++) {
      const packet = host.isoIn(0x82, 196);
      for (let b = 0; b < packet.actualLength; b += 2) {
        received.push(((packet.data[b]! | (packet.data[b + 1]! << 8)) << 16) >> 16);
      }
    }
    assert.deepEqual(Int16Array.from(received), signal);
  });
});
