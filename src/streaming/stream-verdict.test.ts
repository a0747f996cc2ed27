import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { AudioAllowance, framesIn, judgeStream, type StreamFacts } from "./stream-verdict.ts";

const RATE = 48_000;
/** A clean 10 s stream: everything arrived, bit-exact. */
const clean: StreamFacts = {
  sampleRate: RATE,
  framesExpected: 480_000,
  framesReceived: 480_000,
  bitExact: true,
  headLossFrames: 0,
  tailLossFrames: 0,
  lostOutsideStalls: 0,
  stalls: [],
  framesMissing: 0,
  packetsMissed: 0,
  packetErrors: 0,
};

describe("judgeStream: a verdict that fails whenever frames are lost or late beyond the allowances", () => {
  it("passes a clean stream, and the allowances themselves", () => {
    assert.deepEqual(judgeStream(clean), { ok: true, problems: [] });
    const head = framesIn(AudioAllowance.headLossMs, RATE);
    const tail = framesIn(AudioAllowance.tailLossMs, RATE);
    assert.equal(head, 480);
    const atLimit = judgeStream({
      ...clean,
      framesReceived: 480_000 - head - tail,
      headLossFrames: head,
      tailLossFrames: tail,
    });
    assert.ok(atLimit.ok, atLimit.problems.join("; "));
  });

  it("fails one frame beyond the head or tail allowance, naming it", () => {
    const head = judgeStream({ ...clean, headLossFrames: framesIn(AudioAllowance.headLossMs, RATE) + 1 });
    assert.equal(head.ok, false);
    assert.match(head.problems.join("\n"), /head loss 481 frames/);
    const tail = judgeStream({ ...clean, tailLossFrames: framesIn(AudioAllowance.tailLossMs, RATE) + 1 });
    assert.equal(tail.ok, false);
    assert.match(tail.problems.join("\n"), /tail loss 481 frames/);
  });

  it("fails on a single frame lost outside a stall, a missed packet, an error, or anything inserted", () => {
    for (const facts of [
      { ...clean, lostOutsideStalls: 1 },
      { ...clean, packetsMissed: 1 },
      { ...clean, packetErrors: 1 },
      { ...clean, bitExact: false },
      { ...clean, framesMissing: 1 },
      { ...clean, framesReceived: 0 },
    ]) {
      const verdict = judgeStream(facts);
      assert.equal(verdict.ok, false, JSON.stringify(facts));
      assert.ok(verdict.problems.length > 0);
    }
  });

  it("the issue's case: 8,160 of 96,000 frames delivered is a FAIL whatever else looks right", () => {
    const verdict = judgeStream({
      ...clean,
      framesExpected: 96_000,
      framesReceived: 8_160,
      lostOutsideStalls: 96_000 - 8_160,
    });
    assert.equal(verdict.ok, false);
    assert.match(verdict.problems.join("\n"), /87840 frames \(1830\.0 ms\) lost or late outside any stall/);
  });

  it("a stall may cost its own length plus stallExtraMs, not one frame more", () => {
    for (const ms of [100, 500, 1000, 2000, 5000]) {
      const bound = framesIn(ms + AudioAllowance.stallExtraMs, RATE);
      const within = judgeStream({ ...clean, stalls: [{ atMs: 1234, ms, lostFrames: bound }] });
      assert.ok(within.ok, within.problems.join("; "));
      const beyond = judgeStream({ ...clean, stalls: [{ atMs: 1234, ms, lostFrames: bound + 1 }] });
      assert.equal(beyond.ok, false);
      assert.match(
        beyond.problems[0] ?? "",
        new RegExp(`the ${ms} ms stall at 1234 ms lost ${bound + 1} frames`),
      );
    }
  });
});
