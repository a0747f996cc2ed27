/**
 * A real Linux guest and the emulated hub: usbcore's hub driver enumerates a 7-port hub on root port 1
 * and five devices behind it — a headset, a keyboard, a tablet, a second microphone and a stick — and
 * binds each one's driver (snd-usb-audio, usbhid, usb-storage); audio streams bit-exact through the hub
 * both ways and typed text arrives intact. This is the main job (`npm start`), one boot.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { runMainJob } from "../../src/cli/jobs/main-job.ts";
import { loadGuestImages } from "../../src/node/bundled-guest.ts";

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
});
