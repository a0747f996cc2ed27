import assert from "node:assert/strict";
import { describe, it } from "node:test";
import {
  DEFAULT_HEARTBEAT_MS,
  type HeartbeatScheduler,
  HOST_PAUSE_THRESHOLD_MS,
  PauseFreeTime,
} from "./pause-free-time.ts";

/** A host whose real time and heartbeat the test moves by hand. */
function fakeHost(startMs = 1000) {
  let real = startMs;
  let beat: (() => void) | null = null;
  let stopped = 0;
  const scheduler: HeartbeatScheduler = {
    start: (callback) => {
      beat = callback;
      return 7;
    },
    stop: (handle) => {
      assert.equal(handle, 7);
      beat = null;
      stopped++;
    },
  };
  return {
    scheduler,
    realNow: () => real,
    /** Real time passes with the heartbeat firing every `periodMs` (a running host, idle guest or not). */
    run(ms: number, periodMs = DEFAULT_HEARTBEAT_MS) {
      for (let t = 0; t < ms; t += periodMs) {
        real += Math.min(periodMs, ms - t);
        beat?.();
      }
    },
    /** Real time passes with nothing running (SIGSTOP, a busy-waited event loop). */
    freeze(ms: number) {
      real += ms;
    },
    get stopped() {
      return stopped;
    },
    get beating() {
      return beat !== null;
    },
  };
}

describe("PauseFreeTime", () => {
  it("follows real time while the host runs, whether or not anyone asks the time (an idle guest is not a pause)", () => {
    const host = fakeHost();
    const time = new PauseFreeTime({ realNow: host.realNow, scheduler: host.scheduler });
    assert.equal(time.now(), 1000);
    // Nobody calls now() for 2 s, but the heartbeat runs: no pause.
    host.run(2000);
    assert.equal(time.now(), 3000);
    assert.deepEqual(time.stats, { pauses: 0, removedMs: 0, longestMs: 0, heldMs: 0, holds: 0 });
  });

  it("takes a frozen host's pause out, found by the next now() call, less one heartbeat interval", () => {
    const host = fakeHost();
    const time = new PauseFreeTime({ realNow: host.realNow, scheduler: host.scheduler });
    host.run(50);
    const before = time.now();
    host.freeze(2000);
    const after = time.now();
    assert.equal(after - before, DEFAULT_HEARTBEAT_MS, "the guest sees one heartbeat of time, not 2 s");
    assert.deepEqual(time.stats, {
      pauses: 1,
      removedMs: 2000 - DEFAULT_HEARTBEAT_MS,
      longestMs: 1995,
      heldMs: 0,
      holds: 0,
    });
    host.run(30);
    assert.equal(time.now(), after + 30, "real time again after the pause");
  });

  it("finds a pause through the heartbeat too (the first beat after it), and counts every pause", () => {
    const host = fakeHost();
    const time = new PauseFreeTime({ realNow: host.realNow, scheduler: host.scheduler });
    const start = time.now();
    host.freeze(500);
    host.run(10);
    host.freeze(1000);
    host.run(10);
    // Each beat after a freeze came one period late: the freeze itself is what is taken out.
    assert.deepEqual(time.stats, { pauses: 2, removedMs: 1500, longestMs: 1000, heldMs: 0, holds: 0 });
    assert.equal(time.now() - start, 20);
  });

  it("treats gaps up to the threshold as running time (timer slop, GC), beyond it as a pause", () => {
    const host = fakeHost();
    const time = new PauseFreeTime({ realNow: host.realNow, scheduler: host.scheduler });
    host.freeze(HOST_PAUSE_THRESHOLD_MS);
    assert.equal(time.now(), 1000 + HOST_PAUSE_THRESHOLD_MS);
    host.freeze(HOST_PAUSE_THRESHOLD_MS + 1);
    assert.equal(time.now(), 1000 + HOST_PAUSE_THRESHOLD_MS + DEFAULT_HEARTBEAT_MS);
    assert.equal(time.stats.pauses, 1);
  });

  it("a background tab (timers at 1 Hz): every second is a pause, so time advances by a heartbeat per wake-up", () => {
    const host = fakeHost();
    const time = new PauseFreeTime({ realNow: host.realNow, scheduler: host.scheduler });
    const start = time.now();
    host.run(60_000, 1000);
    assert.equal(time.stats.pauses, 60);
    assert.equal(time.now() - start, 60 * DEFAULT_HEARTBEAT_MS);
  });

  it("never goes backwards, even when the real clock does", () => {
    const host = fakeHost();
    const time = new PauseFreeTime({ realNow: host.realNow, scheduler: host.scheduler });
    host.run(20);
    const t1 = time.now();
    host.freeze(-500);
    assert.equal(time.now(), t1);
    host.freeze(505);
    assert.equal(time.now(), t1 + 5);
    assert.equal(time.stats.pauses, 0);
  });

  it("dispose() stops the heartbeat once; now() still finds gaps between its own calls", () => {
    const host = fakeHost();
    const time = new PauseFreeTime({ realNow: host.realNow, scheduler: host.scheduler });
    assert.equal(host.beating, true);
    time.dispose();
    time.dispose();
    assert.equal(host.stopped, 1);
    assert.equal(time.heartbeatRunning, false);
    const before = time.now();
    host.freeze(3000);
    assert.equal(time.now() - before, DEFAULT_HEARTBEAT_MS);
  });

  it("on the host's own timers: a busy-waited event loop is taken out, and the heartbeat does not keep Node alive", async () => {
    const time = new PauseFreeTime();
    try {
      await new Promise((resolve) => setTimeout(resolve, 30));
      const before = time.now();
      const spinUntil = performance.now() + 400;
      while (performance.now() < spinUntil) {
        // the host pausing: nothing else runs
      }
      await new Promise((resolve) => setTimeout(resolve, 20));
      const elapsed = time.now() - before;
      assert.equal(time.stats.pauses, 1, JSON.stringify(time.stats));
      assert.ok(time.stats.removedMs >= 400 - DEFAULT_HEARTBEAT_MS - 1, JSON.stringify(time.stats));
      assert.ok(elapsed < 200, `pause-free time moved ${elapsed} ms across a 400 ms pause`);
    } finally {
      time.dispose();
    }
  });
});

