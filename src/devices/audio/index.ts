/**
 * Emulated USB Audio Class 1.0 devices at full speed — a microphone, a speaker and a headset — with
 * sample sources and sinks, a WAV codec, and the frame-counter test signal with its checker.
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
export * from "./signal-check.ts";
export * from "./sinks/audio-sink.ts";
export * from "./sinks/memory-sink.ts";
export * from "./sinks/pull-sink.ts";
export * from "./sinks/wav-file-sink.ts";
export * from "./sources/audio-source.ts";
export * from "./sources/buffer-source.ts";
export * from "./sources/push-source.ts";
export * from "./sources/sine-source.ts";
export * from "./sources/test-signal-source.ts";
export * from "./sources/wav-file-source.ts";
export * from "./speaker.ts";
export * from "./stream-format.ts";
export * from "./test-signal.ts";
export * from "./uac1.ts";
export * as uac1Descriptors from "./uac1-descriptors.ts";
export * from "./volume.ts";
export * from "./wav.ts";
