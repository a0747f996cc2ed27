/**
 * Device states on their own: the standard USB state (a control transfer caught between its stages,
 * halted endpoints, the configuration), audio streams with their feature units and sources, and what
 * is refused.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { AsyncHostDevice } from "../../src/devices/async-host/async-host-device.ts";
import { UsbHeadset } from "../../src/devices/audio/headset.ts";
import { UsbMicrophone } from "../../src/devices/audio/microphone.ts";
import { BufferSource } from "../../src/devices/audio/sources/buffer-source.ts";
import { PushSource } from "../../src/devices/audio/sources/push-source.ts";
import { SineSource } from "../../src/devices/audio/sources/sine-source.ts";
import { TestSignalSource } from "../../src/devices/audio/sources/test-signal-source.ts";
import { UsbSpeaker } from "../../src/devices/audio/speaker.ts";
import { audioRequests, rateBytes, volumeBytes } from "../../src/devices/audio/testing/requests.ts";
import { AudioRequest } from "../../src/devices/audio/uac1.ts";
import { UsbKeyboard } from "../../src/devices/hid/keyboard.ts";
import { hidRequests } from "../../src/devices/hid/testing/requests.ts";
import { VirtualClock } from "../../src/machine/clock.ts";
import { type JsonValue, type SavedState, SnapshotError } from "../../src/machine/snapshot.ts";
import { DescriptorType, Feature, Pid, StandardRequest } from "../../src/usb/constants.ts";
import { PacketStatus, type UsbPacket } from "../../src/usb/packet.ts";
import { SetupPacket } from "../../src/usb/setup-packet.ts";
import { PacketHost } from "../../src/usb/testing/packet-host.ts";

type Json = { [key: string]: JsonValue };
const clone = (state: SavedState): Json => JSON.parse(JSON.stringify(state)) as Json;

/** One transaction on endpoint 0 of `device`, at its address. */
function ep0(device: UsbKeyboard, pid: number, length: number, data: readonly number[] = []): UsbPacket {
  return new PacketHost(device).transact(pid, 0, length, data);
}

