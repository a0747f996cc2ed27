import type { UsbDevice } from "./device.ts";
import type { UsbPort } from "./port.ts";

/**
 * A device with downstream ports of its own: a hub (USB 2.0 chapter 11). A host controller reaches the
 * devices behind it through {@link downstreamPorts}: a device is reachable when every port on its path
 * is {@link UsbPort.active} (connected, enabled, hence powered, and not suspended). The hub tells its
 * upstream port when that changes ({@link UpstreamPort.downstreamChanged}).
 */
export interface UsbHubDevice extends UsbDevice {
  readonly downstreamPorts: readonly UsbPort[];
}

/** True for a device that has downstream ports (a hub). */
export function isHubDevice(device: UsbDevice): device is UsbHubDevice {
  return Array.isArray((device as Partial<UsbHubDevice>).downstreamPorts);
}

/**
 * The most tiers a USB topology has, the root hub's included (USB 2.0 4.1.1): devices sit at tier 2
 * (on a root port) to tier 7, so at most five hubs are chained behind the root hub.
 */
export const MAX_USB_TIERS = 7;
