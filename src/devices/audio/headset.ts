import { openState, type SavedState } from "../../machine/snapshot.ts";
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

/** The kind and version of a saved UsbHeadset state. */
export const USB_HEADSET_STATE = "usb-headset";
export const USB_HEADSET_STATE_VERSION = 1;

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

  override get stateKind(): string {
    return USB_HEADSET_STATE;
  }

  /** The audio device's state, named as a UsbHeadset. */
  override saveState(): SavedState {
    return { kind: USB_HEADSET_STATE, version: USB_HEADSET_STATE_VERSION, audio: super.saveState() };
  }

  override prepareRestore(state: unknown): () => void {
    return super.prepareRestore(openState(state, USB_HEADSET_STATE, USB_HEADSET_STATE_VERSION).raw("audio"));
  }
}
