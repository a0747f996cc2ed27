/**
 * HID state across a snapshot: queued reports not yet polled, LEDs, protocol, idle and held keys
 * survive a restore into a fresh device, alone and behind the controller with the software guest
 * reading them after the restore.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { HidProtocol } from "../../src/devices/hid/hid-constants.ts";
import { type KeyboardLeds, UsbKeyboard } from "../../src/devices/hid/keyboard.ts";
import { UsbMouse } from "../../src/devices/hid/mouse.ts";
import { UsbTablet } from "../../src/devices/hid/tablet.ts";
import { TransferStatus } from "../../src/guest/transfer-result.ts";
import { UhciGuestDriver } from "../../src/guest/uhci-guest-driver.ts";
import type { SavedState } from "../../src/machine/snapshot.ts";
import { makeRig, restore, SwitchableMachine, snapshot } from "./helpers/rig.ts";

const roundTrip = (state: SavedState): unknown => JSON.parse(JSON.stringify(state));

/** SET_REPORT(Output) with the LED byte, and SET_PROTOCOL / SET_IDLE (HID 1.11 7.2). */
const setLeds = (mask: number) => ({
  requestType: 0x21,
  request: 0x09,
  value: 0x0200,
  index: 0,
  data: Uint8Array.of(mask),
});
const setProtocol = (protocol: number) => ({ requestType: 0x21, request: 0x0b, value: protocol, index: 0 });
const setIdle = (duration: number) => ({ requestType: 0x21, request: 0x0a, value: duration << 8, index: 0 });

describe("HID snapshots", () => {
  it("a keyboard's queued reports, LEDs, protocol, idle and held keys survive a restore into a new keyboard", () => {
    const keyboard = new UsbKeyboard();
    const { driver } = bootWith(keyboard);
    const enumerated = driver.enumerate(0);
    assert.ok(enumerated.ok);
    assert.equal(enumerated.device.control(setLeds(0x03)).status, TransferStatus.Ok);
    assert.equal(enumerated.device.control(setProtocol(HidProtocol.Boot)).status, TransferStatus.Ok);
    assert.equal(enumerated.device.control(setIdle(0)).status, TransferStatus.Ok);
    keyboard.keyDown("LeftShift");
    keyboard.typeText("snap");
    keyboard.keyDown("A");
    const pending = keyboard.pendingReports;
    assert.ok(pending > 8);

    const state = roundTrip(keyboard.saveState());
    const seen: KeyboardLeds[] = [];
    const fresh = new UsbKeyboard({ onLeds: (leds) => seen.push(leds) });
    fresh.restoreState(state);
    assert.equal(fresh.pendingReports, pending);
    assert.equal(fresh.leds, 0x03);
    assert.deepEqual(
      seen.map((l) => l.mask),
      [0x03],
    );
    assert.equal(fresh.protocol, HidProtocol.Boot);
    assert.equal(fresh.idleDuration, 0);
    assert.equal(fresh.modifiers, keyboard.modifiers);
    assert.deepEqual(fresh.pressedKeys, keyboard.pressedKeys);
    assert.equal(fresh.address, keyboard.address);
    assert.equal(fresh.configuration, 1);
    assert.equal(fresh.reportsQueued, keyboard.reportsQueued);
    assert.deepEqual(fresh.saveState(), keyboard.saveState());
    // The next key goes on top of the restored state: Shift still held, A still down.
    fresh.press("B");
    keyboard.press("B");
    assert.deepEqual(fresh.saveState(), keyboard.saveState());
  });

  it("a mouse and a tablet keep their buttons, position and queued reports", () => {
    const mouse = new UsbMouse();
    mouse.buttonDown(1);
    mouse.move(300, -20);
    const tablet = new UsbTablet();
    tablet.moveTo(100, 200);
    tablet.buttonDown(2);
    const freshMouse = new UsbMouse();
    freshMouse.restoreState(roundTrip(mouse.saveState()));
    const freshTablet = new UsbTablet();
    freshTablet.restoreState(roundTrip(tablet.saveState()));
    assert.equal(freshMouse.buttons, 1);
    assert.equal(freshMouse.pendingReports, mouse.pendingReports);
    assert.deepEqual(freshMouse.saveState(), mouse.saveState());
    assert.equal(freshTablet.x, 100);
    assert.equal(freshTablet.y, 200);
    assert.equal(freshTablet.buttons, 2);
    assert.deepEqual(freshTablet.saveState(), tablet.saveState());
  });

  it("behind the controller: keys typed before the snapshot reach the guest from the restored machine, then new ones", () => {
    let keyboard = new UsbKeyboard();
    const rig = makeRig([keyboard]);
    const switchable = new SwitchableMachine(rig);
    const driver = UhciGuestDriver.start(switchable.machine, { dmaBase: 0x10000, dmaSize: 0x40000 });
    const enumerated = driver.enumerate(0);
    assert.ok(enumerated.ok);
    const reports: number[][] = [];
    const stream = enumerated.device.openInterruptIn(0x81, { onReport: (r) => reports.push([...r]) });
    driver.run(20);
    keyboard.typeText("ab");
    // Snapshot with the four reports still queued in the device, the interrupt URB waiting in guest RAM.
    assert.equal(keyboard.pendingReports, 4);
    const snap = snapshot(rig);

    keyboard = new UsbKeyboard();
    switchable.switchTo(restore(snap, [keyboard], { clockStartMs: 5000 }));
    assert.equal(keyboard.pendingReports, 4);
    driver.run(20);
    keyboard.typeText("c");
    driver.run(100);
    assert.equal(stream.error, null);
    const key = (usage: number) => [0, 0, usage, 0, 0, 0, 0, 0];
    const up = key(0);
    assert.deepEqual(reports, [key(0x04), up, key(0x05), up, key(0x06), up]);
    assert.deepEqual(driver.anomalies, []);
  });
});

function bootWith(keyboard: UsbKeyboard) {
  const rig = makeRig([keyboard]);
  const switchable = new SwitchableMachine(rig);
  const driver = UhciGuestDriver.start(switchable.machine, { dmaBase: 0x10000, dmaSize: 0x40000 });
  return { rig, driver };
}
