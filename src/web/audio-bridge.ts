import type { AudioSink } from "../devices/audio/sinks/audio-sink.ts";
import type { AudioSource } from "../devices/audio/sources/audio-source.ts";
import type { StreamFormat } from "../devices/audio/stream-format.ts";
import type {
  AudioContextLike,
  AudioNodeLike,
  AudioWorkletNodeConstructor,
  AudioWorkletNodeLike,
  MediaStreamLike,
} from "./dom-types.ts";
import {
  type AudioBridgeStats,
  CapturePipe,
  PlaybackPipe,
  REPORT_EVERY,
  wireCapturePort,
  wirePlaybackPort,
} from "./pipes.ts";
import {
  MICROPHONE_PROCESSOR,
  SPEAKER_PROCESSOR,
  WORKLET_SOURCE,
  type WorkletProcessorOptions,
} from "./worklet-source.ts";

export type { AudioBridgeStats } from "./pipes.ts";
export { START_WAIT_PACKETS } from "./pipes.ts";

export interface MicrophoneResult {
  readonly stream: MediaStreamLike | null;
  /** Why there is no stream (permission denied, no device, an insecure page…); absent with a stream. */
  readonly reason?: string;
}

export interface BridgeOptions {
  /**
   * The fill the drift controller holds, in ms of audio; default 20 with the shared transport, 50 with
   * the message transport (its batches wait for the main thread, where the emulator runs: a 20 ms
   * fill underran in an ordinary page). The ratio stays exactly 1 while
   * the fill is within a band of it (0.4 × the target, at most 6 ms). A speaker's target must exceed
   * the page's longest main-thread stall, or the card runs dry during it (an underrun).
   */
  readonly targetLatencyMs?: number;
  /**
   * The fill at which the buffer counts an overrun and discards down to the target; default
   * max(3 × target, target + 60): room for a 50 ms main-thread stall, during which the microphone's
   * card keeps filling the ring; 300 with the message transport's default target (an emulator stopped
   * for ~125 ms on a loaded host: the audio is kept as latency rather than cut).
   */
  readonly maxLatencyMs?: number;
  /**
   * How samples cross between the main thread and the worklet. Default: "shared" (a SharedArrayBuffer
   * ring, nothing allocated per block) when the page is `crossOriginIsolated`, else "message"
   * (MessagePort batches). "shared" where SharedArrayBuffer is unavailable rejects.
   */
  readonly transport?: "shared" | "message";
  /**
   * Where the worklet module is loaded from; default a Blob URL made from {@link WORKLET_SOURCE}. Give
   * the URL of a file holding that text when the page's Content-Security-Policy forbids `blob:`.
   */
  readonly moduleUrl?: string;
}

export interface SpeakerBridgeOptions extends BridgeOptions {
  /** Where `output` is connected; default `context.destination`; null leaves it unconnected. */
  readonly destination?: AudioNodeLike | null;
}

interface BrowserGlobals {
  readonly AudioWorkletNode?: AudioWorkletNodeConstructor;
  readonly crossOriginIsolated?: boolean;
  readonly isSecureContext?: boolean;
  readonly navigator?: {
    readonly mediaDevices?: { getUserMedia?(constraints: object): Promise<MediaStreamLike> };
  };
  readonly Blob?: new (parts: string[], options: { type: string }) => object;
  readonly URL?: { createObjectURL?(blob: object): string };
}
// Through unknown: with the DOM lib, globalThis.AudioWorkletNode is typed for the real BaseAudioContext.
const browser = globalThis as unknown as BrowserGlobals;

/**
 * getUserMedia for an emulated microphone: echo cancellation, noise suppression and auto gain control
 * off (the guest gets what the microphone hears; its own software may process it), unless
 * `constraints` (MediaTrackConstraints) turn them back on. Never throws: without a stream, `reason`
 * says why in words a page can show.
 */
