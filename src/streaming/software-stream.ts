import { UhciController } from "../controller/uhci/uhci-controller.ts";
import { AsyncIsoWrapper } from "../devices/async-host/async-iso-wrapper.ts";
import type { AsyncHostTiming } from "../devices/async-host/request-timing.ts";
import { StreamDirection } from "../devices/audio/audio-model.ts";
import { UsbMicrophone } from "../devices/audio/microphone.ts";
import { checkTestSignal, type TestSignalReport } from "../devices/audio/signal-check.ts";
import { MemorySink } from "../devices/audio/sinks/memory-sink.ts";
import type { AudioSource } from "../devices/audio/sources/audio-source.ts";
import { TestSignalSource } from "../devices/audio/sources/test-signal-source.ts";
import { UsbSpeaker } from "../devices/audio/speaker.ts";
import { generateTestSignal } from "../devices/audio/test-signal.ts";
import { setSamplingFrequency } from "../guest/iso-audio-requests.ts";
import type { IsoStream } from "../guest/iso-stream.ts";
import { guestMachineFor } from "../guest/machine-adapter.ts";
import { TransferStatus } from "../guest/transfer-result.ts";
import { UhciGuestDriver } from "../guest/uhci-guest-driver.ts";
import { VirtualClock } from "../machine/clock.ts";
import { RamGuestMemory } from "../machine/guest-memory.ts";
import { LevelIrqLine } from "../machine/irq-line.ts";
import type { UsbDevice } from "../usb/device.ts";
import { Percentiles, type Summary } from "./percentiles.ts";
import { streamingAlternate } from "./uac1-alternate.ts";

export const HostModel = {
  /** The emulated device answers every packet at once from its own buffers. */
  Sync: "sync",
  /** Packets are answered later from a timer, as passthrough answers (seed points 1–3). */
  Async: "async",
} as const;
export type HostModel = (typeof HostModel)[keyof typeof HostModel];

export interface SoftwareStreamOptions {
  direction: StreamDirection;
  sampleRate: number;
  channels: 1 | 2;
  seconds: number;
  host: HostModel;
  /** URBs in flight × packets per URB (Linux playback 3×6, capture 12×1, the seed's 4×5). */
  urbs: number;
  packetsPerUrb: number;
  /** Capture: what the microphone produces (default: the frame-counter test signal). */
  source?: AudioSource;
  /** Playback: interleaved samples the guest plays (default: the frame-counter test signal). */
  playback?: Int16Array;
  /** Async host timing (default: first request 10 frames out, then 0.4 ms after each request, up to 0.3 ms jitter). */
  asyncTiming?: Partial<AsyncHostTiming>;
  /** Told the fraction done now and then. */
  onProgress?: (fraction: number) => void;
}

export interface SoftwareStreamResult {
  direction: StreamDirection;
  host: HostModel;
  format: { sampleRate: number; channels: number; bits: 16 };
  preset: { urbs: number; packetsPerUrb: number };
  /** Frames the source side produced (microphone or guest). */
  framesSent: number;
  /** Frames the receiving side got (guest or speaker). */
  framesReceived: number;
  packets: { ok: number; missed: number; errors: number };
  lateRestarts: number;
  /** Frames between a URB's last TD and the guest driver seeing it (0 = the next frame boundary). */
  urbLagFrames: Summary;
  /** Host time from a device's async completion call until its data is in guest memory (async only). */
  completionToMemoryUs: Summary | null;
  /** The frame-counter check of what arrived (null when a custom source/signal was used). */
  check: TestSignalReport | null;
  /** What arrived, interleaved. */
  samples: Int16Array;
  /** Bit-exact, nothing lost, no missed packets, no errors. */
  ok: boolean;
  /** Host seconds the run took. */
  hostSeconds: number;
}

const DEFAULT_ASYNC_TIMING: Partial<AsyncHostTiming> = { isoLatencyMs: 0.4, jitterMs: 0.3, seed: 7 };
/** Frames the guest streams beyond the signal so the last real packets are surely through. */
const TAIL_FRAMES = 40;

/**
 * One audio stream through the UHCI controller, driven by the software guest driver as Linux's
 * uhci-hcd + snd-usb-audio would drive it, on a virtual clock (as fast as the host allows): enumerate
 * the USB Audio Class device, select the streaming alternate for the channel count, set the sampling
 * frequency, keep URBs in flight, and compare what arrived with what was sent.
 */
