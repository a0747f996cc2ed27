import { openState, type SavedState } from "../../machine/snapshot.ts";
import { type AudioDeviceOptions, type CaptureOptions, UsbAudioDevice } from "./audio-device.ts";
import type { CaptureStream } from "./capture-stream.ts";

export interface UsbMicrophoneOptions extends AudioDeviceOptions, CaptureOptions {}

/** The kind and version of a saved UsbMicrophone state. */
export const USB_MICROPHONE_STATE = "usb-microphone";
export const USB_MICROPHONE_STATE_VERSION = 1;

/**
 * A USB microphone (UAC1): microphone → feature unit (mute, volume) → USB streaming, with a synchronous
 * isochronous IN endpoint 0x81 on interface 1 (alternate settings: 0 idle, then one per channel count,
 * default 1 = stereo, 2 = mono). Samples come from {@link source} (silence by default): a sine, a WAV
 * file, the frame-counter test signal, or live audio pushed by the application.
 */
export class UsbMicrophone extends UsbAudioDevice {
  declare readonly capture: CaptureStream;

  constructor(options: UsbMicrophoneOptions = {}) {
    super(
      {
        defaultName: "usb-microphone",
        defaultProduct: "USB Microphone",
        defaultProductId: 0x0004,
        capture: options,
      },
      options,
    );
  }

  get source(): CaptureStream["source"] {
    return this.capture.source;
  }

  set source(source: CaptureStream["source"]) {
    this.capture.source = source;
  }

  override get stateKind(): string {
    return USB_MICROPHONE_STATE;
  }

  /** The audio device's state, named as a UsbMicrophone. */
  override saveState(): SavedState {
    return { kind: USB_MICROPHONE_STATE, version: USB_MICROPHONE_STATE_VERSION, audio: super.saveState() };
  }

  override prepareRestore(state: unknown): () => void {
    return super.prepareRestore(
      openState(state, USB_MICROPHONE_STATE, USB_MICROPHONE_STATE_VERSION).raw("audio"),
    );
  }
}
