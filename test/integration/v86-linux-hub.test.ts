/**
 * A real Linux guest and the emulated hub: usbcore's hub driver enumerates a 7-port hub on root port 1
 * and five devices behind it — a headset, a keyboard, a tablet, a second microphone and a stick — and
 * binds each one's driver (snd-usb-audio, usbhid, usb-storage); audio streams bit-exact through the hub
 * both ways and typed text arrives intact. This is the main job (`npm start`), one boot.
 * A second boot: a low-speed keyboard and a low-speed mouse behind the hub (the guest's TDs for them
 * carry the LS bit, UHCI 3.2.2; a real hub sends them after a PRE packet, USB 2.0 11.8.4): usbhid binds
 * both, sysfs says 1.5 Mbit/s, typed keys and mouse moves arrive.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import {
  type GuestUsbDevice,
  guestInputEvents,
  guestInputNodes,
  guestUsbDevices,
  inputNodeOf,
} from "../../src/cli/guest-report.ts";
import { GuestVm } from "../../src/cli/guest-vm/guest-vm.ts";
import { compareInput, expectedKeyEvents, meaningfulEvents } from "../../src/cli/input-check.ts";
import { runMainJob } from "../../src/cli/jobs/main-job.ts";
import { UsbKeyboard } from "../../src/devices/hid/keyboard.ts";
import { UsbMouse } from "../../src/devices/hid/mouse.ts";
import { UsbHub } from "../../src/devices/hub/usb-hub.ts";
import { BUNDLED_GUEST_CMDLINE, loadGuestImages } from "../../src/node/bundled-guest.ts";
import { UsbSpeed } from "../../src/usb/constants.ts";

/** evdev: EV_REL, REL_X, REL_Y (linux/input-event-codes.h). */
const EV_REL = 2;
const REL_X = 0;
const REL_Y = 1;

describe("Linux in v86 with devices behind the emulated hub", () => {
  it("binds the hub driver and every device's driver behind it, and streams audio bit-exact", async () => {
    const seconds = 2;
    const report = await runMainJob({
      images: loadGuestImages(),
      text: "hub ok\n",
      sampleRate: 48_000,
      channels: 2,
      seconds,
      timeoutMs: 120_000,
    });
    assert.deepEqual(report.problems, []);
    assert.notEqual(report.hub.path, null, "the guest bound a hub");
    assert.ok(report.hub.drivers.includes("hub"));
    assert.equal(report.hub.ports.length, 5);
    for (const port of report.hub.ports) {
      assert.equal(
        port.path,
        `${report.hub.path}.${port.port}`,
        `${port.device} behind hub port ${port.port}`,
      );
      assert.ok(port.bound, `${port.device}: ${port.drivers.join(", ")}, expected ${port.expectedDriver}`);
    }
    const hubDevice = report.usb.devices.find((d) => d.path === report.hub.path);
    assert.equal(hubDevice?.productId, "0009");
    for (const direction of [report.capture, report.playback]) {
      assert.ok(direction !== null);
      assert.ok(direction.bitExact);
      assert.equal(direction.dropped + direction.inserted + direction.guestXruns, 0);
    }
    assert.ok(report.hid.keyboard.exact);
  });

  it("binds usbhid to a low-speed keyboard and mouse behind the hub; keys and moves arrive", async () => {
    const hub = new UsbHub({ ports: 4 });
    const keyboard = new UsbKeyboard({ speed: UsbSpeed.Low });
    const mouse = new UsbMouse({ speed: UsbSpeed.Low });
    hub.attach(0, keyboard);
    hub.attach(2, mouse);
    const vm = await GuestVm.boot({
      images: loadGuestImages(),
      cmdline: `${BUNDLED_GUEST_CMDLINE} uhci.plan=enum:3,hid:6:2`,
      usb: [hub],
    });
    try {
      await vm.waitForEvent((e) => e.event === "input-open", 90_000);
      const text = "low speed";
      keyboard.typeText(text);
      const moves = [
        [7, -3],
        [-20, 11],
        [100, 0],
      ] as const;
      for (const [dx, dy] of moves) mouse.move(dx, dy);
      await vm.waitForEvent((e) => e.event === "done", 60_000);
      const events = vm.serial.events;
      assert.deepEqual(
        events.filter((e) => e.event === "error"),
        [],
      );

      const devices = guestUsbDevices(events);
      const hubPath = devices.find((d) => d.drivers.includes("hub"))?.path;
      assert.ok(hubPath !== undefined, "the guest bound the hub");
      for (const [port, productId] of [
        [1, "0001"],
        [3, "0002"],
      ] as const) {
        const found: GuestUsbDevice | undefined = devices.find((d) => d.path === `${hubPath}.${port}`);
        assert.ok(found !== undefined, `the guest lists hub port ${port}`);
        assert.equal(found.productId, productId, `hub port ${port}`);
        assert.equal(found.speed, "1.5", `hub port ${port}: low speed`);
        assert.ok(found.drivers.includes("usbhid"), `hub port ${port}: ${found.drivers.join(", ")}`);
      }

      const nodes = guestInputNodes(events);
      const keyboardNode = inputNodeOf(nodes, 0x0001);
      const mouseNode = inputNodeOf(nodes, 0x0002);
      assert.ok(keyboardNode !== undefined && mouseNode !== undefined, JSON.stringify(nodes));
      const keys = compareInput(
        expectedKeyEvents(text),
        meaningfulEvents(guestInputEvents(events, keyboardNode)),
      );
      assert.ok(keys.exact, JSON.stringify(keys.firstDifference));
      // Relative motion may coalesce between polls (the mouse adds deltas up as a real one does), so the
      // sums are what must arrive.
      const rel = guestInputEvents(events, mouseNode).filter((e) => e.type === EV_REL);
      const sum = (code: number) => rel.filter((e) => e.code === code).reduce((a, e) => a + e.value, 0);
      assert.equal(
        sum(REL_X),
        moves.reduce((a, [dx]) => a + dx, 0),
      );
      assert.equal(
        sum(REL_Y),
        moves.reduce((a, [, dy]) => a + dy, 0),
      );
    } finally {
      await vm.stop();
    }
  });
});
