/**
 * The seed's point 4: the frame timer runs on a fixed 1 ms grid (frame n at base + n × period, never
 * "the end of the last frame + 1 ms"), so FRNUM stays equal to elapsed milliseconds however late or
 * stalled the host is, and isochronous TDs — which belong to one frame — all run in their frame.
 *
 * Re-arming from "now" (the pre-seed behaviour) loses a little time at every late callback; a host
 * whose periodic requests then arrive late sees a broken stream and restarts it 10 frames out.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { FrameClock } from "../../src/controller/uhci/frame-clock.ts";
import { CounterSource } from "../../src/devices/async-host/counter-source.ts";
import { type Clock, VirtualClock } from "../../src/machine/clock.ts";
import { SeededRandom } from "../../src/machine/seeded-random.ts";
import { TERM, tdCtrl, tdLink, tdToken } from "../uhci/helpers/schedule.ts";
import { Ctrl, PID } from "../uhci/helpers/uhci-spec.ts";
import { FakeHostClock, ObservedClock } from "./helpers/fake-host-clock.ts";
import { IsoRig, isoBuf, isoTd } from "./helpers/iso-rig.ts";
import { SyncIsoDevice } from "./helpers/sync-iso-device.ts";

const ADDRESS = 4;
const PACKET = 192;
const TEN_MINUTES_MS = 10 * 60 * 1000;
const MAX_FRAMES_PER_WAKEUP = 16;
/** Above every stall these tests make (≤ 200 ms): they test the in-step catch-up, not a host pause. */
const IN_STEP_THRESHOLD_MS = 1000;

/**
 * A guest streaming iso IN at one packet per frame:
 *
 *   frame list[n] -> ISO TD n (IN 192, ep 1, buffer n) -> T        for n = 0..1023
 *
 * After each slice of time it checks every frame that ran since the last look (its TD retired, whole,
 * carrying the packet of exactly that frame) and re-arms that TD for its next lap, as an audio driver
 * resubmits URBs. A TD still active for a frame that has passed would reach Linux as -EXDEV.
 */
class StreamingGuest {
  /** Frames verified and re-armed so far. */
  checked = 0;
  private readonly ctrl = tdCtrl({ pid: PID.IN, ios: true });
  private readonly token = tdToken({ pid: PID.IN, devAddr: ADDRESS, endpoint: 1, maxLen: PACKET });

  constructor(private readonly rig: IsoRig<Clock>) {
    for (let n = 0; n < 1024; n++) {
      rig.ram.write32(isoTd(n), TERM);
      rig.ram.write32(isoTd(n) + 8, this.token);
      rig.ram.write32(isoTd(n) + 12, isoBuf(n));
      rig.ram.write32(isoTd(n) + 4, this.ctrl);
      rig.setFrameListEntry(n, tdLink(isoTd(n)));
    }
  }

  /** Checks frames [checked, framesRun) and re-arms their TDs; returns the first problem, or null. */
  catchUp(framesRun: number): string | null {
    const ram = this.rig.ram;
    for (; this.checked < framesRun; this.checked++) {
      const f = this.checked;
      const n = f & 1023;
      const ctrl = ram.read32(isoTd(n) + 4);
      if (ctrl & Ctrl.ACTIVE) return `frame ${f}: iso TD still active after its frame`;
      if (((ctrl + 1) & Ctrl.ACTLEN_MASK) !== PACKET) return `frame ${f}: ActLen ${ctrl & Ctrl.ACTLEN_MASK}`;
      const seq = CounterSource.check(ram.bytes, isoBuf(n), PACKET);
      if (seq !== f) return `frame ${f}: buffer holds packet ${seq}`;
      ram.write32(isoTd(n) + 4, this.ctrl);
    }
    // The next frame's TD must not have run early.
    const next = ram.read32(isoTd(framesRun & 1023) + 4);
    if (!(next & Ctrl.ACTIVE)) return `frame ${framesRun}: TD ran before its frame`;
    return null;
  }
}

