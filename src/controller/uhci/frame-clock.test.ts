/**
 * The host-stall policy of the frame clock (docs/architecture.md, "Host stalls"). A lag up to
 * `thresholdMs` is a slow host: every overdue frame runs, in order, on the fixed grid (the seed's
 * mechanism 4). Beyond it the host paused: in "replay" mode (default) up to `maxReplayFrames` run at
 * once and the rest are held; held frames never happen: the grid moves on by whole frames (in "hold"
 * mode, all of them). Either way the grid keeps its phase: it is never re-armed from "now".
 *
 * A virtual clock fires each timer at its own due time, so a clock owner that jumps it (the v86 adapter)
 * says so first with notePause(); a late host timer (VirtualClock.jumpTo, then advanceTo) is seen by the
 * wake-up itself.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { VirtualClock } from "../../machine/clock.ts";
import { RamGuestMemory } from "../../machine/guest-memory.ts";
import { LevelIrqLine } from "../../machine/irq-line.ts";
import { DEFAULT_HOST_STALL_POLICY, FrameClock, type HostStallPolicy } from "./frame-clock.ts";
import { UhciController } from "./uhci-controller.ts";

function rig(policy: Partial<HostStallPolicy> = {}) {
  const clock = new VirtualClock(0);
  const ran: number[] = [];
  const fc = new FrameClock(clock, () => ran.push(clock.now()), 64, policy);
  fc.start(1);
  return { clock, fc, ran };
}

/** The host's timers fire late, all at once, at `toMs` (what a stopped process sees when it resumes). */
function lateHostTimers(clock: VirtualClock, toMs: number): void {
  clock.jumpTo(toMs);
  clock.advanceTo(toMs);
}

describe("frame clock: which frames give a device that answers later host time (hostTimePassed)", () => {
  function seen(policy: Partial<HostStallPolicy> = {}) {
    const clock = new VirtualClock(0);
    const passed: boolean[] = [];
    const fc: FrameClock = new FrameClock(clock, () => passed.push(fc.hostTimePassed), 64, policy);
    fc.start(1);
    return { clock, fc, passed };
  }

  it("on time: every frame; 80 overdue frames run back to back: the first only", () => {
    const { clock, passed } = seen();
    clock.advanceTo(10.5);
    assert.deepEqual(passed, Array(10).fill(true));
    passed.length = 0;
    lateHostTimers(clock, 90.5);
    assert.equal(passed.length, 80);
    assert.deepEqual(passed, [true, ...Array(79).fill(false)]);
  });

  it("a host pause replayed: none of its frames, then every frame on time again", () => {
    const { clock, passed } = seen();
    clock.advanceTo(10.5);
    passed.length = 0;
    lateHostTimers(clock, 310.5);
    assert.equal(passed.length, 300);
    assert.equal(passed.filter((p) => p).length, 0);
    passed.length = 0;
    clock.advanceTo(315.5);
    assert.deepEqual(passed, Array(5).fill(true));
  });
});

describe("frame clock: a slow host (lag up to thresholdMs) runs every overdue frame, in order", () => {
  it("an 80 ms lag (threshold 100): all 80 frames run at the wake-up, none held, the grid unchanged", () => {
    const { clock, fc, ran } = rig();
    clock.advanceTo(10.5);
    lateHostTimers(clock, 90.5);
    assert.equal(fc.frames, 90);
    assert.equal(ran.length, 90);
    assert.deepEqual(fc.stallStats, { pauses: 0, framesHeld: 0, framesReplayed: 0, longestPauseMs: 0 });
    assert.equal(clock.nextDueMs(), 91);
  });

  it("notePause() below the threshold says no and changes nothing", () => {
    const { clock, fc } = rig();
    clock.advanceTo(10.5);
    assert.equal(fc.notePause(90.5), false);
    clock.advanceTo(90.5);
    assert.equal(fc.frames, 90);
    assert.equal(fc.stallStats.pauses, 0);
  });
});