export function runSoftwareStream(options: SoftwareStreamOptions): SoftwareStreamResult {
  const started = performance.now();
  const { direction, sampleRate, channels, seconds } = options;
  const totalFrames = Math.round(sampleRate * seconds);
  const memory = new RamGuestMemory(4 << 20);
  const irq = new LevelIrqLine();
  const clock = new VirtualClock();
  const controller = new UhciController({ memory, irq, clock });

  const sink = new MemorySink({ channels, maxFrames: totalFrames + sampleRate });
  const source = options.source ?? new TestSignalSource();
  const audio =
    direction === StreamDirection.Capture ? new UsbMicrophone({ source }) : new UsbSpeaker({ sink });
  const completion = new Percentiles();
  let device: UsbDevice = audio;
  if (options.host === HostModel.Async) {
    const wrapper = new AsyncIsoWrapper(audio, {
      clock,
      timing: { ...DEFAULT_ASYNC_TIMING, ...options.asyncTiming },
    });
    wrapper.onCompleted = (_packet, ms) => completion.add(ms * 1000);
    device = wrapper;
  }
  controller.attach(0, device);

  const driver = UhciGuestDriver.start(guestMachineFor({ controller, memory, irq, clock }), {
    dmaBase: 0x10000,
    dmaSize: 0x200000,
    // Take the interrupt within 1/8 ms, as an OS does: async completions land between frames.
    interruptChecksPerMs: 8,
  });
  const enumerated = driver.enumerate(0);
  if (!enumerated.ok) throw new Error(`the guest could not enumerate the ${audio.name}: ${enumerated.error}`);
  const guestDevice = enumerated.device;
  const alternate = streamingAlternate(guestDevice.info.configuration, direction, channels, sampleRate);
  const endpoint = alternate.endpoint;
  const selected = guestDevice.setInterface(alternate.interfaceNumber, alternate.alternate);
  if (selected.status !== TransferStatus.Ok) throw new Error(`SET_INTERFACE failed: ${selected.status}`);
  const rate = guestDevice.control(setSamplingFrequency(endpoint, sampleRate));
  if (rate.status !== TransferStatus.Ok) throw new Error(`SET_CUR sampling frequency failed: ${rate.status}`);

  const bytesPerFrame = channels * 2;
  const received = new Int16Array((totalFrames + sampleRate) * channels);
  let receivedSamples = 0;
  const signal = options.playback ?? generateTestSignal(totalFrames, channels);
  const signalBytes = new Uint8Array(signal.buffer, signal.byteOffset, signal.byteLength);
  let playedBytes = 0;
  const lag = new Percentiles();
  /** Audio frames in packet `index` of a stream: rate/1000 with the remainder carried (44/45 at 44.1 kHz). */
  const framesInPacket = (index: number) =>
    Math.floor(((index + 1) * sampleRate) / 1000) - Math.floor((index * sampleRate) / 1000);

  let stream: IsoStream;
  if (direction === StreamDirection.Capture) {
    stream = guestDevice.openIsoStream(endpoint, {
      urbs: options.urbs,
      packetsPerUrb: options.packetsPerUrb,
      onData: (data) => {
        const samples = Math.min(data.length >> 1, received.length - receivedSamples);
        for (let i = 0; i < samples; i++) {
          received[receivedSamples + i] = ((data[2 * i]! | (data[2 * i + 1]! << 8)) << 16) >> 16;
        }
        receivedSamples += samples;
      },
      onUrbComplete: (urb) => lag.add(urb.lagFrames),
    });
  } else {
    stream = guestDevice.openIsoStream(endpoint, {
      urbs: options.urbs,
      packetsPerUrb: options.packetsPerUrb,
      packetSize: (index) => framesInPacket(index) * bytesPerFrame,
      fill: (buffer) => {
        const n = Math.max(0, Math.min(buffer.length, signalBytes.length - playedBytes));
        buffer.set(signalBytes.subarray(playedBytes, playedBytes + n));
        buffer.fill(0, n);
        playedBytes += buffer.length;
      },
      onUrbComplete: (urb) => lag.add(urb.lagFrames),
    });
  }

  const runMs = seconds * 1000 + TAIL_FRAMES;
  for (let done = 0; done < runMs; ) {
    const step = Math.min(1000, runMs - done);
    driver.run(step);
    done += step;
    options.onProgress?.(done / runMs);
  }
  stream.drain(200);
  stream.close();
  driver.run(2);

  const captured =
    direction === StreamDirection.Capture ? received.subarray(0, receivedSamples) : sink.samples.slice();
  const usesTestSignal =
    direction === StreamDirection.Capture ? options.source === undefined : options.playback === undefined;
  const check = usesTestSignal
    ? checkTestSignal(
        captured,
        channels,
        direction === StreamDirection.Playback ? { expectedFrames: totalFrames } : {},
      )
    : null;
  const framesSent =
    direction === StreamDirection.Capture
      ? (audio.stats.capture?.frames ?? 0)
      : Math.min(totalFrames, playedBytes / bytesPerFrame);
  const framesReceived = Math.floor(captured.length / channels);
  const stats = stream.stats;
  const packets = { ok: stats.packetsOk, missed: stats.packetsMissed, errors: stats.packetsError };
  const signalOk =
    check === null ||
    (check.bitExact &&
      check.dropped === 0 &&
      check.inserted === 0 &&
      check.headLossFrames === 0 &&
      (direction === StreamDirection.Capture ? framesReceived === framesSent : check.tailLossFrames === 0));
  return {
    direction,
    host: options.host,
    format: { sampleRate, channels, bits: 16 },
    preset: { urbs: options.urbs, packetsPerUrb: options.packetsPerUrb },
    framesSent,
    framesReceived:
      direction === StreamDirection.Capture ? framesReceived : (check?.framesReceived ?? framesReceived),
    packets,
    lateRestarts: stats.lateRestarts,
    urbLagFrames: lag.summary(),
    completionToMemoryUs: options.host === HostModel.Async ? completion.summary() : null,
    check,
    samples: captured,
    ok: signalOk && packets.missed === 0 && packets.errors === 0,
    hostSeconds: (performance.now() - started) / 1000,
  };
}
