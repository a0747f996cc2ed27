/**
 * AsyncQueue's bookkeeping against a plain model: pairings found by TD address (and by token and
 * buffer), released and cancelled in any order, aged by frames they were not met in — through the
 * queue's own methods, with many TD addresses colliding in its index.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { SeededRandom } from "../../machine/seeded-random.ts";
import { UsbSpeed } from "../../usb/constants.ts";
import type { UsbDevice } from "../../usb/device.ts";
import { PacketState, UsbPacket } from "../../usb/packet.ts";
import { ASYNC_VALID_FRAMES, type AsyncPairing, AsyncQueue } from "./async-queue.ts";

function device(cancelled: UsbPacket[]): UsbDevice {
  return {
    name: "model",
    speed: UsbSpeed.Full,
    address: 1,
    handlePacket: () => {},
    cancelPacket: (packet) => cancelled.push(packet),
    reset: () => {},
    setUpstream: () => {},
    setSuspended: () => {},
  };
}

function deferredPacket(): UsbPacket {
  const packet = new UsbPacket(8);
  packet.init(0x69, 1, 1, 8);
  packet.deferred();
  return packet;
}

describe("AsyncQueue", () => {
  it("agrees with a Map of TD address → request through thousands of random adds, releases and cancels", () => {
    const rng = new SeededRandom(7);
    const queue = new AsyncQueue();
    const cancelled: UsbPacket[] = [];
    const dev = device(cancelled);
    const model = new Map<number, { token: number; packet: UsbPacket }>();
    // 64 TD addresses, some far apart, some neighbours, so that the index's probe runs collide.
    const addresses = Array.from({ length: 64 }, (_, i) => (i < 32 ? 0x2000 + 16 * i : 0x10_0000 * i));
    for (let step = 0; step < 20_000; step++) {
      const address = addresses[Math.floor(rng.next() * addresses.length)]!;
      const roll = rng.next();
      const held = model.get(address);
      if (roll < 0.5) {
        const token = Math.floor(rng.next() * 4) | 0x8000_0000;
        const packet = deferredPacket();
        queue.add(address, token, 0, false, dev, packet);
        if (held !== undefined) {
          assert.equal(held.packet.state, PacketState.Cancelled, "a TD's older request is cancelled");
        }
        model.set(address, { token: token | 0, packet });
      } else if (roll < 0.75) {
        const p = queue.findByTd(address);
        if (held === undefined) {
          assert.equal(p, null);
        } else {
          assert.ok(p !== null);
          queue.release(p);
          model.delete(address);
        }
      } else if (roll < 0.85) {
        const p = queue.findByTd(address);
        if (p !== null) {
          queue.cancel(p);
          assert.equal(held?.packet.state, PacketState.Cancelled);
          model.delete(address);
        }
      } else {
        for (const a of addresses) {
          const want = model.get(a);
          const got = queue.findByTd(a);
          assert.equal(got?.packet ?? null, want?.packet ?? null, `TD ${a.toString(16)} at step ${step}`);
          if (want !== undefined) {
            assert.equal(queue.find(a, want.token, 0, false), got);
            assert.equal(queue.find(a, want.token ^ 1, 0, false), null, "another token is another TD");
          }
        }
      }
      assert.equal(queue.size, model.size);
    }
  });

  it("ages only the pairings not met in a frame, and cancels one after 32 unmet frames", () => {
    const queue = new AsyncQueue();
    const cancelled: UsbPacket[] = [];
    const dev = device(cancelled);
    const a = queue.add(0x2000, 1, 0, false, dev, deferredPacket());
    const b = queue.add(0x2010, 1, 0, false, dev, deferredPacket());
    const bPacket = b.packet!;
    queue.endFrame(); // both were made this frame
    for (let frame = 1; frame < ASYNC_VALID_FRAMES; frame++) {
      queue.refresh(a);
      queue.endFrame();
    }
    assert.equal(cancelled.length, 0, "31 frames unmet: b still waits");
    assert.equal(queue.unmet, 2, "a new frame: neither met yet");
    queue.refresh(a);
    assert.equal(queue.unmet, 1);
    queue.endFrame();
    assert.deepEqual(cancelled, [bPacket]);
    assert.equal(queue.findByTd(0x2010), null);
    assert.equal(queue.findByTd(0x2000), a);
  });

  it("frames run with no host time age nothing, up to replayHoldLimit pairings; beyond it they age like the rest", () => {
    const queue = new AsyncQueue();
    queue.replayHoldLimit = 2;
    const cancelled: UsbPacket[] = [];
    const dev = device(cancelled);
    const a = queue.add(0x2000, 1, 0, true, dev, deferredPacket());
    queue.add(0x2010, 1, 0, true, dev, deferredPacket());
    queue.endFrame(); // both were made this frame
    // A replay of 512 frames after a host pause: a device that answers later had no time to.
    for (let frame = 0; frame < 512; frame++) queue.endFrame(true);
    assert.equal(cancelled.length, 0, "two pairings, at the limit: none aged");
    for (let frame = 1; frame < ASYNC_VALID_FRAMES; frame++) queue.endFrame();
    assert.equal(cancelled.length, 0, "31 frames of host time: still valid");
    queue.endFrame();
    assert.equal(cancelled.length, 2, "the 32nd frame of host time cancels both");
    assert.equal(a.inUse, false);
    // Three pairings, beyond the limit: a guest cannot pile requests up by making frames run late.
    for (let i = 0; i < 3; i++) queue.add(0x3000 + 16 * i, 1, 0, true, dev, deferredPacket());
    queue.endFrame();
    for (let frame = 0; frame < ASYNC_VALID_FRAMES; frame++) queue.endFrame(true);
    assert.equal(cancelled.length, 5, "beyond the limit, replayed frames aged and cancelled them");
    assert.equal(queue.size, 0);
  });

  it("cancelAll marks every packet cancelled before it tells the first device", () => {
    const queue = new AsyncQueue();
    const seen: PacketState[][] = [];
    const packets: UsbPacket[] = [];
    const dev = device([]);
    dev.cancelPacket = () => seen.push(packets.map((p) => p.state));
    const pairings: AsyncPairing[] = [];
    for (let i = 0; i < 3; i++) {
      const packet = deferredPacket();
      packets.push(packet);
      pairings.push(queue.add(0x3000 + 16 * i, 1, 0, false, dev, packet));
    }
    queue.cancelAll(null);
    assert.equal(seen.length, 3);
    for (const states of seen)
      assert.deepEqual(states, [PacketState.Cancelled, PacketState.Cancelled, PacketState.Cancelled]);
    assert.equal(queue.size, 0);
    for (const p of pairings) assert.equal(p.inUse, false);
  });
});
