/**
 * A request out when the guest resets the controller (USBCMD.HCRESET, UHCI 2.1.1), resets the port
 * (PORTSC.PR, UHCI 2.1.7), stops it (RS = 0) or the device is unplugged is taken back from the device (cancelPacket) and
 * its answer, should one still come, never reaches guest memory: after a reset the guest owns that
 * memory again and may already have reused it.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { UsbPacket } from "../../src/usb/packet.ts";
import { DEFER, FakeDevice } from "../uhci/helpers/fake-device.ts";
import { readTd, tdLink } from "../uhci/helpers/schedule.ts";
import { Cmd, Intr, PID, Port, Reg, Sts } from "../uhci/helpers/uhci-spec.ts";
import { advanceTo, asyncSetup, ISO_IN_EP, PACKET, placeInFrame, writeIsoTd } from "./helpers/async-setup.ts";
import { IsoRig, isoBuf, isoTd } from "./helpers/iso-rig.ts";

type Reset = (rig: IsoRig) => void;
const RESETS: [string, Reset][] = [
  ["HCRESET", (rig) => rig.write16(Reg.USBCMD, Cmd.HCRESET)],
  ["a port reset", (rig) => rig.write16(Reg.PORTSC1, Port.PR)],
  ["detach", (rig) => void rig.hc.detach(0)],
  // The guest stops the controller (RS = 0, as Linux does before suspending the bus): what is in flight
  // is taken back, as QEMU does, so no answer lands in memory the guest then frees.
  ["RS cleared", (rig) => rig.write16(Reg.USBCMD, 0)],
];

describe("no completion reaches guest memory after a reset or detach", () => {
  for (const [name, reset] of RESETS) {
    it(`${name} while an iso IN is out: the device is told to cancel and never completes`, () => {
      const { rig, dev } = asyncSetup({ firstIsoDelayMs: 10 }, Intr.IOC);
      writeIsoTd(rig, isoTd(0), { pid: PID.IN, endpoint: ISO_IN_EP, buffer: isoBuf(0), ioc: true });
      rig.fill(isoBuf(0), PACKET, 0xee);
      const asked = placeInFrame(rig, isoTd(0), 1);
      advanceTo(rig, asked + 3);
      const before = readTd(rig.ram, isoTd(0));
      reset(rig);
      assert.equal(dev.stats.cancelled, 1);
      assert.equal(dev.inFlight, 0);
      advanceTo(rig, asked + 50);
      assert.equal(dev.stats.completed, 0);
      assert.deepEqual(readTd(rig.ram, isoTd(0)), before);
      assert.deepEqual(rig.bytes(isoBuf(0), 4), [0xee, 0xee, 0xee, 0xee]);
      assert.equal(rig.usbsts & Sts.USBINT, 0);
      assert.equal(rig.irq.level, false);
    });

    it(`${name}: a device that completes anyway (ignoring cancelPacket) writes nothing`, () => {
      // frame list[*] -> ISO TD (IN 192, IOC) -> T
      const rig = new IsoRig();
      const dev = new FakeDevice({ address: 3 });
      rig.plug(0, dev);
      writeIsoTd(rig, isoTd(0), { pid: PID.IN, endpoint: 1, buffer: isoBuf(0), ioc: true, devAddr: 3 });
      rig.fill(isoBuf(0), PACKET, 0xee);
      rig.fillFrameList(tdLink(isoTd(0)));
      rig.start({ intr: Intr.IOC });
      dev.reply(DEFER);
      rig.advance(2);
      const packet: UsbPacket | undefined = dev.inFlight[0];
      assert.ok(packet !== undefined);
      const before = readTd(rig.ram, isoTd(0));
      reset(rig);
      assert.deepEqual(dev.cancelled, [packet]);
      assert.equal(
        dev.complete("ack", new Uint8Array(PACKET).fill(0x55), packet),
        false,
        "the completion is refused",
      );
      assert.deepEqual(readTd(rig.ram, isoTd(0)), before);
      assert.deepEqual(rig.bytes(isoBuf(0), 4), [0xee, 0xee, 0xee, 0xee]);
      assert.equal(rig.irq.level, false);
    });
  }
});
