/**
 * The hub through the software guest's hub driver: what a host sees of a USB 1.1 hub and the devices
 * behind it, with the controller reaching each device by its address (USB 2.0 chapter 11; UHCI design
 * guide 3.2.2 for the TD's LS bit).
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { UsbKeyboard } from "../../src/devices/hid/keyboard.ts";
import { UsbMouse } from "../../src/devices/hid/mouse.ts";
import { UsbHub } from "../../src/devices/hub/usb-hub.ts";
import type { GuestDevice } from "../../src/guest/guest-device.ts";
import { type GuestHub, HubClass, HubPortBits } from "../../src/guest/guest-hub.ts";
import { bootGuest } from "../../src/guest/testing/boot.ts";
import { TestGadget } from "../../src/guest/testing/test-gadget.ts";
import { TransferStatus } from "../../src/guest/transfer-result.ts";
import type { UhciGuestDriver } from "../../src/guest/uhci-guest-driver.ts";
import { UsbSpeed } from "../../src/usb/constants.ts";

/** GET_DESCRIPTOR(device, 18), standard, device recipient. */
const GET_DEVICE_DESCRIPTOR = { requestType: 0x80, request: 6, value: 0x0100, index: 0, length: 18 } as const;
const ENABLE_REMOTE_WAKEUP = { requestType: 0x00, request: 3, value: 1, index: 0 } as const;

function ok<T extends { ok: boolean }>(result: T, what: string): asserts result is T & { ok: true } {
  if (!result.ok) assert.fail(`${what}: ${JSON.stringify(result)}`);
}

/** Enumerates the hub on `root` port 0 (or behind `parent` on `parentPort`), opens and powers it. */
function openHub(driver: UhciGuestDriver, parent?: GuestHub, parentPort = 1): GuestHub {
  const result = parent === undefined ? driver.enumerate(0) : parent.enumerate(parentPort);
  ok(result, "hub enumeration");
  const opened = driver.openHub(result.device);
  ok(opened, "openHub");
  assert.equal(opened.hub.powerOn(), TransferStatus.Ok);
  return opened.hub;
}

function enumerateBehind(hub: GuestHub, port: number): GuestDevice {
  const result = hub.enumerate(port);
  ok(result, `enumeration on hub port ${port}`);
  return result.device;
}

function portState(hub: GuestHub, port: number) {
  const state = hub.portStatus(port);
  ok(state, `GET_STATUS(port ${port})`);
  return state;
}

describe("USB 2.0 11.23.2.1: the hub descriptor", () => {
  it("is type 0x29 with bNbrPorts, per-port power switching and over-current, bPwrOn2PwrGood", () => {
    const hub = new UsbHub({ ports: 7, powerOnToPowerGoodMs: 100 });
    const { driver } = bootGuest([hub]);
    const result = driver.enumerate(0);
    ok(result, "enumeration");
    assert.equal(result.device.info.descriptor.deviceClass, 9, "bDeviceClass HUB (11.23.1)");
    assert.equal(result.device.info.configuration.interfaces[0]?.alternates[0]?.interfaceClass, 9);
    const opened = driver.openHub(result.device);
    ok(opened, "openHub");
    const d = opened.hub.descriptor;
    assert.equal(d.bytes[1], 0x29);
    assert.equal(d.bytes[0], d.bytes.length, "bDescLength covers DeviceRemovable and PortPwrCtrlMask");
    assert.equal(d.ports, 7);
    assert.equal(d.characteristics & 0x3, 0x1, "individual port power switching");
    assert.equal(d.characteristics & 0x18, 0x08, "individual over-current protection");
    assert.equal(d.characteristics & 0x4, 0, "not a compound device");
    assert.equal(d.powerOnToPowerGoodMs, 100);
    assert.deepEqual(d.nonRemovable, [false, false, false, false, false, false, false]);
    assert.deepEqual([...d.bytes.subarray(8, 9)], [0xff], "PortPwrCtrlMask all ones (USB 1.1 compatibility)");
  });

  it("refuses a device that is not a hub", () => {
    const { driver } = bootGuest([new UsbKeyboard()]);
    const result = driver.enumerate(0);
    ok(result, "enumeration");
    const opened = driver.openHub(result.device);
    assert.equal(opened.ok, false);
  });
});

