/**
 * Transaction errors a device model can tell apart (PacketStatus.BitStuff, PacketStatus.Crc) and how
 * they reach the TD. UHCI design guide 3.2.2, TD control/status: bit 17 Bitstuff Error, bit 18
 * CRC/Time Out Error (one bit for both: a CRC error and a time-out look the same to the driver), bit 22
 * Stalled; C_ERR (bits 28:27) counts CRC, time-out and bit-stuff errors down and makes the error final
 * at zero (design guide 4, transaction-based interrupts: Stalled set, Active cleared, USBERRINT);
 * 0 means no limit. Isochronous TDs are never retried (3.2.2 IOS).
 *
 *   frame list[*] -> QH -> T
 *                     \-> (element) TD (IN 8 or OUT 4, C_ERR as given) -> T
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { DEFER, FakeDevice, NAK, type Reply } from "./helpers/fake-device.ts";
import { buf, node, Rig } from "./helpers/rig.ts";
import { qhElement, qhLink, readTd, TERM, tdLink, writeQh, writeTd } from "./helpers/schedule.ts";
import { Intr, PID, Sts } from "./helpers/uhci-spec.ts";

const BITSTUFF: Reply = { kind: "bitstuff" };
const CRC: Reply = { kind: "crc" };
const TIMEOUT: Reply = { kind: "io-error" };

function queued(cerr: number, pid: number = PID.IN): { rig: Rig; dev: FakeDevice } {
  const rig = new Rig();
  const dev = new FakeDevice({ address: 1 });
  rig.plug(0, dev);
  writeQh(rig.ram, node(0), TERM, tdLink(node(1)));
  writeTd(rig.ram, node(1), {
    pid,
    devAddr: 1,
    endpoint: 1,
    maxLen: pid === PID.IN ? 8 : 4,
    buffer: buf(0),
    cerr,
  });
  rig.start(qhLink(node(0)), { intr: Intr.TIMEOUT_CRC });
  return { rig, dev };
}

describe("UHCI 3.2.2 bit 17: a bit-stuff error", () => {
  it("sets Bitstuff, not CRC/Time Out, and counts C_ERR down 3 → 0; at 0 Stalled, retired, USBERRINT", () => {
    const { rig, dev } = queued(3);
    dev.defaultReply = BITSTUFF;
    for (const expected of [2, 1]) {
      rig.frames(1);
      const td = readTd(rig.ram, node(1));
      assert.equal(td.bitstuff, true);
      assert.equal(td.crcTimeout, false);
      assert.equal(td.cerr, expected);
      assert.equal(td.active, true, "retried in the next frame");
      assert.equal(td.stalled, false);
      assert.equal(rig.usbsts & Sts.USBERRINT, 0);
    }
    rig.frames(1);
    const td = readTd(rig.ram, node(1));
    assert.equal(td.cerr, 0);
    assert.equal(td.active, false);
    assert.equal(td.stalled, true);
    assert.equal(td.bitstuff, true, "the error that made it final is the one reported");
    assert.equal(td.crcTimeout, false);
    assert.equal(qhElement(rig.ram, node(0)), tdLink(node(1)), "an error does not advance the queue");
    assert.equal(rig.usbsts & Sts.USBERRINT, Sts.USBERRINT);
    assert.equal(rig.irq.level, true);
    assert.equal(dev.seen.length, 3);
  });

  it("with C_ERR = 0 is retried without limit", () => {
    const { rig, dev } = queued(0);
    dev.defaultReply = BITSTUFF;
    rig.frames(10);
    const td = readTd(rig.ram, node(1));
    assert.equal(td.active, true);
    assert.equal(td.bitstuff, true);
    assert.equal(td.cerr, 0);
    assert.equal(dev.seen.length, 10);
    assert.equal(rig.usbsts & Sts.USBERRINT, 0);
  });

  it("the status bits are those of the last attempt: time-out, then bit stuffing, then a NAK", () => {
    const { rig, dev } = queued(3, PID.OUT);
    dev.reply(TIMEOUT, BITSTUFF, NAK);
    rig.frames(1);
    let td = readTd(rig.ram, node(1));
    assert.deepEqual([td.crcTimeout, td.bitstuff, td.nak, td.cerr], [true, false, false, 2]);
    rig.frames(1);
    td = readTd(rig.ram, node(1));
    assert.deepEqual([td.crcTimeout, td.bitstuff, td.nak, td.cerr], [false, true, false, 1]);
    rig.frames(1);
    td = readTd(rig.ram, node(1));
    assert.deepEqual(
      [td.crcTimeout, td.bitstuff, td.nak, td.cerr],
      [false, false, true, 1],
      "NAK does not count",
    );
  });

  it("an isochronous TD is not retried: the error is final at once, C_ERR untouched", () => {
    // frame list[*] -> ISO TD (IN 8, C_ERR 3) -> T
    const rig = new Rig();
    const dev = new FakeDevice({ address: 1 });
    rig.plug(0, dev);
    dev.defaultReply = BITSTUFF;
    writeTd(rig.ram, node(1), { pid: PID.IN, devAddr: 1, endpoint: 1, maxLen: 8, buffer: buf(0), ios: true });
    rig.start(tdLink(node(1)), { intr: Intr.TIMEOUT_CRC });
    rig.frames(1);
    const td = readTd(rig.ram, node(1));
    assert.equal(td.active, false);
    assert.equal(td.bitstuff, true);
    assert.equal(td.crcTimeout, false);
    assert.equal(td.stalled, false);
    assert.equal(td.cerr, 3);
    assert.equal(td.actLen, 0);
    assert.equal(rig.usbsts & Sts.USBERRINT, Sts.USBERRINT);
  });

  it("an async device's bit-stuff answer is written back the same way", () => {
    const { rig, dev } = queued(1);
    dev.defaultReply = DEFER;
    rig.frames(1);
    assert.equal(dev.complete("bitstuff"), true);
    rig.frames(1);
    const td = readTd(rig.ram, node(1));
    assert.equal(td.active, false);
    assert.equal(td.stalled, true);
    assert.equal(td.bitstuff, true);
    assert.equal(td.cerr, 0);
  });
});

describe("UHCI 3.2.2 bit 18: a CRC error", () => {
  it("is reported in CRC/Time Out, like a time-out, and counted in C_ERR", () => {
    const { rig, dev } = queued(2);
    dev.defaultReply = CRC;
    rig.frames(1);
    let td = readTd(rig.ram, node(1));
    assert.equal(td.crcTimeout, true);
    assert.equal(td.bitstuff, false);
    assert.equal(td.cerr, 1);
    assert.equal(td.active, true);
    rig.frames(1);
    td = readTd(rig.ram, node(1));
    assert.equal(td.active, false);
    assert.equal(td.stalled, true);
    assert.equal(td.crcTimeout, true);
    assert.equal(rig.usbsts & Sts.USBERRINT, Sts.USBERRINT);
  });
});
