/**
 * Spec tests for the schedule walk (UHCI Design Guide rev 1.1, sections 3.1–3.4): the frame list,
 * TDs and QHs in guest memory, stepped frame by frame.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { ACK, ackIn, FakeDevice, NAK } from "./helpers/fake-device.ts";
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
import { Cmd, PID, Reg, Sts } from "./helpers/uhci-spec.ts";

function rigWithDevice(options: ConstructorParameters<typeof Rig>[0] = {}): { rig: Rig; dev: FakeDevice } {
  const rig = new Rig(options);
  const dev = new FakeDevice({ address: 1 });
  rig.plug(0, dev);
  return { rig, dev };
}

/** Endpoint numbers of the transactions the device saw, in order (tests tag TDs by endpoint). */
function endpoints(dev: FakeDevice): number[] {
  return dev.seen.map((p) => p.endpoint);
}

const out = (endpoint: number, link: number = TERM) => ({ link, pid: PID.OUT, devAddr: 1, endpoint });

describe("UHCI 3.4 walking a frame", () => {
  it("follows the frame list entry through TDs and QHs, horizontally and into a queue", () => {
    // frame list[*] -> TD1 -> QH A -> TD3 -> T
    //                           \-> (element) TD2 -> T
    const { rig, dev } = rigWithDevice();
    const [td1, qhA, td2, td3] = [node(0), node(1), node(2), node(3)];
    writeTd(rig.ram, td1, out(1, qhLink(qhA)));
    writeQh(rig.ram, qhA, tdLink(td3), tdLink(td2));
    writeTd(rig.ram, td2, out(2));
    writeTd(rig.ram, td3, out(3));
    rig.start(tdLink(td1));
    rig.frames(1);
    assert.deepEqual(endpoints(dev), [1, 2, 3]);
    for (const td of [td1, td2, td3]) assert.equal(readTd(rig.ram, td).active, false);
    assert.equal(qhElement(rig.ram, qhA), TERM, "element replaced by TD2's link (UHCI 3.3.2)");
  });

  it("a terminating frame list entry runs nothing; FRNUM still counts", () => {
    const { rig, dev } = rigWithDevice();
    rig.start(TERM);
    rig.frames(4);
    assert.equal(dev.seen.length, 0);
    assert.equal(rig.frnum, 4);
  });

  it("skips inactive TDs outside a queue and goes on to their link", () => {
    // frame list[*] -> TD1 (inactive) -> TD2 -> T
    const { rig, dev } = rigWithDevice();
    writeTd(rig.ram, node(0), { ...out(1, tdLink(node(1))), active: false });
    writeTd(rig.ram, node(1), out(2));
    rig.start(tdLink(node(0)));
    rig.frames(1);
    assert.deepEqual(endpoints(dev), [2]);
  });

  it("a NAKed TD outside a queue does not stop the walk: its link is followed in the same frame", () => {
    // frame list[*] -> TD1 (NAK) -> TD2 -> T
    const { rig, dev } = rigWithDevice();
    dev.reply(NAK, ACK);
    writeTd(rig.ram, node(0), out(1, tdLink(node(1))));
    writeTd(rig.ram, node(1), out(2));
    rig.start(tdLink(node(0)));
    rig.frames(1);
    assert.deepEqual(endpoints(dev), [1, 2]);
    assert.equal(readTd(rig.ram, node(0)).active, true);
  });

  it("a QH with a terminating element is passed over to its head link", () => {
    // frame list[*] -> QH A (element T) -> QH B -> T
    //                                       \-> (element) TD1 -> T
    const { rig, dev } = rigWithDevice();
    writeQh(rig.ram, node(0), qhLink(node(1)), TERM);
    writeQh(rig.ram, node(1), TERM, tdLink(node(2)));
    writeTd(rig.ram, node(2), out(1));
    rig.start(qhLink(node(0)));
    rig.frames(1);
    assert.deepEqual(endpoints(dev), [1]);
    assert.equal(qhElement(rig.ram, node(0)), TERM);
  });

  it("a QH whose element TD is inactive is stopped: not advanced, the walk moves on", () => {
    // frame list[*] -> QH A -> QH B -> T
    //                   |       \-> (element) TD3 -> T
    //                   \-> (element) TD1 (inactive) -> TD2 -> T
    const { rig, dev } = rigWithDevice();
    const [qhA, qhB, td1, td2, td3] = [node(0), node(1), node(2), node(3), node(4)];
    writeQh(rig.ram, qhA, qhLink(qhB), tdLink(td1));
    writeQh(rig.ram, qhB, TERM, tdLink(td3));
    writeTd(rig.ram, td1, { ...out(1, tdLink(td2, true)), active: false });
    writeTd(rig.ram, td2, out(2));
    writeTd(rig.ram, td3, out(3));
    rig.start(qhLink(qhA));
    rig.frames(3);
    assert.deepEqual(endpoints(dev), [3]);
    assert.equal(qhElement(rig.ram, qhA), tdLink(td1));
    assert.equal(readTd(rig.ram, td2).active, true);
  });
});

