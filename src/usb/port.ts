import type { UsbSpeed } from "./constants.ts";
import type { UpstreamPort, UsbDevice } from "./device.ts";

/** Why a port's owner (a root hub) is being told something. */
export const PortEvent = {
  Attached: "attached",
  Detached: "detached",
  RemoteWakeup: "remote-wakeup",
  /** A hub plugged into the port says what is reachable behind it changed ({@link UpstreamPort.downstreamChanged}). */
  DownstreamChanged: "downstream-changed",
} as const;
export type PortEvent = (typeof PortEvent)[keyof typeof PortEvent];

/** `gone` comes only with {@link PortEvent.DownstreamChanged}: a device behind a hub that went away or was reset. */
export type PortListener = (port: UsbPort, event: PortEvent, gone?: UsbDevice | null) => void;

/**
 * A downstream port: a place where one device is plugged in. Tracks connection, enable and suspend as
 * the bus sees them (USB 2.0 11.5); a root hub maps this onto its own status register bits.
 */
export class UsbPort implements UpstreamPort {
  private attached: UsbDevice | null = null;
  private isEnabled = false;
  private isSuspended = false;

  constructor(
    readonly index: number,
    private readonly listener: PortListener,
  ) {}

  get device(): UsbDevice | null {
    return this.attached;
  }
  get connected(): boolean {
    return this.attached !== null;
  }
  get speed(): UsbSpeed | null {
    return this.attached?.speed ?? null;
  }
  get enabled(): boolean {
    return this.isEnabled;
  }
  get suspended(): boolean {
    return this.isSuspended;
  }

  /** Plugs a device in. A port holds one device: plugging into an occupied port is refused. */
  attach(device: UsbDevice): void {
    if (this.attached !== null) throw new Error(`port ${this.index + 1} already has ${this.attached.name}`);
    this.attached = device;
    this.isEnabled = false;
    this.isSuspended = false;
    device.setUpstream(this);
    // A device unplugged while suspended (behind a sleeping hub, or on a suspended port) comes back
    // powered and awake: nothing else would tell it, since this port starts out not suspended.
    device.setSuspended(false);
    device.reset();
    this.listener(this, PortEvent.Attached);
  }

  /** Unplugs the device, if any; returns it. */
  detach(): UsbDevice | null {
    const device = this.attached;
    if (device === null) return null;
    this.attached = null;
    this.isEnabled = false;
    this.isSuspended = false;
    device.setUpstream(null);
    this.listener(this, PortEvent.Detached);
    return device;
  }

  /** Drives bus reset on the port: the device returns to its default state. */
  reset(): void {
    this.setSuspended(false);
    this.attached?.reset();
  }

  setEnabled(enabled: boolean): void {
    this.isEnabled = enabled && this.attached !== null;
    if (!this.isEnabled) this.setSuspended(false);
  }

  setSuspended(suspended: boolean): void {
    if (suspended === this.isSuspended) return;
    this.isSuspended = suspended;
    this.attached?.setSuspended(suspended);
  }

  /**
   * Snapshot restore: puts enable and suspend back as saved, telling nobody. The device's own state
   * (including its suspend flag) is restored separately, and the root hub restores its register.
   */
  restoreFlags(enabled: boolean, suspended: boolean): void {
    this.isEnabled = enabled && this.attached !== null;
    this.isSuspended = suspended;
  }

  /** The device is reachable by bus traffic: present, enabled and not suspended. */
  get active(): boolean {
    return this.attached !== null && this.isEnabled && !this.isSuspended;
  }

  signalRemoteWakeup(): boolean {
    if (this.attached === null || !this.isSuspended) return false;
    this.listener(this, PortEvent.RemoteWakeup);
    return true;
  }

  downstreamChanged(gone: UsbDevice | null): void {
    // A hub unplugged a moment ago may still report; only the device on the port speaks for it.
    if (this.attached === null) return;
    this.listener(this, PortEvent.DownstreamChanged, gone);
  }
}