describe('frame clock: a host pause in "hold" mode: the bus stood still with the CPU', () => {
  it("seen at a late wake-up: the 1000 overdue frames never run; the next is due within one period, on the same grid", () => {
    const { clock, fc, ran } = rig({ mode: "hold" });
    clock.advanceTo(10.25);
    assert.equal(fc.frames, 10);
    lateHostTimers(clock, 1010.25);
    assert.equal(fc.frames, 10, "no frame ran for the pause");
    assert.equal(ran.length, 10);
    // The grid keeps its phase: frames stay due at whole milliseconds, the next one within 1 ms.
    assert.equal(clock.nextDueMs(), 1011);
    const stats = fc.stallStats;
    assert.equal(stats.pauses, 1);
    assert.equal(stats.framesHeld, 1000);
    assert.equal(stats.longestPauseMs, 999.25);
    clock.advanceTo(1015.25);
    assert.equal(fc.frames, 15, "and it runs on in step");
    assert.deepEqual(ran.slice(10), [1011, 1012, 1013, 1014, 1015]);
  });

  it("told by notePause() before a virtual clock jumps (the v86 adapter): the same", () => {
    const { clock, fc, ran } = rig({ mode: "hold" });
    clock.advanceTo(10.25);
    assert.equal(fc.notePause(5010.25), true);
    clock.advanceTo(5010.25);
    assert.equal(fc.frames, 10);
    assert.equal(ran.length, 10);
    assert.equal(clock.nextDueMs(), 5011);
    assert.equal(fc.stallStats.framesHeld, 5000);
  });

  it("a snapshot after a hold resumes with the same grid phase", () => {
    const { clock, fc } = rig({ mode: "hold" });
    clock.advanceTo(3.5);
    fc.notePause(503.7);
    clock.advanceTo(503.7);
    const saved = fc.saveState();
    assert.equal(saved.framesRun, 3);
    const other = new FrameClock(new VirtualClock(503.7), () => {}, 64);
    other.restoreState(saved);
    assert.equal(other.overdueFrames(504), 1, "frame 4 is due at 504, as on the original grid");
  });

  it("a SOFMOD change waiting for its frame keeps its place after a hold (UHCI 2.1.6)", () => {
    const { clock, fc, ran } = rig({ mode: "hold" });
    clock.advanceTo(5.5);
    fc.setPeriod(0.5); // frame 6 keeps 1 ms; frames from 7 on are 0.5 ms
    fc.notePause(1005.5);
    clock.advanceTo(1008);
    // Frame 6 ends at 1006 (1 ms), then 0.5 ms frames: 1006.5, 1007, 1007.5, 1008.
    assert.deepEqual(ran.slice(5), [1006, 1006.5, 1007, 1007.5, 1008]);
  });
});

describe('frame clock: a host pause in "replay" mode (the default): the bus ran on while the CPU stood still', () => {
  it("up to maxReplayFrames overdue frames run at once, in order, on their grid times; the rest are held", () => {
    const { clock, fc, ran } = rig({ mode: "replay", maxReplayFrames: 100 });
    clock.advanceTo(10.5);
    assert.equal(fc.notePause(1010.5), true);
    clock.advanceTo(1010.5);
    assert.equal(ran.length, 110, "10 before, 100 replayed");
    assert.deepEqual(ran.slice(10, 13), [11, 12, 13], "replayed on their own grid times, in order");
    assert.equal(fc.frames, 110, "held frames are not counted");
    assert.deepEqual(fc.stallStats, {
      pauses: 1,
      framesHeld: 900,
      framesReplayed: 100,
      longestPauseMs: 999.5,
    });
    assert.equal(clock.nextDueMs(), 1011, "the grid moved on by whole frames: the next is due within 1 ms");
    clock.advanceTo(1012.5);
    assert.equal(fc.frames, 112);
    assert.deepEqual(ran.slice(-2), [1011, 1012]);
  });

  it("a pause shorter than maxReplayFrames replays every frame and holds none; late host timers too", () => {
    const { clock, fc, ran } = rig();
    clock.advanceTo(2.5);
    lateHostTimers(clock, 402.5);
    assert.equal(fc.frames, 402);
    assert.equal(ran.length, 402);
    assert.equal(fc.stallStats.framesHeld, 0);
    assert.equal(fc.stallStats.framesReplayed, 400);
  });
});

describe("frame clock: hostile or mistaken policy values fall back to the defaults", () => {
  it("NaN, negative and unknown values", () => {
    const { fc } = rig({
      thresholdMs: Number.NaN,
      maxReplayFrames: -5,
      mode: "bogus" as HostStallPolicy["mode"],
    });
    assert.deepEqual(fc.stallPolicy, DEFAULT_HOST_STALL_POLICY);
  });
});

describe("the controller: FRNUM across a host pause (UHCI 2.1.4: it counts the frames the bus ran)", () => {
  function controller(policy: Partial<HostStallPolicy>) {
    const clock = new VirtualClock(0);
    const memory = new RamGuestMemory(0x4000);
    // An empty schedule: every frame list entry terminates.
    for (let i = 0; i < 1024; i++) memory.write32(0x1000 + 4 * i, 1);
    const hc = new UhciController({ memory, irq: new LevelIrqLine(), clock, hostStall: policy });
    hc.ioWrite(0x08, 4, 0x1000); // FRBASEADD
    hc.ioWrite(0x00, 2, 1); // USBCMD.RS
    return { clock, hc, frnum: () => hc.ioRead(0x06, 2) /* FRNUM */ };
  }

  it("hold: FRNUM continues from where the pause found it", () => {
    const { clock, hc, frnum } = controller({ mode: "hold" });
    clock.advanceTo(20.5);
    assert.equal(frnum(), 20);
    assert.equal(hc.notePause(3020.5), true);
    clock.advanceTo(3021.5);
    assert.equal(frnum(), 21);
    assert.equal(hc.hostStallStats.framesHeld, 3000);
  });

  it("replay: FRNUM counts the replayed frames only (at most 512 by default: well within uhci-hcd's 1024-frame window)", () => {
    const { clock, hc, frnum } = controller({});
    clock.advanceTo(20.5);
    hc.notePause(5020.5);
    clock.advanceTo(5020.5);
    assert.equal(hc.framesRun, 532);
    assert.equal(frnum(), 532);
    assert.equal(hc.hostStallStats.framesHeld, 4488);
  });
});
