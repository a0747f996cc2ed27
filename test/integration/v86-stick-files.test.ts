/**
 * Files in and out of a Linux guest through the emulated USB stick (issue 12, item 3): the host puts a
 * file on a FAT stick (FatFs), Linux in v86 (uhci-hcd, usb-storage, sd, vfat) mounts it, reads the file
 * (sha256 equal), copies it and writes one of its own, syncs and unmounts; the host then finds both
 * files in the image, byte for byte. One boot.
 */
import assert from "node:assert/strict";
import { after, describe, it } from "node:test";
import { GuestVm } from "../../src/cli/guest-vm/guest-vm.ts";
import { prepareStickRoundTrip } from "../../src/cli/jobs/stick-round-trip.ts";
import { UsbMassStorage } from "../../src/devices/storage/index.ts";
import { BUNDLED_GUEST_CMDLINE, loadGuestImages } from "../../src/node/bundled-guest.ts";

describe("Linux in v86 reads and writes files on the emulated USB stick", () => {
  let vm: GuestVm | undefined;
  after(async () => {
    await vm?.stop();
  });

  it("reads the host's file sha256-equal, and the host finds the guest's files byte for byte", async () => {
    const trip = await prepareStickRoundTrip({ fileBytes: 1024 * 1024 + 123, guestKiB: 256 });
    const stick = new UsbMassStorage({ store: trip.store });
    vm = await GuestVm.boot({
      images: loadGuestImages(),
      cmdline: `${BUNDLED_GUEST_CMDLINE} uhci.plan=enum:1,${trip.planItems}`,
      usb: [stick, null],
    });
    const done = await vm.waitForEvent((e) => e.event === "done", 240_000);
    const report = await trip.check(vm.serial.events);
    assert.deepEqual(report.problems, [], vm.serial.consoleLines.slice(-20).join("\n"));
    assert.ok(report.ok && report.mounted && report.unmounted);
    assert.equal(report.hostToGuest.guestSha256, report.hostToGuest.sha256);
    assert.equal(report.guestCopy.bytes, 1024 * 1024 + 123);
    assert.equal(report.guestToHost.bytes, 256 * 1024);
    assert.equal(done.ok, true);
    // The guest's writes went through the device (copy + random file + FAT and directory updates).
    assert.ok(stick.stats.bytesWritten >= 1024 * 1024 + 256 * 1024);
    assert.equal(stick.stats.phaseErrors, 0);
  });
});
