/**
 * Spec tests for isochronous TDs (UHCI Design Guide rev 1.1: 3.2.2 IOS, 1.3 scheduling — isochronous
 * TDs sit first in each frame, ahead of the queues).
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { ackIn, FakeDevice, NAK } from "./helpers/fake-device.ts";
import { buf, Layout, node, Rig } from "./helpers/rig.ts";
import {
  fillFrameList,
  qhElement,
  qhLink,
  readTd,
  setFrameListEntry,
  TERM,
  tdLink,
  writeQh,
  writeTd,
} from "./helpers/schedule.ts";
import { Cmd, Intr, PID, Reg, Sts } from "./helpers/uhci-spec.ts";

function rigWithDevice(): { rig: Rig; dev: FakeDevice } {
  const rig = new Rig();
  const dev = new FakeDevice({ address: 2 });
  rig.plug(0, dev);
  return { rig, dev };
}

/** Starts the controller with frame list[index] -> `link` and every other entry terminating. */
function startWithEntry(rig: Rig, index: number, link: number, intr = 0): void {
  fillFrameList(rig.ram, Layout.FRAME_LIST, TERM);
  setFrameListEntry(rig.ram, Layout.FRAME_LIST, index, link);
  rig.write32(Reg.FRBASEADD, Layout.FRAME_LIST);
  rig.write16(Reg.USBINTR, intr);
  rig.write16(Reg.FRNUM, 0);
  rig.write16(Reg.USBCMD, Cmd.RS);
}

const samples = (n: number, seed: number) => Array.from({ length: n }, (_, i) => (i * 7 + seed) & 0xff);

