/**
 * The seed's point 3: an isochronous TD is completed inside the device's completion call — data in the
 * buffer, ActLen, Active cleared and (with IOC) USBINT and the IRQ line raised — by the time
 * `packet.complete()` returns. Writing it back "the next time the frame with the TD is processed"
 * means a frame-list lap (1024 frames) later, long after the pairing expired: the data was lost.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { CounterSource } from "../../src/devices/async-host/counter-source.ts";
import { DEFER, FakeDevice } from "../uhci/helpers/fake-device.ts";
import { readTd, tdLink } from "../uhci/helpers/schedule.ts";
import { Intr, PID, Reg, Sts } from "../uhci/helpers/uhci-spec.ts";
import { advanceTo, asyncSetup, ISO_IN_EP, PACKET, placeInFrame, writeIsoTd } from "./helpers/async-setup.ts";
import { IsoRig, isoBuf, isoTd } from "./helpers/iso-rig.ts";

describe("seed 3: an iso completion is in guest memory when packet.complete() returns", () => {
  it("a deferred iso IN completed between frames: data, ActLen, Active, USBINT and IRQ all visible at once", () => {
    // frame list[*] -> ISO TD (IN 192, IOC) -> T ; the device defers, the test completes it by hand.
    const rig = new IsoRig();
    const dev = new FakeDevice({ address: 3 });
    rig.plug(0, dev);
    writeIsoTd(rig, isoTd(0), { pid: PID.IN, endpoint: 1, buffer: isoBuf(0), ioc: true, devAddr: 3 });
    rig.fill(isoBuf(0), PACKET, 0xee);
    dev.reply(DEFER);
    rig.fillFrameList(tdLink(isoTd(0)));
    rig.start({ intr: Intr.IOC });
    rig.advance(1);
    assert.equal(dev.inFlight.length, 1);
    rig.advance(4.5); // between frames: no walk will come before the checks below
    const framesBefore = rig.hc.framesRun;
    assert.equal(rig.irq.level, false);
    const data = new Uint8Array(PACKET);
    CounterSource.write(77, data, PACKET);

    assert.equal(dev.complete("ack", data), true);

    assert.equal(rig.hc.framesRun, framesBefore, "no frame ran in between");
    const td = readTd(rig.ram, isoTd(0));
    assert.equal(td.active, false, "Active cleared");
    assert.equal(td.actLen, PACKET, "ActLen written");
    assert.equal(CounterSource.check(rig.ram.bytes, isoBuf(0), PACKET), 77, "data in the buffer");
    assert.equal(rig.usbsts & Sts.USBINT, Sts.USBINT, "USBSTS.USBINT");
    assert.equal(rig.irq.level, true, "IRQ line high");
  });

  it("the async host device's timer completion: everything visible in the completion call, mid-frame", () => {
    const { rig, dev } = asyncSetup({ firstIsoDelayMs: 10.5 }, Intr.IOC);
    writeIsoTd(rig, isoTd(0), { pid: PID.IN, endpoint: ISO_IN_EP, buffer: isoBuf(0), ioc: true });
    const asked = placeInFrame(rig, isoTd(0), 2);
    advanceTo(rig, asked + 10);
    const framesBefore = rig.hc.framesRun;
    assert.equal(rig.irq.level, false);
    let seen = false;
    dev.onCompleted = (_packet, accepted) => {
      seen = true;
      assert.equal(accepted, true);
      assert.equal(rig.clock.now(), asked + 10.5, "half-way between two frames");
      assert.equal(rig.hc.framesRun, framesBefore, "no frame ran since the last check");
      const td = readTd(rig.ram, isoTd(0));
      assert.equal(td.active, false);
      assert.equal(td.actLen, PACKET);
      assert.equal(CounterSource.check(rig.ram.bytes, isoBuf(0), PACKET), 0);
      assert.equal(rig.usbsts & Sts.USBINT, Sts.USBINT);
      assert.equal(rig.irq.level, true);
    };
    advanceTo(rig, asked + 10.75);
    assert.equal(seen, true);
  });

  it("without USBINTR.IOC the TD is written back at once but the line stays low", () => {
    const { rig, dev } = asyncSetup({ firstIsoDelayMs: 10.5 }, 0);
    writeIsoTd(rig, isoTd(0), { pid: PID.IN, endpoint: ISO_IN_EP, buffer: isoBuf(0), ioc: true });
    const asked = placeInFrame(rig, isoTd(0), 1);
    advanceTo(rig, asked + 10.75);
    assert.equal(dev.stats.completed, 1);
    assert.equal(readTd(rig.ram, isoTd(0)).active, false);
    assert.equal(rig.usbsts & Sts.USBINT, Sts.USBINT, "the status bit is set (UHCI 2.1.2)");
    assert.equal(rig.irq.level, false, "but USBINTR gates the line (UHCI 2.1.3)");
    rig.write16(Reg.USBINTR, Intr.IOC);
    assert.equal(rig.irq.level, true, "enabling it raises the line for the pending cause");
  });
});
