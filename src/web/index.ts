/**
 * `uhci/web`: browser-only helpers. The WebAudio bridge puts an emulated microphone on a MediaStream
 * (the page's microphone) and an emulated speaker on an AudioContext, through an AudioWorklet whose
 * code ships inside this module (no extra file to serve). See docs/web-audio.md.
 */
export * from "./audio-bridge.ts";
export type * from "./dom-types.ts";
export { MICROPHONE_PROCESSOR, SPEAKER_PROCESSOR, WORKLET_SOURCE } from "./worklet-source.ts";
