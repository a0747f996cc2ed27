import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { DescriptorType, EndpointType, RequestType } from "../../usb/constants.ts";
import { parseConfiguration, parseDeviceDescriptor } from "../../usb/descriptors/parse.ts";
import { PacketStatus } from "../../usb/packet.ts";
import { PortEvent, UsbPort } from "../../usb/port.ts";
import { SetupPacket } from "../../usb/setup-packet.ts";
import { PacketHost } from "../../usb/testing/packet-host.ts";
import { HidEndpoint } from "./device-model.ts";
import { HidProtocol, HidReportType } from "./hid-constants.ts";
import type { HidDevice } from "./hid-device.ts";
import { UsbKeyboard } from "./keyboard.ts";
import { UsbMouse } from "./mouse.ts";
import { MouseButton } from "./pointer-device.ts";
import {
  KEYBOARD_REPORT_DESCRIPTOR,
  MOUSE_REPORT_DESCRIPTOR,
  TABLET_REPORT_DESCRIPTOR,
} from "./report-descriptors.ts";
import { UsbTablet } from "./tablet.ts";
import { hidRequests as req } from "./testing/requests.ts";

const { Ack, Nak, Stall, Babble } = PacketStatus;

function ready<T extends HidDevice>(device: T): { device: T; host: PacketHost } {
  const host = new PacketHost(device);
  host.enumerate();
  return { device, host };
}

const DEVICES = [
  { name: "keyboard", make: () => new UsbKeyboard(), report: KEYBOARD_REPORT_DESCRIPTOR, sub: 1, proto: 1 },
  { name: "mouse", make: () => new UsbMouse(), report: MOUSE_REPORT_DESCRIPTOR, sub: 1, proto: 2 },
  { name: "tablet", make: () => new UsbTablet(), report: TABLET_REPORT_DESCRIPTOR, sub: 0, proto: 0 },
] as const;

describe("HID descriptors", () => {
  for (const d of DEVICES) {
    it(`${d.name}: parses as one HID interface with an interrupt IN endpoint and remote wakeup`, () => {
      const { host } = ready(d.make());
      const device = host.control(req.getDescriptor(DescriptorType.Device, 0, 18));
      const parsedDevice = parseDeviceDescriptor(Uint8Array.from(device.data));
      assert.ok(parsedDevice.ok);
      assert.equal(parsedDevice.value.deviceClass, 0, "class is per interface (HID 1.11 5.1)");
      const head = host.control(req.getDescriptor(DescriptorType.Configuration, 0, 9));
      const total = head.data[2]! | (head.data[3]! << 8);
      const full = host.control(req.getDescriptor(DescriptorType.Configuration, 0, total));
      const config = parseConfiguration(Uint8Array.from(full.data));
      assert.ok(config.ok, config.ok ? "" : config.error);
      assert.equal(config.value.remoteWakeup, true);
      const alt = config.value.interfaces[0]!.alternates[0]!;
      assert.deepEqual(
        [alt.interfaceClass, alt.interfaceSubClass, alt.interfaceProtocol],
        [3, d.sub, d.proto],
      );
      const hid = alt.extra?.[0];
      assert.equal(hid?.type, DescriptorType.Hid);
      // bcdHID 1.11, country 0, one descriptor: the report descriptor and its length (HID 1.11 6.2.1).
      assert.deepEqual(Array.from(hid!.body), [
        0x11,
        0x01,
        0,
        1,
        DescriptorType.HidReport,
        d.report.length & 0xff,
        d.report.length >> 8,
      ]);
      const endpoint = alt.endpoints?.[0];
      assert.equal(endpoint?.address, HidEndpoint.In);
      assert.equal(endpoint?.type, EndpointType.Interrupt);
      assert.equal(endpoint?.interval, 10);

      // GET_DESCRIPTOR(HID) to the interface returns the same 9 bytes (HID 1.11 7.1.1).
      const hidDescriptor = host.control(req.getInterfaceDescriptor(DescriptorType.Hid, 9));
      assert.equal(hidDescriptor.status, Ack);
      assert.deepEqual(hidDescriptor.data, [9, DescriptorType.Hid, ...hid!.body]);
    });

    it(`${d.name}: GET_DESCRIPTOR(Report) returns the report descriptor, cut to wLength`, () => {
      const { host } = ready(d.make());
      const whole = host.control(req.getInterfaceDescriptor(DescriptorType.HidReport, 0x100));
      assert.equal(whole.status, Ack);
      assert.deepEqual(whole.data, Array.from(d.report));
      const cut = host.control(req.getInterfaceDescriptor(DescriptorType.HidReport, 10));
      assert.deepEqual(cut.data, Array.from(d.report.subarray(0, 10)));
    });
  }

  it("stalls physical descriptors, other interfaces and other descriptor indexes", () => {
    const { host } = ready(new UsbMouse());
    assert.equal(host.control(req.getInterfaceDescriptor(0x23, 64)).status, Stall);
    assert.equal(host.control(req.getInterfaceDescriptor(DescriptorType.HidReport, 64, 1)).status, Stall);
    assert.equal(host.control(req.getInterfaceDescriptor(DescriptorType.HidReport, 64, 0, 1)).status, Stall);
  });

  it("lets the caller set identity and polling interval", () => {
    const host = new PacketHost(new UsbTablet({ vendorId: 0x1234, productId: 0x5678, interval: 4 }));
    host.enumerate();
    const parsed = parseDeviceDescriptor(
      Uint8Array.from(host.control(req.getDescriptor(DescriptorType.Device, 0, 18)).data),
    );
    assert.ok(parsed.ok);
    assert.deepEqual([parsed.value.vendorId, parsed.value.productId], [0x1234, 0x5678]);
    assert.throws(() => new UsbTablet({ interval: 0 }), RangeError);
  });
});

