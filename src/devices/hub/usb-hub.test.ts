/**
 * The hub's requests one by one through the packet host (USB 2.0 11.23, 11.24; USB 1.1 11.16.2.3 for
 * GET_STATE): the corners the software guest's hub driver does not visit.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { UsbSpeed } from "../../usb/constants.ts";
import type { UpstreamPort } from "../../usb/device.ts";
import { PacketStatus } from "../../usb/packet.ts";
import { SetupPacket } from "../../usb/setup-packet.ts";
import { PacketHost } from "../../usb/testing/packet-host.ts";
import { UsbKeyboard } from "../hid/keyboard.ts";
import { UsbMouse } from "../hid/mouse.ts";
import { HubRequest, PortChange, PortFeature, PortStatus } from "./hub-constants.ts";
import { UsbHub } from "./usb-hub.ts";

const PORT_OUT = 0x23;
const PORT_IN = 0xa3;
const HUB_OUT = 0x20;
const HUB_IN = 0xa0;

function ready(ports = 4) {
  const hub = new UsbHub({ ports });
  const host = new PacketHost(hub);
  host.enumerate(3);
  return { hub, host };
}

const setPort = (host: PacketHost, port: number, feature: number) =>
  host.control(SetupPacket.of(PORT_OUT, HubRequest.SetFeature, feature, port)).status;
const clearPort = (host: PacketHost, port: number, feature: number) =>
  host.control(SetupPacket.of(PORT_OUT, HubRequest.ClearFeature, feature, port)).status;
const portStatus = (host: PacketHost, port: number) => {
  const r = host.control(SetupPacket.of(PORT_IN, HubRequest.GetStatus, 0, port, 4));
  assert.equal(r.status, PacketStatus.Ack);
  return { status: r.data[0]! | (r.data[1]! << 8), change: r.data[2]! | (r.data[3]! << 8) };
};

class RecordingUpstream implements UpstreamPort {
  wakeups = 0;
  changes = 0;
  signalRemoteWakeup(): boolean {
    this.wakeups++;
    return true;
  }
  downstreamChanged(): void {
    this.changes++;
  }
}

describe("UsbHub requests (USB 2.0 11.24.2)", () => {
  it("serves the hub descriptor to class GET_DESCRIPTOR (type 0x29 or USB 1.1's 0) and to a standard one", () => {
    const { hub, host } = ready(9);
    const a = host.control(SetupPacket.of(HUB_IN, HubRequest.GetDescriptor, 0x2900, 0, 71));
    const b = host.control(SetupPacket.of(HUB_IN, HubRequest.GetDescriptor, 0x0000, 0, 71));
    const c = host.control(SetupPacket.of(0x80, 6, 0x2900, 0, 71));
    for (const r of [a, b, c]) {
      assert.equal(r.status, PacketStatus.Ack);
      assert.deepEqual(r.data, [...hub.hubDescriptor]);
    }
    // Nine ports: bitmaps of 10 bits, two bytes each.
    assert.equal(hub.hubDescriptor.length, 7 + 2 + 2);
    assert.equal(
      host.control(SetupPacket.of(HUB_IN, HubRequest.GetDescriptor, 0x2901, 0, 71)).status,
      PacketStatus.Stall,
    );
  });

  it("GET_STATUS of the hub: local power good, no over-current, no change (11.24.2.6)", () => {
    const { host } = ready();
    const r = host.control(SetupPacket.of(HUB_IN, HubRequest.GetStatus, 0, 0, 4));
    assert.deepEqual(r, { status: PacketStatus.Ack, data: [0, 0, 0, 0] });
    assert.equal(host.control(SetupPacket.of(HUB_OUT, HubRequest.ClearFeature, 0)).status, PacketStatus.Ack);
    assert.equal(host.control(SetupPacket.of(HUB_OUT, HubRequest.ClearFeature, 1)).status, PacketStatus.Ack);
    assert.equal(
      host.control(SetupPacket.of(HUB_OUT, HubRequest.ClearFeature, 2)).status,
      PacketStatus.Stall,
    );
    assert.equal(host.control(SetupPacket.of(HUB_OUT, HubRequest.SetFeature, 0)).status, PacketStatus.Stall);
  });

  it("STALLs what a USB 1.1 hub does not have: TT requests, PORT_TEST, PORT_INDICATOR, SET_DESCRIPTOR", () => {
    const { host } = ready();
    for (const request of [HubRequest.ClearTtBuffer, HubRequest.ResetTt, HubRequest.StopTt]) {
      assert.equal(host.control(SetupPacket.of(PORT_OUT, request, 0, 1)).status, PacketStatus.Stall);
    }
    assert.equal(
      host.control(SetupPacket.of(PORT_IN, HubRequest.GetTtState, 0, 1, 4)).status,
      PacketStatus.Stall,
    );
    assert.equal(setPort(host, 1, PortFeature.Test), PacketStatus.Stall);
    assert.equal(setPort(host, 1, PortFeature.Indicator), PacketStatus.Stall);
    assert.equal(setPort(host, 1, 5), PacketStatus.Stall, "not a feature selector");
    assert.equal(
      host.control(SetupPacket.of(HUB_OUT, HubRequest.SetDescriptor, 0x2900, 0)).status,
      PacketStatus.Stall,
    );
  });

  it("GET_STATE reports the port's bus state: J is D+ at full speed, D− at low speed (USB 1.1 11.16.2.3)", () => {
    const { hub, host } = ready();
    hub.attach(0, new UsbKeyboard());
    const state = (port: number) =>
      host.control(SetupPacket.of(PORT_IN, HubRequest.GetState, 0, port, 1)).data[0];
    assert.equal(state(1), 0, "unpowered: SE0");
    setPort(host, 1, PortFeature.Power);
    assert.equal(state(1), 2, "D+");
  });

  it("a reset of a port without a device or power does nothing; with one it enables the port", () => {
    const { hub, host } = ready();
    const mouse = new UsbMouse();
    hub.attach(1, mouse);
    assert.equal(setPort(host, 2, PortFeature.Reset), PacketStatus.Ack);
    assert.deepEqual(portStatus(host, 2), { status: 0, change: 0 });
    setPort(host, 2, PortFeature.Power);
    setPort(host, 1, PortFeature.Power);
    setPort(host, 1, PortFeature.Reset);
    assert.deepEqual(portStatus(host, 1), { status: PortStatus.Power, change: 0 });
    setPort(host, 2, PortFeature.Reset);
    assert.deepEqual(portStatus(host, 2), {
      status: PortStatus.Power | PortStatus.Connection | PortStatus.Enable,
      change: PortChange.Connection | PortChange.Reset,
    });
    assert.equal(clearPort(host, 2, PortFeature.CReset), PacketStatus.Ack);
    assert.equal(clearPort(host, 2, PortFeature.CConnection), PacketStatus.Ack);
    assert.equal(portStatus(host, 2).change, 0);
  });

  it("powering a port off resets its device; SET_CONFIGURATION(0) powers every port off (11.11)", () => {
    const { hub, host } = ready();
    const behind = new PacketHost(new UsbMouse());
    hub.attach(0, behind.device);
    setPort(host, 1, PortFeature.Power);
    setPort(host, 1, PortFeature.Reset);
    behind.enumerate(9);
    assert.equal(behind.device.address, 9);
    clearPort(host, 1, PortFeature.Power);
    assert.equal(behind.device.address, 0);
    assert.equal(hub.portStatus(0), 0);
    setPort(host, 1, PortFeature.Power);
    assert.equal(hub.portStatus(0), PortStatus.Power | PortStatus.Connection);
    host.control(SetupPacket.of(0x00, 9, 0));
    assert.equal(hub.portStatus(0), 0);
  });

  it("the status change bitmap: NAK with no change, a BABBLE for a packet too short for it (11.12.4)", () => {
    const { hub, host } = ready(9);
    assert.equal(host.poll(1, 2).status, PacketStatus.Nak);
    setPort(host, 9, PortFeature.Power);
    hub.attach(8, new UsbKeyboard());
    const r = host.poll(1, 2);
    assert.equal(r.status, PacketStatus.Ack);
    assert.deepEqual(r.data, [0x00, 0x02], "bit 9 = port 9");
    assert.equal(host.poll(1, 1).status, PacketStatus.Babble);
  });

  it("tells its upstream port about changes, and wakes it on a connect while suspended (11.4.4)", () => {
    const { hub, host } = ready();
    const up = new RecordingUpstream();
    hub.setUpstream(up);
    host.control(SetupPacket.of(0x00, 3, 1)); // SET_FEATURE(DEVICE_REMOTE_WAKEUP)
    setPort(host, 1, PortFeature.Power);
    hub.attach(0, new UsbKeyboard());
    setPort(host, 1, PortFeature.Reset);
    assert.ok(up.changes > 0);
    hub.setSuspended(true);
    hub.attach(1, new UsbMouse());
    assert.equal(up.wakeups, 0, "port 2 has no power: no connection to see");
    hub.detach(0);
    assert.equal(up.wakeups, 1);
    assert.equal(hub.wakeupsSignalled, 1);
  });
});

/**
 * The hub as other operating systems' hub drivers use it (findings table in README.md): each test
 * replays what one driver sends, read from its published source, and cites it with the USB 2.0
 * chapter 11 section the answer follows.
 */
