/**
 * Answers that come too late: after the controller or the port was reset, or after the guest recycled
 * the TD. None may reach guest memory — after a reset the guest owns that memory again, and a recycled
 * TD belongs to another transfer — and none may confuse the next transfer on the same TD.
 *
 * (HCRESET, port reset and detach with an iso request out are in test/iso/reset-cancellation.test.ts;
 * TDs taken back, rewritten or resubmitted in test/iso/iso-matching.test.ts and resubmitted-td.test.ts.)
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { UsbPacket } from "../../src/usb/packet.ts";
import {
  advanceTo,
  asyncSetup,
  ISO_IN_EP,
  PACKET,
  placeInFrame,
  writeIsoTd,
} from "../iso/helpers/async-setup.ts";
import { isoBuf, isoTd } from "../iso/helpers/iso-rig.ts";
import { ackIn, DEFER, FakeDevice } from "../uhci/helpers/fake-device.ts";
import { buf, Layout, node, Rig } from "../uhci/helpers/rig.ts";
import { qhElement, qhLink, readTd, TERM, tdLink, writeQh, writeTd } from "../uhci/helpers/schedule.ts";
import { Cmd, Intr, PID, Reg, Sts } from "../uhci/helpers/uhci-spec.ts";

type Reset = (rig: Rig) => void;
/** Each reset, and what the guest does afterwards to run its schedule again. */
const RESETS: [string, Reset, Reset][] = [
  ["HCRESET", (rig) => rig.write16(Reg.USBCMD, Cmd.HCRESET), (rig) => restart(rig)],
  [
    "GRESET",
    (rig) => {
      rig.write16(Reg.USBCMD, Cmd.GRESET);
      rig.frames(10);
      rig.write16(Reg.USBCMD, 0);
    },
    (rig) => restart(rig),
  ],
  ["a PCI reset", (rig) => rig.hc.reset(), (rig) => restart(rig)],
  ["a port reset", (rig) => rig.writePortsc(0, 0x0200), (rig) => rig.enablePort(0)],
];

/** The guest brings the controller up again on the same schedule. */
function restart(rig: Rig): void {
  rig.enablePort(0);
  rig.write32(Reg.FRBASEADD, Layout.FRAME_LIST);
  rig.write16(Reg.USBINTR, Intr.IOC | Intr.TIMEOUT_CRC);
  rig.write16(Reg.USBCMD, Cmd.RS);
}

