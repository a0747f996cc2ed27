import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { VirtualClock } from "../../machine/clock.ts";
import { SeededRandom } from "../../machine/seeded-random.ts";
import { DEAD_TICKET, UsbPacket } from "../../usb/packet.ts";
import { CompletionSchedule } from "./completion-schedule.ts";
import { DEFAULT_ASYNC_HOST_TIMING, RequestTiming } from "./request-timing.ts";

const packets = Array.from({ length: 40 }, () => new UsbPacket(8));
/** The schedule only carries tickets; their value does not matter to its order. */
const TICKET = DEAD_TICKET;

/** Takes everything due at `now`, as [packet index, slot, aborted]. */
function drain(schedule: CompletionSchedule, now: number): [number, number, boolean][] {
  const out: [number, number, boolean][] = [];
  for (;;) {
    const e = schedule.takeDue(now);
    if (e === null) return out;
    out.push([packets.indexOf(e.packet!), e.slot, e.aborted]);
    e.packet = null;
  }
}

describe("CompletionSchedule", () => {
  it("hands requests back in due order, ties in arrival order, only once due", () => {
    const s = new CompletionSchedule(4);
    s.add(packets[0]!, TICKET, 5, 1);
    s.add(packets[1]!, TICKET, 3, 1);
    s.add(packets[2]!, TICKET, 5, 2);
    s.add(packets[3]!, TICKET, 4, 3);
    assert.equal(s.headDueMs, 3);
    assert.deepEqual(drain(s, 2.9), []);
    assert.deepEqual(drain(s, 4), [
      [1, 1, false],
      [3, 3, false],
    ]);
    assert.deepEqual(drain(s, 10), [
      [0, 1, false],
      [2, 2, false],
    ]);
    assert.equal(s.headDueMs, Number.POSITIVE_INFINITY);
  });

  it("remove keeps the order of the rest and works across the ring's wrap", () => {
    const s = new CompletionSchedule(4);
    for (let i = 0; i < 3; i++) s.add(packets[i]!, TICKET, i, 0);
    drain(s, 1); // head moves on: the next adds wrap round
    for (let i = 3; i < 6; i++) s.add(packets[i]!, TICKET, i, 0);
    assert.equal(s.remove(packets[4]!), true);
    assert.equal(s.remove(packets[4]!), false);
    assert.equal(s.remove(packets[0]!), false, "already handed back");
    assert.deepEqual(
      drain(s, 100).map((e) => e[0]),
      [2, 3, 5],
    );
  });

  it("abortWhere brings matching requests forward, marked, and keeps the order", () => {
    const s = new CompletionSchedule();
    s.add(packets[0]!, TICKET, 10, 17);
    s.add(packets[1]!, TICKET, 11, 2);
    s.add(packets[2]!, TICKET, 12, 17);
    assert.equal(
      s.abortWhere((slot) => slot === 17, 1),
      2,
    );
    assert.deepEqual(drain(s, 1), [
      [0, 17, true],
      [2, 17, true],
    ]);
    assert.deepEqual(drain(s, 11), [[1, 2, false]]);
  });

  it("grows to maxEntries, then refuses", () => {
    const s = new CompletionSchedule(2, 5);
    for (let i = 0; i < 5; i++) assert.equal(s.add(packets[i]!, TICKET, 10 - i, 0), true);
    assert.equal(s.add(packets[5]!, TICKET, 0, 0), false);
    assert.equal(s.size, 5);
    assert.deepEqual(
      drain(s, 10).map((e) => e[0]),
      [4, 3, 2, 1, 0],
    );
  });

  it("stays ordered under a random mix of adds, removes and takes", () => {
    const s = new CompletionSchedule(2, 64);
    const random = new SeededRandom(1);
    const rand = () => random.next();
    const held = new Set<number>();
    let now = 0;
    for (let step = 0; step < 5000; step++) {
      const r = rand();
      if (r < 0.5 && held.size < packets.length) {
        const free = packets.findIndex((_, i) => !held.has(i));
        s.add(packets[free]!, TICKET, now + rand() * 20, 0);
        held.add(free);
      } else if (r < 0.6 && held.size > 0) {
        const victim = [...held][Math.floor(rand() * held.size)]!;
        assert.equal(s.remove(packets[victim]!), true);
        held.delete(victim);
      } else {
        now += rand() * 3;
        let last = Number.NEGATIVE_INFINITY;
        for (;;) {
          const e = s.takeDue(now);
          if (e === null) break;
          assert.ok(e.dueMs >= last && e.dueMs <= now);
          last = e.dueMs;
          held.delete(packets.indexOf(e.packet!));
          e.packet = null;
        }
        assert.ok(s.headDueMs > now);
      }
      assert.equal(s.size, held.size);
    }
  });

  it("addTimed holds a request until the time RequestTiming gives it, with its ticket", () => {
    const clock = new VirtualClock();
    clock.advance(100);
    const timing = new RequestTiming({ ...DEFAULT_ASYNC_HOST_TIMING, isoLatencyMs: 0.5 });
    const reference = new RequestTiming({ ...DEFAULT_ASYNC_HOST_TIMING, isoLatencyMs: 0.5 });
    const s = new CompletionSchedule(2, 8);
    const packet = new UsbPacket(8);
    packet.init(0x69, 1, 1, 8);
    const ticket = packet.deferred();
    assert.equal(s.addTimed(packet, ticket, 17, timing, true, clock), true);
    const due = reference.dueMs(17, true, 100);
    assert.equal(due, 110.5, "the first request of a stream: 10 ms out, plus the latency");
    assert.equal(s.headDueMs, due);
    assert.equal(s.takeDue(due - 0.1), null);
    const entry = s.takeDue(due);
    assert.equal(entry?.packet, packet);
    assert.equal(entry?.ticket, ticket);
    assert.equal(entry?.slot, 17);
  });
});