describe("USB 2.0 11.11 / 11.24.2.7: port power, connection and the change bits", () => {
  it("starts with every port off; power shows a device already plugged in as a connect change", () => {
    const hub = new UsbHub({ ports: 4 });
    hub.attach(1, new UsbKeyboard());
    const { driver } = bootGuest([hub]);
    const result = driver.enumerate(0);
    ok(result, "enumeration");
    const opened = driver.openHub(result.device);
    ok(opened, "openHub");
    const gh = opened.hub;
    assert.equal(portState(gh, 2).status, 0, "unpowered: no power, no connection");
    assert.equal(gh.powerOn(), TransferStatus.Ok);
    const p2 = portState(gh, 2);
    assert.equal(p2.status, HubPortBits.Power | HubPortBits.Connection);
    assert.equal(p2.change, HubPortBits.Connection, "C_PORT_CONNECTION");
    assert.equal(portState(gh, 1).status, HubPortBits.Power);
    assert.equal(portState(gh, 1).change, 0);
    gh.clearPortFeature(2, HubClass.CPortConnection);
    assert.equal(portState(gh, 2).change, 0);
  });

  it("STALLs a port number that does not exist (11.24.2: Request Error)", () => {
    const { driver } = bootGuest([new UsbHub({ ports: 2 })]);
    const hub = openHub(driver);
    assert.equal(hub.portStatus(0).ok, false);
    assert.equal(hub.portStatus(3).ok, false);
    assert.equal(hub.setPortFeature(3, HubClass.PortPower).status, TransferStatus.Stall);
  });
});

describe("USB 2.0 11.12.4: the status change endpoint", () => {
  it("NAKs while nothing changed, then reports the port whose device was plugged in", () => {
    const hub = new UsbHub({ ports: 4, interval: 8 });
    const { driver } = bootGuest([hub]);
    const gh = openHub(driver);
    assert.deepEqual(gh.waitForChanges(100), [], "NAK: no bitmap while no change bit is set");
    hub.attach(2, new UsbMouse());
    assert.deepEqual(gh.waitForChanges(100), [3], "bit 3 = port 3");
    const state = portState(gh, 3);
    assert.equal(state.connected, true);
    assert.equal(state.change & HubPortBits.Connection, HubPortBits.Connection);
    gh.clearChanges(3);
    driver.run(20);
    assert.deepEqual(gh.takeChanges(), [], "cleared: the endpoint NAKs again");
    hub.detach(2);
    assert.deepEqual(gh.waitForChanges(100), [3]);
    assert.equal(portState(gh, 3).connected, false);
  });
});

describe("devices behind the hub", () => {
  it("a keyboard on a hub port enumerates by its own address and its reports arrive", () => {
    const hub = new UsbHub({ ports: 4 });
    const keyboard = new UsbKeyboard();
    hub.attach(0, keyboard);
    const { driver } = bootGuest([hub]);
    const gh = openHub(driver);
    const kb = enumerateBehind(gh, 1);
    assert.notEqual(kb.address, gh.device.address);
    assert.equal(keyboard.address, kb.address);
    assert.equal(keyboard.configuration, 1);
    const reports = kb.openInterruptIn(0x81);
    keyboard.press("A");
    const got = reports.waitForReports(2, 200);
    assert.equal(got.length, 2);
    assert.equal(got[0]?.[2], 0x04, "usage A (0x04) pressed, through the hub");
    assert.equal(got[1]?.[2], 0x00, "and released");
  });

  it("seven devices behind a seven-port hub each answer at their own address", () => {
    const hub = new UsbHub({ ports: 7 });
    const gadgets = Array.from({ length: 7 }, () => new TestGadget());
    gadgets.forEach((g, i) => {
      hub.attach(i, g);
    });
    const { driver } = bootGuest([hub]);
    const gh = openHub(driver);
    const devices = gadgets.map((_, i) => enumerateBehind(gh, i + 1));
    assert.equal(new Set(devices.map((d) => d.address)).size, 7);
    devices.forEach((d, i) => {
      assert.equal(gadgets[i]!.address, d.address);
      const r = d.control(GET_DEVICE_DESCRIPTOR);
      assert.equal(r.status, TransferStatus.Ok);
    });
  });

  it("a low-speed device shows PORT_LOW_SPEED and is reached only by TDs with LS set (UHCI 3.2.2)", () => {
    const hub = new UsbHub({ ports: 2 });
    const gadget = new TestGadget({ speed: UsbSpeed.Low });
    hub.attach(0, gadget);
    const { driver } = bootGuest([hub]);
    const gh = openHub(driver);
    assert.equal(portState(gh, 1).lowSpeed, true);
    const ls = enumerateBehind(gh, 1);
    assert.equal(ls.speed, UsbSpeed.Low);
    assert.equal(ls.control(GET_DEVICE_DESCRIPTOR).status, TransferStatus.Ok);
    // The same address with LS clear: a full-speed packet the low-speed device never hears.
    const address = ls.address;
    ls.release();
    const asFull = driver.openDevice({ port: 0, speed: UsbSpeed.Full, address, maxPacketSize0: 8 });
    assert.equal(asFull.control(GET_DEVICE_DESCRIPTOR, { timeoutMs: 50 }).status, TransferStatus.CrcTimeout);
    asFull.release();
    // And the other way: LS set for the full-speed hub is low-speed signalling it does not decode.
    const hubAddress = gh.device.address;
    gh.device.release();
    const hubAsLow = driver.openDevice({
      port: 0,
      speed: UsbSpeed.Low,
      address: hubAddress,
      maxPacketSize0: 8,
    });
    assert.equal(
      hubAsLow.control(GET_DEVICE_DESCRIPTOR, { timeoutMs: 50 }).status,
      TransferStatus.CrcTimeout,
    );
  });
});

