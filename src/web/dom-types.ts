/**
 * The few WebAudio / Media Capture shapes the bridge uses, declared structurally so the library
 * compiles without the DOM lib (the package's type check runs with Node types only) and a browser
 * consumer passes the real objects: a DOM `AudioContext` is an {@link AudioContextLike}, a
 * `MediaStream` a {@link MediaStreamLike}, an `AudioNode` an {@link AudioNodeLike}.
 */

/** An `AudioNode`: something to connect. */
export interface AudioNodeLike {
  connect(destination: AudioNodeLike): unknown;
  disconnect(): void;
}

/** A `MessagePort` (an AudioWorkletNode's `port`). */
export interface MessagePortLike {
  postMessage(message: unknown, transfer: ArrayBuffer[]): void;
  addEventListener(type: "message", listener: (event: { readonly data: unknown }) => void): void;
  start(): void;
  close(): void;
}

/** An `AudioWorkletNode`. */
export interface AudioWorkletNodeLike extends AudioNodeLike {
  readonly port: MessagePortLike;
}

/** A `MediaStreamTrack`. */
export interface MediaStreamTrackLike {
  readonly kind: string;
  stop(): void;
}

/** A `MediaStream`. */
export interface MediaStreamLike {
  getAudioTracks(): MediaStreamTrackLike[];
  getTracks(): MediaStreamTrackLike[];
}

/** A `BaseAudioContext` / `AudioContext`. */
export interface AudioContextLike {
  readonly sampleRate: number;
  readonly state: string;
  readonly destination: AudioNodeLike;
  readonly audioWorklet: { addModule(moduleURL: string): Promise<void> };
  createMediaStreamSource(mediaStream: MediaStreamLike): AudioNodeLike;
}

/** The options of `new AudioWorkletNode(context, name, options)` the bridge passes. */
export interface AudioWorkletNodeOptionsLike {
  readonly numberOfInputs: number;
  readonly numberOfOutputs: number;
  readonly outputChannelCount?: number[];
  readonly channelCount?: number;
  readonly channelCountMode?: "explicit" | "max" | "clamped-max";
  readonly channelInterpretation?: "speakers" | "discrete";
  readonly processorOptions: unknown;
}

/** The `AudioWorkletNode` constructor. */
export type AudioWorkletNodeConstructor = new (
  context: AudioContextLike,
  name: string,
  options: AudioWorkletNodeOptionsLike,
) => AudioWorkletNodeLike;
