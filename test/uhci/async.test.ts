/**
 * Requests a device answers later (packet.deferred() / packet.complete()), seen from the guest: the TD
 * stays active while in flight; the result is written back when the walk meets the TD again; a request
 * whose TD leaves the schedule (or is deactivated, or rewritten) is cancelled. Descriptor semantics are
 * UHCI 3.2.2 (Active, ActLen, IOC) and 3.3.2 (element advance); the 32-frame lifetime is the
 * controller's pairing rule (QEMU's `valid`, raised to 32 by the seed).
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { ACK, DEFER, FakeDevice, NAK } from "./helpers/fake-device.ts";
import { buf, Layout, node, Rig } from "./helpers/rig.ts";
import {
  fillFrameList,
  qhElement,
  qhLink,
  readTd,
  TERM,
  tdLink,
  writeQh,
  writeTd,
} from "./helpers/schedule.ts";
import { Intr, PID, Sts } from "./helpers/uhci-spec.ts";

// frame list[*] -> QH A -> QH B -> T
//                   |       \-> (element) TD3 (OUT, ep 3) -> T
//                   \-> (element) TD1 (IN 8, ep 1, IOC) -> TD2 (IN 8, ep 2) -> T
const QH_A = node(0);
const QH_B = node(1);
const TD1 = node(2);
const TD2 = node(3);
const TD3 = node(4);

function build(): { rig: Rig; dev: FakeDevice } {
  const rig = new Rig();
  const dev = new FakeDevice({ address: 3 });
  rig.plug(0, dev);
  writeQh(rig.ram, QH_A, qhLink(QH_B), tdLink(TD1));
  writeQh(rig.ram, QH_B, TERM, tdLink(TD3));
  writeTd(rig.ram, TD1, {
    link: tdLink(TD2),
    pid: PID.IN,
    devAddr: 3,
    endpoint: 1,
    maxLen: 8,
    buffer: buf(0),
    ioc: true,
  });
  writeTd(rig.ram, TD2, { pid: PID.IN, devAddr: 3, endpoint: 2, maxLen: 8, buffer: buf(1) });
  writeTd(rig.ram, TD3, { pid: PID.OUT, devAddr: 3, endpoint: 3, cerr: 0 });
  rig.fill(buf(0), 16, 0xee);
  return { rig, dev };
}

/** Transactions the device saw on one endpoint. */
function on(dev: FakeDevice, endpoint: number): number {
  return dev.seen.filter((p) => p.endpoint === endpoint).length;
}

describe("async: a deferred request", () => {
  it("keeps its TD active while in flight; the device is not asked again", () => {
    const { rig, dev } = build();
    dev.reply(DEFER);
    dev.defaultReply = NAK; // TD3
    rig.start(qhLink(QH_A), { intr: Intr.IOC });
    rig.frames(10);
    assert.equal(on(dev, 1), 1);
    assert.equal(dev.inFlight.length, 1);
    assert.equal(readTd(rig.ram, TD1).active, true);
    assert.equal(qhElement(rig.ram, QH_A), tdLink(TD1));
    assert.equal(on(dev, 2), 0, "the queue waits behind the request in flight");
    assert.equal(on(dev, 3), 10, "other queues keep running");
    assert.equal(rig.usbsts & Sts.USBINT, 0);
  });

  it("its completion is written back when the walk meets the TD again, with IOC at that frame's end", () => {
    const { rig, dev } = build();
    dev.reply(DEFER);
    rig.start(qhLink(QH_A), { intr: Intr.IOC });
    rig.frames(3);
    assert.equal(dev.complete("ack", [1, 2, 3]), true);
    // Nothing changes in guest memory until the controller meets the TD.
    assert.equal(readTd(rig.ram, TD1).active, true);
    assert.deepEqual(rig.bytes(buf(0), 3), [0xee, 0xee, 0xee]);
    assert.equal(rig.irq.level, false);
    dev.defaultReply = ACK;
    rig.frames(1);
    const td = readTd(rig.ram, TD1);
    assert.equal(td.active, false);
    assert.equal(td.actLen, 3);
    assert.deepEqual(rig.bytes(buf(0), 4), [1, 2, 3, 0xee]);
    assert.equal(qhElement(rig.ram, QH_A), tdLink(TD2), "UHCI 3.3.2: the queue advances");
    assert.equal(on(dev, 1), 1, "the completed request is not sent again");
    assert.equal(rig.usbsts & Sts.USBINT, Sts.USBINT);
    assert.equal(rig.irq.level, true);
  });

  it("an error completion is written back like a synchronous one (STALL: retired, queue stays)", () => {
    const { rig, dev } = build();
    dev.reply(DEFER);
    rig.start(qhLink(QH_A), { intr: Intr.TIMEOUT_CRC });
    rig.frames(2);
    dev.complete("stall");
    rig.frames(1);
    const td = readTd(rig.ram, TD1);
    assert.equal(td.stalled, true);
    assert.equal(td.active, false);
    assert.equal(qhElement(rig.ram, QH_A), tdLink(TD1));
    assert.equal(rig.usbsts & Sts.USBERRINT, Sts.USBERRINT);
    assert.equal(rig.irq.level, true);
  });

  it("a NAK completion leaves the TD active and the request is made again", () => {
    const { rig, dev } = build();
    dev.reply(DEFER);
    rig.start(qhLink(QH_A));
    rig.frames(1);
    dev.complete("nak");
    dev.reply(DEFER);
    rig.frames(1);
    assert.equal(readTd(rig.ram, TD1).active, true);
    rig.frames(1);
    assert.equal(on(dev, 1), 2);
    assert.equal(dev.inFlight.length, 1);
  });
});

