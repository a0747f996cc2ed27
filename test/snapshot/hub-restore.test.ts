/**
 * A hub and everything behind it across a snapshot (docs/snapshots.md): the controller saves the hub,
 * the hub saves its ports and every device behind them; a fresh machine with the same devices behind a
 * fresh hub restores it, mid-enumeration and mid-stream, and the software guest carries on.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { UsbMicrophone } from "../../src/devices/audio/microphone.ts";
import { TestSignalSource } from "../../src/devices/audio/sources/test-signal-source.ts";
import { UsbKeyboard } from "../../src/devices/hid/keyboard.ts";
import { UsbMouse } from "../../src/devices/hid/mouse.ts";
import { UsbHub } from "../../src/devices/hub/usb-hub.ts";
import type { GuestHub } from "../../src/guest/guest-hub.ts";
import { HubPortBits } from "../../src/guest/guest-hub.ts";
import { setSamplingFrequency } from "../../src/guest/iso-audio-requests.ts";
import { TransferStatus } from "../../src/guest/transfer-result.ts";
import { UhciGuestDriver } from "../../src/guest/uhci-guest-driver.ts";
import { SnapshotError } from "../../src/machine/snapshot.ts";
import { streamingAlternate } from "../../src/streaming/uac1-alternate.ts";
import { UsbSpeed } from "../../src/usb/constants.ts";
import { makeRig, restore, SwitchableMachine, snapshot } from "./helpers/rig.ts";

const GET_DEVICE_DESCRIPTOR = { requestType: 0x80, request: 6, value: 0x0100, index: 0, length: 18 } as const;

function boot(hub: UsbHub) {
  const rig = makeRig([hub]);
  const switchable = new SwitchableMachine(rig);
  const driver = UhciGuestDriver.start(switchable.machine, {
    dmaBase: 0x10000,
    dmaSize: 0x200000,
    interruptChecksPerMs: 8,
  });
  const result = driver.enumerate(0);
  assert.ok(result.ok, result.ok ? "" : result.error);
  const opened = driver.openHub(result.device);
  assert.ok(opened.ok);
  assert.equal(opened.hub.powerOn(), TransferStatus.Ok);
  return { rig, switchable, driver, gh: opened.hub };
}

function enumerateBehind(gh: GuestHub, port: number) {
  const result = gh.enumerate(port);
  assert.ok(result.ok, result.ok ? "" : `${result.stage}: ${result.error}`);
  return result.device;
}

/** A capture from a microphone behind the hub, with a keyboard typing beside it; optionally snapshotted. */
function captureBehindHub(totalMs: number, snapshotAtMs: number | null) {
  const build = () => {
    const hub = new UsbHub({ ports: 4 });
    const mic = new UsbMicrophone({ source: new TestSignalSource() });
    const keyboard = new UsbKeyboard();
    hub.attach(0, mic);
    hub.attach(2, keyboard);
    return { hub, mic, keyboard };
  };
  let built = build();
  const { rig, switchable, driver, gh } = boot(built.hub);
  const micDevice = enumerateBehind(gh, 1);
  const kbDevice = enumerateBehind(gh, 3);
  const alt = streamingAlternate(micDevice.info.configuration, "capture", 1, 48_000);
  assert.equal(micDevice.setInterface(alt.interfaceNumber, alt.alternate).status, TransferStatus.Ok);
  assert.equal(micDevice.control(setSamplingFrequency(alt.endpoint, 48_000)).status, TransferStatus.Ok);
  const received: number[] = [];
  const stream = micDevice.openIsoStream(alt.endpoint, {
    urbs: 12,
    packetsPerUrb: 1,
    onData: (data) => {
      for (let i = 0; i + 1 < data.length; i += 2) received.push(data[i]! | (data[i + 1]! << 8));
    },
  });
  const keys: number[] = [];
  kbDevice.openInterruptIn(0x81, { onReport: (report) => keys.push(report[2]!) });
  built.keyboard.typeText("hub");
  if (snapshotAtMs !== null) {
    driver.run(snapshotAtMs);
    const snap = snapshot(rig);
    // The emulator's configuration builds the machine again: a new hub, new devices behind it.
    built = build();
    switchable.switchTo(restore(snap, [built.hub], { clockStartMs: 555_555.5 }));
    driver.run(totalMs - snapshotAtMs);
  } else {
    driver.run(totalMs);
  }
  assert.ok(stream.drain(200));
  stream.close();
  return { received, keys, mic: built.mic };
}

