import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { SeededRandom } from "../machine/seeded-random.ts";
import { DescriptorType, EndpointType, Feature, Pid, StandardRequest, UsbSpeed } from "./constants.ts";
import { type ControlReply, ControlStatus } from "./control-pipe.ts";
import { DescriptorModelError } from "./descriptors/encode.ts";
import { hidDescriptor } from "./descriptors/hid.ts";
import { type DeviceModel, EndpointDirection, IsoSync } from "./descriptors/model.ts";
import { parseConfiguration, parseDeviceDescriptor } from "./descriptors/parse.ts";
import { parseLanguageIds, parseString } from "./descriptors/strings.ts";
import type { UsbDevice } from "./device.ts";
import { UsbDeviceBase } from "./device-base.ts";
import { PacketStatus, UsbPacket } from "./packet.ts";
import { PortEvent, UsbPort } from "./port.ts";
import { SetupPacket } from "./setup-packet.ts";
import { PacketHost, type Transfer } from "./testing/packet-host.ts";

const REPORT_DESCRIPTOR = Uint8Array.of(0x05, 0x01, 0x09, 0x06, 0xa1, 0x01, 0xc0);

/** A keyboard-like interface 0 (interrupt IN 0x81) and an audio-like interface 1 (iso OUT 0x02 in alt 1). */
const MODEL: DeviceModel = {
  maxPacketSize0: 8,
  vendorId: 0x46f4,
  productId: 0x0001,
  manufacturer: "uhci",
  product: "Test Device",
  serialNumber: "42",
  configurations: [
    {
      selfPowered: true,
      remoteWakeup: true,
      maxPowerMa: 100,
      interfaces: [
        {
          alternates: [
            {
              interfaceClass: 3,
              extra: [hidDescriptor({ reportDescriptor: REPORT_DESCRIPTOR })],
              endpoints: [
                {
                  address: EndpointDirection.In | 1,
                  type: EndpointType.Interrupt,
                  maxPacketSize: 8,
                  interval: 10,
                },
              ],
            },
          ],
        },
        {
          alternates: [
            { interfaceClass: 1, interfaceSubClass: 2 },
            {
              interfaceClass: 1,
              interfaceSubClass: 2,
              endpoints: [
                {
                  address: EndpointDirection.Out | 2,
                  type: EndpointType.Isochronous,
                  sync: IsoSync.Adaptive,
                  maxPacketSize: 192,
                  interval: 1,
                  audio: { refresh: 0, synchAddress: 0 },
                },
              ],
            },
          ],
        },
      ],
    },
  ],
};

const VendorRequest = { Echo: 1, Store: 2 } as const;

/** The minimal concrete device: a class request or two, one IN and one OUT data endpoint. */
class TestDevice extends UsbDeviceBase {
  readonly events: string[] = [];
  stored: number[] = [];
  readonly isoData: number[][] = [];
  private readonly echo = new Uint8Array(64);

  constructor(model: DeviceModel = MODEL) {
    super({ name: "test device", descriptors: model });
  }

  protected override handleClassRequest(setup: SetupPacket, dataOut: Uint8Array): ControlReply {
    // HID GET_DESCRIPTOR(Report) is a standard request to an interface (HID 1.11 7.1.1).
    if (setup.bmRequestType === 0x81 && setup.bRequest === StandardRequest.GetDescriptor) {
      return setup.descriptorType === DescriptorType.HidReport && setup.wIndex === 0
        ? REPORT_DESCRIPTOR
        : ControlStatus.Stall;
    }
    if (setup.bmRequestType === 0xc0 && setup.bRequest === VendorRequest.Echo) {
      this.echo.fill(setup.wValue & 0xff);
      return this.echo.subarray(0, 40);
    }
    if (setup.bmRequestType === 0x40 && setup.bRequest === VendorRequest.Store) {
      this.stored = Array.from(dataOut);
      return ControlStatus.Ack;
    }
    return ControlStatus.Stall;
  }