describe("device states", () => {
  it("a control transfer caught between its data packets finishes on the restored device", () => {
    const keyboard = new UsbKeyboard();
    new PacketHost(keyboard).enumerate(5);
    const whole = new PacketHost(keyboard).control(
      hidRequests.getDescriptor(DescriptorType.Configuration, 0, 34),
    );
    const setup = new Uint8Array(8);
    hidRequests.getDescriptor(DescriptorType.Configuration, 0, 34).encode(setup);
    assert.equal(ep0(keyboard, Pid.Setup, 8, [...setup]).status, PacketStatus.Ack);
    const first = ep0(keyboard, Pid.In, 8);
    const got = [...first.data.subarray(0, first.actualLength)];

    const fresh = new UsbKeyboard();
    fresh.restoreState(clone(keyboard.saveState()));
    assert.equal(fresh.address, 5);
    for (;;) {
      const packet = ep0(fresh, Pid.In, 8);
      assert.equal(packet.status, PacketStatus.Ack);
      got.push(...packet.data.subarray(0, packet.actualLength));
      if (packet.actualLength < 8) break;
    }
    assert.equal(ep0(fresh, Pid.Out, 0).status, PacketStatus.Ack);
    assert.deepEqual(got, whole.data);
  });

  it("a SET_ADDRESS waiting for its status stage takes effect on the restored device", () => {
    const keyboard = new UsbKeyboard();
    keyboard.reset();
    const setup = new Uint8Array(8);
    SetupPacket.of(0x00, StandardRequest.SetAddress, 42).encode(setup);
    ep0(keyboard, Pid.Setup, 8, [...setup]);
    const fresh = new UsbKeyboard();
    fresh.restoreState(clone(keyboard.saveState()));
    assert.equal(fresh.address, 0);
    assert.equal(ep0(fresh, Pid.In, 0).status, PacketStatus.Ack);
    assert.equal(fresh.address, 42);
  });

  it("a halted endpoint stays halted; remote wakeup stays enabled", () => {
    const keyboard = new UsbKeyboard();
    const host = new PacketHost(keyboard);
    host.enumerate();
    host.control(SetupPacket.of(0x02, StandardRequest.SetFeature, Feature.EndpointHalt, 0x81));
    host.control(hidRequests.setRemoteWakeup(true));
    keyboard.press("A");
    const fresh = new UsbKeyboard();
    fresh.restoreState(clone(keyboard.saveState()));
    assert.equal(new PacketHost(fresh).poll().status, PacketStatus.Stall);
    assert.ok(fresh.remoteWakeupEnabled);
  });

  it("refuses a configuration, an alternate or a halted endpoint the device does not have", () => {
    const keyboard = new UsbKeyboard();
    new PacketHost(keyboard).enumerate();
    const before = keyboard.saveState();
    const usbOf = (state: Json) => (state["hid"] as Json)["usb"] as Json;
    const cases: [string, (usb: Json) => void, RegExp][] = [
      ["configuration", (usb) => (usb["configuration"] = 2), /2 is not a configuration of usb-keyboard/],
      [
        "alternate",
        (usb) => (usb["interfaces"] = [{ interface: 0, alternate: 3 }]),
        /alternate 3 does not exist/,
      ],
      ["halted", (usb) => (usb["halted"] = [0x82]), /names endpoint 0x82, which is not active/],
      ["address", (usb) => (usb["address"] = 128), /usb-device\.address must be an integer in 0\.\.127/],
    ];
    for (const [name, edit, message] of cases) {
      const state = clone(before);
      edit(usbOf(state));
      assert.throws(() => keyboard.restoreState(state), message, name);
      assert.deepEqual(keyboard.saveState(), before, name);
    }
    assert.throws(
      () => keyboard.restoreState(new UsbSpeaker().saveState()),
      /from a state of kind "usb-speaker"/,
    );
  });

  it("a microphone keeps its stream, feature unit and source position; a speaker's state is not a microphone's", () => {
    const source = new TestSignalSource();
    const mic = new UsbMicrophone({ source, volume: { minDb: -60, maxDb: 6, resolutionDb: 1 } });
    const host = new PacketHost(mic);
    host.enumerate();
    assert.equal(host.setInterface(1, 2), PacketStatus.Ack);
    host.control(audioRequests.samplingFrequency(AudioRequest.SetCur, 0x81), rateBytes(22_050));
    host.control(audioRequests.setVolume(mic.capture.featureUnit.id), volumeBytes(-3 * 256));
    for (let i = 0; i < 7; i++) host.isoIn(0x81, 200);
    const fresh = new UsbMicrophone({
      source: new TestSignalSource(),
      volume: { minDb: -60, maxDb: 6, resolutionDb: 1 },
    });
    fresh.restoreState(clone(mic.saveState()));
    assert.equal(fresh.capture.alternate, 2);
    assert.deepEqual(fresh.capture.format, { sampleRate: 22_050, channels: 1 });
    assert.equal(fresh.capture.featureUnit.state.volumeDb, -3);
    assert.equal((fresh.source as TestSignalSource).nextFrame, source.nextFrame);
    // Both go on identically: the 22/23-frame pattern and the signal continue.
    const a = new PacketHost(mic);
    const b = new PacketHost(fresh);
    for (let i = 0; i < 30; i++) {
      const pa = a.isoIn(0x81, 200);
      const da = [...pa.data.subarray(0, pa.actualLength)];
      const pb = b.isoIn(0x81, 200);
      assert.deepEqual([...pb.data.subarray(0, pb.actualLength)], da);
    }
    assert.deepEqual(fresh.stats, { ...mic.stats, classRequests: 0, stalledRequests: 0 });
    assert.throws(() => new UsbSpeaker().restoreState(clone(mic.saveState())), SnapshotError);
    const disagreeing = clone(mic.saveState());
    ((disagreeing["audio"] as Json)["capture"] as Json)["alternate"] = 1;
    assert.throws(
      () => fresh.restoreState(disagreeing),
      /capture\.alternate is 1, but interface 1 has alternate 2 selected/,
    );
    assert.throws(
      () => new UsbHeadset().restoreState({ ...clone(mic.saveState()), kind: "usb-headset" }),
      // Relabelled, a microphone's state still does not fit a headset's descriptors.
      /usb-device\.interfaces lists 2 interfaces; configuration 1 has 3/,
    );
  });

  it("sine and buffer sources keep their position; a live source of another kind is left alone and told the format", () => {
    const sine = new SineSource({ frequency: 440 });
    const mic = new UsbMicrophone({ source: sine });
    const host = new PacketHost(mic);
    host.enumerate();
    host.setInterface(1, 1);
    for (let i = 0; i < 3; i++) host.isoIn(0x81, 200);
    const freshSine = new SineSource({ frequency: 440 });
    const fresh = new UsbMicrophone({ source: freshSine });
    fresh.restoreState(clone(mic.saveState()));
    assert.deepEqual(freshSine.saveState(), sine.saveState());

    const buffer = new BufferSource(new Int16Array(4000), 2);
    const bmic = new UsbMicrophone({ source: buffer });
    const bhost = new PacketHost(bmic);
    bhost.enumerate();
    bhost.setInterface(1, 1);
    bhost.isoIn(0x81, 200);
    const freshBuffer = new BufferSource(new Int16Array(4000), 2);
    new UsbMicrophone({ source: freshBuffer }).restoreState(clone(bmic.saveState()));
    assert.equal(freshBuffer.positionFrames, 48);
    // A buffer of another length cannot take the position.
    assert.throws(
      () =>
        new UsbMicrophone({ source: new BufferSource(new Int16Array(20), 2) }).restoreState(
          clone(bmic.saveState()),
        ),
      /buffer-source\.frames must be an integer in 10\.\.10, not 2000/,
    );

    const push = new PushSource();
    const pushMic = new UsbMicrophone({ source: push });
    pushMic.restoreState(clone(mic.saveState()));
    assert.deepEqual(push.format, { sampleRate: 48_000, channels: 2 });
  });

  it("a headset restores both streams", () => {
    const headset = new UsbHeadset();
    const host = new PacketHost(headset);
    host.enumerate();
    host.setInterface(1, 1);
    host.setInterface(2, 2);
    host.control(audioRequests.setMute(headset.playback.featureUnit.id), [1]);
    const fresh = new UsbHeadset();
    fresh.restoreState(clone(headset.saveState()));
    assert.equal(fresh.playback.alternate, 1);
    assert.equal(fresh.capture.alternate, 2);
    assert.equal(fresh.playback.featureUnit.state.muted, true);
    assert.deepEqual(fresh.saveState(), headset.saveState());
  });

  it("an async-host device refuses to be restored in place, and says why", () => {
    const device = new AsyncHostDevice({ clock: new VirtualClock() });
    assert.equal(device.snapshotMode, "reattach");
    assert.throws(
      () => device.restoreState(device.saveState()),
      /not restored in place; restoring the controller re-attaches it/,
    );
  });
});
