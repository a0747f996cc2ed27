/**
 * Low-speed HID devices (`speed: UsbSpeed.Low`, as most real keyboards and mice are), behind the hub
 * and on a root port, through the software guest: the hub reports PORT_LOW_SPEED (USB 2.0 11.24.2.7.1),
 * the root port LSDA (UHCI 2.1.7), the guest's TDs carry the LS bit (UHCI 3.2.2) and the reports
 * arrive; a TD without it never reaches the device. The same devices in the real Linux guest:
 * test/integration/v86-linux-hub.test.ts.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { PortSc } from "../../src/controller/uhci/registers.ts";
import { UsbKeyboard } from "../../src/devices/hid/keyboard.ts";
import { UsbMouse } from "../../src/devices/hid/mouse.ts";
import { UsbTablet } from "../../src/devices/hid/tablet.ts";
import { UsbHub } from "../../src/devices/hub/usb-hub.ts";
import { bootGuest } from "../../src/guest/testing/boot.ts";
import { TransferStatus } from "../../src/guest/transfer-result.ts";
import { UsbSpeed } from "../../src/usb/constants.ts";

function ok<T extends { ok: boolean }>(result: T, what: string): asserts result is T & { ok: true } {
  if (!result.ok) assert.fail(`${what}: ${JSON.stringify(result)}`);
}

const GET_DEVICE_DESCRIPTOR = { requestType: 0x80, request: 6, value: 0x0100, index: 0, length: 18 } as const;

describe("low-speed HID devices (USB 2.0 5.7.3, 11.8.4; UHCI 3.2.2)", () => {
  it("a low-speed keyboard and mouse behind the hub: PORT_LOW_SPEED, LS TDs, reports arrive", () => {
    const hub = new UsbHub({ ports: 4 });
    const keyboard = new UsbKeyboard({ speed: UsbSpeed.Low });
    const mouse = new UsbMouse({ speed: UsbSpeed.Low });
    hub.attach(0, keyboard);
    hub.attach(1, mouse);
    const { driver } = bootGuest([hub]);
    const root = driver.enumerate(0);
    ok(root, "hub enumeration");
    const opened = driver.openHub(root.device);
    ok(opened, "openHub");
    const gh = opened.hub;
    assert.equal(gh.powerOn(), TransferStatus.Ok);
    for (const port of [1, 2]) {
      const state = gh.portStatus(port);
      ok(state, `GET_STATUS(port ${port})`);
      assert.equal(state.lowSpeed, true, `port ${port}: PORT_LOW_SPEED`);
    }
    const kb = gh.enumerate(1);
    ok(kb, "keyboard enumeration");
    const ms = gh.enumerate(2);
    ok(ms, "mouse enumeration");
    assert.equal(kb.device.speed, UsbSpeed.Low);
    assert.equal(kb.device.info.descriptor.maxPacketSize0, 8, "bMaxPacketSize0 8 (USB 2.0 5.5.3)");
    assert.equal(keyboard.configuration, 1);
    assert.equal(mouse.configuration, 1);

    const keys = kb.device.openInterruptIn(0x81);
    keyboard.press("A");
    const got = keys.waitForReports(2, 200);
    assert.equal(got.length, 2);
    assert.equal(got[0]?.[2], 0x04, "usage A pressed, through the hub at low speed");
    assert.equal(got[1]?.[2], 0x00, "and released");

    const moves = ms.device.openInterruptIn(0x81);
    mouse.move(5, -3);
    const [report] = moves.waitForReports(1, 200);
    assert.ok(report !== undefined, "the mouse's report arrives");
    assert.equal(report[1], 5);
    assert.equal(report[2], 0xfd, "-3");

    // The keyboard's address with LS clear: full-speed signalling a low-speed device never decodes.
    const address = kb.device.address;
    kb.device.release();
    const asFull = driver.openDevice({ port: 0, speed: UsbSpeed.Full, address, maxPacketSize0: 8 });
    assert.equal(asFull.control(GET_DEVICE_DESCRIPTOR, { timeoutMs: 50 }).status, TransferStatus.CrcTimeout);
  });

  it("a low-speed keyboard on a root port shows LSDA and D- (UHCI 2.1.7) and enumerates", () => {
    const keyboard = new UsbKeyboard({ speed: UsbSpeed.Low });
    const { driver, controller } = bootGuest([keyboard]);
    const portsc = controller.ioRead(0x10, 2);
    assert.equal(portsc & PortSc.LSDA, PortSc.LSDA);
    const result = driver.enumerate(0);
    ok(result, "enumeration");
    assert.equal(result.device.speed, UsbSpeed.Low);
    assert.equal(keyboard.configuration, 1);
  });

  it("refuses what a low-speed interrupt endpoint cannot be: polled under 10 ms (USB 2.0 9.6.6)", () => {
    assert.throws(() => new UsbKeyboard({ speed: UsbSpeed.Low, interval: 8 }), RangeError);
    assert.throws(() => new UsbMouse({ speed: UsbSpeed.Low, interval: 1 }), RangeError);
    // Every report of ours fits the 8 bytes low speed allows (USB 2.0 5.7.3), the tablet's 6 too.
    assert.equal(new UsbTablet({ speed: UsbSpeed.Low }).speed, UsbSpeed.Low);
    assert.equal(new UsbKeyboard({ speed: UsbSpeed.Low, ledEndpoint: true }).speed, UsbSpeed.Low);
    assert.equal(new UsbKeyboard().speed, UsbSpeed.Full, "full speed by default");
  });
});
