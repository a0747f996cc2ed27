import type { UsbDevice } from "../../usb/device.ts";
import { isHubDevice, MAX_USB_TIERS } from "../../usb/hub.ts";
import type { UsbPort } from "../../usb/port.ts";

/** Bus addresses 0–127 (USB 2.0 9.4.6). */
const ADDRESSES = 128;

/**
 * Which device answers each bus address: a 128-entry table, so that finding a TD's device costs the
 * same however many devices hang off the root ports and hubs (issue 12).
 *
 * The table holds the devices reachable now: on an active root port (connected, enabled, awake) or
 * behind hubs whose every port on the way is active, down to tier {@link MAX_USB_TIERS} (five hubs
 * deep). A hub at tier 7 is itself reachable, so a host can read its descriptors, but nothing behind
 * it is: USB allows only functions at tier 7 (USB 2.0 4.1.1), and Linux refuses to configure a hub
 * there ("hub nested too deep"). Where two reachable devices answer the same address (two devices at
 * address 0 after two resets), the first in port order wins, as the root ports' walk did before.
 *
 * It is rebuilt — a walk of the topology, allocation-free — on the first lookup after something
 * marked it stale ({@link invalidate}): a root port or hub port changing state, a device plugged in or
 * out, a controller reset or restore, or a device whose address changed during a control transfer
 * (SET_ADDRESS takes effect at its status stage, USB 2.0 9.4.6). Every lookup also checks that the
 * device found still has that address, so an address changed behind the table's back is never
 * answered from a stale entry.
 */
export class DeviceTable {
  private readonly table: (UsbDevice | null)[] = new Array<UsbDevice | null>(ADDRESSES).fill(null);
  private stale = true;
  private rebuilds = 0;

  constructor(private readonly rootPorts: readonly UsbPort[]) {}

  /** Something that decides reachability or an address changed: rebuild before the next lookup. */
  invalidate(): void {
    this.stale = true;
  }

  /** How many times the table was rebuilt (observability: a rebuild per frame would be a bug). */
  get rebuildCount(): number {
    return this.rebuilds;
  }

  /** The reachable device with this bus address, if any. */
  find(address: number): UsbDevice | null {
    if (this.stale) this.rebuild();
    const device = this.table[address & (ADDRESSES - 1)] ?? null;
    if (device === null || device.address === address) return device;
    // The device took another address without anything invalidating the table (a device that changed
    // it outside a control transfer the walker saw): look again from scratch.
    this.rebuild();
    const again = this.table[address & (ADDRESSES - 1)] ?? null;
    return again !== null && again.address === address ? again : null;
  }

  private rebuild(): void {
    this.stale = false;
    this.rebuilds++;
    this.table.fill(null);
    this.addPorts(this.rootPorts, 2);
  }

  /** Adds the devices on `ports`, which sit at `tier` (a root port's device is at tier 2). */
  private addPorts(ports: readonly UsbPort[], tier: number): void {
    for (let i = 0; i < ports.length; i++) {
      const port = ports[i]!;
      const device = port.device;
      if (device === null || !port.active) continue;
      const address = device.address & (ADDRESSES - 1);
      if (this.table[address] === null) this.table[address] = device;
      if (tier < MAX_USB_TIERS && isHubDevice(device)) this.addPorts(device.downstreamPorts, tier + 1);
    }
  }
}