describe("UHCI 3.3.2 queue element advance", () => {
  it("advances the element pointer after a successful TD only (not after NAK)", () => {
    // frame list[*] -> QH A -> T
    //                   \-> (element) TD1 -> TD2 -> T
    const { rig, dev } = rigWithDevice();
    const [qhA, td1, td2] = [node(0), node(1), node(2)];
    writeQh(rig.ram, qhA, TERM, tdLink(td1));
    writeTd(rig.ram, td1, out(1, tdLink(td2)));
    writeTd(rig.ram, td2, out(2));
    dev.reply(NAK, ACK, ACK);
    rig.start(qhLink(qhA));
    rig.frames(1);
    assert.equal(qhElement(rig.ram, qhA), tdLink(td1), "NAK: not advanced");
    rig.frames(1);
    assert.equal(qhElement(rig.ram, qhA), tdLink(td2), "success: element := TD1's link");
    rig.frames(1);
    assert.equal(qhElement(rig.ram, qhA), TERM);
    assert.deepEqual(endpoints(dev), [1, 1, 2]);
  });

  it("the element takes the TD's link pointer verbatim, including its Vf and T bits", () => {
    // frame list[*] -> QH A -> T
    //                   \-> (element) TD1 -Vf-> TD2 (inactive)
    const { rig } = rigWithDevice();
    writeQh(rig.ram, node(0), TERM, tdLink(node(1)));
    writeTd(rig.ram, node(1), out(1, tdLink(node(2), true)));
    writeTd(rig.ram, node(2), { ...out(2), active: false });
    rig.start(qhLink(node(0)));
    rig.frames(1);
    assert.equal(qhElement(rig.ram, node(0)), tdLink(node(2), true));
  });
});

describe("UHCI 3.4 depth-first (Vf) and breadth-first", () => {
  // frame list[*] -> QH A -> QH B -> T
  //                   |       \-> (element) TD3 -> T
  //                   \-> (element) TD1 -?-> TD2 -> T
  function build(vf: boolean) {
    const { rig, dev } = rigWithDevice();
    const [qhA, qhB, td1, td2, td3] = [node(0), node(1), node(2), node(3), node(4)];
    writeQh(rig.ram, qhA, qhLink(qhB), tdLink(td1));
    writeQh(rig.ram, qhB, TERM, tdLink(td3));
    writeTd(rig.ram, td1, out(1, tdLink(td2, vf)));
    writeTd(rig.ram, td2, out(2));
    writeTd(rig.ram, td3, out(3));
    rig.start(qhLink(qhA));
    return { rig, dev, qhA, qhB };
  }

  it("Vf = 1: the queue runs on to TD2 in the same frame before QH B", () => {
    const { rig, dev, qhA, qhB } = build(true);
    rig.frames(1);
    assert.deepEqual(endpoints(dev), [1, 2, 3]);
    assert.equal(qhElement(rig.ram, qhA), TERM);
    assert.equal(qhElement(rig.ram, qhB), TERM);
  });

  it("Vf = 0: after TD1 the walk moves to QH B; TD2 runs in the next frame", () => {
    const { rig, dev, qhA } = build(false);
    rig.frames(1);
    assert.deepEqual(endpoints(dev), [1, 3]);
    assert.equal(qhElement(rig.ram, qhA), tdLink(node(3)));
    rig.frames(1);
    assert.deepEqual(endpoints(dev), [1, 3, 2]);
    assert.equal(qhElement(rig.ram, qhA), TERM);
  });

  it("Vf = 1 but the next TD NAKs: the queue stops there and the walk moves to QH B", () => {
    const { rig, dev, qhA } = build(true);
    dev.reply(ACK, NAK, ACK);
    rig.frames(1);
    assert.deepEqual(endpoints(dev), [1, 2, 3]);
    assert.equal(qhElement(rig.ram, qhA), tdLink(node(3), true), "points at TD2 (TD1's link)");
    assert.equal(readTd(rig.ram, node(3)).active, true, "TD2 waits for its retry");
  });
});

