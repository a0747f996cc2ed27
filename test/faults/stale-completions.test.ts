/**
 * A backend that answers when it should not: twice, late (after the request expired and the guest
 * recycled the TD), after an unplug, after HCRESET / GRESET / RS = 0 / a PCI reset, after a snapshot
 * restore. The answer carries the ticket its request was deferred with (UsbPacket.deferred); the
 * request is gone, so the ticket is stale: the controller refuses the answer, counts it
 * (UhciController.staleCompletions) and writes nothing — the guest owns that memory again, and a
 * recycled TD belongs to another transfer. The backend is played here through the public packet API,
 * with the packet and ticket it kept; it tries hardest to do harm by answering with a full buffer.
 *
 * The schedule (UHCI 3.3: a queue whose element is the TD; 3.2.2: the TD stays Active while its
 * request is out, the walk writes the answer back when it meets the TD again):
 *
 *   frame list[*] -> QH -> T
 *                     \-> (element) TD (IN 8, ep 1, IOC) -> T
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { type AsyncTicket, PacketStatus, type UsbPacket } from "../../src/usb/packet.ts";
import { DEFER, FakeDevice } from "../uhci/helpers/fake-device.ts";
import { buf, Layout, node, Rig } from "../uhci/helpers/rig.ts";
import {
  fillFrameList,
  qhElement,
  qhLink,
  readTd,
  TERM,
  tdLink,
  writeQh,
  writeTd,
} from "../uhci/helpers/schedule.ts";
import { Cmd, Intr, PID, Reg, Sts } from "../uhci/helpers/uhci-spec.ts";

const QH = node(0);
const TD = node(1);

interface Held {
  rig: Rig;
  dev: FakeDevice;
  packet: UsbPacket;
  ticket: AsyncTicket;
}

/** The schedule above with the TD's request out: the device deferred it and kept packet and ticket. */
function requestOut(): Held {
  const rig = new Rig();
  const dev = new FakeDevice({ address: 1 });
  rig.plug(0, dev);
  writeQh(rig.ram, QH, TERM, tdLink(TD));
  writeTd(rig.ram, TD, { pid: PID.IN, devAddr: 1, endpoint: 1, maxLen: 8, buffer: buf(0), ioc: true });
  rig.fill(buf(0), 0x200, 0xee);
  dev.defaultReply = DEFER;
  rig.start(qhLink(QH), { intr: Intr.IOC | Intr.TIMEOUT_CRC });
  rig.frames(2);
  const packet = dev.inFlight[0];
  assert.ok(packet !== undefined);
  const ticket = dev.tickets.get(packet);
  assert.ok(ticket !== undefined);
  assert.equal(dev.seen.length, 1, "one request, held while the walk keeps meeting its TD");
  return { rig, dev, packet, ticket };
}

/** The backend answers with a full buffer of 0x55 and the ticket it kept. */
function answer(packet: UsbPacket, ticket: AsyncTicket): boolean {
  // (A careless backend writes the data first; its answer must still not land.)
  if (packet.isPending(ticket)) packet.data.fill(0x55, 0, packet.length);
  return packet.complete(ticket, PacketStatus.Ack, 8);
}

/** Guest RAM, USBSTS and the IRQ line, to check that a refused answer changed none of them. */
function observe(rig: Rig): { ram: Buffer; usbsts: number; irq: boolean } {
  return { ram: Buffer.from(rig.ram.bytes), usbsts: rig.usbsts, irq: rig.irq.level };
}

function assertStaleAndHarmless(held: Held, what: string): void {
  const { rig, packet, ticket } = held;
  const before = observe(rig);
  const stale = rig.hc.staleCompletions;
  assert.equal(answer(packet, ticket), false, `${what}: the answer is refused`);
  assert.equal(rig.hc.staleCompletions, stale + 1, `${what}: and counted`);
  const after = observe(rig);
  assert.ok(after.ram.equals(before.ram), `${what}: guest memory is untouched`);
  assert.equal(after.usbsts, before.usbsts, `${what}: nothing is raised`);
  assert.equal(after.irq, before.irq);
}

