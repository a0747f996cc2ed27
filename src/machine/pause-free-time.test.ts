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
    assert.deepEqual(time.stats, { pauses: 0, removedMs: 0, longestMs: 0 });
  });

  it("takes a frozen host's pause out, found by the next now() call, less one heartbeat interval", () => {
    const host = fakeHost();
    const time = new PauseFreeTime({ realNow: host.realNow, scheduler: host.scheduler });
    host.run(50);
    const before = time.now();
    host.freeze(2000);
    const after = time.now();
    assert.equal(after - before, DEFAULT_HEARTBEAT_MS, "the guest sees one heartbeat of time, not 2 s");
    assert.deepEqual(time.stats, { pauses: 1, removedMs: 2000 - DEFAULT_HEARTBEAT_MS, longestMs: 1995 });
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
    assert.deepEqual(time.stats, { pauses: 2, removedMs: 1500, longestMs: 1000 });
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
