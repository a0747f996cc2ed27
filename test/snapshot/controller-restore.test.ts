/**
 * Controller snapshots: refused states change nothing; passthrough (async) devices come back as a
 * surprise removal and re-attach the guest re-enumerates; ports whose device changed show it.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { PortSc, REG, UsbSts } from "../../src/controller/uhci/registers.ts";
import { AsyncHostDevice } from "../../src/devices/async-host/async-host-device.ts";
import { AsyncIsoWrapper } from "../../src/devices/async-host/async-iso-wrapper.ts";
import { CounterSource } from "../../src/devices/async-host/counter-source.ts";
import { AsyncHostEndpoint, AsyncHostInterface } from "../../src/devices/async-host/default-model.ts";
import { UsbMicrophone } from "../../src/devices/audio/microphone.ts";
import { UsbKeyboard } from "../../src/devices/hid/keyboard.ts";
import { UsbMouse } from "../../src/devices/hid/mouse.ts";
import { TransferStatus } from "../../src/guest/transfer-result.ts";
import { UhciGuestDriver } from "../../src/guest/uhci-guest-driver.ts";
import { type JsonValue, type SavedState, SnapshotError } from "../../src/machine/snapshot.ts";
import { makeRig, type Rig, restore, SwitchableMachine, snapshot } from "./helpers/rig.ts";

type Json = { [key: string]: JsonValue };
const clone = (state: SavedState): Json => JSON.parse(JSON.stringify(state)) as Json;
const portsc = (rig: Rig, port: number) => rig.controller.ioRead(0x10 + 2 * port, 2);

/** A running controller with a keyboard (enumerated, reports queued) on port 1. */
function busyMachine() {
  const keyboard = new UsbKeyboard();
  const rig = makeRig([keyboard, null]);
  const driver = UhciGuestDriver.start(new SwitchableMachine(rig).machine, {
    dmaBase: 0x10000,
    dmaSize: 0x40000,
  });
  const enumerated = driver.enumerate(0);
  assert.ok(enumerated.ok);
  keyboard.typeText("xyz");
  driver.run(3);
  return { rig, keyboard, driver };
}