describe("a backend that answers twice", () => {
  it("the second answer, before the walk wrote the first back, is refused; the first is written once", () => {
    const held = requestOut();
    const { rig, packet, ticket } = held;
    assert.equal(packet.complete(ticket, PacketStatus.Ack, 3), true);
    assert.equal(rig.hc.asyncCounters.inFlight, 1, "answered, not yet written back");
    assertStaleAndHarmless(held, "a second answer");
    rig.frames(1);
    const td = readTd(rig.ram, TD);
    assert.equal(td.active, false);
    assert.equal(td.actLen, 3, "the first answer's length");
    assert.equal(rig.hc.staleCompletions, 1);
  });

  it("an answer repeated after the packet was reused for a later transfer never completes the new request", () => {
    const held = requestOut();
    const { rig, dev, packet } = held;
    assert.equal(dev.complete("ack", [1, 2, 3]), true);
    rig.frames(1);
    assert.equal(readTd(rig.ram, TD).actLen, 3);
    // The guest queues further transfers on the same TD (same address, same token); the device defers
    // each. The controller pools the packets of requests written back, so the first packet soon carries
    // one of them.
    for (let transfer = 2; dev.inFlight[0] !== packet; transfer++) {
      assert.ok(transfer <= 4, "the pooled packet is handed out again");
      if (dev.inFlight.length > 0) {
        assert.equal(dev.complete("ack", [transfer]), true);
        rig.frames(1);
      }
      writeTd(rig.ram, TD, { pid: PID.IN, devAddr: 1, endpoint: 1, maxLen: 8, buffer: buf(0), ioc: true });
      writeQh(rig.ram, QH, TERM, tdLink(TD));
      rig.frames(1);
    }
    rig.fill(buf(0), 8, 0xee);
    assertStaleAndHarmless(held, "the old ticket on the reused packet");
    assert.equal(readTd(rig.ram, TD).active, true, "the new request is still out");
    assert.equal(dev.complete("ack", [7, 7]), true, "and completes with its own ticket");
    rig.frames(1);
    assert.equal(readTd(rig.ram, TD).actLen, 2);
    assert.deepEqual(rig.bytes(buf(0), 3), [7, 7, 0xee]);
  });
});

describe("a backend that answers after its request was cancelled", () => {
  it("late: the TD left the schedule for 32 frames, then the guest recycled it for a new transfer", () => {
    const held = requestOut();
    const { rig, dev, packet } = held;
    fillFrameList(rig.ram, Layout.FRAME_LIST, TERM);
    rig.frames(32);
    assert.deepEqual(dev.cancelled, [packet], "expired: the device was told");
    // The same TD, same token, linked again: a new transfer, and a new request for it.
    writeTd(rig.ram, TD, { pid: PID.IN, devAddr: 1, endpoint: 1, maxLen: 8, buffer: buf(0), ioc: true });
    fillFrameList(rig.ram, Layout.FRAME_LIST, qhLink(QH));
    rig.frames(1);
    assert.equal(dev.seen.length, 2);
    const next = dev.inFlight[0]!;
    assert.notEqual(next, packet, "a cancelled packet is never handed out again");
    assertStaleAndHarmless(held, "after the expiry");
    assert.equal(dev.complete("ack", [9]), true);
    rig.frames(1);
    assert.equal(readTd(rig.ram, TD).actLen, 1);
    assert.deepEqual(rig.bytes(buf(0), 2), [9, 0xee]);
  });

  it("after an unplug", () => {
    const held = requestOut();
    held.rig.hc.detach(0);
    assert.deepEqual(held.dev.cancelled, [held.packet]);
    assertStaleAndHarmless(held, "after the unplug");
  });

  const RESETS: [string, (rig: Rig) => void][] = [
    ["HCRESET", (rig) => rig.write16(Reg.USBCMD, Cmd.HCRESET)],
    ["GRESET", (rig) => rig.write16(Reg.USBCMD, Cmd.GRESET)],
    ["RS = 0", (rig) => rig.write16(Reg.USBCMD, 0)],
    ["a PCI reset", (rig) => rig.hc.reset()],
  ];
  for (const [name, reset] of RESETS) {
    it(`after ${name}`, () => {
      const held = requestOut();
      reset(held.rig);
      assert.deepEqual(held.dev.cancelled, [held.packet]);
      assert.equal(held.rig.hc.asyncCounters.inFlight, 0);
      assertStaleAndHarmless(held, `after ${name}`);
    });
  }

  it("after a snapshot restore (the state saved before the request, restored while it is out)", () => {
    const rig = new Rig();
    const dev = new FakeDevice({ address: 1 });
    rig.plug(0, dev);
    const state = rig.hc.saveState();
    writeQh(rig.ram, QH, TERM, tdLink(TD));
    writeTd(rig.ram, TD, { pid: PID.IN, devAddr: 1, endpoint: 1, maxLen: 8, buffer: buf(0), ioc: true });
    dev.defaultReply = DEFER;
    rig.start(qhLink(QH), { intr: Intr.IOC });
    rig.frames(2);
    const packet = dev.inFlight[0]!;
    const ticket = dev.tickets.get(packet)!;
    rig.hc.restoreState(state);
    assert.deepEqual(dev.cancelled, [packet], "the restore took the request back");
    assertStaleAndHarmless({ rig, dev, packet, ticket }, "after the restore");
  });
});

