/**
 * UsbPacket's async contract: deferring hands out a ticket, and only the ticket of the request still in
 * flight completes it. Whatever a device does with a packet it no longer owns — answers twice, answers
 * after the host cancelled, defers outside handlePacket — is refused (and counted in the packet's pool),
 * never applied, never thrown back at it.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { Pid } from "./constants.ts";
import { DEAD_TICKET, PacketState, PacketStatus, UsbPacketPool } from "./packet.ts";

describe("UsbPacket tickets", () => {
  it("the ticket deferred() returns completes the request once; a second answer is refused and counted", () => {
    const pool = new UsbPacketPool();
    const packet = pool.acquire();
    packet.init(Pid.In, 1, 1, 8);
    const ticket = packet.deferred();
    assert.equal(packet.state, PacketState.Async);
    assert.equal(packet.isPending(ticket), true);
    packet.data.set([1, 2, 3]);
    assert.equal(packet.complete(ticket, PacketStatus.Ack, 3), true);
    assert.equal(packet.state, PacketState.Complete);
    assert.equal(packet.actualLength, 3);
    assert.equal(packet.isPending(ticket), false);
    assert.equal(packet.complete(ticket, PacketStatus.Stall, 0), false);
    assert.equal(packet.status, PacketStatus.Ack, "the refused answer changed nothing");
    assert.equal(packet.actualLength, 3);
    assert.equal(pool.staleCompletions, 1);
  });

  it("a ticket from before the packet was reused never completes the new request", () => {
    const pool = new UsbPacketPool();
    const packet = pool.acquire();
    packet.init(Pid.In, 1, 1, 8);
    const old = packet.deferred();
    packet.complete(old, PacketStatus.Ack, 0);
    pool.release(packet);
    const again = pool.acquire();
    assert.equal(again, packet, "the pool reuses a completed packet");
    again.init(Pid.Out, 2, 3, 4);
    const current = again.deferred();
    assert.notEqual(current, old);
    assert.equal(again.complete(old, PacketStatus.Ack, 0), false);
    assert.equal(again.state, PacketState.Async, "the new request is still out");
    assert.equal(again.isPending(current), true);
    assert.equal(pool.staleCompletions, 1);
    assert.equal(again.complete(current, PacketStatus.Nak), true);
  });

  it("after cancel() no ticket completes it, and onComplete is not called", () => {
    const pool = new UsbPacketPool();
    const packet = pool.acquire();
    packet.init(Pid.In, 1, 1, 8);
    let called = 0;
    packet.onComplete = () => called++;
    const ticket = packet.deferred();
    packet.cancel();
    assert.equal(packet.complete(ticket, PacketStatus.Ack, 8), false);
    assert.equal(called, 0);
    assert.equal(packet.state, PacketState.Cancelled);
    assert.equal(pool.staleCompletions, 1);
  });

  it("deferring a packet that is not being offered returns a dead ticket and changes nothing", () => {
    const packet = new UsbPacketPool().acquire();
    packet.init(Pid.In, 1, 1, 8);
    const ticket = packet.deferred();
    // A device that defers twice in one handlePacket: the second ticket is dead, the first still works.
    assert.equal(packet.deferred(), DEAD_TICKET);
    assert.equal(packet.isPending(ticket), true);
    packet.complete(ticket, PacketStatus.Ack, 0);
    assert.equal(packet.deferred(), DEAD_TICKET, "a completed packet cannot be deferred again");
    assert.equal(packet.state, PacketState.Complete);
    assert.equal(packet.complete(DEAD_TICKET, PacketStatus.Ack, 0), false);
  });

  it("complete() never throws: a length beyond the buffer is clamped to it (the host sees babble), a bad one is 0, async becomes a time-out", () => {
    const packet = new UsbPacketPool().acquire();
    for (const [length, expected] of [
      [-1, 0],
      [Number.NaN, 0],
      [1e9, 1280],
      [2.5, 2],
      [1280, 1280],
    ] as const) {
      packet.init(Pid.In, 1, 1, 8);
      const ticket = packet.deferred();
      assert.equal(packet.complete(ticket, PacketStatus.Ack, length), true);
      assert.equal(packet.actualLength, expected, `length ${length}`);
    }
    packet.init(Pid.In, 1, 1, 8);
    const ticket = packet.deferred();
    // (What a device written in JavaScript could pass.)
    assert.equal(packet.complete(ticket, "async" as PacketStatus as "ack", 0), true);
    assert.equal(packet.status, PacketStatus.IoError);
  });
});

describe("UsbPacketPool", () => {
  it("never hands out a cancelled packet again (its device may still write into it)", () => {
    const pool = new UsbPacketPool();
    const packet = pool.acquire();
    packet.init(Pid.In, 1, 1, 8);
    packet.deferred();
    packet.cancel();
    pool.release(packet);
    const next = pool.acquire();
    assert.notEqual(next, packet);
    assert.equal(pool.created, 2);
  });

  it("keeps a packet given back twice once, and refuses one still in flight or from another pool", () => {
    const pool = new UsbPacketPool();
    const a = pool.acquire();
    pool.release(a);
    pool.release(a);
    const inFlight = pool.acquire();
    assert.equal(inFlight, a);
    inFlight.init(Pid.In, 1, 1, 8);
    inFlight.deferred();
    pool.release(inFlight);
    const other = new UsbPacketPool().acquire();
    pool.release(other);
    const first = pool.acquire();
    const second = pool.acquire();
    assert.notEqual(first, a);
    assert.notEqual(first, other);
    assert.notEqual(second, first);
    assert.equal(pool.created, 3, "a, then two fresh ones: nothing was pooled twice or wrongly");
  });
});