describe("HID class requests (HID 1.11 7.2)", () => {
  it("GET_IDLE starts at 500 ms for a keyboard and infinite for pointers; SET_IDLE stores it", () => {
    const { device, host } = ready(new UsbKeyboard());
    assert.deepEqual(host.control(req.getIdle()).data, [125]);
    assert.equal(host.control(req.setIdle(0)).status, Ack);
    assert.deepEqual(host.control(req.getIdle()).data, [0]);
    assert.equal(device.idleDuration, 0);
    assert.equal(host.control(req.setIdle(25)).status, Ack);
    assert.deepEqual(host.control(req.getIdle()).data, [25]);
    // No report IDs exist, so only ID 0 is valid.
    assert.equal(host.control(req.setIdle(10, 1)).status, Stall);
    assert.equal(host.control(req.getIdle(1)).status, Stall);
    // A bus reset restores the default.
    host.enumerate();
    assert.deepEqual(host.control(req.getIdle()).data, [125]);

    const mouse = ready(new UsbMouse());
    assert.deepEqual(mouse.host.control(req.getIdle()).data, [0]);
  });

  it("GET/SET_PROTOCOL: report protocol after reset, boot on request, others refused", () => {
    const { device, host } = ready(new UsbMouse());
    assert.deepEqual(host.control(req.getProtocol()).data, [HidProtocol.Report]);
    assert.equal(host.control(req.setProtocol(HidProtocol.Boot)).status, Ack);
    assert.deepEqual(host.control(req.getProtocol()).data, [HidProtocol.Boot]);
    assert.equal(device.protocol, HidProtocol.Boot);
    assert.equal(host.control(req.setProtocol(2)).status, Stall);
    assert.equal(device.protocol, HidProtocol.Boot);
    host.enumerate();
    assert.equal(device.protocol, HidProtocol.Report, "HID 1.11 7.2.6: devices start in report protocol");
  });

  it("the tablet has no boot protocol: GET/SET_PROTOCOL stall", () => {
    const { host } = ready(new UsbTablet());
    assert.equal(host.control(req.getProtocol()).status, Stall);
    assert.equal(host.control(req.setProtocol(HidProtocol.Boot)).status, Stall);
  });

  it("boot protocol sends the boot prefix of each report, chosen when the report is sent", () => {
    const { device, host } = ready(new UsbMouse());
    device.move(5, -3);
    device.wheel(1);
    assert.equal(host.control(req.setProtocol(HidProtocol.Boot)).status, Ack);
    assert.deepEqual(host.poll().data, [0, 5, 0xfd]);
    assert.deepEqual(host.poll().data, [0, 0, 0]);
    assert.equal(host.control(req.setProtocol(HidProtocol.Report)).status, Ack);
    device.move(1, 1);
    assert.deepEqual(host.poll().data, [0, 1, 1, 0]);
  });

  it("GET_REPORT(Input) returns the current state, in the current protocol's layout", () => {
    const { device, host } = ready(new UsbMouse());
    device.buttonDown(MouseButton.Right);
    device.move(10, 10);
    assert.deepEqual(host.control(req.getReport(HidReportType.Input, 0, 8)).data, [
      MouseButton.Right,
      0,
      0,
      0,
    ]);
    host.control(req.setProtocol(HidProtocol.Boot));
    assert.deepEqual(host.control(req.getReport(HidReportType.Input, 0, 8)).data, [MouseButton.Right, 0, 0]);
    assert.equal(host.control(req.getReport(HidReportType.Feature, 0, 8)).status, Stall);
    assert.equal(host.control(req.getReport(HidReportType.Output, 0, 8)).status, Stall);
    assert.equal(host.control(req.getReport(HidReportType.Input, 3, 8)).status, Stall);
    // GET_REPORT does not consume queued reports.
    assert.equal(device.pendingReports, 2);
  });

  it("stalls SET_REPORT on devices without output reports, unknown requests and other interfaces", () => {
    const { host } = ready(new UsbMouse());
    assert.equal(host.control(req.setReport(HidReportType.Output, 0, 1), [1]).status, Stall);
    assert.equal(host.control(SetupPacket.of(0xa1, 0x05, 0, 0, 1)).status, Stall);
    assert.equal(host.control(SetupPacket.of(0x21, 0x0c, 0, 0, 0)).status, Stall);
    assert.equal(host.control(req.getIdle(0, 1)).status, Stall);
    assert.equal(host.control(SetupPacket.of(0xc0, 0x01, 0, 0, 4)).status, Stall, "vendor");
    const classToDevice = RequestType.DirectionIn | RequestType.TypeClass | RequestType.RecipientDevice;
    assert.equal(host.control(SetupPacket.of(classToDevice, 0x02, 0, 0, 1)).status, Stall);
    // Direction must match the request.
    assert.equal(host.control(SetupPacket.of(0x21, 0x02, 0, 0, 0)).status, Stall);
  });
});