describe("async: pairing lifetime", () => {
  /** Takes QH A out of the schedule: every frame list entry goes straight to QH B. */
  function unlink(rig: Rig): void {
    fillFrameList(rig.ram, Layout.FRAME_LIST, qhLink(QH_B));
  }
  function relink(rig: Rig): void {
    fillFrameList(rig.ram, Layout.FRAME_LIST, qhLink(QH_A));
  }

  it("stays valid while the walk keeps meeting the TD (refreshed each time)", () => {
    const { rig, dev } = build();
    dev.reply(DEFER);
    rig.start(qhLink(QH_A));
    rig.frames(200);
    assert.equal(dev.cancelled.length, 0);
    assert.equal(dev.inFlight.length, 1);
    dev.complete("ack", [9]);
    rig.frames(1);
    assert.equal(readTd(rig.ram, TD1).actLen, 1);
  });

  it("survives 31 frames out of the schedule", () => {
    const { rig, dev } = build();
    dev.reply(DEFER);
    rig.start(qhLink(QH_A));
    rig.frames(1);
    unlink(rig);
    rig.frames(31);
    assert.equal(dev.cancelled.length, 0);
    relink(rig);
    dev.complete("ack", [4, 4]);
    rig.frames(1);
    assert.equal(readTd(rig.ram, TD1).actLen, 2);
    assert.equal(on(dev, 1), 1);
  });

  it("a meeting refreshes it: 20 frames out, 1 in, 20 out is fine", () => {
    const { rig, dev } = build();
    dev.reply(DEFER);
    rig.start(qhLink(QH_A));
    rig.frames(1);
    unlink(rig);
    rig.frames(20);
    relink(rig);
    rig.frames(1);
    unlink(rig);
    rig.frames(20);
    assert.equal(dev.cancelled.length, 0);
    assert.equal(on(dev, 1), 1);
  });

  it("is cancelled once the TD has been out of the schedule for 32 frames; a late completion is ignored", () => {
    const { rig, dev } = build();
    dev.reply(DEFER);
    rig.start(qhLink(QH_A));
    rig.frames(1);
    const packet = dev.inFlight[0]!;
    unlink(rig);
    rig.frames(32);
    assert.deepEqual(dev.cancelled, [packet], "device.cancelPacket was called");
    const before = readTd(rig.ram, TD1);
    assert.equal(dev.complete("ack", [1, 2, 3], packet), false);
    assert.deepEqual(readTd(rig.ram, TD1), before);
    assert.deepEqual(rig.bytes(buf(0), 3), [0xee, 0xee, 0xee]);
    // Back in the schedule, the still-active TD is a new request.
    dev.reply(DEFER);
    relink(rig);
    rig.frames(1);
    assert.equal(on(dev, 1), 2);
    assert.equal(dev.inFlight.length, 1);
    assert.equal(readTd(rig.ram, TD1).active, true);
  });
});

describe("async: the guest takes a TD back", () => {
  it("a TD deactivated by the guest cancels its request when next met; the completion is ignored", () => {
    const { rig, dev } = build();
    dev.reply(DEFER);
    rig.start(qhLink(QH_A));
    rig.frames(2);
    const packet = dev.inFlight[0]!;
    // The guest unlinks the URB: clears Active (Linux uhci-hcd does this before dequeuing).
    const ctrl = readTd(rig.ram, TD1).ctrl;
    rig.ram.write32(TD1 + 4, ctrl & ~(1 << 23));
    rig.frames(1);
    assert.deepEqual(dev.cancelled, [packet]);
    const before = readTd(rig.ram, TD1);
    assert.equal(dev.complete("ack", [7], packet), false);
    assert.deepEqual(readTd(rig.ram, TD1), before);
    assert.deepEqual(rig.bytes(buf(0), 1), [0xee]);
  });

  it("a TD rewritten in place (new token) cancels the old request and starts the new one", () => {
    const { rig, dev } = build();
    dev.reply(DEFER);
    rig.start(qhLink(QH_A));
    rig.frames(1);
    const old = dev.inFlight[0]!;
    writeTd(rig.ram, TD1, {
      link: tdLink(TD2),
      pid: PID.IN,
      devAddr: 3,
      endpoint: 5,
      maxLen: 4,
      buffer: buf(0),
    });
    dev.reply({ kind: "ack", data: [0x42] });
    rig.frames(1);
    assert.deepEqual(dev.cancelled, [old]);
    assert.equal(on(dev, 5), 1);
    assert.equal(dev.complete("ack", [1, 1, 1], old), false);
    const td = readTd(rig.ram, TD1);
    assert.equal(td.active, false);
    assert.equal(td.actLen, 1);
    assert.deepEqual(rig.bytes(buf(0), 2), [0x42, 0xee]);
  });

  it("stopping the controller (HCRESET) cancels everything in flight", () => {
    const { rig, dev } = build();
    dev.reply(DEFER);
    dev.defaultReply = DEFER;
    rig.start(qhLink(QH_A));
    rig.frames(1);
    assert.equal(dev.inFlight.length, 2, "TD1 and TD3");
    rig.write16(0x00, 0x0002);
    assert.equal(dev.cancelled.length, 2);
    assert.equal(dev.inFlight.length, 0);
  });
});
