import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { RealTimeClock, type Timer, VirtualClock } from "./clock.ts";
import { SeededRandom } from "./seeded-random.ts";

describe("VirtualClock", () => {
  it("fires due timers in due-time order with now() at each due time, ties in creation order", () => {
    const clock = new VirtualClock(10);
    const fired: string[] = [];
    const make = (name: string) => {
      const timer: Timer = clock.createTimer(() => fired.push(`${name}@${timer.dueMs}/${clock.now()}`));
      return timer;
    };
    const a = make("a");
    const b = make("b");
    const c = make("c");
    const d = make("d");
    c.arm(13);
    a.arm(15);
    d.arm(13);
    b.arm(12.5);
    clock.advance(4);
    assert.deepEqual(fired, ["b@12.5/12.5", "c@13/13", "d@13/13"]);
    assert.equal(clock.now(), 14);
    assert.equal(a.armed, true);
    assert.equal(clock.nextDueMs(), 15);
    clock.advanceTo(100);
    assert.deepEqual(fired.at(-1), "a@15/15");
    assert.equal(clock.nextDueMs(), undefined);
  });

  it("a timer re-armed from its own callback fires once per period; re-arming moves it, disarming drops it", () => {
    const clock = new VirtualClock();
    const dues: number[] = [];
    const periodic: Timer = clock.createTimer(() => {
      dues.push(periodic.dueMs);
      periodic.arm(periodic.dueMs + 1);
    });
    periodic.arm(1);
    clock.advance(5);
    assert.deepEqual(dues, [1, 2, 3, 4, 5]);
    const once: number[] = [];
    const moved: Timer = clock.createTimer(() => once.push(moved.dueMs));
    moved.arm(7);
    moved.arm(6.5); // re-armed earlier: fires once, at the new time
    clock.advance(2);
    assert.deepEqual(once, [6.5]);
    moved.arm(9);
    moved.disarm();
    clock.advance(10);
    assert.deepEqual(once, [6.5]);
    assert.equal(dues.length, 17);
  });

  it("a time in the past fires at the next advance, with now; NaN never fires", () => {
    const clock = new VirtualClock(50);
    const fired: number[] = [];
    const past: Timer = clock.createTimer(() => fired.push(past.dueMs));
    const never = clock.createTimer(() => fired.push(-1));
    past.arm(3);
    never.arm(Number.NaN);
    assert.equal(never.armed, true);
    clock.advance(0);
    assert.deepEqual(fired, [50]);
    clock.advance(1e9);
    assert.deepEqual(fired, [50]);
  });

  it("armAtDue arms for the time written into dueMs, exactly as arm does (past → now, disposed → throws)", () => {
    const clock = new VirtualClock(10.25);
    const fired: number[] = [];
    const timer: Timer = clock.createTimer(() => fired.push(clock.now()));
    timer.dueMs = 12.5;
    timer.armAtDue();
    assert.equal(timer.armed, true);
    assert.equal(clock.nextDueMs(), 12.5);
    timer.dueMs = 3; // in the past: due now
    timer.armAtDue();
    assert.equal(timer.dueMs, 10.25);
    clock.advance(5);
    assert.deepEqual(fired, [10.25]);
    timer.dispose();
    timer.dueMs = 20;
    assert.throws(() => timer.armAtDue(), /disposed/);
  });

  it("a timer disarmed by another one's callback, due at the same time, does not fire", () => {
    const clock = new VirtualClock();
    const fired: string[] = [];
    let victim: Timer | null = null;
    // Made first, so it fires first among timers due at the same time.
    const killer = clock.createTimer(() => {
      fired.push("killer");
      victim?.disarm();
    });
    victim = clock.createTimer(() => fired.push("victim"));
    victim.arm(5);
    killer.arm(5);
    clock.advance(10);
    assert.deepEqual(fired, ["killer"]);
    assert.equal(victim.armed, false);
    assert.equal(clock.armedTimers, 0);
  });

  it("jumpTo fires nothing; timers due meanwhile fire at the next advance; time never goes back", () => {
    const clock = new VirtualClock();
    const seen: [number, number][] = [];
    const timer: Timer = clock.createTimer(() => seen.push([timer.dueMs, clock.now()]));
    timer.arm(3);
    clock.jumpTo(10);
    assert.deepEqual(seen, []);
    clock.jumpTo(5);
    assert.equal(clock.now(), 10);
    clock.advance(1);
    assert.deepEqual(seen, [[3, 10]]);
    assert.equal(clock.now(), 11);
  });

  it("disposed timers are forgotten: 100,000 made, armed and disposed leave nothing armed and never fire", () => {
    const clock = new VirtualClock();
    let calls = 0;
    for (let i = 0; i < 100_000; i++) {
      const timer = clock.createTimer(() => calls++);
      timer.arm(1 + (i % 97));
      if (i % 2 === 0) timer.dispose();
      else timer.disarm();
    }
    assert.equal(clock.armedTimers, 0);
    assert.equal(clock.nextDueMs(), undefined);
    const kept = clock.createTimer(() => calls++);
    kept.arm(50);
    assert.equal(clock.armedTimers, 1);
    clock.advance(100);
    assert.equal(calls, 1);
  });

  it("a disposed timer cannot be armed again (the host's mistake is loud), and disposing twice is harmless", () => {
    const clock = new VirtualClock();
    let calls = 0;
    const timer = clock.createTimer(() => calls++);
    timer.arm(5);
    timer.dispose();
    timer.dispose();
    assert.equal(timer.armed, false);
    assert.throws(() => timer.arm(6), /disposed/);
    clock.advance(10);
    assert.equal(calls, 0);
    assert.equal(clock.armedTimers, 0);
  });

  it("matches a reference model under 20,000 random arm / re-arm / disarm / dispose / advance steps", () => {
    const rng = new SeededRandom(0x5eed);
    const clock = new VirtualClock();
    const fired: string[] = [];
    // The model: every armed timer with its due time; fires by (due, creation index).
    const model = new Map<number, number>();
    const expected: string[] = [];
    const disposed = new Set<number>();
    const timers: Timer[] = Array.from({ length: 64 }, (_, k) =>
      clock.createTimer(() => fired.push(`${k}@${timers[k]!.dueMs}/${clock.now()}`)),
    );
    for (let step = 0; step < 20_000; step++) {
      const k = rng.below(timers.length);
      const timer = timers[k]!;
      const op = rng.below(10);
      if (op < 5 && !disposed.has(k)) {
        const at = clock.now() + rng.below(40) / 4 - 1; // sometimes in the past
        timer.arm(at);
        model.set(k, Math.max(at, clock.now()));
      } else if (op < 7) {
        timer.disarm();
        model.delete(k);
      } else if (op === 7 && rng.chance(0.05)) {
        timer.dispose();
        model.delete(k);
        disposed.add(k);
      } else {
        const target = clock.now() + rng.below(12) / 4;
        const due = [...model.entries()]
          .filter(([, at]) => at <= target)
          .sort((x, y) => x[1] - y[1] || x[0] - y[0]);
        for (const [j, at] of due) {
          expected.push(`${j}@${at}/${Math.max(at, clock.now())}`);
          model.delete(j);
        }
        clock.advanceTo(target);
      }
      assert.equal(clock.armedTimers, model.size);
      for (const [j, timer] of timers.entries()) assert.equal(timer.armed, model.has(j));
    }
    assert.deepEqual(fired, expected);
    assert.ok(expected.length > 1000, `enough firings to mean something (${expected.length})`);
  });
});

