import type { AudioSink } from "../devices/audio/sinks/audio-sink.ts";
import type { AudioSource } from "../devices/audio/sources/audio-source.ts";
import type { StreamFormat } from "../devices/audio/stream-format.ts";
import type { AudioContextLike, AudioNodeLike, MediaStreamLike } from "./dom-types.ts";

/** What a bridge reports, readable at any time (`stats()` allocates one object; call it from a UI timer). */
export interface AudioBridgeStats {
  /** Times the buffer ran dry after it had been primed (each one: silence until it is primed again). */
  readonly underruns: number;
  /** Times the buffer reached `maxLatencyMs` (each one: frames discarded down to the target). */
  readonly overruns: number;
  /** Frames lost to underruns (silence played or sent) and to overruns (discarded), context rate. */
  readonly underrunFrames: number;
  readonly overrunFrames: number;
  /** Frames queued between the sound card and the USB frame clock (context rate), now. */
  readonly fillFrames: number;
  readonly fillMs: number;
  /** The fill the drift controller aims at. */
  readonly targetMs: number;
  /** Latency the bridge adds: the fill, one render quantum and the resampler's delay. */
  readonly latencyMs: number;
  /** The current resampling ratio correction: 1 = none; 1.0002 = consuming 200 ppm faster. */
  readonly ratio: number;
  /** The AudioContext's rate. */
  readonly contextRate: number;
  /** The rate the guest streams at (0 while it does not). */
  readonly guestRate: number;
  /** The guest's channel count (0 while it does not stream). */
  readonly channels: number;
  /** The guest is streaming (between the device's start and stop). */
  readonly running: boolean;
  /** How samples cross to the worklet: a SharedArrayBuffer ring, or MessagePort batches. */
  readonly transport: "shared" | "message";
}

export interface MicrophoneResult {
  readonly stream: MediaStreamLike | null;
  /** Why there is no stream (permission denied, no device, no mediaDevices in an insecure page…). */
  readonly reason?: string;
}

export interface BridgeOptions {
  /** The fill the drift controller holds, in ms of audio; default 20. */
  readonly targetLatencyMs?: number;
  /** The fill at which the buffer counts an overrun and discards down to the target; default 3 × target (≥ target + 20). */
  readonly maxLatencyMs?: number;
  /** Force a transport; default "shared" when `crossOriginIsolated` (SharedArrayBuffer usable), else "message". */
  readonly transport?: "shared" | "message";
}

export interface SpeakerBridgeOptions extends BridgeOptions {
  /** Where `output` is connected; default `context.destination`; null leaves it unconnected. */
  readonly destination?: AudioNodeLike | null;
}

/**
 * getUserMedia for an emulated microphone: echo cancellation, noise suppression and auto gain control
 * off (the guest gets what the microphone hears; the guest's own software may process it). Never throws:
 * without a stream, `reason` says why.
 */
export async function openMicrophone(constraints?: object): Promise<MicrophoneResult> {
  void constraints;
  return { stream: null, reason: "not implemented yet" };
}

/** Whether this page can run an AudioWorklet (a secure context with `AudioWorkletNode`), and if not why. */
export function audioWorkletSupport(): { readonly ok: boolean; readonly reason?: string } {
  return { ok: false, reason: "not implemented yet" };
}

/** An AudioSource fed by a MediaStream (null = silence) through an AudioWorklet. */
export class MicrophoneBridge implements AudioSource {
  private constructor() {}

  static async create(
    context: AudioContextLike,
    stream: MediaStreamLike | null,
    options: BridgeOptions = {},
  ): Promise<MicrophoneBridge> {
    void context;
    void stream;
    void options;
    return new MicrophoneBridge();
  }

  /** Switches the microphone (null = silence) without restarting the guest's stream. */
  setStream(stream: MediaStreamLike | null): void {
    void stream;
  }

  start(format: StreamFormat): void {
    void format;
  }

  stop(): void {}

  read(out: Int16Array, frames: number, format: StreamFormat): number {
    out.fill(0, 0, frames * format.channels);
    return frames;
  }

  stats(): AudioBridgeStats {
    throw new Error("not implemented yet");
  }

  /** Disconnects the worklet and stops using the stream (the stream's tracks are the caller's). */
  close(): void {}
}

/** An AudioSink played into an AudioContext through an AudioWorklet; `output` is the node to connect or tap. */
export class SpeakerBridge implements AudioSink {
  readonly output: AudioNodeLike;

  private constructor(output: AudioNodeLike) {
    this.output = output;
  }

  static async create(context: AudioContextLike, options: SpeakerBridgeOptions = {}): Promise<SpeakerBridge> {
    void options;
    return new SpeakerBridge(context.destination);
  }

  start(format: StreamFormat): void {
    void format;
  }

  stop(): void {}

  write(_samples: Int16Array, frames: number, _format: StreamFormat): number {
    return frames;
  }

  stats(): AudioBridgeStats {
    throw new Error("not implemented yet");
  }

  close(): void {}
}