  protected override handleData(packet: UsbPacket): void {
    if (packet.pid === Pid.In) {
      const n = Math.min(packet.length, 8);
      packet.data.fill(0x11, 0, n);
      packet.actualLength = n;
    } else {
      this.isoData.push(Array.from(packet.data.subarray(0, packet.length)));
      packet.actualLength = packet.length;
    }
    packet.status = PacketStatus.Ack;
  }

  protected override onReset(): void {
    this.events.push("reset");
  }
  protected override onConfigured(value: number): void {
    this.events.push(`configured ${value}`);
  }
  protected override onInterfaceChanged(iface: number, alt: number): void {
    this.events.push(`interface ${iface} alt ${alt}`);
  }
  protected override onSuspendChanged(suspended: boolean): void {
    this.events.push(suspended ? "suspend" : "resume");
  }
  protected override onEndpointHalt(address: number, halted: boolean): void {
    this.events.push(`ep ${address.toString(16)} ${halted ? "halt" : "clear"}`);
  }

  wake(): boolean {
    return this.signalRemoteWakeup();
  }
  haltOwn(address: number): boolean {
    return this.setEndpointHalt(address, true);
  }
}

/** One control transfer from the shared test host, in 8-byte data packets (this model's bMaxPacketSize0). */
function control(device: UsbDevice, setup: SetupPacket, dataOut: number[] = []): Transfer {
  return new PacketHost(device).control(setup, dataOut);
}

const req = SetupPacket.of;
const getDescriptor = (type: number, index: number, length: number, wIndex = 0) =>
  req(0x80, StandardRequest.GetDescriptor, (type << 8) | index, wIndex, length);
const setConfiguration = (value: number) => req(0x00, StandardRequest.SetConfiguration, value);
const setInterface = (iface: number, alt: number) => req(0x01, StandardRequest.SetInterface, alt, iface);
const getStatus = (recipient: number, wIndex = 0) =>
  req(0x80 | recipient, StandardRequest.GetStatus, 0, wIndex, 2);
const feature = (set: boolean, recipient: number, selector: number, wIndex = 0) =>
  req(recipient, set ? StandardRequest.SetFeature : StandardRequest.ClearFeature, selector, wIndex);

/** One transaction on a data endpoint; each call has its own packet, so earlier results stay readable. */
function dataPacket(device: UsbDevice, pid: number, endpoint: number, length: number): UsbPacket {
  return new PacketHost(device).transact(pid, endpoint, length);
}

function configured(): TestDevice {
  const device = new TestDevice();
  device.reset();
  assert.equal(control(device, setConfiguration(1)).status, PacketStatus.Ack);
  return device;
}