describe("RealTimeClock", () => {
  const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

  it("fires armed timers in due-time order, not before they are due, and not disarmed ones", async () => {
    const clock = new RealTimeClock();
    const fired: string[] = [];
    const start = clock.now();
    const late: number[] = [];
    const make = (name: string) => {
      const timer: Timer = clock.createTimer(() => {
        fired.push(name);
        late.push(clock.now() - timer.dueMs);
      });
      return timer;
    };
    const a = make("a");
    const b = make("b");
    const c = make("c");
    const d = make("d");
    c.arm(start + 12); // a one-off host timer (beyond the tick horizon)
    a.arm(start + 2); // the 1 ms tick
    b.arm(start + 0.5);
    d.arm(start + 3);
    d.disarm();
    // On a loaded machine a time may already have passed when it is armed: it is then due at once
    // (dueMs is the time of arming), which can change the order. The order is by due time as armed.
    const expected = [
      ["a", a.dueMs],
      ["b", b.dueMs],
      ["c", c.dueMs],
    ]
      .sort((x, y) => (x[1] as number) - (y[1] as number))
      .map(([name]) => name);
    await sleep(40);
    assert.deepEqual(fired, expected);
    for (const ms of late) assert.ok(ms >= 0, "never early");
    assert.equal(d.armed, false);
  });

  it("a timer re-armed every millisecond on a fixed grid keeps firing, at most a few ms behind", async () => {
    const clock = new RealTimeClock();
    const start = clock.now();
    let fires = 0;
    let maxBehind = 0;
    const timer: Timer = clock.createTimer(() => {
      fires++;
      maxBehind = Math.max(maxBehind, clock.now() - timer.dueMs);
      if (fires < 30) timer.arm(timer.dueMs + 1);
    });
    timer.arm(start + 1);
    await sleep(200);
    assert.equal(fires, 30);
    assert.equal(timer.armed, false);
    // Loose: a shared CI machine may stall the event loop; the point is that it keeps going.
    assert.ok(maxBehind < 150, `max lateness ${maxBehind} ms`);
  });

  it("a disposed timer never fires and cannot be armed again", async () => {
    const clock = new RealTimeClock();
    let calls = 0;
    const timer = clock.createTimer(() => calls++);
    timer.arm(clock.now() + 1);
    timer.dispose();
    assert.throws(() => timer.arm(clock.now()), /disposed/);
    await sleep(10);
    assert.equal(calls, 0);
  });
});
