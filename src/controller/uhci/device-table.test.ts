import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { UsbSpeed } from "../../usb/constants.ts";
import type { UpstreamPort, UsbDevice } from "../../usb/device.ts";
import type { UsbHubDevice } from "../../usb/hub.ts";
import { PacketStatus, type UsbPacket } from "../../usb/packet.ts";
import { UsbPort } from "../../usb/port.ts";
import { DeviceTable } from "./device-table.ts";

class Fake implements UsbDevice {
  readonly speed = UsbSpeed.Full;
  constructor(
    readonly name: string,
    public address: number,
  ) {}
  handlePacket(packet: UsbPacket): void {
    packet.status = PacketStatus.Ack;
  }
  cancelPacket(): void {}
  reset(): void {}
  setUpstream(_upstream: UpstreamPort | null): void {}
  setSuspended(): void {}
}

/** A hub as the table sees one: a device with downstream ports. */
class FakeHub extends Fake implements UsbHubDevice {
  readonly downstreamPorts = [new UsbPort(0, () => {}), new UsbPort(1, () => {})];
}

function plug(port: UsbPort, device: UsbDevice): void {
  port.attach(device);
  port.setEnabled(true);
}

describe("DeviceTable: the bus address → device lookup (issue 12)", () => {
  it("finds devices on active ports only, behind hubs too, and is rebuilt only when invalidated", () => {
    const root = [new UsbPort(0, () => {}), new UsbPort(1, () => {})];
    const hub = new FakeHub("hub", 1);
    const a = new Fake("a", 2);
    const b = new Fake("b", 3);
    plug(root[0]!, hub);
    plug(hub.downstreamPorts[0]!, a);
    hub.downstreamPorts[1]!.attach(b); // connected, not enabled
    const table = new DeviceTable(root);
    assert.equal(table.find(1), hub);
    assert.equal(table.find(2), a);
    assert.equal(table.find(3), null, "behind a disabled port");
    for (let i = 0; i < 100; i++) table.find(2);
    assert.equal(table.rebuildCount, 1);
    hub.downstreamPorts[1]!.setEnabled(true);
    table.invalidate();
    assert.equal(table.find(3), b);
    root[0]!.setSuspended(true);
    table.invalidate();
    assert.equal(table.find(2), null, "everything behind a suspended hub is unreachable");
  });

  it("never answers from an entry whose device changed its address meanwhile", () => {
    const root = [new UsbPort(0, () => {})];
    const d = new Fake("d", 0);
    plug(root[0]!, d);
    const table = new DeviceTable(root);
    assert.equal(table.find(0), d);
    d.address = 7;
    assert.equal(table.find(0), null);
    assert.equal(table.find(7), d);
  });

  it("the first device in port order wins an address two answer (two devices at 0)", () => {
    const root = [new UsbPort(0, () => {}), new UsbPort(1, () => {})];
    const first = new Fake("first", 0);
    plug(root[0]!, first);
    plug(root[1]!, new Fake("second", 0));
    assert.equal(new DeviceTable(root).find(0), first);
  });

  it("stops at tier 7 (USB 2.0 4.1.1): nothing behind a sixth hub, and a hub plugged into itself ends", () => {
    const root = [new UsbPort(0, () => {})];
    const hubs = Array.from({ length: 6 }, (_, i) => new FakeHub(`hub${i + 1}`, 10 + i));
    plug(root[0]!, hubs[0]!);
    for (let i = 0; i < 5; i++) plug(hubs[i]!.downstreamPorts[0]!, hubs[i + 1]!);
    plug(hubs[4]!.downstreamPorts[1]!, new Fake("tier 7", 50));
    plug(hubs[5]!.downstreamPorts[1]!, new Fake("tier 8", 51));
    const table = new DeviceTable(root);
    assert.equal(table.find(15)?.name, "hub6", "the sixth hub is at tier 7: reachable itself");
    assert.equal(table.find(50)?.name, "tier 7");
    assert.equal(table.find(51), null, "tier 8 does not exist");
    // A host that plugs a hub into its own port (a loop no bus has) cannot make the walk endless.
    const loop = new FakeHub("loop", 1);
    const loopRoot = [new UsbPort(0, () => {})];
    plug(loopRoot[0]!, loop);
    plug(loop.downstreamPorts[0]!, loop);
    assert.equal(new DeviceTable(loopRoot).find(1), loop);
  });
});