describe("UHCI 3.2 data movement", () => {
  it("OUT and SETUP send MaxLen bytes from the buffer; ActLen = bytes sent − 1", () => {
    // frame list[*] -> TD1 (SETUP 8) -> TD2 (OUT 5) -> T
    const { rig, dev } = rigWithDevice();
    rig.ram.write(buf(0), Uint8Array.of(0x80, 6, 0, 1, 0, 0, 18, 0), 8);
    rig.ram.write(buf(1), Uint8Array.of(9, 8, 7, 6, 5, 4), 6);
    writeTd(rig.ram, node(0), {
      link: tdLink(node(1)),
      pid: PID.SETUP,
      devAddr: 1,
      maxLen: 8,
      buffer: buf(0),
    });
    writeTd(rig.ram, node(1), { pid: PID.OUT, devAddr: 1, endpoint: 3, maxLen: 5, buffer: buf(1) });
    rig.start(tdLink(node(0)));
    rig.frames(1);
    assert.equal(dev.seen[0]!.pid, PID.SETUP);
    assert.deepEqual(Array.from(dev.seen[0]!.data), [0x80, 6, 0, 1, 0, 0, 18, 0]);
    assert.equal(dev.seen[1]!.pid, PID.OUT);
    assert.equal(dev.seen[1]!.endpoint, 3);
    assert.deepEqual(Array.from(dev.seen[1]!.data), [9, 8, 7, 6, 5]);
    assert.equal(readTd(rig.ram, node(0)).actLenField, 7);
    assert.equal(readTd(rig.ram, node(1)).actLenField, 4);
  });

  it("IN writes the returned bytes to the buffer and ActLen; bytes past ActLen are untouched", () => {
    const { rig, dev } = rigWithDevice();
    dev.reply(ackIn([1, 2, 3]));
    rig.fill(buf(0), 16, 0xee);
    writeTd(rig.ram, node(0), { pid: PID.IN, devAddr: 1, maxLen: 8, buffer: buf(0) });
    rig.start(tdLink(node(0)));
    rig.frames(1);
    assert.equal(dev.seen[0]!.length, 8, "the device is offered MaxLen");
    assert.deepEqual(rig.bytes(buf(0), 5), [1, 2, 3, 0xee, 0xee]);
    const td = readTd(rig.ram, node(0));
    assert.equal(td.actLen, 3);
    assert.equal(td.active, false);
  });

  it("the token's device address routes the TD to the device with that address", () => {
    const rig = new Rig();
    const a = new FakeDevice({ address: 1 });
    const b = new FakeDevice({ address: 7 });
    rig.plug(0, a);
    rig.plug(1, b);
    writeTd(rig.ram, node(0), { link: tdLink(node(1)), pid: PID.OUT, devAddr: 7, endpoint: 4 });
    writeTd(rig.ram, node(1), { pid: PID.OUT, devAddr: 1, endpoint: 5 });
    rig.start(tdLink(node(0)));
    rig.frames(1);
    assert.deepEqual(
      b.seen.map((p) => [p.address, p.endpoint]),
      [[7, 4]],
    );
    assert.deepEqual(
      a.seen.map((p) => [p.address, p.endpoint]),
      [[1, 5]],
    );
  });

  it("UHCI 3.2.3: MaxLen 0x7FF is a zero-length packet; its buffer pointer is not used", () => {
    // frame list[*] -> TD1 (OUT, MaxLen 0x7FF, buffer beyond RAM) -> TD2 (IN, MaxLen 0x7FF) -> T
    const { rig, dev } = rigWithDevice();
    dev.reply(ACK, ackIn([]));
    rig.fill(buf(0), 4, 0xee);
    writeTd(rig.ram, node(0), {
      link: tdLink(node(1)),
      pid: PID.OUT,
      devAddr: 1,
      maxLenField: 0x7ff,
      buffer: 0xfff0_0000,
    });
    writeTd(rig.ram, node(1), { pid: PID.IN, devAddr: 1, maxLenField: 0x7ff, buffer: buf(0) });
    rig.start(tdLink(node(0)));
    rig.frames(1);
    assert.deepEqual(
      dev.seen.map((p) => p.length),
      [0, 0],
    );
    for (const td of [node(0), node(1)]) {
      const v = readTd(rig.ram, td);
      assert.equal(v.active, false);
      assert.equal(v.actLenField, 0x7ff);
    }
    assert.equal(rig.usbsts & (Sts.HSE | Sts.HCPE), 0);
    assert.deepEqual(rig.bytes(buf(0), 4), [0xee, 0xee, 0xee, 0xee]);
  });

  it("UHCI 3.2.3: MaxLen 0x4FF (1280 bytes) is the largest legal transfer", () => {
    const { rig, dev } = rigWithDevice();
    writeTd(rig.ram, node(0), { pid: PID.OUT, devAddr: 1, maxLenField: 0x4ff, buffer: buf(0) });
    rig.start(tdLink(node(0)));
    rig.frames(1);
    assert.equal(dev.seen[0]!.length, 1280);
    assert.equal(readTd(rig.ram, node(0)).actLenField, 0x4ff);
    assert.equal(rig.usbsts & Sts.HCPE, 0);
  });
});