describe("a completion after its request was cancelled by a reset", () => {
  for (const [name, reset, recover] of RESETS) {
    it(`${name} with a bulk IN out: the old answer is refused and writes nothing; the TD's next request gets the new one`, () => {
      // frame list[*] -> QH -> T
      //                   \-> (element) TD (IN 8, ep 1, IOC) -> T
      const rig = new Rig();
      const dev = new FakeDevice({ address: 1 });
      rig.plug(0, dev);
      writeQh(rig.ram, node(0), TERM, tdLink(node(1)));
      writeTd(rig.ram, node(1), {
        pid: PID.IN,
        devAddr: 1,
        endpoint: 1,
        maxLen: 8,
        buffer: buf(0),
        ioc: true,
      });
      rig.fill(buf(0), 8, 0xee);
      dev.reply(DEFER);
      rig.start(qhLink(node(0)), { intr: Intr.IOC | Intr.TIMEOUT_CRC });
      rig.frames(2);
      const old: UsbPacket | undefined = dev.inFlight[0];
      assert.ok(old !== undefined);
      const td = readTd(rig.ram, node(1));

      reset(rig);
      assert.deepEqual(dev.cancelled, [old], "the device was told");
      assert.equal(rig.hc.asyncs.size, 0);
      const status = rig.usbsts;
      assert.equal(dev.complete("ack", [0x55, 0x55, 0x55], old), false, "the late answer is refused");
      assert.deepEqual(readTd(rig.ram, node(1)), td, "the TD is as the guest left it");
      assert.deepEqual(rig.bytes(buf(0), 8), new Array(8).fill(0xee));
      assert.equal(rig.usbsts, status, "and nothing was raised");

      recover(rig);
      dev.reply(ackIn([1, 2, 3]));
      rig.frames(2);
      assert.equal(dev.seen.length, 2, "the TD was asked for afresh");
      const done = readTd(rig.ram, node(1));
      assert.equal(done.active, false);
      assert.equal(done.actLen, 3);
      assert.deepEqual(rig.bytes(buf(0), 4), [1, 2, 3, 0xee]);
      assert.equal(qhElement(rig.ram, node(0)), TERM);
      assert.equal(rig.usbsts & Sts.USBINT, Sts.USBINT);
    });
  }

  const ISO_RESETS: [string, (rig: ReturnType<typeof asyncSetup>["rig"]) => void][] = [
    [
      "GRESET",
      (rig) => {
        rig.write16(Reg.USBCMD, Cmd.GRESET);
        rig.advance(10);
        rig.write16(Reg.USBCMD, 0);
      },
    ],
    ["a PCI reset", (rig) => rig.hc.reset()],
  ];
  for (const [name, reset] of ISO_RESETS) {
    it(`${name} with an iso IN out to an async device: cancelled, and its answer never lands`, () => {
      // (The resets test/iso/reset-cancellation.test.ts does not cover.)
      const { rig, dev } = asyncSetup({ firstIsoDelayMs: 10 }, Intr.IOC);
      writeIsoTd(rig, isoTd(0), { pid: PID.IN, endpoint: ISO_IN_EP, buffer: isoBuf(0), ioc: true });
      rig.fill(isoBuf(0), PACKET, 0xee);
      const asked = placeInFrame(rig, isoTd(0), 1);
      advanceTo(rig, asked + 3);
      assert.equal(dev.inFlight, 1);
      const before = readTd(rig.ram, isoTd(0));
      reset(rig);
      assert.equal(dev.stats.cancelled, 1);
      assert.equal(dev.inFlight, 0);
      advanceTo(rig, asked + 50);
      assert.equal(dev.stats.completed, 0);
      assert.deepEqual(readTd(rig.ram, isoTd(0)), before);
      assert.deepEqual(rig.bytes(isoBuf(0), 4), [0xee, 0xee, 0xee, 0xee]);
      assert.equal(rig.irq.level, false);
    });
  }
});

describe("a recycled iso TD never gets the stale data", () => {
  const CASES: [string, (rig: ReturnType<typeof asyncSetup>["rig"], td: number) => void][] = [
    ["a new buffer only (same token)", (rig, td) => rig.ram.write32(td + 12, isoBuf(1))],
    [
      "a new token only (another endpoint, same buffer)",
      (rig, td) => rig.ram.write32(td + 8, (rig.ram.read32(td + 8) & ~(0xf << 15)) | (3 << 15)),
    ],
    [
      "a new length only",
      (rig, td) => rig.ram.write32(td + 8, (rig.ram.read32(td + 8) & 0x1f_ffff) | (63 << 21)),
    ],
  ];
  for (const [what, recycle] of CASES) {
    it(`recycled with ${what} while its request is out: the answer is dropped, nothing is written`, () => {
      const { rig, dev } = asyncSetup({ firstIsoDelayMs: 10 }, Intr.IOC);
      const td = isoTd(0);
      writeIsoTd(rig, td, { pid: PID.IN, endpoint: ISO_IN_EP, buffer: isoBuf(0), ioc: true });
      rig.fill(isoBuf(0), PACKET, 0xee);
      rig.fill(isoBuf(1), PACKET, 0xee);
      const asked = placeInFrame(rig, td, 1);
      advanceTo(rig, asked + 2);
      assert.equal(dev.inFlight, 1);
      recycle(rig, td);
      const recycled = readTd(rig.ram, td);
      advanceTo(rig, asked + 20);
      assert.equal(dev.stats.completed, 1, "the device answered");
      assert.deepEqual(readTd(rig.ram, td), recycled, "the recycled TD is untouched");
      assert.deepEqual(rig.bytes(isoBuf(0), 4), [0xee, 0xee, 0xee, 0xee]);
      assert.deepEqual(rig.bytes(isoBuf(1), 4), [0xee, 0xee, 0xee, 0xee]);
      assert.equal(rig.read16(Reg.USBSTS) & Sts.USBINT, 0, "no interrupt for it either");
    });
  }
});
