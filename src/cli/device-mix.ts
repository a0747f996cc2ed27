import { UsbHeadset } from "../devices/audio/headset.ts";
import { UsbMicrophone } from "../devices/audio/microphone.ts";
import { SineSource } from "../devices/audio/sources/sine-source.ts";
import { UsbSpeaker } from "../devices/audio/speaker.ts";
import { UsbKeyboard } from "../devices/hid/keyboard.ts";
import { UsbMouse } from "../devices/hid/mouse.ts";
import { UsbTablet } from "../devices/hid/tablet.ts";
import type { UsbDevice } from "../usb/device.ts";
import { UsageError } from "./args.ts";

/** Devices a user can plug in from the command line, by name. */
export const DEVICE_KINDS = {
  keyboard: () => new UsbKeyboard(),
  mouse: () => new UsbMouse(),
  tablet: () => new UsbTablet(),
  // The microphones send a 440 Hz tone, so `arecord` in the guest records something audible.
  headset: () =>
    new UsbHeadset({ microphone: { source: new SineSource({ frequency: 440, amplitude: 0.25 }) } }),
  microphone: () => new UsbMicrophone({ source: new SineSource({ frequency: 440, amplitude: 0.25 }) }),
  speaker: () => new UsbSpeaker(),
  none: () => null,
} as const satisfies Record<string, () => UsbDevice | null>;

export const ROOT_PORTS = 2;

/** Parses `keyboard,tablet` into one device (or null) per root port, in port order. */
export function parseDeviceMix(spec: string): (UsbDevice | null)[] {
  const names = spec.split(",").map((s) => s.trim());
  if (names.length > ROOT_PORTS) {
    throw new UsageError(`--devices: the root hub has ${ROOT_PORTS} ports; got ${names.length} devices`);
  }
  return names.map((name) => {
    const make = DEVICE_KINDS[name as keyof typeof DEVICE_KINDS];
    if (make === undefined) {
      throw new UsageError(
        `--devices: unknown device '${name}'; choose from ${Object.keys(DEVICE_KINDS).join(", ")}`,
      );
    }
    return make();
  });
}