describe("USB 2.0 11.5 / 11.24.2.7.1: enable, reset and hot plug while the guest runs", () => {
  it("a device plugged in later is reported, enumerated, and gone from its address when unplugged", () => {
    const hub = new UsbHub({ ports: 4, interval: 8 });
    const { driver, controller } = bootGuest([hub]);
    const gh = openHub(driver);
    const gadget = new TestGadget();
    hub.attach(3, gadget);
    assert.deepEqual(gh.waitForChanges(50), [4]);
    const device = enumerateBehind(gh, 4);
    assert.equal(device.control(GET_DEVICE_DESCRIPTOR).status, TransferStatus.Ok);
    const rebuilds = controller.rootHub.devices.rebuildCount;
    driver.run(200);
    assert.equal(controller.rootHub.devices.rebuildCount, rebuilds, "no table rebuild while nothing changes");
    hub.detach(3);
    assert.deepEqual(gh.waitForChanges(50), [4]);
    assert.equal(portState(gh, 4).status, HubPortBits.Power, "disconnected and disabled");
    assert.equal(device.control(GET_DEVICE_DESCRIPTOR, { timeoutMs: 50 }).status, TransferStatus.CrcTimeout);
  });

  it("a device behind a disabled port does not answer (CLEAR_FEATURE(PORT_ENABLE)); a reset enables it again", () => {
    const hub = new UsbHub({ ports: 2 });
    const gadget = new TestGadget();
    hub.attach(1, gadget);
    const { driver } = bootGuest([hub]);
    const gh = openHub(driver);
    const device = enumerateBehind(gh, 2);
    assert.equal(gh.clearPortFeature(2, HubClass.PortEnable).status, TransferStatus.Ok);
    const state = portState(gh, 2);
    assert.equal(state.enabled, false);
    assert.equal(state.change & HubPortBits.Enable, 0, "a software disable is not a C_PORT_ENABLE event");
    assert.equal(device.control(GET_DEVICE_DESCRIPTOR, { timeoutMs: 50 }).status, TransferStatus.CrcTimeout);
    const reset = gh.resetPort(2);
    assert.equal(reset.enabled, true);
    assert.equal(gadget.address, 0, "PORT_RESET put the device back in the Default state");
    assert.equal(
      portState(gh, 2).change & HubPortBits.Reset,
      0,
      "C_PORT_RESET set by the reset, cleared by the driver",
    );
  });

  it("resetting the hub (its root port) resets every device behind it and powers its ports off", () => {
    const hub = new UsbHub({ ports: 2 });
    const gadget = new TestGadget();
    hub.attach(0, gadget);
    const { driver } = bootGuest([hub]);
    const gh = openHub(driver);
    enumerateBehind(gh, 1);
    assert.notEqual(gadget.address, 0);
    driver.rootHub.reset(0);
    assert.equal(hub.address, 0);
    assert.equal(gadget.address, 0);
    assert.equal(gadget.configuration, 0);
    assert.equal(hub.portStatus(0), 0, "ports powered off (USB 2.0 11.11)");
  });
});

