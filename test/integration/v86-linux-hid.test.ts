/**
 * A real Linux guest (Debian 6.1 kernel, uhci-hcd, usbhid, hid-generic, evdev) boots in v86 with the
 * controller at 00:01.2, a keyboard and a tablet: both enumerate with their drivers bound, and the text
 * typed through the emulated keyboard arrives intact, in order, as evdev events (as do tablet moves and
 * clicks). One boot, under about a minute.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { runHidJob } from "../../src/cli/jobs/hid-job.ts";
import { loadGuestImages } from "../../src/node/bundled-guest.ts";

describe("Linux in v86 with the emulated UHCI controller", () => {
  it("boots, binds usbhid/hid-generic to a keyboard and a tablet, and receives typed text intact", async () => {
    const text = "The quick brown fox, 0123456789; jumps over the lazy dog!?\n";
    const report = await runHidJob({ images: loadGuestImages(), text, timeoutMs: 90_000 });
    assert.deepEqual(report.problems, []);
    assert.equal(report.usb.devices.length, 2);
    for (const device of report.usb.devices) {
      assert.equal(device.vendorId, "1209");
      assert.equal(device.speed, "12");
      assert.ok(device.drivers.includes("usbhid"), `${device.product}: ${device.drivers.join(",")}`);
      assert.ok(device.drivers.includes("hid-generic"), `${device.product}: ${device.drivers.join(",")}`);
    }
    assert.equal(report.hid.keyboard.sent, report.hid.keyboard.received);
    assert.equal(report.hid.keyboard.lost, 0);
    assert.ok(report.hid.keyboard.exact, JSON.stringify(report.hid.keyboard.firstDifference));
    assert.ok(report.hid.tablet.exact, JSON.stringify(report.hid.tablet.firstDifference));
    assert.ok(report.guest.bootSeconds > 0 && report.guest.bootSeconds < 60);
  });
});
