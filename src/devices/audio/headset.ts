import {
  type AudioDeviceOptions,
  type CaptureOptions,
  type PlaybackOptions,
  UsbAudioDevice,
} from "./audio-device.ts";
import type { CaptureStream } from "./capture-stream.ts";
import type { PlaybackStream } from "./playback-stream.ts";
import { TerminalType } from "./uac1.ts";

export interface UsbHeadsetOptions extends AudioDeviceOptions {
  /** The headphones: playback options (sink, formats, volume range). */
  readonly speaker?: PlaybackOptions;
  /** The microphone: capture options (source, formats, volume range). */
  readonly microphone?: CaptureOptions;
}

/**
 * A USB headset (UAC1): one AudioControl interface with two paths — USB streaming → feature unit →
 * headphones, and microphone → feature unit → USB streaming — and two AudioStreaming interfaces:
 * interface 1 with the adaptive OUT endpoint 0x01 (playback), interface 2 with the synchronous IN
 * endpoint 0x82 (capture). Each has its own formats, sampling frequency, mute and volume.
 */
export class UsbHeadset extends UsbAudioDevice {
  declare readonly playback: PlaybackStream;
  declare readonly capture: CaptureStream;

  constructor(options: UsbHeadsetOptions = {}) {
    super(
      {
        defaultName: "usb-headset",
        defaultProduct: "USB Headset",
        defaultProductId: 0x0006,
        playback: { terminalType: TerminalType.Headphones, ...options.speaker },
        capture: options.microphone ?? {},
      },
      options,
    );
  }
}
