import { UsbHeadset } from "../devices/audio/headset.ts";
import { UsbMicrophone } from "../devices/audio/microphone.ts";
import { SineSource } from "../devices/audio/sources/sine-source.ts";
import { UsbSpeaker } from "../devices/audio/speaker.ts";
import { UsbKeyboard } from "../devices/hid/keyboard.ts";
import { UsbMouse } from "../devices/hid/mouse.ts";
import { UsbTablet } from "../devices/hid/tablet.ts";
import { UsbHub } from "../devices/hub/usb-hub.ts";
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

/** Ports of a hub named in a device mix (`hub:keyboard+mouse`). */
export const MIX_HUB_PORTS = 7;

/**
 * Parses `keyboard,tablet` into one device (or null) per root port, in port order. A root port may
 * hold a 7-port hub with devices behind it, in its port order: `hub:headset+keyboard+tablet`.
 */
export function parseDeviceMix(spec: string): (UsbDevice | null)[] {
  const names = spec.split(",").map((s) => s.trim());
  if (names.length > ROOT_PORTS) {
    throw new UsageError(`--devices: the root hub has ${ROOT_PORTS} ports; got ${names.length} devices`);
  }
  return names.map((name) => {
    if (name === "hub" || name.startsWith("hub:")) return hubOf(name.slice(4));
    return deviceOf(name);
  });
}

function deviceOf(name: string): UsbDevice | null {
  const make = DEVICE_KINDS[name as keyof typeof DEVICE_KINDS];
  if (make === undefined) {
    throw new UsageError(
      `--devices: unknown device '${name}'; choose from ${Object.keys(DEVICE_KINDS).join(", ")}, or hub:A+B+…`,
    );
  }
  return make();
}

function hubOf(spec: string): UsbHub {
  const names = spec === "" ? [] : spec.split("+").map((s) => s.trim());
  if (names.length > MIX_HUB_PORTS) {
    throw new UsageError(
      `--devices: a hub has ${MIX_HUB_PORTS} ports; got ${names.length} devices behind it`,
    );
  }
  const hub = new UsbHub({ ports: MIX_HUB_PORTS });
  names.forEach((name, i) => {
    const device = deviceOf(name);
    if (device !== null) hub.attach(i, device);
  });
  return hub;
}