describe("UsbDeviceBase enumeration", () => {
  it("serves the device descriptor at address 0, in 8-byte packets, cut to wLength", () => {
    const device = new TestDevice();
    device.reset();
    // Linux asks for 64 bytes first; Windows for 8 to learn bMaxPacketSize0.
    const full = control(device, getDescriptor(DescriptorType.Device, 0, 64));
    assert.equal(full.status, PacketStatus.Ack);
    const parsed = parseDeviceDescriptor(Uint8Array.from(full.data));
    assert.ok(parsed.ok);
    assert.equal(parsed.value.vendorId, 0x46f4);
    assert.equal(parsed.value.maxPacketSize0, 8);
    assert.equal(parsed.value.numConfigurations, 1);
    assert.equal(control(device, getDescriptor(DescriptorType.Device, 0, 8)).data.length, 8);
  });

  it("moves to the new address only after the status stage of SET_ADDRESS (USB 2.0 9.4.6)", () => {
    const device = new TestDevice();
    device.reset();
    const packet = new UsbPacket();
    packet.init(Pid.Setup, 0, 0, 8);
    req(0x00, StandardRequest.SetAddress, 5).encode(packet.data);
    device.handlePacket(packet);
    assert.equal(packet.status, PacketStatus.Ack);
    assert.equal(device.address, 0, "still 0 after SETUP");
    packet.init(Pid.In, 0, 0, 0);
    device.handlePacket(packet);
    assert.equal(packet.status, PacketStatus.Ack);
    assert.equal(device.address, 5, "the status stage was answered from address 0; now 5");
    // An address above 127 is refused and the old one stays.
    assert.equal(control(device, req(0x00, StandardRequest.SetAddress, 128)).status, PacketStatus.Stall);
    assert.equal(device.address, 5);
    // A SET_ADDRESS abandoned before its status stage never takes effect.
    packet.init(Pid.Setup, 5, 0, 8);
    req(0x00, StandardRequest.SetAddress, 9).encode(packet.data);
    device.handlePacket(packet);
    control(device, getDescriptor(DescriptorType.Device, 0, 18));
    assert.equal(device.address, 5);
  });

  it("serves configuration descriptors by index, first 9 bytes then wTotalLength", () => {
    const device = new TestDevice();
    const head = control(device, getDescriptor(DescriptorType.Configuration, 0, 9));
    assert.equal(head.data.length, 9);
    const total = head.data[2]! | (head.data[3]! << 8);
    const full = control(device, getDescriptor(DescriptorType.Configuration, 0, total));
    assert.equal(full.data.length, total);
    const config = parseConfiguration(Uint8Array.from(full.data));
    assert.ok(config.ok, config.ok ? "" : config.error);
    assert.equal(config.value.interfaces.length, 2);
    assert.equal(
      control(device, getDescriptor(DescriptorType.Configuration, 1, 9)).status,
      PacketStatus.Stall,
    );
  });

  it("serves string descriptors and stalls unknown indexes and descriptor types", () => {
    const device = new TestDevice();
    const languages = control(device, getDescriptor(DescriptorType.String, 0, 255));
    assert.deepEqual(parseLanguageIds(Uint8Array.from(languages.data)), { ok: true, value: [0x0409] });
    const names = [1, 2, 3].map((i) =>
      parseString(Uint8Array.from(control(device, getDescriptor(3, i, 255, 0x0409)).data)),
    );
    assert.deepEqual(
      names,
      ["uhci", "Test Device", "42"].map((value) => ({ ok: true, value })),
    );
    assert.equal(
      control(device, getDescriptor(DescriptorType.String, 4, 255, 0x0409)).status,
      PacketStatus.Stall,
    );
    // A full-speed-only device refuses DEVICE_QUALIFIER (USB 2.0 9.6.2).
    assert.equal(
      control(device, getDescriptor(DescriptorType.DeviceQualifier, 0, 10)).status,
      PacketStatus.Stall,
    );
    assert.equal(control(device, getDescriptor(0x0f, 0, 5)).status, PacketStatus.Stall);
  });

  it("hands an interface GET_DESCRIPTOR (HID report) to the subclass", () => {
    const device = configured();
    const report = control(
      device,
      req(0x81, StandardRequest.GetDescriptor, DescriptorType.HidReport << 8, 0, 64),
    );
    assert.deepEqual(report.data, Array.from(REPORT_DESCRIPTOR));
    const wrong = control(
      device,
      req(0x81, StandardRequest.GetDescriptor, DescriptorType.HidReport << 8, 1, 64),
    );
    assert.equal(wrong.status, PacketStatus.Stall);
  });
});