describe("UHCI 2.1.4 frame counter and frame list index", () => {
  it("FRNUM increments once per frame; the entry used is FRNUM & 0x3FF", () => {
    // frame list[0x3FE] -> TD ep1, [0x3FF] -> TD ep2, [0x000] -> TD ep3, others T
    const { rig, dev } = rigWithDevice();
    fillFrameList(rig.ram, Layout.FRAME_LIST, TERM);
    setFrameListEntry(rig.ram, Layout.FRAME_LIST, 0x3fe, tdLink(node(0)));
    setFrameListEntry(rig.ram, Layout.FRAME_LIST, 0x3ff, tdLink(node(1)));
    setFrameListEntry(rig.ram, Layout.FRAME_LIST, 0x000, tdLink(node(2)));
    writeTd(rig.ram, node(0), out(1));
    writeTd(rig.ram, node(1), out(2));
    writeTd(rig.ram, node(2), out(3));
    rig.write32(Reg.FRBASEADD, Layout.FRAME_LIST);
    rig.write16(Reg.FRNUM, 0x3fe);
    rig.write16(Reg.USBCMD, Cmd.RS);
    rig.frames(1);
    assert.deepEqual(endpoints(dev), [1]);
    assert.equal(rig.frnum, 0x3ff);
    rig.frames(1);
    assert.deepEqual(endpoints(dev), [1, 2]);
    assert.equal(rig.frnum, 0x400, "bit 10 carries: 11-bit counter");
    rig.frames(1);
    assert.deepEqual(endpoints(dev), [1, 2, 3], "index wraps to entry 0");
    assert.equal(rig.frnum, 0x401);
  });

  it("FRNUM wraps from 0x7FF to 0", () => {
    const { rig, dev } = rigWithDevice();
    fillFrameList(rig.ram, Layout.FRAME_LIST, TERM);
    setFrameListEntry(rig.ram, Layout.FRAME_LIST, 0x3ff, tdLink(node(0)));
    writeTd(rig.ram, node(0), out(9));
    rig.write32(Reg.FRBASEADD, Layout.FRAME_LIST);
    rig.write16(Reg.FRNUM, 0x7ff);
    rig.write16(Reg.USBCMD, Cmd.RS);
    rig.frames(1);
    assert.deepEqual(endpoints(dev), [9]);
    assert.equal(rig.frnum, 0);
    rig.frames(2048);
    assert.equal(rig.frnum, 0);
  });

  it("the frame list entry is read at FRBASEADD + 4 × index", () => {
    const { rig, dev } = rigWithDevice();
    const base = 0x5000;
    fillFrameList(rig.ram, base, TERM);
    setFrameListEntry(rig.ram, base, 0x123, tdLink(node(0)));
    writeTd(rig.ram, node(0), out(4));
    rig.write32(Reg.FRBASEADD, base);
    rig.write16(Reg.FRNUM, 0x523); // index 0x123
    rig.write16(Reg.USBCMD, Cmd.RS);
    rig.frames(1);
    assert.deepEqual(endpoints(dev), [4]);
  });
});