describe("HID report queue", () => {
  it("NAKs an empty queue and sends each queued report once, oldest first", () => {
    const { device, host } = ready(new UsbMouse());
    assert.equal(host.poll().status, Nak);
    device.move(1, 0);
    device.buttonDown(MouseButton.Left);
    assert.deepEqual(host.drain(), [
      [0, 1, 0, 0],
      [1, 0, 0, 0],
    ]);
    assert.equal(host.poll().status, Nak);
    assert.equal(device.reportsQueued, 2);
    assert.equal(device.reportsSent, 2);
  });

  it("a poll too short for the report is babble, and the report is sent again on the next poll", () => {
    const { device, host } = ready(new UsbMouse());
    device.move(7, 0);
    assert.equal(host.poll(1, 2).status, Babble);
    assert.equal(device.pendingReports, 1);
    assert.deepEqual(host.poll(1, 4).data, [0, 7, 0, 0]);
    assert.equal(device.reportsSent, 1);
  });

  it("STALLs the OUT direction and endpoints that do not exist", () => {
    const { host } = ready(new UsbMouse());
    assert.equal(host.out(1, [0]), Stall);
    assert.equal(host.out(2, [0]), Stall);
    assert.equal(host.poll(2).status, Stall);
  });

  it("keeps input given before configuration, and a bus reset discards what is queued", () => {
    const device = new UsbMouse();
    const host = new PacketHost(device);
    device.reset();
    device.move(3, 0);
    host.control(SetupPacket.of(0x00, 0x05, 1));
    host.control(SetupPacket.of(0x00, 0x09, 1));
    assert.deepEqual(host.drain(), [[0, 3, 0, 0]]);
    device.move(4, 0);
    device.buttonDown(MouseButton.Right);
    host.enumerate();
    assert.equal(device.pendingReports, 0);
    assert.equal(device.reportsDiscarded, 2);
    assert.equal(device.reportsQueued, device.reportsSent + device.reportsDiscarded + device.pendingReports);
  });

  it("grows without loss when the host polls slowly: 3,000 key changes, one poll per seven", () => {
    const { device, host } = ready(new UsbKeyboard());
    const received: number[][] = [];
    for (let i = 0; i < 3000; i++) {
      const usage = 0x04 + ((i >> 1) % 26);
      if (i % 2 === 0) device.keyDown(usage);
      else device.keyUp(usage);
      if (i % 7 === 0) received.push(host.poll().data);
    }
    assert.ok(device.pendingReports > 2000, "the queue grew past its first ring size");
    received.push(...host.drain());
    assert.equal(received.length, 3000);
    received.forEach((report, i) => {
      assert.equal(report[2], i % 2 === 0 ? 0x04 + ((i >> 1) % 26) : 0, `report ${i}`);
    });
    assert.equal(device.reportsOverflowed, 0);
  });
});

describe("remote wakeup (USB 2.0 9.4.1)", () => {
  function onPort(device: UsbKeyboard) {
    const wakeups: number[] = [];
    const port = new UsbPort(0, (_port, event) => {
      if (event === PortEvent.RemoteWakeup) wakeups.push(device.pendingReports);
    });
    port.attach(device);
    port.setEnabled(true);
    const host = new PacketHost(device);
    host.enumerate();
    return { port, host, wakeups };
  }

  it("signals resume on input while suspended, once per suspend, only when the host enabled it", () => {
    const device = new UsbKeyboard();
    const { port, host, wakeups } = onPort(device);

    // Suspended, remote wakeup not enabled: the event is queued, nothing is signalled.
    port.setSuspended(true);
    device.press("A");
    assert.deepEqual(wakeups, []);
    port.setSuspended(false);

    // Enabled but not suspended: nothing to wake.
    assert.equal(host.control(req.setRemoteWakeup(true)).status, Ack);
    device.press("B");
    assert.deepEqual(wakeups, []);

    // Enabled and suspended: the first event signals; the rest of the burst queues quietly.
    port.setSuspended(true);
    device.keyDown("C");
    device.keyUp("C");
    assert.deepEqual(wakeups, [5]);
    assert.equal(device.wakeupsSignalled, 1);

    // After the host resumes and suspends again, the next event signals again.
    port.setSuspended(false);
    port.setSuspended(true);
    device.press("D");
    assert.equal(device.wakeupsSignalled, 2);

    // Disabled again: no signal.
    port.setSuspended(false);
    host.control(req.setRemoteWakeup(false));
    port.setSuspended(true);
    device.press("E");
    assert.equal(device.wakeupsSignalled, 2);
    // Nothing was lost on the way.
    assert.equal(host.drain().length, 10);
  });
});