/**
 * The leash: a slow host is not a pause. The v86 adapter holds time to USB time plus a lead, so the
 * guest's clock waits for the bus (v86's timer hook, where frames run, came up to 335 ms apart under
 * load while the guest read time inside its slices; issue 12, docs/architecture.md "Host stalls").
 */
describe("PauseFreeTime: a leash holds time for a slow part of the machine", () => {
  it("time stands at the limit, the rest counted as held (not as pauses) and taken out for good: it goes on from the limit at real speed", () => {
    const host = fakeHost();
    const time = new PauseFreeTime({ realNow: host.realNow, scheduler: host.scheduler });
    const leash = time.leash();
    leash.hold(1010);
    host.run(50);
    assert.equal(time.now(), 1010, "held at the limit though 50 ms passed");
    host.run(30);
    assert.equal(time.now(), 1010);
    assert.equal(time.stats.heldMs, 70);
    assert.equal(time.stats.pauses, 0, "a slow host is not a pause");
    assert.equal(time.stats.removedMs, 0);
    leash.hold(1014);
    assert.equal(time.now(), 1010, "no jump when the limit moves: the guest waited, it did not skip");
    host.run(3);
    assert.equal(time.now(), 1013);
    host.run(3);
    assert.equal(time.now(), 1014, "held again at the new limit");
    leash.hold(1100);
    host.run(5);
    assert.equal(time.now(), 1019);
    assert.equal(time.stats.heldMs, 72);
    assert.equal(time.stats.holds, 2);
  });

  it("never passes the limit however the host runs, and counts each run of holding once", () => {
    const host = fakeHost();
    const time = new PauseFreeTime({ realNow: host.realNow, scheduler: host.scheduler });
    const leash = time.leash();
    let limit = 1004;
    let last = time.now();
    for (let step = 0; step < 200; step++) {
      leash.hold(limit);
      host.run(step % 7 === 0 ? 40 : 1, 1);
      const t = time.now();
      assert.ok(t <= limit, `step ${step}: ${t} past the limit ${limit}`);
      assert.ok(t >= last, `step ${step}: back from ${last} to ${t}`);
      last = t;
      limit += 4; // the adapter's catch-up per hook
    }
    assert.ok(time.stats.holds > 0 && time.stats.holds <= 200, JSON.stringify(time.stats));
    assert.equal(time.stats.pauses, 0);
  });

  it("a limit below the time already returned holds time where it is (never backwards)", () => {
    const host = fakeHost();
    const time = new PauseFreeTime({ realNow: host.realNow, scheduler: host.scheduler });
    host.run(20);
    assert.equal(time.now(), 1020);
    const leash = time.leash();
    leash.hold(900);
    host.run(10);
    assert.equal(time.now(), 1020);
    assert.equal(time.stats.heldMs, 10);
  });

  it("release lets time run on from where it stood (nothing held comes back as a jump)", () => {
    const host = fakeHost();
    const time = new PauseFreeTime({ realNow: host.realNow, scheduler: host.scheduler });
    const leash = time.leash();
    leash.hold(1005);
    host.run(100);
    assert.equal(time.now(), 1005);
    leash.release();
    assert.equal(time.now(), 1005, "no jump at the release");
    host.run(10);
    assert.equal(time.now(), 1015);
    assert.equal(time.stats.heldMs, 95);
  });

  it("several leashes (two machines on one time): the lowest limit holds; a disposed one holds nothing", () => {
    const host = fakeHost();
    const time = new PauseFreeTime({ realNow: host.realNow, scheduler: host.scheduler });
    const a = time.leash();
    const b = time.leash();
    a.hold(1020);
    b.hold(1008);
    host.run(50);
    assert.equal(time.now(), 1008);
    b.dispose();
    assert.equal(time.now(), 1008);
    host.run(10);
    assert.equal(time.now(), 1018);
    host.run(10);
    assert.equal(time.now(), 1020, "now the other one holds");
    b.hold(1000); // a disposed leash is gone for good
    b.dispose();
    a.dispose();
    host.run(5);
    assert.equal(time.now(), 1025);
  });

  it("host pauses are still taken out while a leash holds, counted apart from the held time", () => {
    const host = fakeHost();
    const time = new PauseFreeTime({ realNow: host.realNow, scheduler: host.scheduler });
    const leash = time.leash();
    leash.hold(1030);
    host.run(10);
    host.freeze(2000);
    assert.equal(time.now(), 1000 + 10 + DEFAULT_HEARTBEAT_MS, "the pause is out, the limit not reached");
    assert.equal(time.stats.pauses, 1);
    assert.equal(time.stats.heldMs, 0);
    host.run(40);
    assert.equal(time.now(), 1030);
    assert.equal(time.stats.heldMs, 10 + 40 + DEFAULT_HEARTBEAT_MS - 30);
    assert.equal(time.stats.removedMs, 2000 - DEFAULT_HEARTBEAT_MS);
  });

  it("a NaN or infinite limit holds nothing (a broken caller cannot freeze time)", () => {
    const host = fakeHost();
    const time = new PauseFreeTime({ realNow: host.realNow, scheduler: host.scheduler });
    const leash = time.leash();
    leash.hold(Number.NaN);
    host.run(20);
    assert.equal(time.now(), 1020);
    leash.hold(Number.POSITIVE_INFINITY);
    host.run(20);
    assert.equal(time.now(), 1040);
    assert.equal(time.stats.heldMs, 0);
  });
});
