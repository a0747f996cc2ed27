/**
 * The walker never loses a live request. A request a device answers later is paired with its TD and
 * kept for 32 frames after the walk last met the TD (the controller's pairing rule; QEMU's `valid`).
 * A frame that ends early — on the bandwidth cap (1280 bytes, as QEMU and Bochs) or the link budget —
 * does not meet the TDs further along, yet they are still linked: the rest of the schedule is looked
 * through without executing anything, and the requests it still leads to stay alive. A late
 * isochronous answer (written at once, seed point 3) is written wherever its frame still leads to the
 * TD — after any number of links within a frame's budget, or as a queue's element — and when it is not
 * written the reason is counted (UhciController.asyncCounters).
 *
 * UHCI design guide sections: 3.4 (the schedule is walked from the frame list entry each frame),
 * 3.2.2 (a TD stays Active until executed; IOC; ActLen), 3.3.2 and 3.4.2 (a queue's element advances
 * past a completed TD), 3.2.1 (Vf, Q and T bits of a link).
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { ackIn, DEFER, FakeDevice, NAK, type Reply } from "./helpers/fake-device.ts";
import { buf, Layout, node, Rig } from "./helpers/rig.ts";
import {
  fillFrameList,
  qhElement,
  qhLink,
  readTd,
  type TdFields,
  TERM,
  tdLink,
  writeQh,
  writeTd,
} from "./helpers/schedule.ts";
import { Intr, PID, Sts } from "./helpers/uhci-spec.ts";

const ISO_A = node(0);
const ISO_B = node(1);
const QH_A = node(2);
const TD_X = node(3);
const QH_C = node(4);
const TD_Y = node(5);
/** A chain of `n` inactive TDs from node(16) on, ending in `last`; returns a link to its first TD. */
function inactiveChain(rig: Rig, n: number, last: number): number {
  for (let i = 0; i < n; i++) {
    const link = i < n - 1 ? tdLink(node(16 + i + 1)) : last;
    writeTd(rig.ram, node(16 + i), { link, pid: PID.OUT, devAddr: 1, endpoint: 9, active: false });
  }
  return tdLink(node(16));
}

const X_FIELDS: TdFields = { pid: PID.IN, devAddr: 1, endpoint: 1, maxLen: 8, buffer: buf(0), ioc: true };

/** Full-packet iso INs (1023 bytes each, endpoint 3) ACK at once; endpoint 1 defers; the rest NAK. */
function device(): FakeDevice {
  const dev = new FakeDevice({ address: 1 });
  dev.chooser = (packet): Reply => {
    if (packet.isochronous) return ackIn(new Uint8Array(packet.length).fill(0x33));
    return packet.endpoint === 1 ? DEFER : NAK;
  };
  return dev;
}

/** Two iso INs of 1023 bytes: 2046 bytes, so the frame is over the 1280-byte cap once they ran. */
function armIso(rig: Rig, next: number, active = true): void {
  const iso = { pid: PID.IN, devAddr: 1, endpoint: 3, maxLen: 1023, ios: true, active };
  writeTd(rig.ram, ISO_A, { ...iso, link: tdLink(ISO_B), buffer: buf(2) });
  writeTd(rig.ram, ISO_B, { ...iso, link: next, buffer: buf(5) });
}