describe("UsbDeviceBase configurations and interfaces", () => {
  it("GET/SET_CONFIGURATION: 0 is unconfigured, an unknown value stalls", () => {
    const device = new TestDevice();
    device.reset();
    const getConfiguration = req(0x80, StandardRequest.GetConfiguration, 0, 0, 1);
    assert.deepEqual(control(device, getConfiguration).data, [0]);
    assert.equal(control(device, setConfiguration(2)).status, PacketStatus.Stall);
    assert.equal(device.configuration, 0);
    assert.equal(control(device, setConfiguration(1)).status, PacketStatus.Ack);
    assert.deepEqual(control(device, getConfiguration).data, [1]);
    assert.equal(device.configuration, 1);
    assert.equal(control(device, setConfiguration(0)).status, PacketStatus.Ack);
    assert.deepEqual(control(device, getConfiguration).data, [0]);
    assert.deepEqual(device.events, ["reset", "configured 1", "configured 0"]);
  });

  it("routes data packets only to endpoints of the current configuration and alternate settings", () => {
    const device = new TestDevice();
    device.reset();
    assert.equal(dataPacket(device, Pid.In, 1, 8).status, PacketStatus.Stall, "unconfigured");
    control(device, setConfiguration(1));
    const report = dataPacket(device, Pid.In, 1, 8);
    assert.equal(report.status, PacketStatus.Ack);
    assert.equal(report.actualLength, 8);
    assert.equal(dataPacket(device, Pid.Out, 1, 8).status, PacketStatus.Stall, "0x01 does not exist");
    assert.equal(dataPacket(device, Pid.Out, 2, 4).status, PacketStatus.Stall, "alt 0 has no endpoint");
    assert.equal(dataPacket(device, Pid.Setup, 1, 8).status, PacketStatus.Stall);
    assert.equal(dataPacket(device, Pid.In, 7, 8).status, PacketStatus.Stall);

    assert.equal(control(device, setInterface(1, 1)).status, PacketStatus.Ack);
    assert.equal(device.alternateSettingOf(1), 1);
    assert.deepEqual(control(device, req(0x81, StandardRequest.GetInterface, 0, 1, 1)).data, [1]);
    const out = new UsbPacket();
    out.init(Pid.Out, 0, 2, 4, true);
    out.data.set([1, 2, 3, 4]);
    device.handlePacket(out);
    assert.equal(out.status, PacketStatus.Ack);
    assert.deepEqual(device.isoData, [[1, 2, 3, 4]]);
    assert.equal(dataPacket(device, Pid.In, 2, 4).status, PacketStatus.Stall, "0x82 does not exist");

    control(device, setInterface(1, 0));
    assert.equal(dataPacket(device, Pid.Out, 2, 4).status, PacketStatus.Stall);
    // SET_CONFIGURATION puts every interface back to alternate setting 0.
    control(device, setInterface(1, 1));
    control(device, setConfiguration(1));
    assert.equal(device.alternateSettingOf(1), 0);
    assert.deepEqual(device.events.slice(-4), [
      "interface 1 alt 1",
      "interface 1 alt 0",
      "interface 1 alt 1",
      "configured 1",
    ]);
  });

  it("stalls GET/SET_INTERFACE for unknown interfaces or settings, and before configuration", () => {
    const device = new TestDevice();
    device.reset();
    assert.equal(control(device, setInterface(1, 1)).status, PacketStatus.Stall);
    assert.equal(
      control(device, req(0x81, StandardRequest.GetInterface, 0, 0, 1)).status,
      PacketStatus.Stall,
    );
    control(device, setConfiguration(1));
    assert.equal(control(device, setInterface(1, 2)).status, PacketStatus.Stall);
    assert.equal(control(device, setInterface(2, 0)).status, PacketStatus.Stall);
    assert.equal(
      control(device, req(0x81, StandardRequest.GetInterface, 0, 2, 1)).status,
      PacketStatus.Stall,
    );
    assert.deepEqual(control(device, req(0x81, StandardRequest.GetInterface, 0, 0, 1)).data, [0]);
    assert.equal(control(device, setInterface(0, 0)).status, PacketStatus.Ack);
    assert.equal(device.alternateSettingOf(5), undefined);
  });
});