describe("snapshots of a hub and the devices behind it", () => {
  it("mid-stream: audio through the hub and key reports continue bit for bit after a restore", () => {
    const straight = captureBehindHub(300, null);
    const restored = captureBehindHub(300, 37);
    assert.ok(straight.received.length > 48 * 250, `${straight.received.length} samples`);
    assert.deepEqual(restored.received, straight.received, "the restored run is the uninterrupted one");
    assert.deepEqual(restored.keys, straight.keys);
    assert.deepEqual(
      straight.keys.filter((k) => k !== 0),
      [0x0b, 0x18, 0x05],
      "h, u, b",
    );
  });

  it("mid-enumeration: SET_ADDRESS done behind the hub, configured after the restore", () => {
    const hub = new UsbHub({ ports: 2 });
    hub.attach(1, new UsbMouse());
    const { rig, switchable, driver, gh } = boot(hub);
    gh.clearChanges(2);
    const reset = gh.resetPort(2);
    assert.equal(reset.enabled, true);
    const atZero = driver.openDevice({ port: 0, speed: UsbSpeed.Full, maxPacketSize0: 8 });
    assert.equal(atZero.getDescriptor(1, 0, 8, 0).status, TransferStatus.Ok);
    const setAddress = atZero.control({ requestType: 0, request: 5, value: 42, index: 0 });
    assert.equal(setAddress.status, TransferStatus.Ok);
    atZero.release();
    const snap = snapshot(rig);

    const freshHub = new UsbHub({ ports: 2 });
    const freshMouse = new UsbMouse();
    freshHub.attach(1, freshMouse);
    switchable.switchTo(restore(snap, [freshHub]));
    assert.equal(freshMouse.address, 42, "the address survived");
    assert.equal(freshHub.portStatus(1) & HubPortBits.Enable, HubPortBits.Enable);
    const mouse = driver.openDevice({ port: 0, speed: UsbSpeed.Full, address: 42, maxPacketSize0: 8 });
    assert.equal(mouse.control(GET_DEVICE_DESCRIPTOR).status, TransferStatus.Ok);
    assert.equal(mouse.setConfiguration(1).status, TransferStatus.Ok);
    assert.equal(freshMouse.configuration, 1);
  });

  it("a change not yet handled (C_PORT_CONNECTION) is still pending after the restore", () => {
    const hub = new UsbHub({ ports: 2, interval: 8 });
    const { rig, switchable, gh } = boot(hub);
    hub.attach(0, new UsbKeyboard());
    const snap = snapshot(rig);
    const freshHub = new UsbHub({ ports: 2, interval: 8 });
    freshHub.attach(0, new UsbKeyboard());
    switchable.switchTo(restore(snap, [freshHub]));
    assert.deepEqual(gh.waitForChanges(50), [1]);
    enumerateBehind(gh, 1);
  });

  it("a device that is not the saved one is replugged, a saved device that is gone is a disconnect", () => {
    const hub = new UsbHub({ ports: 2 });
    hub.attach(0, new UsbKeyboard());
    hub.attach(1, new UsbKeyboard());
    const { rig, switchable, gh } = boot(hub);
    enumerateBehind(gh, 1);
    enumerateBehind(gh, 2);
    const snap = snapshot(rig);
    const freshHub = new UsbHub({ ports: 2 });
    const mouse = new UsbMouse();
    freshHub.attach(0, mouse);
    switchable.switchTo(restore(snap, [freshHub]));
    assert.equal(mouse.address, 0, "the mouse was not the saved keyboard: reset, to be enumerated afresh");
    assert.equal(freshHub.portChange(0) & HubPortBits.Connection, HubPortBits.Connection);
    assert.equal(freshHub.portStatus(0) & HubPortBits.Enable, 0);
    assert.equal(freshHub.portChange(1) & HubPortBits.Connection, HubPortBits.Connection);
    assert.equal(freshHub.portStatus(1) & HubPortBits.Connection, 0);
    assert.equal(
      enumerateBehind(gh, 1).info.configuration.interfaces[0]?.alternates[0]?.interfaceProtocol,
      2,
    );
  });

  it("a hub state for another port count, or with a broken device state behind it, is refused whole", () => {
    const hub = new UsbHub({ ports: 2 });
    const keyboard = new UsbKeyboard();
    hub.attach(0, keyboard);
    const { rig, gh } = boot(hub);
    enumerateBehind(gh, 1);
    const state = JSON.parse(JSON.stringify(rig.controller.saveState())) as {
      ports: { device: { state: { usb: unknown; portStates: { device: { state: { kind: string } } }[] } } }[];
    };
    const wrongCount = new UsbHub({ ports: 3 });
    assert.throws(() => wrongCount.restoreState(state.ports[0]!.device.state), SnapshotError);
    const broken = structuredClone(state);
    (broken.ports[0]!.device.state.portStates[0]!.device.state as unknown as { hid: unknown }).hid = 7;
    const address = keyboard.address;
    assert.throws(() => rig.controller.restoreState(broken), /hub port 1 \(usb-keyboard\)/);
    assert.equal(keyboard.address, address, "nothing applied");
  });
});
