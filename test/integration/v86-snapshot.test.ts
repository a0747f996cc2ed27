/**
 * A v86 round trip: Linux boots with the emulated keyboard, the guest's input node is open and has
 * received keys; v86's save_state takes the machine (the controller and the keyboard ride along in it);
 * a second, new emulator starts from that state with a new keyboard on the same port; keys typed on the
 * new keyboard reach the same guest process, in order, with nothing lost. The guest never notices.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { guestInputEvents, guestInputNodes, inputNodeOf } from "../../src/cli/guest-report.ts";
import { GuestVm } from "../../src/cli/guest-vm/guest-vm.ts";
import { compareInput, expectedKeyEvents, meaningfulEvents } from "../../src/cli/input-check.ts";
import { PortSc } from "../../src/controller/uhci/registers.ts";
import { UsbKeyboard } from "../../src/devices/hid/keyboard.ts";
import { BUNDLED_GUEST_CMDLINE, loadGuestImages } from "../../src/node/bundled-guest.ts";

const PRODUCT = 0x0001;
/** Guest seconds the guest reads its input node: enough for the save, the second start and the keys. */
const LISTEN_SECONDS = 90;
const TIMEOUT_MS = 90_000;

async function until(condition: () => boolean, timeoutMs: number): Promise<boolean> {
  const end = performance.now() + timeoutMs;
  while (performance.now() < end) {
    if (condition()) return true;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  return condition();
}

describe("v86 save_state / restore_state with the controller attached", () => {
  it("restores a Linux guest into a new emulator, where the keyboard keeps working", async () => {
    const images = loadGuestImages();
    const cmdline = `${BUNDLED_GUEST_CMDLINE} uhci.plan=enum:1,hid:${LISTEN_SECONDS}:1`;
    const keyboardA = new UsbKeyboard({ productId: PRODUCT });
    const vmA = await GuestVm.boot({ images, cmdline, usb: [keyboardA] });
    let vmB: GuestVm | null = null;
    try {
      await vmA.waitForEvent((e) => e.event === "input-open", TIMEOUT_MS);
      const node = inputNodeOf(guestInputNodes(vmA.serial.events), PRODUCT);
      assert.ok(node !== undefined, "the guest has an input node for the keyboard");
      const keys = (vm: GuestVm) => meaningfulEvents(guestInputEvents(vm.serial.events, node));

      keyboardA.typeText("before ");
      const before = expectedKeyEvents("before ");
      assert.ok(await until(() => keys(vmA).length >= before.length, 20_000), "keys reach the first guest");
      assert.ok(compareInput(before, keys(vmA)).exact);

      const ioBase = vmA.uhci!.currentIoBase();
      await vmA.pause();
      const state = await vmA.saveState();
      const savedController = vmA.uhci!.controller.saveState();
      await vmA.stop();

      const keyboardB = new UsbKeyboard({ productId: PRODUCT });
      vmB = await GuestVm.boot({ images, cmdline, usb: [keyboardB], initialState: state });
      const uhci = vmB.uhci!;
      // The PCI BAR came back where the guest's BIOS put it, and the keyboard as the guest configured it.
      assert.equal(uhci.currentIoBase(), ioBase);
      assert.equal(keyboardB.configuration, 1);
      assert.equal(keyboardB.address, keyboardA.address);
      const portsc = uhci.controller.ioRead(0x10, 2);
      assert.equal(portsc & (PortSc.CCS | PortSc.PE | PortSc.CSC), PortSc.CCS | PortSc.PE, "no reconnect");
      assert.deepEqual(
        (uhci.controller.saveState()["registers"] as { FRBASEADD: number }).FRBASEADD,
        (savedController["registers"] as { FRBASEADD: number }).FRBASEADD,
      );

      keyboardB.typeText("after!");
      const after = expectedKeyEvents("after!");
      const vm = vmB;
      assert.ok(await until(() => keys(vm).length >= after.length, 30_000), "keys reach the restored guest");
      const comparison = compareInput(after, keys(vm));
      assert.ok(comparison.exact, JSON.stringify(comparison.firstDifference));
      assert.equal(
        vm.serial.events.filter((e) => e.event === "error").length,
        0,
        JSON.stringify(vm.serial.consoleLines.slice(-10)),
      );
    } finally {
      await vmA.stop();
      await vmB?.stop();
    }
  });
});
