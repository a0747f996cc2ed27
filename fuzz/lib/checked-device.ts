import type { UsbSpeed } from "../../src/usb/constants.ts";
import type { UpstreamPort, UsbDevice } from "../../src/usb/device.ts";
import { PacketState, type UsbPacket } from "../../src/usb/packet.ts";
import { UsbPort } from "../../src/usb/port.ts";
import { PID } from "../../test/uhci/helpers/uhci-spec.ts";
import { check } from "./target.ts";

/** Which checked device deferred a packet last (packets are pooled and move between devices). */
const holders = new WeakMap<UsbPacket, CheckedDevice>();
/**
 * Packets some device was told to cancel: the controller must never hand one out again, since the
 * device may still write into it.
 */
const retired = new WeakSet<UsbPacket>();

/**
 * Stands between a controller and a device and checks the controller's side of the UsbDevice contract:
 * packets only reach a device that is plugged in, enabled and awake, at its own address, in the Setup
 * state; cancelPacket only for a packet the device still
 * holds. It also remembers which packets the device holds, so a fuzzer can check that every one of
 * them is still paired with a TD (an unpaired one would never be cancelled).
 */
export class CheckedDevice implements UsbDevice {
  /** Packets the device deferred and has neither completed nor been told to drop. */
  readonly held = new Set<UsbPacket>();
  private port: UsbPort | null = null;
  packets = 0;

  constructor(readonly inner: UsbDevice) {}

  get name(): string {
    return this.inner.name;
  }
  get speed(): UsbSpeed {
    return this.inner.speed;
  }
  get address(): number {
    return this.inner.address;
  }
  get attached(): boolean {
    return this.port !== null;
  }

  handlePacket(packet: UsbPacket): void {
    check(
      this.port?.active === true,
      () => `${this.name} got a packet while unplugged, disabled or suspended`,
    );
    check(
      packet.address === this.inner.address,
      () => `${this.name} at ${this.inner.address} got a packet for ${packet.address}`,
    );
    check(packet.state === PacketState.Setup, () => `${this.name} got a packet in state ${packet.state}`);
    check(!packet.pooled, () => `${this.name} got a packet that is still in the controller's pool`);
    check(!retired.has(packet), () => `${this.name} got a packet the controller had cancelled`);
    // A packet a device completed earlier comes back for a new transaction (the controller pools them),
    // perhaps to another device: whoever deferred it last no longer holds it.
    holders.get(packet)?.held.delete(packet);
    holders.delete(packet);
    check(
      packet.pid === PID.SETUP || packet.pid === PID.IN || packet.pid === PID.OUT,
      () => `${this.name} got PID 0x${packet.pid.toString(16)}`,
    );
    check(
      Number.isInteger(packet.length) && packet.length >= 0 && packet.length <= 1280,
      () => `${this.name} got a packet of length ${packet.length}`,
    );
    check(
      packet.endpoint >= 0 && packet.endpoint <= 15,
      () => `${this.name} got endpoint ${packet.endpoint}`,
    );
    this.packets++;
    this.inner.handlePacket(packet);
    // (The assertion above narrowed the state; the device has changed it since.)
    if ((packet.state as PacketState) === PacketState.Async) {
      this.held.add(packet);
      holders.set(packet, this);
    }
  }

  cancelPacket(packet: UsbPacket): void {
    check(this.held.has(packet), () => `${this.name} was told to cancel a packet it does not hold`);
    check(packet.state === PacketState.Cancelled, () => `cancelPacket on a packet in state ${packet.state}`);
    retired.add(packet);
    this.held.delete(packet);
    this.inner.cancelPacket(packet);
  }

  reset(): void {
    this.inner.reset();
  }

  setUpstream(upstream: UpstreamPort | null): void {
    check(
      upstream === null || upstream instanceof UsbPort,
      "a device plugged into something that is not a port",
    );
    this.port = upstream;
    this.inner.setUpstream(upstream);
  }

  setSuspended(suspended: boolean): void {
    this.inner.setSuspended(suspended);
  }

  /** Forgets the packets the device has completed since the last look. */
  sweep(): void {
    for (const packet of this.held) if (packet.state !== PacketState.Async) this.held.delete(packet);
  }
}
