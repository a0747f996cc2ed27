/**
 * Emulated USB Audio Class 1.0 devices at full speed — a microphone, a speaker and a headset — with
 * sample sources and sinks and a WAV codec. WAV files (Node's file system) are in `uhci/node`; the
 * frame-counter test signal and its checker (test-signal.ts, signal-check.ts) are verification tools for
 * this repository's tests and CLI, not public API.
 */
export * from "./audio-device.ts";
export * from "./audio-model.ts";
export * from "./audio-stream.ts";
export * from "./capture-stream.ts";
export * from "./channels.ts";
export * from "./feature-unit.ts";
export * from "./headset.ts";
export * from "./microphone.ts";
export * from "./packet-pacer.ts";
export * from "./playback-stream.ts";
export * from "./request-log.ts";
export * from "./sample-ring.ts";
export * from "./sinks/audio-sink.ts";
export * from "./sinks/memory-sink.ts";
export * from "./sinks/pull-sink.ts";
export * from "./sources/audio-source.ts";
export * from "./sources/buffer-source.ts";
export * from "./sources/push-source.ts";
export * from "./sources/sine-source.ts";
export * from "./speaker.ts";
export * from "./stream-format.ts";
export * from "./uac1.ts";
export * as uac1Descriptors from "./uac1-descriptors.ts";
export * from "./volume.ts";
export * from "./wav.ts";