describe("USB 2.0 11.9: suspend and resume through the hub", () => {
  it("PORT_SUSPEND suspends the device; CLEAR_FEATURE(PORT_SUSPEND) resumes it with C_PORT_SUSPEND", () => {
    const hub = new UsbHub({ ports: 2 });
    const gadget = new TestGadget();
    hub.attach(0, gadget);
    const { driver } = bootGuest([hub]);
    const gh = openHub(driver);
    const device = enumerateBehind(gh, 1);
    assert.equal(gh.suspendPort(1), TransferStatus.Ok);
    assert.equal(gadget.suspended, true);
    assert.equal(portState(gh, 1).suspended, true);
    assert.equal(device.control(GET_DEVICE_DESCRIPTOR, { timeoutMs: 50 }).status, TransferStatus.CrcTimeout);
    assert.equal(gh.resumePort(1), true);
    assert.equal(gadget.suspended, false);
    assert.equal(device.control(GET_DEVICE_DESCRIPTOR).status, TransferStatus.Ok);
  });

  it("a keypress on a selectively suspended port resumes it: C_PORT_SUSPEND on the status change endpoint", () => {
    const hub = new UsbHub({ ports: 2, interval: 8 });
    const keyboard = new UsbKeyboard();
    hub.attach(1, keyboard);
    const { driver } = bootGuest([hub]);
    const gh = openHub(driver);
    const kb = enumerateBehind(gh, 2);
    assert.equal(kb.control(ENABLE_REMOTE_WAKEUP).status, TransferStatus.Ok);
    gh.watchChanges();
    gh.suspendPort(2);
    assert.equal(keyboard.suspended, true);
    keyboard.press("A");
    assert.deepEqual(gh.waitForChanges(50), [2]);
    const state = portState(gh, 2);
    assert.equal(state.suspended, false);
    assert.equal(state.change & HubPortBits.Suspend, HubPortBits.Suspend);
    assert.equal(keyboard.suspended, false);
  });

  it("global suspend reaches the devices behind the hub, and their wakeup reaches the root port", () => {
    const hub = new UsbHub({ ports: 2 });
    const keyboard = new UsbKeyboard();
    hub.attach(0, keyboard);
    const { driver } = bootGuest([hub]);
    const gh = openHub(driver);
    const kb = enumerateBehind(gh, 1);
    assert.equal(kb.control(ENABLE_REMOTE_WAKEUP).status, TransferStatus.Ok);
    assert.equal(gh.device.control(ENABLE_REMOTE_WAKEUP).status, TransferStatus.Ok);
    driver.suspend();
    assert.equal(hub.suspended, true);
    assert.equal(keyboard.suspended, true, "no SOF behind a suspended hub: the keyboard suspends too");
    keyboard.press("A");
    assert.equal(hub.wakeupsSignalled, 1);
    assert.ok(
      driver.waitForRemoteWakeup(50),
      "the controller saw resume (UHCI 2.1.2 Resume Detect) and resumed",
    );
    assert.equal(keyboard.suspended, false);
    const reports = kb.openInterruptIn(0x81);
    assert.equal(reports.waitForReports(1, 100)[0]?.[2], 0x04, "the key that woke the bus arrives");
  });

  it("without remote wakeup enabled on the hub, a device behind it cannot wake the bus", () => {
    const hub = new UsbHub({ ports: 2 });
    const keyboard = new UsbKeyboard();
    hub.attach(0, keyboard);
    const { driver } = bootGuest([hub]);
    const gh = openHub(driver);
    const kb = enumerateBehind(gh, 1);
    kb.control(ENABLE_REMOTE_WAKEUP);
    driver.suspend();
    keyboard.press("A");
    assert.equal(hub.wakeupsSignalled, 0);
    assert.equal(driver.waitForRemoteWakeup(50), false);
  });
});

describe("USB 2.0 4.1.1: hubs behind hubs, to the tier limit", () => {
  it("a keyboard behind five chained hubs (tier 7) works; behind a sixth hub nothing answers", () => {
    const hubs = Array.from({ length: 6 }, (_, i) => new UsbHub({ ports: 2, name: `hub${i + 1}` }));
    for (let i = 0; i < 5; i++) hubs[i]!.attach(0, hubs[i + 1]!);
    const deep = new TestGadget();
    const tooDeep = new TestGadget();
    hubs[4]!.attach(1, deep); // behind hub 5: tier 7
    hubs[5]!.attach(0, tooDeep); // behind hub 6: tier 8
    const { driver } = bootGuest([hubs[0]!]);
    let gh = openHub(driver);
    for (let i = 1; i < 5; i++) gh = openHub(driver, gh, 1);
    // gh is hub 5, at tier 6.
    const device = enumerateBehind(gh, 2);
    assert.equal(deep.address, device.address);
    assert.equal(device.control(GET_DEVICE_DESCRIPTOR).status, TransferStatus.Ok);
    // Hub 6 sits at tier 7: a device, reachable, but USB allows no hub there.
    const sixth = openHub(driver, gh, 1);
    assert.equal(portState(sixth, 1).connected, true);
    const beyond = sixth.enumerate(1, { timeoutMs: 30 });
    assert.equal(beyond.ok, false);
    assert.equal(beyond.ok ? "" : beyond.status, TransferStatus.CrcTimeout);
  });
});
