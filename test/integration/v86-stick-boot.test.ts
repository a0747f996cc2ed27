/**
 * SeaBIOS boots from the USB stick (issue 12, item 3): v86 gets no kernel, no disk and no CD, only the
 * bundled SeaBIOS and the controller with the bootable stick (guest-image/build.sh: MBR, FAT16,
 * SYSLINUX, the kernel and initramfs) on a root port. SeaBIOS's own UHCI and USB mass-storage drivers
 * read the MBR and SYSLINUX's loader through BOT READ(10)s, SYSLINUX reads the kernel and initramfs
 * through the BIOS disk services, and the Linux that boots (its plan in the stick's syslinux.cfg)
 * finds the same stick with usb-storage, mounts it read-only and reads both files back. One boot.
 */
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { after, describe, it } from "node:test";
import type { GuestEvent } from "../../src/cli/guest-vm/guest-serial.ts";
import { GuestVm } from "../../src/cli/guest-vm/guest-vm.ts";
import { MemoryBlockStore, UsbMassStorage } from "../../src/devices/storage/index.ts";
import { loadBootStick } from "../../src/node/boot-stick.ts";
import { loadGuestImages } from "../../src/node/bundled-guest.ts";

const sha256 = (bytes: ArrayBuffer | Uint8Array): string =>
  createHash("sha256")
    .update(bytes instanceof Uint8Array ? bytes : new Uint8Array(bytes))
    .digest("hex");

describe("SeaBIOS boots Linux from the emulated USB stick in v86", () => {
  const images = loadGuestImages();
  const medium = loadBootStick();
  const before = sha256(medium);
  const stick = new UsbMassStorage({ store: new MemoryBlockStore(medium) });
  let vm: GuestVm | undefined;
  after(async () => {
    await vm?.stop();
  });

  it("loads SYSLINUX, the kernel and the initramfs over USB, and the booted Linux mounts the stick", async () => {
    vm = await GuestVm.boot({ images, cmdline: "", boot: "firmware", usb: [stick, null] });
    // SeaBIOS's USB reads run at the full-speed bulk rate the controller's bandwidth cap allows
    // (~1.2 MB/s for 9 MB), then Linux boots: about a minute on a quiet 2-core machine.
    const done = await vm.waitForEvent((e) => e.event === "done", 300_000);
    const events = vm.serial.events;
    const one = (name: string): GuestEvent => {
      const found = events.find((e) => e.event === name);
      assert.ok(found, `no ${name} event; console tail: ${vm?.serial.consoleLines.slice(-20).join("\n")}`);
      return found;
    };
    // The command line came from the stick's syslinux.cfg, not from v86.
    assert.equal(one("begin").boot, "stick");
    assert.equal(one("modules").failed, 0);
    const device = events.find((e) => e.event === "usb-device" && e.roothub === false);
    assert.ok(device, "Linux did not enumerate the stick");
    assert.deepEqual(
      (device.interfaces as { driver: string }[]).map((i) => i.driver),
      ["usb-storage"],
    );
    const mount = one("mount");
    assert.equal(mount.ok, true);
    assert.equal(mount.fstype, "vfat");
    assert.equal(mount.bytes, medium.length);
    const sums = new Map(events.filter((e) => e.event === "file-sum").map((e) => [e.path, e.sha256]));
    assert.equal(sums.get("bzimage"), sha256(images.kernel), "the kernel read back differs");
    assert.equal(sums.get("initrd.zst"), sha256(images.initrd), "the initramfs read back differs");
    assert.equal(one("umount").ok, true);
    assert.equal(done.ok, true);
    // Everything went through the stick (SeaBIOS's reads, then Linux's: the two files twice over at
    // least), the medium mounted read-only was never written, and no command failed.
    assert.ok(stick.stats.bytesRead >= 2 * (images.kernel.byteLength + images.initrd.byteLength));
    assert.equal(stick.stats.bytesWritten, 0);
    assert.equal(stick.stats.phaseErrors, 0);
    assert.equal(sha256(medium), before);
  });
});