describe("UsbDeviceBase status and features", () => {
  it("GET_STATUS reports self-powered and remote wakeup for the device, nothing for an interface", () => {
    const device = new TestDevice();
    device.reset();
    assert.deepEqual(control(device, getStatus(0)).data, [1, 0]);
    assert.equal(
      control(device, getStatus(1, 0)).status,
      PacketStatus.Stall,
      "no interface before configuration",
    );
    control(device, setConfiguration(1));
    assert.deepEqual(control(device, getStatus(1, 1)).data, [0, 0]);
    assert.equal(control(device, getStatus(1, 3)).status, PacketStatus.Stall);
    assert.deepEqual(control(device, getStatus(2, 0x80)).data, [0, 0], "endpoint 0 is never halted");
    assert.equal(
      control(device, getStatus(2, 0x02)).status,
      PacketStatus.Stall,
      "not in the current alternate",
    );
    assert.equal(control(device, getStatus(3)).status, PacketStatus.Stall);
  });

  it("halts a data endpoint until CLEAR_FEATURE(ENDPOINT_HALT)", () => {
    const device = configured();
    assert.equal(control(device, feature(true, 2, Feature.EndpointHalt, 0x81)).status, PacketStatus.Ack);
    assert.deepEqual(control(device, getStatus(2, 0x81)).data, [1, 0]);
    for (let i = 0; i < 3; i++) assert.equal(dataPacket(device, Pid.In, 1, 8).status, PacketStatus.Stall);
    assert.equal(control(device, feature(false, 2, Feature.EndpointHalt, 0x81)).status, PacketStatus.Ack);
    assert.deepEqual(control(device, getStatus(2, 0x81)).data, [0, 0]);
    assert.equal(dataPacket(device, Pid.In, 1, 8).status, PacketStatus.Ack);
    assert.deepEqual(device.events.slice(-2), ["ep 81 halt", "ep 81 clear"]);
    // The device halts its own endpoint (a functional stall); SET_CONFIGURATION clears every halt.
    assert.equal(device.haltOwn(0x81), true);
    assert.equal(device.haltOwn(0x02), false, "not active");
    assert.equal(dataPacket(device, Pid.In, 1, 8).status, PacketStatus.Stall);
    control(device, setConfiguration(1));
    assert.equal(dataPacket(device, Pid.In, 1, 8).status, PacketStatus.Ack);
    // Unknown endpoints, halt on endpoint 0, and interface features are refused.
    assert.equal(control(device, feature(true, 2, Feature.EndpointHalt, 0x83)).status, PacketStatus.Stall);
    assert.equal(control(device, feature(true, 2, Feature.EndpointHalt, 0x00)).status, PacketStatus.Stall);
    assert.equal(control(device, feature(false, 2, Feature.EndpointHalt, 0x00)).status, PacketStatus.Ack);
    assert.equal(control(device, feature(true, 1, 0, 0)).status, PacketStatus.Stall);
    assert.equal(control(device, feature(true, 2, 7, 0x81)).status, PacketStatus.Stall);
  });

  it("enables remote wakeup when advertised, and signals only while suspended", () => {
    const device = configured();
    const events: PortEvent[] = [];
    const port = new UsbPort(0, (_port, event) => events.push(event));
    port.attach(device);
    port.setEnabled(true);
    control(device, setConfiguration(1));
    port.setSuspended(true);
    assert.equal(device.wake(), false, "the host has not enabled it");
    port.setSuspended(false);
    assert.equal(control(device, feature(true, 0, Feature.DeviceRemoteWakeup)).status, PacketStatus.Ack);
    assert.equal(device.remoteWakeupEnabled, true);
    assert.deepEqual(control(device, getStatus(0)).data, [3, 0]);
    assert.equal(device.wake(), false, "the bus is not suspended");
    port.setSuspended(true);
    assert.equal(device.suspended, true);
    assert.equal(device.wake(), true);
    assert.deepEqual(events, [PortEvent.Attached, PortEvent.RemoteWakeup]);
    port.setSuspended(false);
    assert.equal(control(device, feature(false, 0, Feature.DeviceRemoteWakeup)).status, PacketStatus.Ack);
    assert.deepEqual(control(device, getStatus(0)).data, [1, 0]);
    assert.deepEqual(
      device.events.filter((e) => e === "suspend" || e === "resume"),
      ["suspend", "resume", "suspend", "resume"],
    );
    // TEST_MODE is for high-speed devices.
    assert.equal(control(device, feature(true, 0, 2)).status, PacketStatus.Stall);
  });

  it("refuses DEVICE_REMOTE_WAKEUP when the configuration does not advertise it", () => {
    const config = MODEL.configurations[0]!;
    const device = new TestDevice({
      ...MODEL,
      configurations: [{ ...config, remoteWakeup: false, selfPowered: false }],
    });
    device.reset();
    assert.equal(control(device, feature(true, 0, Feature.DeviceRemoteWakeup)).status, PacketStatus.Stall);
    assert.deepEqual(control(device, getStatus(0)).data, [0, 0]);
  });

  it("bus reset returns to address 0, unconfigured, wakeup disabled", () => {
    const device = configured();
    control(device, req(0x00, StandardRequest.SetAddress, 3));
    control(device, feature(true, 0, Feature.DeviceRemoteWakeup));
    assert.equal(device.address, 3);
    device.reset();
    assert.equal(device.address, 0);
    assert.equal(device.configuration, 0);
    assert.equal(device.remoteWakeupEnabled, false);
    assert.equal(dataPacket(device, Pid.In, 1, 8).status, PacketStatus.Stall);
    assert.equal(device.events.at(-1), "reset");
  });
});

