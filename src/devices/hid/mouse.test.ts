import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { PacketHost } from "../../usb/testing/packet-host.ts";
import { UsbMouse } from "./mouse.ts";
import { MouseButton } from "./pointer-device.ts";

function ready() {
  const device = new UsbMouse();
  const host = new PacketHost(device);
  host.enumerate();
  return { device, host };
}

const signed = (byte: number): number => (byte << 24) >> 24;

describe("UsbMouse", () => {
  it("reports a small move as one report of buttons, dx, dy, wheel", () => {
    const { device, host } = ready();
    device.move(-1, 127);
    assert.deepEqual(host.drain(), [[0, 0xff, 0x7f, 0]]);
  });

  it("splits a large move into reports within ±127 that sum exactly, spread along the line", () => {
    const { device, host } = ready();
    device.move(1000, -301);
    const reports = host.drain();
    assert.equal(reports.length, 8, "ceil(1000 / 127) reports");
    let x = 0;
    let y = 0;
    for (const r of reports) {
      const dx = signed(r[1]!);
      const dy = signed(r[2]!);
      assert.ok(Math.abs(dx) <= 127 && Math.abs(dy) <= 127);
      // Evenly spread: every step moves along the diagonal, none is a leftover.
      assert.ok(dx >= 124 && dy <= -37 && dy >= -38, `step ${dx},${dy}`);
      x += dx;
      y += dy;
    }
    assert.deepEqual([x, y], [1000, -301]);
  });

  it("sends nothing for a zero move, refuses fractions", () => {
    const { device } = ready();
    device.move(0, 0);
    assert.equal(device.reportsQueued, 0);
    assert.throws(() => device.move(0.5, 0), RangeError);
    assert.throws(() => device.move(Number.NaN, 0), RangeError);
  });

  it("splits the wheel the same way, holding the buttons in every report", () => {
    const { device, host } = ready();
    device.buttonDown(MouseButton.Middle);
    host.drain();
    device.wheel(-300);
    const reports = host.drain();
    assert.equal(reports.length, 3);
    assert.equal(
      reports.reduce((sum, r) => sum + signed(r[3]!), 0),
      -300,
    );
    for (const r of reports) assert.deepEqual([r[0], r[1], r[2]], [MouseButton.Middle, 0, 0]);
  });

  it("reports button changes, a click as two reports, combinations in one", () => {
    const { device, host } = ready();
    device.click(MouseButton.Left);
    device.buttonDown(MouseButton.Right | MouseButton.Back);
    device.buttonDown(MouseButton.Right);
    device.buttonUp(MouseButton.Forward);
    device.move(3, 4);
    device.buttonUp(MouseButton.Right | MouseButton.Back);
    assert.deepEqual(host.drain(), [
      [0x01, 0, 0, 0],
      [0x00, 0, 0, 0],
      [0x0a, 0, 0, 0],
      [0x0a, 3, 4, 0],
      [0x00, 0, 0, 0],
    ]);
    assert.equal(device.buttons, 0);
    assert.throws(() => device.buttonDown(0x20), RangeError);
    assert.throws(() => device.setButtons(-1), RangeError);
  });
});