describe("per-frame bandwidth (full speed: 12,000 bit times; emulators move at most 1280 bytes)", () => {
  it("after 1280 bytes the frame ends; the rest runs in the next frame", () => {
    // frame list[*] -> TD1 (OUT 640) -> TD2 (OUT 640) -> TD3 (OUT 8) -> T
    const { rig, dev } = rigWithDevice();
    writeTd(rig.ram, node(0), { ...out(1, tdLink(node(1))), maxLen: 640, buffer: buf(0) });
    writeTd(rig.ram, node(1), { ...out(2, tdLink(node(2))), maxLen: 640, buffer: buf(0) });
    writeTd(rig.ram, node(2), { ...out(3), maxLen: 8, buffer: buf(0) });
    rig.start(tdLink(node(0)));
    rig.frames(1);
    assert.deepEqual(endpoints(dev), [1, 2]);
    assert.equal(readTd(rig.ram, node(2)).active, true);
    rig.frames(1);
    assert.deepEqual(endpoints(dev), [1, 2, 3]);
  });

  it("IN data counts too", () => {
    const { rig, dev } = rigWithDevice();
    const big = new Array<number>(640).fill(0x55);
    dev.reply(ackIn(big), ackIn(big), ackIn([1]));
    writeTd(rig.ram, node(0), {
      link: tdLink(node(1)),
      pid: PID.IN,
      devAddr: 1,
      maxLen: 640,
      buffer: buf(0),
    });
    writeTd(rig.ram, node(1), {
      link: tdLink(node(2)),
      pid: PID.IN,
      devAddr: 1,
      maxLen: 640,
      buffer: buf(4),
    });
    writeTd(rig.ram, node(2), { pid: PID.IN, devAddr: 1, maxLen: 8, buffer: buf(8) });
    rig.start(tdLink(node(0)));
    rig.frames(1);
    assert.equal(dev.seen.length, 2);
    rig.frames(1);
    assert.equal(dev.seen.length, 3);
  });

  it("the cap is configurable (bandwidthBytesPerFrame)", () => {
    // frame list[*] -> TD1 (OUT 64) -> TD2 (OUT 64) -> TD3 (OUT 64) -> T, with a 128-byte cap
    const { rig, dev } = rigWithDevice({ bandwidthBytesPerFrame: 128 });
    writeTd(rig.ram, node(0), { ...out(1, tdLink(node(1))), maxLen: 64, buffer: buf(0) });
    writeTd(rig.ram, node(1), { ...out(2, tdLink(node(2))), maxLen: 64, buffer: buf(0) });
    writeTd(rig.ram, node(2), { ...out(3), maxLen: 64, buffer: buf(0) });
    rig.start(tdLink(node(0)));
    rig.frames(1);
    assert.deepEqual(endpoints(dev), [1, 2]);
    rig.frames(1);
    assert.deepEqual(endpoints(dev), [1, 2, 3]);
  });
});