describe("UHCI 3.2.2 IOS: isochronous TDs", () => {
  it("an iso IN runs in the frame whose entry leads to it: data, ActLen, Active cleared, IOC honoured", () => {
    // frame list[3] -> ISO TD (IN 192, IOC) -> T ; every other entry T
    const { rig, dev } = rigWithDevice();
    const data = samples(192, 1);
    dev.reply(ackIn(data));
    writeTd(rig.ram, node(0), {
      pid: PID.IN,
      devAddr: 2,
      endpoint: 1,
      maxLen: 192,
      buffer: buf(0),
      ios: true,
      ioc: true,
    });
    startWithEntry(rig, 3, tdLink(node(0)), Intr.IOC);
    rig.frames(3);
    assert.equal(dev.seen.length, 0, "frames 0–2 have nothing");
    rig.frames(1);
    assert.equal(dev.seen.length, 1);
    assert.equal(dev.seen[0]!.isochronous, true);
    const td = readTd(rig.ram, node(0));
    assert.equal(td.active, false);
    assert.equal(td.actLen, 192);
    assert.deepEqual(rig.bytes(buf(0), 192), data);
    assert.equal(rig.usbsts & Sts.USBINT, Sts.USBINT);
    assert.equal(rig.irq.level, true);
  });

  it("runs once: when the frame list comes round again the retired TD is not executed", () => {
    const { rig, dev } = rigWithDevice();
    dev.defaultReply = ackIn(samples(16, 2));
    writeTd(rig.ram, node(0), { pid: PID.IN, devAddr: 2, maxLen: 16, buffer: buf(0), ios: true });
    startWithEntry(rig, 0, tdLink(node(0)));
    rig.frames(2049);
    assert.equal(dev.seen.length, 1);
  });

  it("an error retires the TD after the one attempt: no retry whatever C_ERR says", () => {
    // frame list[*] -> ISO TD (IN 64, C_ERR 3) -> T, and the device does not answer
    const { rig, dev } = rigWithDevice();
    dev.defaultReply = { kind: "io-error" };
    writeTd(rig.ram, node(0), { pid: PID.IN, devAddr: 2, maxLen: 64, buffer: buf(0), ios: true, cerr: 3 });
    rig.start(tdLink(node(0)));
    rig.frames(5);
    assert.equal(dev.seen.length, 1);
    const td = readTd(rig.ram, node(0));
    assert.equal(td.active, false);
    assert.equal(td.crcTimeout, true);
  });

  it("an iso TD to an absent address is retired after one attempt", () => {
    const { rig } = rigWithDevice();
    writeTd(rig.ram, node(0), { pid: PID.OUT, devAddr: 33, maxLen: 64, buffer: buf(0), ios: true, cerr: 0 });
    rig.start(tdLink(node(0)));
    rig.frames(1);
    assert.equal(readTd(rig.ram, node(0)).active, false);
  });

  it("a device with nothing to send (no handshake on iso) does not keep the TD active", () => {
    const { rig, dev } = rigWithDevice();
    dev.defaultReply = NAK;
    writeTd(rig.ram, node(0), { pid: PID.IN, devAddr: 2, maxLen: 64, buffer: buf(0), ios: true });
    rig.start(tdLink(node(0)));
    rig.frames(3);
    assert.equal(dev.seen.length, 1);
    assert.equal(readTd(rig.ram, node(0)).active, false);
  });

  it("an iso OUT sends MaxLen bytes from the buffer", () => {
    const { rig, dev } = rigWithDevice();
    const data = samples(192, 9);
    rig.ram.write(buf(1), Uint8Array.from(data), 192);
    writeTd(rig.ram, node(0), {
      pid: PID.OUT,
      devAddr: 2,
      endpoint: 2,
      maxLen: 192,
      buffer: buf(1),
      ios: true,
    });
    rig.start(tdLink(node(0)));
    rig.frames(1);
    assert.deepEqual(Array.from(dev.seen[0]!.data), data);
    const td = readTd(rig.ram, node(0));
    assert.equal(td.active, false);
    assert.equal(td.actLen, 192);
  });

  it("a short iso IN records the actual length and leaves the rest of the buffer alone", () => {
    const { rig, dev } = rigWithDevice();
    dev.reply(ackIn([5, 6, 7]));
    rig.fill(buf(0), 16, 0xee);
    writeTd(rig.ram, node(0), { pid: PID.IN, devAddr: 2, maxLen: 16, buffer: buf(0), ios: true, spd: true });
    rig.start(tdLink(node(0)), { intr: Intr.SHORT_PACKET });
    rig.frames(1);
    assert.equal(readTd(rig.ram, node(0)).actLen, 3);
    assert.deepEqual(rig.bytes(buf(0), 4), [5, 6, 7, 0xee]);
  });

  it("without IOC a completed iso TD raises no interrupt", () => {
    const { rig, dev } = rigWithDevice();
    dev.reply(ackIn([1]));
    writeTd(rig.ram, node(0), { pid: PID.IN, devAddr: 2, maxLen: 8, buffer: buf(0), ios: true });
    rig.start(tdLink(node(0)), { intr: Intr.IOC });
    rig.frames(1);
    assert.equal(rig.usbsts & Sts.USBINT, 0);
    assert.equal(rig.irq.level, false);
  });

  it("iso TDs first, then the queues, all in the same frame (the Linux layout)", () => {
    // frame list[n] -> ISO n (OUT 192) -> QH int -> QH ctrl -> T
    //                                       |         \-> (element) TD ctl -> T
    //                                       \-> (element) TD int (IN 8) -> T
    const { rig, dev } = rigWithDevice();
    const [isoA, isoB, qhInt, qhCtl, tdInt, tdCtl] = [node(0), node(1), node(2), node(3), node(4), node(5)];
    writeTd(rig.ram, isoA, {
      link: qhLink(qhInt),
      pid: PID.OUT,
      devAddr: 2,
      endpoint: 1,
      maxLen: 192,
      buffer: buf(0),
      ios: true,
    });
    writeTd(rig.ram, isoB, {
      link: qhLink(qhInt),
      pid: PID.OUT,
      devAddr: 2,
      endpoint: 1,
      maxLen: 192,
      buffer: buf(1),
      ios: true,
    });
    writeQh(rig.ram, qhInt, qhLink(qhCtl), tdLink(tdInt));
    writeQh(rig.ram, qhCtl, TERM, tdLink(tdCtl));
    writeTd(rig.ram, tdInt, { pid: PID.IN, devAddr: 2, endpoint: 3, maxLen: 8, buffer: buf(2) });
    writeTd(rig.ram, tdCtl, { pid: PID.OUT, devAddr: 2, endpoint: 0, maxLen: 0, buffer: buf(3) });
    dev.defaultReply = { kind: "ack", data: [1, 2] };
    fillFrameList(rig.ram, Layout.FRAME_LIST, qhLink(qhInt));
    setFrameListEntry(rig.ram, Layout.FRAME_LIST, 0, tdLink(isoA));
    setFrameListEntry(rig.ram, Layout.FRAME_LIST, 1, tdLink(isoB));
    rig.write32(Reg.FRBASEADD, Layout.FRAME_LIST);
    rig.write16(Reg.USBCMD, Cmd.RS);
    rig.frames(1);
    assert.deepEqual(
      dev.seen.map((p) => [p.endpoint, p.isochronous]),
      [
        [1, true],
        [3, false],
        [0, false],
      ],
    );
    assert.equal(qhElement(rig.ram, qhInt), TERM);
    rig.frames(1);
    assert.deepEqual(
      dev.seen.slice(3).map((p) => [p.endpoint, p.isochronous]),
      [[1, true]],
    );
    assert.equal(readTd(rig.ram, isoA).active, false);
    assert.equal(readTd(rig.ram, isoB).active, false);
  });
});
