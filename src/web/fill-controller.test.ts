import assert from "node:assert/strict";
import { describe, it } from "node:test";
import {
  DEFAULT_MAX_CORRECTION,
  FillController,
  MODE_EXACT,
  MODE_RELEASING,
  MODE_TRACKING,
} from "./fill-controller.ts";

/** update()'s time unit: 1 = one millisecond, one USB frame. */
const withMs = (c: FillController): FillController => {
  c.setTimeBase(1000);
  return c;
};

describe("FillController", () => {
  it("keeps the ratio exactly 1 while the smoothed fill stays inside the band", () => {
    const c = withMs(new FillController({ rate: 48000, targetFrames: 960 }));
    for (let i = 0; i < 10000; i++) {
      // A sawtooth of a render quantum around the target: the transport's own jitter.
      c.update(960 + ((i * 48) % 128) - 64, 1);
      assert.equal(c.ratio, 1);
      assert.equal(c.ratioCell[0], 1);
    }
  });

  it("is bounded: a huge error pins the correction at ±2000 ppm, and the integral does not wind up", () => {
    const c = withMs(new FillController({ rate: 48000, targetFrames: 960 }));
    for (let i = 0; i < 60000; i++) c.update(48000, 1);
    assert.equal(c.ratio, 1 + DEFAULT_MAX_CORRECTION);
    // Back at the target, the correction leaves the bound within a few seconds rather than minutes.
    let t = 0;
    for (c.update(960, 1); c.ratio > 1 + DEFAULT_MAX_CORRECTION / 2 && t < 60000; c.update(960, 1)) t++;
    assert.ok(t < 5000, `${t} ms to come off the bound`);
    const low = withMs(new FillController({ rate: 48000, targetFrames: 960 }));
    for (let i = 0; i < 3000; i++) low.update(0, 1);
    assert.equal(low.ratio, 1 - DEFAULT_MAX_CORRECTION);
  });

  for (const ppm of [300, -300, 1000, -1000]) {
    it(`learns a drift of ${ppm} ppm: the buffer settles and the ratio converges to it`, () => {
      // A buffer filled at (1 + drift) and drained at the controller's ratio, 1 ms per step.
      const rate = 48000;
      const c = withMs(new FillController({ rate, targetFrames: 960 }));
      let fill = 960;
      let lo = Number.POSITIVE_INFINITY;
      let hi = 0;
      let sum = 0;
      for (let ms = 0; ms < 120000; ms++) {
        c.update(Math.round(fill), 1);
        const ratio = c.ratioCell[0] ?? 1;
        fill += 48 * (1 + ppm * 1e-6) - 48 * ratio;
        if (ms >= 60000) {
          lo = Math.min(lo, fill);
          hi = Math.max(hi, fill);
          sum += ratio;
        }
      }
      // Exact spans (ratio 1, the fill drifting across the band) alternate with corrections that
      // bring it back; on average the ratio is the drift.
      const mean = sum / 60000;
      assert.ok(Math.abs((mean - 1) * 1e6 - ppm) < 50, `mean ratio ${mean}`);
      const band = c.band * rate;
      assert.ok(
        lo > 960 - band - 96 && hi < 960 + band + 96,
        `fill ${lo.toFixed(0)}–${hi.toFixed(0)} frames (band ±${band})`,
      );
      assert.ok(c.trackingSpans >= 2, `${c.trackingSpans} correction spans in 2 minutes`);
    });
  }

  it("ignores a main-thread stall's fill spike: the ratio stays exactly 1", () => {
    // A 50 ms stall: the microphone's ring gains 50 ms while the emulator is stopped, then the overdue
    // frames run back to back (1 ms of the guest's time each) and take it back out.
    const c = withMs(new FillController({ rate: 48000, targetFrames: 960 }));
    for (let round = 0; round < 20; round++) {
      for (let ms = 0; ms < 1000; ms++) c.update(960, 1);
      for (let k = 0; k < 50; k++) c.update(960 + 48 * (50 - k), 1);
      assert.ok(Math.abs(c.errorSeconds) > c.band * 0.5, "the smoothed error did move");
    }
    for (let ms = 0; ms < 5000; ms++) c.update(960, 1);
    assert.equal(c.trackingSpans, 0);
    assert.equal(c.ratio, 1);
  });

  it("engages only when the fill stays out of the band, glides, and comes back to exactly 1 (hysteresis)", () => {
    const rate = 48000;
    const c = withMs(new FillController({ rate, targetFrames: 960 }));
    const slewPerMs = DEFAULT_MAX_CORRECTION / 1000;
    let fill = 960;
    let previous = 1;
    const modes: number[] = [];
    for (let ms = 0; ms < 60000; ms++) {
      // The card runs 500 ppm fast for 20 s, then the clocks agree.
      const drift = ms < 20000 ? 500e-6 : 0;
      c.update(Math.round(fill), 1);
      const ratio = c.ratioCell[0] ?? 1;
      assert.ok(Math.abs(ratio - previous) <= slewPerMs + 1e-7, `a step of ${ratio - previous} at ${ms} ms`);
      previous = ratio;
      if (modes.at(-1) !== c.mode) modes.push(c.mode);
      fill += 48 * (1 + drift) - 48 * ratio;
    }
    assert.deepEqual(modes.slice(0, 4), [MODE_EXACT, MODE_TRACKING, MODE_RELEASING, MODE_EXACT]);
    assert.equal(c.mode, MODE_EXACT);
    assert.equal(c.ratio, 1, "exactly 1 once the clocks agree and the fill is back");
    assert.ok(Math.abs(fill - 960) < c.band * rate, `fill ${fill.toFixed(1)}`);
  });
});