describe("controller snapshots", () => {
  it("round-trips through JSON: a restored controller saves the same state", () => {
    const { rig } = busyMachine();
    const snap = snapshot(rig);
    const restored = restore(snap, [new UsbKeyboard(), null], { clockStartMs: 1e6 });
    assert.deepEqual(restored.controller.saveState(), JSON.parse(snap.json));
    assert.equal(restored.irq.level, rig.irq.level);
    assert.equal(restored.controller.framesRun, rig.controller.framesRun);
    // The grid phase: the next frame is due as far from the new "now" as it was from the old one.
    assert.equal(
      restored.clock.nextDueMs()! - restored.clock.now(),
      rig.clock.nextDueMs()! - rig.clock.now(),
    );
  });

  it("refuses another version, naming both, and changes nothing", () => {
    const { rig, keyboard } = busyMachine();
    const before = rig.controller.saveState();
    const state = clone(before);
    state["version"] = 2;
    state["registers"] = { ...(state["registers"] as Json), FRNUM: 0 };
    assert.throws(
      () => rig.controller.restoreState(state),
      (error: unknown) =>
        error instanceof SnapshotError &&
        /uhci-controller/.test(error.message) &&
        /version 2/.test(error.message) &&
        /version 1/.test(error.message),
    );
    assert.deepEqual(rig.controller.saveState(), before);
    assert.equal(keyboard.pendingReports, 3 * 2);
  });

  it("refuses another kind", () => {
    const { rig } = busyMachine();
    const before = rig.controller.saveState();
    assert.throws(
      () => rig.controller.restoreState({ ...clone(before), kind: "ohci-controller" }),
      /cannot restore uhci-controller from a state of kind "ohci-controller"/,
    );
    assert.throws(() => rig.controller.restoreState("nonsense"), SnapshotError);
    assert.deepEqual(rig.controller.saveState(), before);
  });

  it("refuses a device state of another version, validating everything before applying anything", () => {
    const { rig, keyboard } = busyMachine();
    const before = rig.controller.saveState();
    const keyboardBefore = keyboard.saveState();
    const state = clone(before);
    // The controller's part is valid and different (FRNUM, USBINTR); the keyboard's HID layer is v9.
    state["registers"] = { ...(state["registers"] as Json), FRNUM: 7, USBINTR: 0 };
    const port = (state["ports"] as Json[])[0]!;
    const device = port["device"] as Json;
    const kbd = device["state"] as Json;
    (kbd["hid"] as Json)["version"] = 9;
    (kbd["hid"] as Json)["reports"] = "";
    assert.throws(
      () => rig.controller.restoreState(state),
      (error: unknown) =>
        error instanceof SnapshotError &&
        /port 1/.test(error.message) &&
        /hid-device/.test(error.message) &&
        /version 9/.test(error.message) &&
        /version 1/.test(error.message),
    );
    assert.deepEqual(rig.controller.saveState(), before);
    assert.deepEqual(keyboard.saveState(), keyboardBefore);
  });

  it("refuses bad fields with their path, and a state for another port count", () => {
    const { rig } = busyMachine();
    const before = rig.controller.saveState();
    const bad = clone(before);
    bad["registers"] = { ...(bad["registers"] as Json), USBSTS: 0x40 };
    assert.throws(
      () => rig.controller.restoreState(bad),
      /uhci-controller\.registers\.USBSTS must be an integer in 0\.\.63/,
    );
    const wide = clone(before);
    wide["ports"] = [...(wide["ports"] as JsonValue[]), { enabled: false, suspended: false, device: null }];
    assert.throws(() => rig.controller.restoreState(wide), /holds 3 ports; this controller has 2/);
    assert.deepEqual(rig.controller.saveState(), before);
  });

  it("an async-host (passthrough) device comes back as a disconnect and a connect; the guest re-enumerates it", () => {
    const makeDevices = (clock: Rig["clock"]) => [
      new AsyncHostDevice({ clock, sources: { 1: new CounterSource(192) }, timing: { isoLatencyMs: 0.4 } }),
      new UsbKeyboard(),
    ];
    const rig = makeRig(makeDevices);
    const switchable = new SwitchableMachine(rig);
    const driver = UhciGuestDriver.start(switchable.machine, { dmaBase: 0x10000, dmaSize: 0x200000 });
    const asyncDev = driver.enumerate(0);
    const kbd = driver.enumerate(1);
    assert.ok(asyncDev.ok && kbd.ok);
    assert.equal(asyncDev.device.setInterface(AsyncHostInterface.Iso, 1).status, TransferStatus.Ok);
    let packets = 0;
    const stream = asyncDev.device.openIsoStream(AsyncHostEndpoint.IsoIn, { onData: () => packets++ });
    driver.run(40);
    assert.ok(packets > 0);
    const saved = rig.controller.saveState();
    assert.ok((saved["asyncRequestsDropped"] as number) > 0, "requests were in flight at the snapshot");
    const savedPort = (saved["ports"] as Json[])[0]!;
    assert.deepEqual((savedPort["device"] as Json)["snapshotMode"], "reattach");
    assert.equal((savedPort["device"] as Json)["state"], null);

    const snap = snapshot(rig);
    const restored = restore(snap, makeDevices, { clockStartMs: 9000 });
    const [fresh] = restored.controller.ports.map((p) => p.device) as [AsyncHostDevice];
    const status = portsc(restored, 0);
    assert.equal(status & PortSc.CCS, PortSc.CCS, "still connected");
    assert.equal(status & PortSc.CSC, PortSc.CSC, "with a connect change");
    assert.equal(status & PortSc.PEC, PortSc.PEC, "the enabled port was disabled by the hardware");
    assert.equal(status & PortSc.PE, 0, "and is disabled until the guest resets it");
    assert.equal(fresh.address, 0, "the device is reset");
    assert.equal(fresh.inFlight, 0);
    // The keyboard next to it was restored in place: enabled, no change bits.
    assert.equal(portsc(restored, 1) & (PortSc.PE | PortSc.CSC | PortSc.PEC), PortSc.PE);

    switchable.switchTo(restored);
    stream.close();
    driver.run(5);
    const again = driver.enumerate(0);
    assert.ok(again.ok, again.ok ? "" : `${again.stage}: ${again.error}`);
    assert.notEqual(fresh.address, 0);
    assert.equal(again.device.setInterface(AsyncHostInterface.Iso, 1).status, TransferStatus.Ok);
    let after = 0;
    const restarted = again.device.openIsoStream(AsyncHostEndpoint.IsoIn, { onData: () => after++ });
    driver.run(40);
    assert.ok(after > 0, "the re-enumerated device streams");
    restarted.close();
  });

  it("restoring in place over a live async device cancels its requests in flight, then re-attaches it", () => {
    let device: AsyncHostDevice | null = null;
    const rig = makeRig((clock) => {
      device = new AsyncHostDevice({ clock });
      return [device];
    });
    const dev = device as unknown as AsyncHostDevice;
    const driver = UhciGuestDriver.start(new SwitchableMachine(rig).machine, {
      dmaBase: 0x10000,
      dmaSize: 0x200000,
    });
    const enumerated = driver.enumerate(0);
    assert.ok(enumerated.ok);
    const state = rig.controller.saveState();
    assert.equal(enumerated.device.setInterface(AsyncHostInterface.Iso, 1).status, TransferStatus.Ok);
    enumerated.device.openIsoStream(AsyncHostEndpoint.IsoIn);
    driver.run(15);
    assert.ok(dev.inFlight > 0);
    const cancelledBefore = dev.stats.cancelled;
    rig.controller.restoreState(state);
    assert.equal(dev.inFlight, 0);
    assert.ok(dev.stats.cancelled > cancelledBefore);
    assert.equal(rig.controller.asyncs.size, 0);
    assert.equal(portsc(rig, 0) & (PortSc.CCS | PortSc.CSC | PortSc.PE), PortSc.CCS | PortSc.CSC);
    assert.equal(dev.address, 0);
  });

  it("an AsyncIsoWrapper is re-attached too, and its inner device reset", () => {
    const rig = makeRig((clock) => [new AsyncIsoWrapper(new UsbMicrophone(), { clock })]);
    const driver = UhciGuestDriver.start(new SwitchableMachine(rig).machine, {
      dmaBase: 0x10000,
      dmaSize: 0x200000,
    });
    assert.ok(driver.enumerate(0).ok);
    const snap = snapshot(rig);
    let inner: UsbMicrophone | null = null;
    const restored = restore(snap, (clock) => {
      inner = new UsbMicrophone();
      return [new AsyncIsoWrapper(inner, { clock })];
    });
    assert.equal(portsc(restored, 0) & (PortSc.CCS | PortSc.CSC | PortSc.PE), PortSc.CCS | PortSc.CSC);
    assert.equal((inner as unknown as UsbMicrophone).address, 0);
  });

  it("a port whose device is gone shows a disconnect; another kind of device shows a new connect", () => {
    const { rig } = busyMachine();
    const snap = snapshot(rig);
    const gone = restore(snap, [null, null]);
    const status = portsc(gone, 0);
    assert.equal(status & (PortSc.CCS | PortSc.PE), 0);
    assert.equal(status & (PortSc.CSC | PortSc.PEC), PortSc.CSC | PortSc.PEC);

    const mouse = new UsbMouse();
    const other = restore(snap, [mouse, new UsbKeyboard()]);
    assert.equal(portsc(other, 0) & (PortSc.CCS | PortSc.CSC | PortSc.PE), PortSc.CCS | PortSc.CSC);
    assert.equal(mouse.address, 0);
    // Port 2 was empty and now has a keyboard: a new connect too.
    assert.equal(portsc(other, 1) & (PortSc.CCS | PortSc.CSC | PortSc.PE), PortSc.CCS | PortSc.CSC);
  });

  it("a halted controller restores halted, with its frame clock stopped", () => {
    const rig = makeRig([new UsbKeyboard()]);
    const before = rig.controller.saveState();
    const restored = restore(snapshot(rig), [new UsbKeyboard()]);
    assert.equal(restored.controller.registers.get(REG.USBSTS) & UsbSts.HCHALTED, UsbSts.HCHALTED);
    assert.equal(restored.clock.nextDueMs(), undefined);
    assert.deepEqual(restored.controller.saveState(), JSON.parse(JSON.stringify(before)));
  });
});