describe("a frame that ends on the bandwidth cap", () => {
  // frame list[*] -> ISO A (IN 1023) -> ISO B (IN 1023) -> QH A -> T
  //                                                         \-> (element) TD X (IN 8, ep 1, IOC) -> T
  // Once the iso TDs are armed, every frame moves 2046 bytes and stops at TD X (the cap), so the walk
  // never meets X again.
  function build(): { rig: Rig; dev: FakeDevice } {
    const rig = new Rig();
    const dev = device();
    rig.plug(0, dev);
    writeQh(rig.ram, QH_A, TERM, tdLink(TD_X));
    writeTd(rig.ram, TD_X, X_FIELDS);
    rig.fill(buf(0), 16, 0xee);
    armIso(rig, qhLink(QH_A), false);
    rig.start(tdLink(ISO_A), { intr: Intr.IOC });
    rig.frames(1);
    assert.equal(dev.inFlight.length, 1, "X's request went out while the iso TDs were idle");
    return { rig, dev };
  }

  it("keeps the request of a TD further along alive however long the frames stay full", () => {
    const { rig, dev } = build();
    for (let f = 0; f < 48; f++) {
      armIso(rig, qhLink(QH_A));
      rig.frames(1);
      assert.equal(rig.hc.lastFrameBytes, 2046, "the frame ended on the cap");
    }
    assert.deepEqual(dev.cancelled, [], "48 frames without a walk reaching X: still alive");
    assert.equal(rig.hc.asyncCounters.inFlight, 1);
    assert.equal(dev.seen.filter((p) => p.endpoint === 1).length, 1, "X was asked for once");
    assert.equal(dev.complete("ack", [1, 2, 3]), true);
    armIso(rig, qhLink(QH_A));
    rig.frames(1);
    assert.equal(readTd(rig.ram, TD_X).active, true, "the answer waits until a walk reaches X");
    // The guest stops its iso stream: the next walk gets to X and writes the answer back.
    rig.frames(1);
    const x = readTd(rig.ram, TD_X);
    assert.equal(x.active, false);
    assert.equal(x.actLen, 3);
    assert.deepEqual(rig.bytes(buf(0), 4), [1, 2, 3, 0xee]);
    assert.equal(qhElement(rig.ram, QH_A), TERM, "UHCI 3.4.2: the queue advanced");
    assert.equal(rig.usbsts & Sts.USBINT, Sts.USBINT);
    assert.equal(rig.hc.staleCompletions, 0);
  });

  it("does not keep alive a request whose TD the guest unlinked: it ages in capped frames too", () => {
    // Then: frame list[*] -> ISO A -> ISO B -> QH C -> T            (QH A, and TD X, unlinked)
    //                                            \-> (element) TD Y (IN 8, ep 2: NAK) -> T
    const { rig, dev } = build();
    const packet = dev.inFlight[0]!;
    writeQh(rig.ram, QH_C, TERM, tdLink(TD_Y));
    writeTd(rig.ram, TD_Y, { pid: PID.IN, devAddr: 1, endpoint: 2, maxLen: 8, buffer: buf(1) });
    for (let f = 1; f <= 32; f++) {
      armIso(rig, qhLink(QH_C));
      rig.frames(1);
      assert.equal(rig.hc.lastFrameBytes, 2046);
      if (f < 32) assert.deepEqual(dev.cancelled, [], `frame ${f}`);
    }
    assert.deepEqual(dev.cancelled, [packet], "cancelled 32 frames after X was last seen");
    assert.equal(rig.hc.asyncCounters.inFlight, 0);
  });
});

describe("a frame that ends on the link budget", () => {
  // maxLinkVisitsPerFrame 16. First frame list[*] -> QH A -> T (X's request goes out); then the guest
  // puts a chain of inactive TDs in front:
  //   frame list[*] -> TD 1 -> TD 2 -> … -> TD n (inactive) -> QH A -> T
  //                                                              \-> (element) TD X (IN 8, ep 1) -> T
  function build(chain: number): { rig: Rig; dev: FakeDevice } {
    const rig = new Rig({ maxLinkVisitsPerFrame: 16 });
    const dev = device();
    rig.plug(0, dev);
    writeQh(rig.ram, QH_A, TERM, tdLink(TD_X));
    writeTd(rig.ram, TD_X, X_FIELDS);
    rig.fill(buf(0), 16, 0xee);
    rig.start(qhLink(QH_A));
    rig.frames(1);
    assert.equal(dev.inFlight.length, 1);
    fillFrameList(rig.ram, Layout.FRAME_LIST, inactiveChain(rig, chain, qhLink(QH_A)));
    return { rig, dev };
  }

  it("keeps the request of a TD just past the budget (20 links in, budget 16)", () => {
    const { rig, dev } = build(20);
    rig.frames(48);
    assert.equal(rig.hc.lastFrameLinkVisits, 16, "every frame ended on the budget");
    assert.deepEqual(dev.cancelled, []);
    assert.equal(dev.complete("ack", [5, 6]), true);
    // The guest shortens the chain: the walk reaches X again and writes the answer.
    fillFrameList(rig.ram, Layout.FRAME_LIST, inactiveChain(rig, 4, qhLink(QH_A)));
    rig.frames(1);
    const x = readTd(rig.ram, TD_X);
    assert.equal(x.active, false);
    assert.equal(x.actLen, 2);
    assert.deepEqual(rig.bytes(buf(0), 3), [5, 6, 0xee]);
  });

  it("a TD more than twice the budget in is out of reach: its request ages (the documented bound)", () => {
    // 40 TDs: the walk stops after 16 links, the look past it after 16 more; X is 42 links in.
    const { rig, dev } = build(40);
    const packet = dev.inFlight[0]!;
    rig.frames(31);
    assert.deepEqual(dev.cancelled, []);
    rig.frames(1);
    assert.deepEqual(dev.cancelled, [packet]);
  });
});