describe("UsbHub as FreeBSD, Haiku and ReactOS drive it", () => {
  it("FreeBSD (usb_request.c usbd_req_get_hub_descriptor): wLength (nports + 71) / 8, first with nports 1, is answered in full for 1–15 ports — FreeBSD fails a short control read (USB_ERR_SHORT_XFER) (11.23.2.1)", () => {
    for (let ports = 1; ports <= 15; ports++) {
      const { hub, host } = ready(ports);
      // uhub_attach: 'assuming that there is one port', then the whole descriptor when nports >= 8.
      const first = host.control(SetupPacket.of(HUB_IN, HubRequest.GetDescriptor, 0x2900, 0, (1 + 71) >> 3));
      assert.equal(first.status, PacketStatus.Ack);
      assert.equal(first.data.length, 9, `${ports} ports: all 9 bytes`);
      assert.equal(first.data[2], ports, "bNbrPorts");
      const wLength = (ports + 71) >> 3;
      const full = host.control(SetupPacket.of(HUB_IN, HubRequest.GetDescriptor, 0x2900, 0, wLength));
      assert.equal(full.data.length, wLength, `${ports} ports: wLength ${wLength} answered in full`);
      assert.deepEqual(full.data, [...hub.hubDescriptor.subarray(0, wLength)]);
    }
  });

  it("the status change endpoint's wMaxPacketSize is the bitmap's ⌈(ports + 1) / 8⌉ bytes: FreeBSD (uhub_config .bufsize 0), ReactOS (SCEBitmapLength = MaximumPacketSize) and Linux read wMaxPacketSize and get the whole bitmap, never a babble (11.12.4, 11.12.3)", () => {
    for (let ports = 1; ports <= 15; ports++) {
      const { hub, host } = ready(ports);
      const config = host.configurationDescriptor();
      // configuration 9 + interface 9, then the endpoint descriptor: wMaxPacketSize at its bytes 4–5.
      const maxPacket = config[18 + 4]! | (config[18 + 5]! << 8);
      assert.equal(maxPacket, (ports + 1 + 7) >> 3, `${ports} ports`);
      setPort(host, ports, PortFeature.Power);
      hub.attach(ports - 1, new UsbKeyboard());
      const r = host.poll(1, maxPacket);
      assert.equal(r.status, PacketStatus.Ack);
      assert.equal(r.data.length, maxPacket);
      assert.equal((r.data[ports >> 3]! >> (ports & 7)) & 1, 1, `bit ${ports}: the last port`);
    }
  });

  it("ReactOS (usbhub USBH_SyncGetHubDescriptor: class device IN, 0x2900, sizeof(USB_HUB_DESCRIPTOR) = 71) and Haiku (Hub.cpp: class GET_DESCRIPTOR, at least 8 bytes): one read, bDescriptorLength ≤ 71 ends ReactOS's loop; the hub's standard GET_STATUS says self-powered (11.23.2.1, 9.4.5)", () => {
    const { hub, host } = ready(7);
    const r = host.control(SetupPacket.of(HUB_IN, HubRequest.GetDescriptor, 0x2900, 0, 71));
    assert.equal(r.status, PacketStatus.Ack);
    assert.equal(r.data[0], r.data.length, "bDescriptorLength = bytes sent");
    assert.ok(r.data[0]! <= 71 && r.data[0]! >= 8);
    assert.deepEqual(r.data, [...hub.hubDescriptor]);
    // USBH_SyncGetStatus (URB_FUNCTION_GET_STATUS_FROM_DEVICE): bit 0 self-powered.
    const status = host.control(SetupPacket.of(0x80, 0, 0, 0, 2));
    assert.equal(status.status, PacketStatus.Ack);
    assert.equal(status.data[0]! & 1, 1);
  });

  it("a port reset as Haiku (Hub::ResetPort) and ReactOS (USBH_SyncResetPort, which waits for the status change endpoint) run it: the bitmap names the port, GET_STATUS shows the reset done and the port enabled, C_PORT_RESET clears; no SuperSpeed change bit ever (11.24.2.7, 11.12.4)", () => {
    const { hub, host } = ready(4);
    for (let port = 1; port <= 4; port++) setPort(host, port, PortFeature.Power);
    hub.attach(2, new UsbKeyboard());
    // Explore: the connect change on the status change endpoint, GET_STATUS, CLEAR_FEATURE(C_PORT_CONNECTION).
    assert.deepEqual(host.poll(1, 1).data, [1 << 3]);
    assert.equal(portStatus(host, 3).change, PortChange.Connection);
    assert.equal(clearPort(host, 3, PortFeature.CConnection), PacketStatus.Ack);
    assert.equal(host.poll(1, 1).status, PacketStatus.Nak);
    assert.equal(setPort(host, 3, PortFeature.Reset), PacketStatus.Ack);
    assert.deepEqual(host.poll(1, 1).data, [1 << 3], "ReactOS's reset wait ends on the SCE");
    const after = portStatus(host, 3);
    assert.equal(after.status & PortStatus.Reset, 0, "Haiku: reset done");
    assert.equal(after.change, PortChange.Reset);
    assert.equal(
      after.status,
      PortStatus.Connection | PortStatus.Enable | PortStatus.Power,
      "enabled, full speed (no PORT_HIGH_SPEED)",
    );
    assert.equal(clearPort(host, 3, PortFeature.CReset), PacketStatus.Ack);
    assert.equal(host.poll(1, 1).status, PacketStatus.Nak);
    // Haiku's Explore takes the speed from PORT_LOW_SPEED only with PORT_POWER set (without it, a
    // SuperSpeed port); a low-speed device after its reset shows both.
    hub.attach(3, new UsbKeyboard({ speed: UsbSpeed.Low }));
    clearPort(host, 4, PortFeature.CConnection);
    setPort(host, 4, PortFeature.Reset);
    assert.equal(
      portStatus(host, 4).status,
      PortStatus.Connection | PortStatus.Enable | PortStatus.Power | PortStatus.LowSpeed,
    );
    // Haiku's Explore clears C_PORT_LINK_STATE and C_PORT_BH_PORT_RESET when their bits are set: never here.
    hub.detach(2);
    assert.equal(portStatus(host, 3).change & ~0x1f, 0);
  });

  it("selective suspend as FreeBSD (usbd_req_set/clear_port_feature UHF_PORT_SUSPEND) and ReactOS do it: resume completes with C_PORT_SUSPEND on the status change endpoint, then the host clears it (11.24.2.7.1.3, 11.24.2.7.2.3)", () => {
    const { hub, host } = ready(2);
    setPort(host, 1, PortFeature.Power);
    hub.attach(0, new UsbKeyboard());
    clearPort(host, 1, PortFeature.CConnection);
    setPort(host, 1, PortFeature.Reset);
    clearPort(host, 1, PortFeature.CReset);
    assert.equal(setPort(host, 1, PortFeature.Suspend), PacketStatus.Ack);
    assert.ok((portStatus(host, 1).status & PortStatus.Suspend) !== 0);
    assert.equal(host.poll(1, 1).status, PacketStatus.Nak, "suspending raises no change");
    assert.equal(clearPort(host, 1, PortFeature.Suspend), PacketStatus.Ack);
    assert.deepEqual(host.poll(1, 1).data, [1 << 1]);
    const resumed = portStatus(host, 1);
    assert.equal(resumed.status & PortStatus.Suspend, 0);
    assert.equal(resumed.change, PortChange.Suspend);
    clearPort(host, 1, PortFeature.CSuspend);
    assert.equal(host.poll(1, 1).status, PacketStatus.Nak);
  });
});
