import { openState, type SavedState } from "../../machine/snapshot.ts";
import { type AudioDeviceOptions, type PlaybackOptions, UsbAudioDevice } from "./audio-device.ts";
import type { PlaybackStream } from "./playback-stream.ts";

export interface UsbSpeakerOptions extends AudioDeviceOptions, PlaybackOptions {}

/** The kind and version of a saved UsbSpeaker state. */
export const USB_SPEAKER_STATE = "usb-speaker";
export const USB_SPEAKER_STATE_VERSION = 1;

/**
 * A USB speaker (UAC1): USB streaming → feature unit (mute, volume) → speaker, with an adaptive
 * isochronous OUT endpoint 0x01 on interface 1 (alternate settings: 0 idle, then one per channel count,
 * default 1 = stereo, 2 = mono). Samples go to {@link sink} (discarded by default): a WAV file, memory,
 * or a ring the application reads live audio from.
 */
export class UsbSpeaker extends UsbAudioDevice {
  declare readonly playback: PlaybackStream;

  constructor(options: UsbSpeakerOptions = {}) {
    super(
      {
        defaultName: "usb-speaker",
        defaultProduct: "USB Speaker",
        defaultProductId: 0x0005,
        playback: options,
      },
      options,
    );
  }

  get sink(): PlaybackStream["sink"] {
    return this.playback.sink;
  }

  set sink(sink: PlaybackStream["sink"]) {
    this.playback.sink = sink;
  }

  override get stateKind(): string {
    return USB_SPEAKER_STATE;
  }

  /** The audio device's state, named as a UsbSpeaker. */
  override saveState(): SavedState {
    return { kind: USB_SPEAKER_STATE, version: USB_SPEAKER_STATE_VERSION, audio: super.saveState() };
  }

  override prepareRestore(state: unknown): () => void {
    return super.prepareRestore(openState(state, USB_SPEAKER_STATE, USB_SPEAKER_STATE_VERSION).raw("audio"));
  }
}