describe("a late isochronous answer is written wherever the frame still leads to its TD", () => {
  const ISO = node(8);
  const ISO_NEXT = node(9);
  const ISO_FIELDS: TdFields = {
    pid: PID.IN,
    devAddr: 1,
    endpoint: 1,
    maxLen: 8,
    buffer: buf(3),
    ios: true,
    ioc: true,
  };

  function isoRig(options: { maxLinkVisitsPerFrame?: number } = {}): { rig: Rig; dev: FakeDevice } {
    const rig = new Rig(options);
    const dev = new FakeDevice({ address: 1 });
    dev.defaultReply = DEFER;
    rig.plug(0, dev);
    rig.fill(buf(3), 16, 0xee);
    return { rig, dev };
  }

  it("after 70 TDs (beyond 64 horizontal links)", () => {
    // frame list[*] -> TD 1 -> … -> TD 70 (inactive) -> ISO (IN 8, IOC) -> T
    const { rig, dev } = isoRig();
    writeTd(rig.ram, ISO, ISO_FIELDS);
    rig.start(inactiveChain(rig, 70, tdLink(ISO)), { intr: Intr.IOC });
    rig.frames(1);
    assert.equal(dev.inFlight.length, 1);
    assert.equal(dev.complete("ack", [1, 2, 3, 4]), true);
    const td = readTd(rig.ram, ISO);
    assert.equal(td.active, false, "written inside the completion call");
    assert.equal(td.actLen, 4);
    assert.deepEqual(rig.bytes(buf(3), 5), [1, 2, 3, 4, 0xee]);
    assert.equal(rig.irq.level, true);
    assert.deepEqual(rig.hc.asyncCounters, {
      inFlight: 0,
      staleCompletions: 0,
      isoDroppedRewritten: 0,
      isoDroppedUnlinked: 0,
    });
  });

  it("as a queue's element: written, and the queue advances as it would have in its walk", () => {
    // frame list[*] -> QH Q -> T
    //                   \-> (element) ISO (IN 8, IOC) -> ISO NEXT (IN 8) -> T
    const { rig, dev } = isoRig();
    writeQh(rig.ram, QH_A, TERM, tdLink(ISO));
    writeTd(rig.ram, ISO, { ...ISO_FIELDS, link: tdLink(ISO_NEXT) });
    writeTd(rig.ram, ISO_NEXT, { ...ISO_FIELDS, buffer: buf(4) });
    rig.start(qhLink(QH_A), { intr: Intr.IOC });
    rig.frames(1);
    assert.equal(dev.inFlight.length, 1);
    assert.equal(qhElement(rig.ram, QH_A), tdLink(ISO), "the queue waits at the TD whose request is out");
    assert.equal(dev.complete("ack", [9, 9]), true);
    const td = readTd(rig.ram, ISO);
    assert.equal(td.active, false);
    assert.equal(td.actLen, 2);
    assert.deepEqual(rig.bytes(buf(3), 3), [9, 9, 0xee]);
    assert.equal(qhElement(rig.ram, QH_A), tdLink(ISO_NEXT), "UHCI 3.4.2: the element advances");
    rig.frames(1);
    assert.equal(dev.seen.length, 2, "the next frame runs the queue's next TD");
  });

  it("not written, and counted, when the guest unlinked the TD before the answer came", () => {
    // frame list[*] -> ISO -> T, then every entry T.
    const { rig, dev } = isoRig();
    writeTd(rig.ram, ISO, ISO_FIELDS);
    rig.start(tdLink(ISO), { intr: Intr.IOC });
    rig.frames(1);
    fillFrameList(rig.ram, Layout.FRAME_LIST, TERM);
    const before = Buffer.from(rig.ram.bytes);
    assert.equal(dev.complete("ack", [1, 2]), true, "the request was still live: the ticket is accepted");
    assert.ok(Buffer.from(rig.ram.bytes).equals(before), "but nothing is written");
    assert.equal(rig.hc.asyncCounters.isoDroppedUnlinked, 1);
    assert.equal(rig.irq.level, false);
  });

  it("not written, and counted, when it is further in than a frame's link budget", () => {
    // maxLinkVisitsPerFrame 16: the request is made while the iso TD is first in its frame; then the
    // guest puts 20 TDs in front of it, deeper than any walk would go.
    const { rig, dev } = isoRig({ maxLinkVisitsPerFrame: 16 });
    writeTd(rig.ram, ISO, ISO_FIELDS);
    rig.start(tdLink(ISO), { intr: Intr.IOC });
    rig.frames(1);
    fillFrameList(rig.ram, Layout.FRAME_LIST, inactiveChain(rig, 20, tdLink(ISO)));
    const before = Buffer.from(rig.ram.bytes);
    assert.equal(dev.complete("ack", [1, 2]), true);
    assert.ok(Buffer.from(rig.ram.bytes).equals(before));
    assert.equal(rig.hc.asyncCounters.isoDroppedUnlinked, 1);
  });

  it("not written, and counted, when the guest rewrote the TD meanwhile", () => {
    const { rig, dev } = isoRig();
    writeTd(rig.ram, ISO, ISO_FIELDS);
    rig.start(tdLink(ISO), { intr: Intr.IOC });
    rig.frames(1);
    writeTd(rig.ram, ISO, { ...ISO_FIELDS, buffer: buf(4) });
    const before = Buffer.from(rig.ram.bytes);
    assert.equal(dev.complete("ack", [1, 2]), true);
    assert.ok(Buffer.from(rig.ram.bytes).equals(before));
    assert.equal(rig.hc.asyncCounters.isoDroppedRewritten, 1);
  });
});