describe("UsbDeviceBase class requests and robustness", () => {
  it("passes class and vendor requests to the subclass, with OUT data at the status stage", () => {
    const device = configured();
    const echo = control(device, req(0xc0, VendorRequest.Echo, 0x5a, 0, 64));
    assert.equal(echo.status, PacketStatus.Ack);
    assert.deepEqual(echo.data, new Array(40).fill(0x5a));
    const stored = Array.from({ length: 20 }, (_, i) => i);
    assert.equal(control(device, req(0x40, VendorRequest.Store, 0, 0, 20), stored).status, PacketStatus.Ack);
    assert.deepEqual(device.stored, stored);
    assert.equal(control(device, req(0x21, 0x0a, 0, 0, 0)).status, PacketStatus.Stall, "default is STALL");
    assert.equal(control(device, req(0x80, StandardRequest.SynchFrame, 0, 0, 2)).status, PacketStatus.Stall);
  });

  it("stalls a SETUP whose wLength exceeds the control buffer, and writes nothing", () => {
    const device = configured();
    device.stored = [9];
    const big = new Array(5000).fill(7);
    assert.equal(control(device, req(0x40, VendorRequest.Store, 0, 0, 5000), big).status, PacketStatus.Stall);
    assert.deepEqual(device.stored, [9], "the handler never ran");
    const read = control(device, getDescriptor(DescriptorType.Configuration, 0, 0xffff));
    assert.equal(read.status, PacketStatus.Stall);
    assert.deepEqual(read.data, []);
    // The pipe works normally afterwards.
    assert.equal(control(device, getDescriptor(DescriptorType.Device, 0, 18)).data.length, 18);
  });

  it("checks the model when the device is built", () => {
    assert.throws(() => new TestDevice({ ...MODEL, maxPacketSize0: 7 }), DescriptorModelError);
    class LowSpeed extends UsbDeviceBase {
      constructor() {
        super({ name: "low", descriptors: { ...MODEL, maxPacketSize0: 64 }, speed: UsbSpeed.Low });
      }
    }
    assert.throws(() => new LowSpeed(), DescriptorModelError);
  });

  it("never throws and never overruns, whatever packets arrive", () => {
    const random = new SeededRandom(0x9e3779b9);
    const next = (): number => random.u32();
    const device = new TestDevice();
    device.reset();
    const pids = [Pid.Setup, Pid.In, Pid.Out, 0x00, 0xff];
    const packet = new UsbPacket(64);
    for (let i = 0; i < 20000; i++) {
      const pid = pids[next() % pids.length]!;
      const length = pid === Pid.Setup && next() % 4 !== 0 ? 8 : next() % 65;
      packet.init(pid, device.address, next() % 4 === 0 ? next() % 17 : 0, length, next() % 2 === 0);
      for (let b = 0; b < 64; b++) packet.data[b] = next() & 0xff;
      // Mostly standard requests with small wLength so that some transfers get somewhere.
      if (pid === Pid.Setup && next() % 2 === 0) {
        packet.data[0]! &= 0x83;
        packet.data[1]! &= 0x0f;
        packet.data[7] = 0;
      }
      device.handlePacket(packet);
      assert.ok(packet.actualLength <= packet.length);
      assert.ok(packet.actualLength <= packet.data.length);
      assert.notEqual(packet.status, PacketStatus.Async);
    }
  });
});
