import type { UsbSpeed } from "./constants.ts";
import type { UsbPacket } from "./packet.ts";

/**
 * What a host controller sees of a device on the bus. Emulated devices and (later) passthrough devices
 * implement the same interface; the controller cannot tell them apart.
 */
export interface UsbDevice {
  /** A short human-readable name, for reports and traces. */
  readonly name: string;
  readonly speed: UsbSpeed;
  /** The current bus address: 0 until SET_ADDRESS completes. */
  readonly address: number;
  /**
   * Handles one transaction addressed to this device. Sets `packet.status` (and `actualLength` for IN),
   * or calls `packet.deferred()` and completes it later with `packet.complete(ticket, …)`, presenting
   * the ticket `deferred()` returned (src/devices/async-host/README.md).
   * Must not throw because of anything the host sent.
   */
  handlePacket(packet: UsbPacket): void;
  /**
   * The host takes back an in-flight packet. The device should forget it: its ticket is dead, so a
   * completion would be refused (and counted as stale).
   */
  cancelPacket(packet: UsbPacket): void;
  /** Bus reset (USB 2.0 9.1.1.3): back to the Default state at address 0, unconfigured. */
  reset(): void;
  /** The port tells the device where it is plugged in (null when unplugged), for remote wakeup. */
  setUpstream(upstream: UpstreamPort | null): void;
  /** The port entered (true) or left (false) the suspended state (USB 2.0 9.1.1.6). */
  setSuspended(suspended: boolean): void;
}

/** What a device may ask of the port it is plugged into. */
export interface UpstreamPort {
  /**
   * Remote wakeup (USB 2.0 7.1.7.7): the device signals resume. Honoured only while the port is
   * suspended; returns whether the signal was delivered.
   */
  signalRemoteWakeup(): boolean;
  /**
   * A hub tells the port it is plugged into that what is reachable behind it changed: one of its ports
   * was powered, enabled, disabled, reset, suspended or resumed, or a device was plugged or unplugged
   * behind it (also further down, through a hub behind it). `gone`, when given, is a device that was
   * unplugged, reset or lost power behind the hub: the host controller cancels its outstanding
   * requests, as it does for a device on a root port. Optional: only hubs call it, and a port that has
   * no host controller behind it may ignore it.
   */
  downstreamChanged?(gone: UsbDevice | null): void;
}
