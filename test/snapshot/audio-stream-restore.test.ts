/**
 * A snapshot taken in the middle of an audio stream, restored into a fresh controller, fresh devices and
 * a byte-for-byte copy of guest RAM (as an emulator restores RAM), on a clock at another time: the
 * stream carries on with no sample lost or repeated. The frame-counter checker says so, and the restored
 * run is bit for bit, packet for packet the run that was never interrupted.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { UsbMicrophone } from "../../src/devices/audio/microphone.ts";
import { checkTestSignal } from "../../src/devices/audio/signal-check.ts";
import { MemorySink } from "../../src/devices/audio/sinks/memory-sink.ts";
import { TestSignalSource } from "../../src/devices/audio/sources/test-signal-source.ts";
import { UsbSpeaker } from "../../src/devices/audio/speaker.ts";
import { generateTestSignal } from "../../src/devices/audio/test-signal.ts";
import { setSamplingFrequency } from "../../src/guest/iso-audio-requests.ts";
import { TransferStatus } from "../../src/guest/transfer-result.ts";
import { UhciGuestDriver } from "../../src/guest/uhci-guest-driver.ts";
import { streamingAlternate } from "../../src/streaming/uac1-alternate.ts";
import { makeRig, restore, SwitchableMachine, snapshot } from "./helpers/rig.ts";

/** A clock time far from the original machine's, exactly representable so frame due times stay exact. */
const RESTORED_CLOCK_MS = 777_777.25;

interface RunResult {
  /** Capture: what the guest received. Playback: what the speaker's sinks received, in order. */
  samples: Int16Array;
  /** Capture: bytes of each packet the guest received. */
  packetSizes: number[];
  deviceStats: unknown;
  snapshotFrames: number | null;
}

function run(
  direction: "capture" | "playback",
  sampleRate: number,
  channels: 1 | 2,
  totalMs: number,
  snapshotAtMs: number | null,
): RunResult {
  const totalFrames = Math.round((sampleRate * totalMs) / 1000);
  const makeDevice = () =>
    direction === "capture"
      ? { device: new UsbMicrophone({ source: new TestSignalSource() }), sink: null }
      : (() => {
          const sink = new MemorySink({ channels });
          return { device: new UsbSpeaker({ sink }), sink };
        })();
  let { device, sink } = makeDevice();
  const sinks = sink === null ? [] : [sink];
  const rig = makeRig([device]);
  const switchable = new SwitchableMachine(rig);
  const driver = UhciGuestDriver.start(switchable.machine, {
    dmaBase: 0x10000,
    dmaSize: 0x200000,
    interruptChecksPerMs: 8,
  });
  const enumerated = driver.enumerate(0);
  assert.ok(enumerated.ok, enumerated.ok ? "" : enumerated.error);
  const guestDevice = enumerated.device;
  const alt = streamingAlternate(guestDevice.info.configuration, direction, channels, sampleRate);
  const endpoint = alt.endpoint;
  assert.equal(guestDevice.setInterface(alt.interfaceNumber, alt.alternate).status, TransferStatus.Ok);
  assert.equal(guestDevice.control(setSamplingFrequency(endpoint, sampleRate)).status, TransferStatus.Ok);

  const received: number[] = [];
  const packetSizes: number[] = [];
  const signal = generateTestSignal(totalFrames, channels);
  const signalBytes = new Uint8Array(signal.buffer);
  let played = 0;
  const framesInPacket = (i: number) =>
    Math.floor(((i + 1) * sampleRate) / 1000) - Math.floor((i * sampleRate) / 1000);
  const stream =
    direction === "capture"
      ? guestDevice.openIsoStream(endpoint, {
          urbs: 12,
          packetsPerUrb: 1,
          onData: (data) => {
            packetSizes.push(data.length);
            for (let i = 0; i + 1 < data.length; i += 2)
              received.push(((data[i]! | (data[i + 1]! << 8)) << 16) >> 16);
          },
        })
      : guestDevice.openIsoStream(endpoint, {
          urbs: 3,
          packetsPerUrb: 6,
          packetSize: (i) => framesInPacket(i) * channels * 2,
          fill: (buffer) => {
            const n = Math.max(0, Math.min(buffer.length, signalBytes.length - played));
            buffer.set(signalBytes.subarray(played, played + n));
            buffer.fill(0, n);
            played += buffer.length;
          },
        });

  let snapshotFrames: number | null = null;
  if (snapshotAtMs !== null) {
    driver.run(snapshotAtMs);
    const snap = snapshot(rig);
    snapshotFrames = rig.controller.framesRun;
    // The emulator is rebuilt from its configuration: new devices, new controller, then the restore.
    ({ device, sink } = makeDevice());
    if (sink !== null) sinks.push(sink);
    switchable.switchTo(restore(snap, [device], { clockStartMs: RESTORED_CLOCK_MS }));
    driver.run(totalMs + 60 - snapshotAtMs);
  } else {
    driver.run(totalMs + 60);
  }
  assert.ok(stream.drain(200));
  stream.close();
  driver.run(2);
  const samples =
    direction === "capture"
      ? Int16Array.from(received)
      : Int16Array.from(sinks.flatMap((s) => Array.from(s.samples)));
  // The class request log is a record for reports, not device state, and is not saved.
  const { playback, capture } = device.stats;
  return { samples, packetSizes, deviceStats: { playback, capture }, snapshotFrames };
}

describe("snapshot in the middle of an audio stream (software guest, virtual clock)", () => {
  const cases = [
    { direction: "capture", sampleRate: 44_100, channels: 1 },
    { direction: "capture", sampleRate: 48_000, channels: 2 },
    { direction: "playback", sampleRate: 44_100, channels: 1 },
    { direction: "playback", sampleRate: 48_000, channels: 2 },
  ] as const;
  for (const { direction, sampleRate, channels } of cases) {
    it(`${direction} ${sampleRate} Hz ${channels === 2 ? "stereo" : "mono"}: restored into a fresh machine, nothing lost or repeated`, () => {
      const totalMs = 1500;
      // 733 ms: mid-URB, and at 44.1 kHz mid-way through the 44/45-frame packet pattern.
      const restored = run(direction, sampleRate, channels, totalMs, 733);
      const reference = run(direction, sampleRate, channels, totalMs, null);
      assert.ok(restored.snapshotFrames !== null && restored.snapshotFrames > 500, "the stream was running");

      const check = checkTestSignal(
        restored.samples,
        channels,
        direction === "playback" ? { expectedFrames: Math.round((sampleRate * totalMs) / 1000) } : {},
      );
      assert.ok(check.found);
      assert.equal(check.dropped, 0, JSON.stringify(check.events.slice(0, 3)));
      assert.equal(check.inserted, 0, JSON.stringify(check.events.slice(0, 3)));
      assert.equal(check.headLossFrames, 0);
      assert.ok(check.bitExact);
      if (direction === "playback") assert.equal(check.tailLossFrames, 0);
      assert.ok(check.framesReceived >= (sampleRate * totalMs) / 1000);

      // The restored run is the uninterrupted run: every sample, every packet size, every counter.
      assert.equal(restored.samples.length, reference.samples.length);
      assert.deepEqual(restored.samples, reference.samples);
      assert.deepEqual(restored.packetSizes, reference.packetSizes);
      assert.deepEqual(restored.deviceStats, reference.deviceStats);
    });
  }
});