interface RunResult {
  frames: number;
  maxBatch: number;
  wallMs: number;
}

/**
 * Ten minutes of time in random slices of 0–200 ms. `makeClock` gets the function to call after every
 * timer callback (to measure frames per wake-up); `advance` moves the clock by a slice.
 */
function tenMinutes<C extends Clock>(
  makeClock: (afterWakeup: () => void) => { clock: C; advance: (ms: number) => void },
): RunResult {
  const prng = new SeededRandom(0x5eed);
  let rig: IsoRig<Clock> | undefined;
  let lastFrames = 0;
  let maxBatch = 0;
  const { clock, advance } = makeClock(() => {
    const frames = rig?.hc.framesRun ?? 0;
    maxBatch = Math.max(maxBatch, frames - lastFrames);
    lastFrames = frames;
  });
  // Stalls of up to 200 ms stay below the host-pause threshold here: this is the in-step path (a slow
  // host), where every overdue frame runs in order (pauses: src/controller/uhci/frame-clock.test.ts).
  rig = new IsoRig<Clock>({
    clock,
    advance,
    maxFramesPerWakeup: MAX_FRAMES_PER_WAKEUP,
    hostStall: { thresholdMs: IN_STEP_THRESHOLD_MS },
  });
  const source = new CounterSource(PACKET);
  rig.plug(0, new SyncIsoDevice(ADDRESS, source));
  const guest = new StreamingGuest(rig);
  rig.start();
  const startMs = clock.now();
  const wallStart = performance.now();
  while (clock.now() - startMs < TEN_MINUTES_MS) {
    // Fractional slices too: FRNUM counts whole elapsed milliseconds.
    advance(prng.below(200_001) / 1000);
    const elapsed = Math.floor(clock.now() - startMs);
    assert.equal(rig.hc.framesRun, elapsed, "frames run = elapsed ms");
    assert.equal(rig.frnum, elapsed & 0x7ff, "FRNUM = elapsed ms mod 2048");
    const problem = guest.catchUp(rig.hc.framesRun);
    assert.equal(problem, null);
  }
  return { frames: rig.hc.framesRun, maxBatch, wallMs: performance.now() - wallStart };
}

describe("seed 4: frames on a fixed 1 ms grid through ten minutes of host stalls", () => {
  it("VirtualClock advanced in random 0–200 ms slices: FRNUM = elapsed ms, every iso TD runs in its frame", (t) => {
    const result = tenMinutes((after) => {
      const clock = new VirtualClock();
      return { clock: new ObservedClock(clock, after), advance: (ms) => clock.advance(ms) };
    });
    assert.ok(result.frames >= TEN_MINUTES_MS);
    assert.ok(result.maxBatch <= MAX_FRAMES_PER_WAKEUP);
    t.diagnostic(
      `virtual: ${result.frames} frames in ${result.wallMs.toFixed(0)} ms wall, ${((result.wallMs * 1e6) / result.frames).toFixed(0)} ns/frame`,
    );
  });

  it("a host clock whose callbacks fire at the end of each 0–200 ms stall: caught up in bounded batches, no drift", (t) => {
    const result = tenMinutes((after) => {
      const clock = new FakeHostClock();
      clock.afterWakeup = after;
      return { clock, advance: (ms) => clock.stall(ms) };
    });
    assert.ok(result.frames >= TEN_MINUTES_MS);
    assert.ok(
      result.maxBatch <= MAX_FRAMES_PER_WAKEUP,
      `at most ${MAX_FRAMES_PER_WAKEUP} frames per wake-up`,
    );
    assert.equal(
      result.maxBatch,
      MAX_FRAMES_PER_WAKEUP,
      "stalls made the controller catch up in full batches",
    );
    t.diagnostic(
      `stalled: ${result.frames} frames in ${result.wallMs.toFixed(0)} ms wall, ${((result.wallMs * 1e6) / result.frames).toFixed(0)} ns/frame`,
    );
  });
});

/**
 * The pre-seed frame timer, written out here to show what the fixed grid prevents: each wake-up runs
 * one frame and arms the next for "now + period", so every late callback pushes all later frames back.
 */
