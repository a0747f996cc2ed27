import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { PacketHost } from "../../usb/testing/packet-host.ts";
import { HidReportType } from "./hid-constants.ts";
import { MouseButton } from "./pointer-device.ts";
import { UsbTablet } from "./tablet.ts";
import { hidRequests as req } from "./testing/requests.ts";

function ready() {
  const device = new UsbTablet();
  const host = new PacketHost(device);
  host.enumerate();
  return { device, host };
}

const xy = (r: readonly number[]): [number, number] => [r[1]! | (r[2]! << 8), r[3]! | (r[4]! << 8)];

describe("UsbTablet", () => {
  it("reports absolute coordinates little-endian in 0..32767", () => {
    const { device, host } = ready();
    device.moveTo(32767, 1);
    assert.deepEqual(host.drain(), [[0, 0xff, 0x7f, 0x01, 0x00, 0]]);
    device.moveTo(0x1234, 0x7f00);
    assert.deepEqual(host.drain(), [[0, 0x34, 0x12, 0x00, 0x7f, 0]]);
    assert.deepEqual([device.x, device.y], [0x1234, 0x7f00]);
  });

  it("maps fractions of the screen onto the coordinate range", () => {
    const { device, host } = ready();
    device.moveToFraction(0.5, 1);
    assert.deepEqual(host.drain().map(xy), [[16384, 32767]]);
    device.moveToFraction(0, 0.25);
    assert.deepEqual(host.drain().map(xy), [[0, 8192]]);
  });

  it("refuses points off the screen and sends nothing for the same point", () => {
    const { device } = ready();
    assert.throws(() => device.moveTo(32768, 0), RangeError);
    assert.throws(() => device.moveTo(0, -1), RangeError);
    assert.throws(() => device.moveToFraction(1.01, 0), RangeError);
    assert.throws(() => device.moveToFraction(Number.NaN, 0), RangeError);
    device.moveTo(0, 0);
    assert.equal(device.reportsQueued, 0, "the pointer starts at (0, 0)");
  });

  it("keeps the position in button and wheel reports; GET_REPORT(Input) reads the current state", () => {
    const { device, host } = ready();
    device.moveTo(100, 200);
    device.buttonDown(MouseButton.Left);
    device.wheel(2);
    device.buttonUp(MouseButton.Left);
    const reports = host.drain();
    assert.deepEqual(reports.slice(1), [
      [1, 100, 0, 200, 0, 0],
      [1, 100, 0, 200, 0, 2],
      [0, 100, 0, 200, 0, 0],
    ]);
    assert.deepEqual(host.control(req.getReport(HidReportType.Input, 0, 8)).data, [0, 100, 0, 200, 0, 0]);
  });
});