export async function openMicrophone(constraints: object = {}): Promise<MicrophoneResult> {
  const getUserMedia = browser.navigator?.mediaDevices?.getUserMedia;
  if (typeof getUserMedia !== "function") {
    return {
      stream: null,
      reason:
        browser.isSecureContext === false
          ? "the page is not a secure context (https or localhost), so the browser offers no microphone"
          : "this browser has no navigator.mediaDevices.getUserMedia",
    };
  }
  const audio = { echoCancellation: false, noiseSuppression: false, autoGainControl: false, ...constraints };
  try {
    const stream = await getUserMedia.call(browser.navigator?.mediaDevices, { audio, video: false });
    return { stream };
  } catch (error) {
    const name =
      typeof error === "object" && error !== null ? String((error as { name?: unknown }).name) : "";
    const message = error instanceof Error ? error.message : String(error);
    const reasons: Record<string, string> = {
      NotAllowedError: "microphone permission was denied",
      SecurityError: "microphone access is blocked for this page",
      NotFoundError: "no microphone was found",
      NotReadableError: "the microphone is in use or could not be opened",
      OverconstrainedError: "no microphone satisfies the requested constraints",
      AbortError: "opening the microphone was aborted",
    };
    return {
      stream: null,
      reason: reasons[name] ?? `getUserMedia failed: ${name ? `${name}: ` : ""}${message}`,
    };
  }
}

/** Whether this page can run an AudioWorklet, and if not why (for the page to show). */
export function audioWorkletSupport(): { readonly ok: boolean; readonly reason?: string } {
  if (typeof browser.AudioWorkletNode === "function") return { ok: true };
  if (browser.isSecureContext === false) {
    return {
      ok: false,
      reason: "AudioWorklet needs a secure context: open the page over https or from localhost",
    };
  }
  return {
    ok: false,
    reason: "this browser has no AudioWorklet (AudioWorkletNode): audio needs a current browser",
  };
}

let blobUrl: string | null = null;
const loaded = new WeakMap<AudioContextLike, Promise<void>>();

/** The worklet module as a Blob URL (made once per page). */
function workletModuleUrl(): string {
  if (blobUrl === null) {
    if (typeof browser.Blob !== "function" || typeof browser.URL?.createObjectURL !== "function") {
      throw new Error("no Blob URLs here: pass BridgeOptions.moduleUrl (a file holding WORKLET_SOURCE)");
    }
    blobUrl = browser.URL.createObjectURL(new browser.Blob([WORKLET_SOURCE], { type: "text/javascript" }));
  }
  return blobUrl;
}

/** Loads the module into a context once (registering a processor name twice would fail). */
async function prepare(
  context: AudioContextLike,
  options: BridgeOptions,
): Promise<{ node: AudioWorkletNodeConstructor; transport: "shared" | "message" }> {
  const node = browser.AudioWorkletNode;
  if (typeof node !== "function") throw new Error(audioWorkletSupport().reason);
  const canShare = typeof SharedArrayBuffer === "function" && browser.crossOriginIsolated === true;
  const transport = options.transport ?? (canShare ? "shared" : "message");
  if (transport === "shared" && typeof SharedArrayBuffer !== "function") {
    throw new Error("the shared transport needs SharedArrayBuffer (a crossOriginIsolated page)");
  }
  let module = loaded.get(context);
  if (module === undefined) {
    module = context.audioWorklet.addModule(options.moduleUrl ?? workletModuleUrl());
    loaded.set(context, module);
    module.catch(() => loaded.delete(context));
  }
  await module;
  return { node, transport };
}

function processorOptions(pipe: CapturePipe | PlaybackPipe): WorkletProcessorOptions {
  return {
    transport: pipe.shared ? "shared" : "message",
    buffer: pipe.shared ? pipe.ring.buffer : null,
    capacityFrames: pipe.ring.capacityFrames,
    reportEvery: REPORT_EVERY,
  };
}

function pipeOptions(context: AudioContextLike, options: BridgeOptions, transport: "shared" | "message") {
  return {
    contextRate: context.sampleRate,
    shared: transport === "shared",
    ...(options.targetLatencyMs !== undefined ? { targetMs: options.targetLatencyMs } : {}),
    ...(options.maxLatencyMs !== undefined ? { maxMs: options.maxLatencyMs } : {}),
  };
}

/** A format no stream can have (a device is never built with one; checked so read/write cannot throw). */
const unusable = (format: StreamFormat): boolean =>
  !(format.sampleRate >= 1000 && format.sampleRate <= 768000) ||
  !(format.channels >= 1 && format.channels <= 8);

/**
 * An AudioSource fed by a MediaStream (null = silence) through an AudioWorklet: give it to a
 * `UsbMicrophone` or `UsbHeadset`. The guest's rate and channels are converted from the context's,
 * and the drift between the sound card and the emulator's frame clock is absorbed (docs/web-audio.md).
 */
export class MicrophoneBridge implements AudioSource {
  private source: AudioNodeLike | null = null;
  private closed = false;