class RearmFromNowFrameClock {
  frames = 0;
  private readonly timer;
  constructor(
    private readonly clock: Clock,
    private readonly periodMs: number,
    private readonly onFrame: () => void,
  ) {
    this.timer = clock.createTimer(() => {
      this.frames++;
      this.onFrame();
      this.timer.arm(this.clock.now() + this.periodMs);
    });
  }
  start(): void {
    this.timer.arm(this.clock.now() + this.periodMs);
  }
}

describe("seed 4: FrameClock on a host clock whose callbacks are late by random amounts", () => {
  const RUN_MS = 100_000;
  /** Each callback 0–3 ms late, like setTimeout on a busy event loop. */
  const latenessFrom = (seed: number) => {
    const prng = new SeededRandom(seed);
    return () => prng.below(3001) / 1000;
  };

  for (const sofmod of [64, 0, 127]) {
    const periodMs = (11936 + sofmod) / 12000;
    it(`SOFMOD ${sofmod}: frame n runs at or after base + n × ${periodMs.toFixed(5)} ms, and every frame due has run at each wake-up`, () => {
      const clock = new FakeHostClock(latenessFrom(sofmod + 1), 1000);
      const runAt: number[] = [];
      const frameClock = new FrameClock(clock, () => runAt.push(clock.now()), 64);
      let worst = 0;
      clock.afterWakeup = () => {
        // A fixed grid: after every wake-up the frames run are exactly the periods elapsed since base.
        const due = Math.floor((clock.now() - base) / periodMs + 1e-9);
        worst = Math.max(worst, Math.abs(due - frameClock.frames));
      };
      const base = clock.now();
      frameClock.start(periodMs);
      clock.runTo(base + RUN_MS);
      assert.equal(worst, 0, "frames run = periods elapsed, at every wake-up");
      for (let n = 0; n < runAt.length; n++) {
        // Frame n (counting from 1) is due at base + n × period and never runs before it.
        if (runAt[n]! < base + (n + 1) * periodMs - 1e-6) assert.fail(`frame ${n + 1} ran early`);
      }
      const expected = Math.floor(RUN_MS / periodMs + 1e-9);
      assert.ok(
        frameClock.frames >= expected - 4 && frameClock.frames <= expected,
        `${frameClock.frames} frames in ${RUN_MS} ms (${expected} due; the last callback may still be late)`,
      );
    });
  }

  it("the same late callbacks with the timer re-armed from now (pre-seed) drift further behind every frame", () => {
    const clock = new FakeHostClock(latenessFrom(65), 1000);
    const base = clock.now();
    const lag: number[] = [];
    const naive = new RearmFromNowFrameClock(clock, 1, () => lag.push(clock.now() - base - naive.frames));
    naive.start();
    clock.runTo(base + RUN_MS);
    // On average 1.5 ms late per frame: after 100 s it has run ~40 000 frames instead of 100 000.
    assert.ok(naive.frames < RUN_MS * 0.5, `re-armed from now: only ${naive.frames} frames in ${RUN_MS} ms`);
    // The lag only grows: frame n runs ever later than base + n.
    assert.ok(lag[1000]! > 1000 && lag[lag.length - 1]! > 50_000, "lag grows without bound");
  });

  it("after a 200 ms stall the fixed grid catches up in batches of at most maxFramesPerWakeup, skipping none", () => {
    const clock = new FakeHostClock();
    const batches: number[] = [];
    let lastFrames = 0;
    const frameClock = new FrameClock(clock, () => {}, 16, { thresholdMs: IN_STEP_THRESHOLD_MS });
    clock.afterWakeup = () => {
      batches.push(frameClock.frames - lastFrames);
      lastFrames = frameClock.frames;
    };
    frameClock.start(1);
    clock.stall(200);
    assert.equal(frameClock.frames, 200);
    assert.deepEqual(batches, [16, 16, 16, 16, 16, 16, 16, 16, 16, 16, 16, 16, 8]);
  });
});