describe("a backend that answers from inside cancelPacket", () => {
  it("its other requests were marked cancelled first: those answers are stale too, and nothing throws", () => {
    // frame list[*] -> QH A -> QH B -> T
    //                   |       \-> (element) TD B (IN 8, ep 2) -> T
    //                   \-> (element) TD A (IN 8, ep 1) -> T
    const rig = new Rig();
    const dev = new FakeDevice({ address: 1 });
    rig.plug(0, dev);
    writeQh(rig.ram, node(0), qhLink(node(1)), tdLink(node(2)));
    writeQh(rig.ram, node(1), TERM, tdLink(node(3)));
    writeTd(rig.ram, node(2), { pid: PID.IN, devAddr: 1, endpoint: 1, maxLen: 8, buffer: buf(0) });
    writeTd(rig.ram, node(3), { pid: PID.IN, devAddr: 1, endpoint: 2, maxLen: 8, buffer: buf(1) });
    dev.defaultReply = DEFER;
    rig.start(qhLink(node(0)));
    rig.frames(1);
    assert.equal(dev.inFlight.length, 2);
    const tickets = new Map(dev.tickets);
    let accepted = 0;
    const cancel = dev.cancelPacket.bind(dev);
    dev.cancelPacket = (packet) => {
      cancel(packet);
      // Against the rules: answer everything else it holds, right now.
      for (const [other, ticket] of tickets) if (other !== packet && answer(other, ticket)) accepted++;
    };
    const before = Buffer.from(rig.ram.bytes);
    rig.write16(Reg.USBCMD, 0);
    assert.equal(dev.cancelled.length, 2);
    assert.equal(accepted, 0);
    assert.equal(rig.hc.staleCompletions, 2);
    assert.ok(Buffer.from(rig.ram.bytes).equals(before));
    assert.equal(rig.usbsts, Sts.HCHALTED);
    assert.equal(qhElement(rig.ram, node(0)), tdLink(node(2)));
  });
});

describe("a backend that answers an isochronous request twice", () => {
  it("the first answer is written at once (seed point 3); the second is refused and writes nothing", () => {
    // frame list[*] -> ISO TD (IN 8, IOC) -> T
    const rig = new Rig();
    const dev = new FakeDevice({ address: 1 });
    rig.plug(0, dev);
    writeTd(rig.ram, TD, {
      pid: PID.IN,
      devAddr: 1,
      endpoint: 1,
      maxLen: 8,
      buffer: buf(0),
      ios: true,
      ioc: true,
    });
    rig.fill(buf(0), 0x200, 0xee);
    dev.defaultReply = DEFER;
    rig.start(tdLink(TD), { intr: Intr.IOC });
    rig.frames(1);
    const packet = dev.inFlight[0]!;
    const ticket = dev.tickets.get(packet)!;
    packet.data.set([1, 2, 3, 4]);
    assert.equal(packet.complete(ticket, PacketStatus.Ack, 4), true);
    const td = readTd(rig.ram, TD);
    assert.equal(td.active, false);
    assert.equal(td.actLen, 4);
    assert.deepEqual(rig.bytes(buf(0), 5), [1, 2, 3, 4, 0xee]);
    assert.equal(rig.irq.level, true, "IOC at once");
    assertStaleAndHarmless({ rig, dev, packet, ticket }, "the second iso answer");
  });
});
