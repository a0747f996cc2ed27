/**
 * AsyncIsoWrapper around a device that defers in turn (an async device behind the async host path).
 * The wrapper hands the device a packet of its own when its timer fires, as a real host hands a
 * device a transfer; when the device defers that one too, the guest's request simply waits for it —
 * no exception out of the wrapper's timer — and completes with the device's data (written into the TD
 * at once, seed point 3). A request the controller takes back meanwhile is taken back from the device
 * too, and its late answer lands nowhere.
 *
 *   frame list[f] -> ISO TD (IN 192, ep 1, IOC) -> T        (f: the frame the test picks)
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { AsyncHostDevice } from "../../src/devices/async-host/async-host-device.ts";
import { AsyncIsoWrapper } from "../../src/devices/async-host/async-iso-wrapper.ts";
import { CounterSource } from "../../src/devices/async-host/counter-source.ts";
import { AsyncHostInterface } from "../../src/devices/async-host/default-model.ts";
import { readTd, TERM } from "../uhci/helpers/schedule.ts";
import { Cmd, Intr, PID, Reg, Sts } from "../uhci/helpers/uhci-spec.ts";
import {
  advanceTo,
  DEVICE_ADDRESS,
  ISO_IN_EP,
  PACKET,
  placeInFrame,
  writeIsoTd,
} from "./helpers/async-setup.ts";
import { enumerate, useControlSchedule } from "./helpers/control.ts";
import { IsoRig, isoBuf, isoTd } from "./helpers/iso-rig.ts";

/** The wrapper answers 2 ms after a request; the device behind it 3 ms after the wrapper asks. */
function nestedSetup(): { rig: IsoRig; inner: AsyncHostDevice; wrapper: AsyncIsoWrapper } {
  const rig = new IsoRig();
  const inner = new AsyncHostDevice({
    clock: rig.clock,
    timing: { firstIsoDelayMs: 3, isoIntervalMs: 1 },
    sources: { [ISO_IN_EP]: new CounterSource(PACKET) },
  });
  const wrapper = new AsyncIsoWrapper(inner, { clock: rig.clock, timing: { firstIsoDelayMs: 2 } });
  rig.plug(0, wrapper);
  useControlSchedule(rig);
  rig.start({ intr: Intr.IOC });
  enumerate(rig, DEVICE_ADDRESS, [[AsyncHostInterface.Iso, 1]]);
  rig.fillFrameList(TERM);
  rig.write16(Reg.USBSTS, 0x3f);
  writeIsoTd(rig, isoTd(0), { pid: PID.IN, endpoint: ISO_IN_EP, buffer: isoBuf(0), ioc: true });
  rig.fill(isoBuf(0), PACKET, 0xee);
  return { rig, inner, wrapper };
}

describe("AsyncIsoWrapper around a device that defers too", () => {
  it("the guest's request waits for the device's answer and gets its data, written at once", () => {
    const { rig, inner, wrapper } = nestedSetup();
    const asked = placeInFrame(rig, isoTd(0), 1);
    advanceTo(rig, asked + 2);
    assert.equal(wrapper.stats.nested, 1, "the wrapper's timer fired; the device deferred its packet");
    assert.equal(inner.inFlight, 1);
    assert.equal(readTd(rig.ram, isoTd(0)).active, true);
    advanceTo(rig, asked + 5);
    assert.equal(inner.stats.completed, 1);
    assert.equal(wrapper.stats.completed, 1);
    const td = readTd(rig.ram, isoTd(0));
    assert.equal(td.active, false);
    assert.equal(td.actLen, PACKET);
    assert.equal(CounterSource.check(rig.ram.bytes, isoBuf(0), PACKET), 0, "the device's first packet");
    assert.equal(rig.read16(Reg.USBSTS) & Sts.USBINT, Sts.USBINT);
    assert.equal(rig.hc.staleCompletions, 0);
  });

  it("taken back while the device holds it (HCRESET): the device is told, its answer lands nowhere", () => {
    const { rig, inner, wrapper } = nestedSetup();
    const asked = placeInFrame(rig, isoTd(0), 1);
    advanceTo(rig, asked + 2);
    assert.equal(inner.inFlight, 1);
    const before = readTd(rig.ram, isoTd(0));
    rig.write16(Reg.USBCMD, Cmd.HCRESET);
    assert.equal(wrapper.stats.cancelled, 1);
    assert.equal(inner.stats.cancelled, 1, "the wrapper took its own packet back from the device");
    assert.equal(inner.inFlight, 0);
    advanceTo(rig, asked + 20);
    assert.equal(inner.stats.completed, 0);
    assert.deepEqual(readTd(rig.ram, isoTd(0)), before);
    assert.deepEqual(rig.bytes(isoBuf(0), 4), [0xee, 0xee, 0xee, 0xee]);
  });
});
