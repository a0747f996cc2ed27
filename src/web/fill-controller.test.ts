import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { DEFAULT_MAX_CORRECTION, FillController } from "./fill-controller.ts";

/** update()'s time unit: 1 = one millisecond, one USB frame. */
const withMs = (c: FillController): FillController => {
  c.setTimeBase(1000);
  return c;
};

describe("FillController", () => {
  it("keeps the ratio exactly 1 while the smoothed fill stays inside the dead band", () => {
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
    for (let i = 0; i < 1000; i++) low.update(0, 1);
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
      // Inside the dead band the integral holds still, so the ratio can sit a little off the drift
      // while the fill crosses the band (slowly: 15 ppm moves it 1 ms in a minute).
      const mean = sum / 60000;
      assert.ok(Math.abs((mean - 1) * 1e6 - ppm) < 50, `mean ratio ${mean}`);
      assert.ok(lo > 960 - 300 && hi < 960 + 300, `fill ${lo.toFixed(0)}–${hi.toFixed(0)} frames`);
    });
  }
});
