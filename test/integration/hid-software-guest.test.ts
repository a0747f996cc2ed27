/**
 * The HID devices behind the real controller, driven by the software guest driver the way Linux's
 * uhci-hcd + usbhid drive them: enumeration on either root port, descriptors read over the bus, and
 * bursts of 1,000 input events that must all arrive, in order.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { HidDevice } from "../../src/devices/hid/hid-device.ts";
import { UsbKeyboard } from "../../src/devices/hid/keyboard.ts";
import { UsbMouse } from "../../src/devices/hid/mouse.ts";
import { UsbTablet } from "../../src/devices/hid/tablet.ts";
import { bootGuest } from "../../src/guest/testing/boot.ts";
import { TransferStatus } from "../../src/guest/transfer-result.ts";

const HID_CLASS = 3;
const makers = {
  keyboard: { make: () => new UsbKeyboard(), product: "USB Keyboard", productId: 1 },
  mouse: { make: () => new UsbMouse(), product: "USB Mouse", productId: 2 },
  tablet: { make: () => new UsbTablet(), product: "USB Tablet", productId: 3 },
} as const;

/** GET_DESCRIPTOR(Report) addressed to interface 0 (HID 1.11 7.1.1). */
const getReportDescriptor = (length: number) => ({
  requestType: 0x81,
  request: 6,
  value: 0x2200,
  index: 0,
  length,
});

describe("HID devices behind UHCI, driven by the software guest", () => {
  for (const [kind, { make, product, productId }] of Object.entries(makers)) {
    for (const port of [0, 1]) {
      it(`enumerates a ${kind} on port ${port + 1} and reads its descriptors over the bus`, () => {
        const device: HidDevice = make();
        const devices = port === 0 ? [device] : [null, device];
        const { driver } = bootGuest(devices);
        const result = driver.enumerate(port);
        assert.ok(result.ok, result.ok ? "" : `${result.stage}: ${result.error}`);
        const info = result.device.info;
        assert.equal(info.descriptor.vendorId, 0x1209);
        assert.equal(info.descriptor.productId, productId);
        assert.equal(info.product, product);
        const alt = info.configuration.interfaces[0]?.alternates[0];
        assert.equal(alt?.interfaceClass, HID_CLASS);
        const report = result.device.control(getReportDescriptor(device.reportDescriptor.length));
        assert.equal(report.status, TransferStatus.Ok);
        assert.deepEqual([...report.data], [...device.reportDescriptor]);
        assert.deepEqual(driver.anomalies, []);
      });
    }
  }

  it("runs a keyboard and a mouse on both ports at once, then a tablet replugged in the mouse's place", () => {
    const keyboard = new UsbKeyboard();
    const mouse = new UsbMouse();
    const { driver, controller } = bootGuest([keyboard, mouse]);
    const kbd = driver.enumerate(0);
    const mse = driver.enumerate(1);
    assert.ok(kbd.ok && mse.ok);
    const keys = kbd.device.openInterruptIn(0x81);
    const moves = mse.device.openInterruptIn(0x81);
    keyboard.press("A");
    mouse.move(5, -3);
    assert.deepEqual(
      [...keys.waitForReports(2)].map((r) => [...r]),
      [
        [0, 0, 0x04, 0, 0, 0, 0, 0],
        [0, 0, 0, 0, 0, 0, 0, 0],
      ],
    );
    assert.deepEqual([...(moves.waitForReports(1)[0] ?? [])], [0, 5, 0xfd, 0]);

    moves.close();
    controller.detach(1);
    driver.run(20);
    const tablet = new UsbTablet();
    controller.attach(1, tablet);
    const tab = driver.enumerate(1);
    assert.ok(tab.ok, tab.ok ? "" : `${tab.stage}: ${tab.error}`);
    const points = tab.device.openInterruptIn(0x81);
    tablet.moveTo(0x1234, 0x7fff);
    assert.deepEqual([...(points.waitForReports(1)[0] ?? [])], [0, 0x34, 0x12, 0xff, 0x7f, 0]);
    assert.deepEqual(driver.anomalies, []);
  });

  it("delivers every report of a 1,000-event keyboard burst, in order", () => {
    const keyboard = new UsbKeyboard();
    const { driver } = bootGuest([keyboard]);
    const result = driver.enumerate(0);
    assert.ok(result.ok);
    const stream = result.device.openInterruptIn(0x81);
    const expected: number[][] = [];
    for (let i = 0; i < 500; i++) {
      const usage = 0x04 + (i % 26); // A…Z
      keyboard.keyDown(usage);
      keyboard.keyUp(usage);
      expected.push([0, 0, usage, 0, 0, 0, 0, 0], [0, 0, 0, 0, 0, 0, 0, 0]);
    }
    const received = stream.waitForReports(1000, 20_000).map((r) => [...r]);
    assert.equal(received.length, 1000);
    assert.deepEqual(received, expected);
    assert.equal(keyboard.reportsSent, 1000);
    assert.equal(keyboard.pendingReports, 0);
  });

  it("a 1,000-event mouse burst and a 1,000-event tablet burst arrive coalesced, as from real devices", () => {
    const mouse = new UsbMouse();
    const tablet = new UsbTablet();
    const { driver } = bootGuest([mouse, tablet]);
    const m = driver.enumerate(0);
    const t = driver.enumerate(1);
    assert.ok(m.ok && t.ok);
    const moves = m.device.openInterruptIn(0x81);
    const points = t.device.openInterruptIn(0x81);
    let sumX = 0;
    for (let i = 0; i < 1000; i++) {
      const dx = (i % 100) - 50;
      mouse.move(dx, 1);
      sumX += dx;
      const x = i * 32;
      tablet.moveTo(x, 32767 - x);
    }
    // Given between two polls, the moves add up in the waiting report (split at ±127) and the tablet's
    // waiting position is replaced: far fewer reports than moves, and nothing is lost.
    for (let ms = 0; mouse.pendingReports + tablet.pendingReports > 0 && ms < 20_000; ms += 50)
      driver.run(50);
    driver.run(50);
    const gotMoves = moves.take().map((r) => [...r]);
    const gotPoints = points.take().map((r) => [...r]);
    const signed = (b: number) => (b << 24) >> 24;
    assert.ok(
      gotMoves.length >= Math.ceil(1000 / 127) && gotMoves.length < 250,
      `${gotMoves.length} reports`,
    );
    // A new report starts only when the waiting one had a field full (at ±127).
    for (const r of gotMoves.slice(0, -1)) {
      assert.ok(Math.abs(signed(r[1]!)) === 127 || Math.abs(signed(r[2]!)) === 127, `split early: ${r}`);
    }
    assert.equal(
      gotMoves.reduce((sum, r) => sum + signed(r[1]!), 0),
      sumX,
    );
    assert.equal(
      gotMoves.reduce((sum, r) => sum + signed(r[2]!), 0),
      1000,
    );
    const lastX = 999 * 32;
    const lastY = 32767 - lastX;
    assert.deepEqual(gotPoints, [[0, lastX & 0xff, lastX >> 8, lastY & 0xff, lastY >> 8, 0]]);
    assert.deepEqual(driver.anomalies, []);
  });
});
