import { type AudioDeviceOptions, type CaptureOptions, UsbAudioDevice } from "./audio-device.ts";
import type { CaptureStream } from "./capture-stream.ts";

export interface UsbMicrophoneOptions extends AudioDeviceOptions, CaptureOptions {}

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
}