  private constructor(
    private readonly context: AudioContextLike,
    private readonly pipe: CapturePipe,
    private readonly node: AudioWorkletNodeLike,
  ) {}

  static async create(
    context: AudioContextLike,
    stream: MediaStreamLike | null,
    options: BridgeOptions = {},
  ): Promise<MicrophoneBridge> {
    const { node: Node, transport } = await prepare(context, options);
    const pipe = new CapturePipe(pipeOptions(context, options, transport));
    const node = new Node(context, MICROPHONE_PROCESSOR, {
      numberOfInputs: 1,
      numberOfOutputs: 1,
      outputChannelCount: [1],
      // WebAudio mixes whatever the stream has to stereo (a mono microphone is duplicated).
      channelCount: 2,
      channelCountMode: "explicit",
      channelInterpretation: "speakers",
      processorOptions: processorOptions(pipe),
    });
    if (transport === "message") wireCapturePort(pipe, node.port);
    // The node's output is silence; connected so every browser's graph keeps pulling it.
    node.connect(context.destination);
    const bridge = new MicrophoneBridge(context, pipe, node);
    bridge.setStream(stream);
    return bridge;
  }

  /** Switches the microphone (null = silence, still on the sound card's clock) without restarting the guest's stream. */
  setStream(stream: MediaStreamLike | null): void {
    if (this.closed) return;
    this.source?.disconnect();
    this.source = null;
    if (stream === null || stream.getAudioTracks().length === 0) return;
    try {
      const source = this.context.createMediaStreamSource(stream);
      source.connect(this.node);
      this.source = source;
    } catch {
      // A stream the context cannot take (ended tracks): the guest hears silence rather than an error.
    }
  }

  start(format: StreamFormat): void {
    if (!this.closed && !unusable(format)) this.pipe.start(format);
  }

  stop(): void {
    this.pipe.stop();
  }

  read(out: Int16Array, frames: number, format: StreamFormat): number {
    if (this.closed || unusable(format)) {
      out.fill(0, 0, frames * format.channels);
      return this.closed ? frames : 0;
    }
    return this.pipe.read(out, frames, format);
  }

  stats(): AudioBridgeStats {
    return this.pipe.stats();
  }

  /** Disconnects the worklet and the stream from it (the stream's tracks stay the caller's to stop); reads give silence after. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.pipe.stop();
    this.source?.disconnect();
    this.source = null;
    this.node.port.postMessage({ type: "close" }, []);
    this.node.disconnect();
    this.node.port.close();
  }
}

/**
 * An AudioSink played into an AudioContext through an AudioWorklet: give it to a `UsbSpeaker` or
 * `UsbHeadset`. `output` is the worklet node (stereo): connected to `context.destination` unless
 * `options.destination` says otherwise; connect it elsewhere too to tap or analyse what the guest plays.
 */
export class SpeakerBridge implements AudioSink {
  readonly output: AudioNodeLike;
  private closed = false;

  private constructor(
    private readonly pipe: PlaybackPipe,
    private readonly node: AudioWorkletNodeLike,
  ) {
    this.output = node;
  }

  static async create(context: AudioContextLike, options: SpeakerBridgeOptions = {}): Promise<SpeakerBridge> {
    const { node: Node, transport } = await prepare(context, options);
    const pipe = new PlaybackPipe(pipeOptions(context, options, transport));
    const node = new Node(context, SPEAKER_PROCESSOR, {
      numberOfInputs: 0,
      numberOfOutputs: 1,
      outputChannelCount: [2],
      processorOptions: processorOptions(pipe),
    });
    if (transport === "message") wirePlaybackPort(pipe, node.port);
    const destination = options.destination === undefined ? context.destination : options.destination;
    if (destination !== null) node.connect(destination);
    return new SpeakerBridge(pipe, node);
  }

  start(format: StreamFormat): void {
    if (!this.closed && !unusable(format)) this.pipe.start(format);
  }

  stop(): void {
    this.pipe.stop();
  }

  write(samples: Int16Array, frames: number, format: StreamFormat): number {
    if (this.closed) return frames;
    if (unusable(format)) return 0;
    return this.pipe.write(samples, frames, format);
  }

  stats(): AudioBridgeStats {
    return this.pipe.stats();
  }

  /** Stops and disconnects the worklet; writes are accepted and discarded after. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.pipe.stop();
    this.node.port.postMessage({ type: "close" }, []);
    this.node.disconnect();
    this.node.port.close();
  }
}
