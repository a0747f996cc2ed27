/**
 * The seed's point 1: an async request stays paired with its TD for 32 frames (was 10). A host
 * schedules the first isochronous request of a stream about 10 frames out, so with 10 the request
 * timed out and was cancelled before it could complete. An iso TD is met once per lap of the frame
 * list (1024 frames), so nothing refreshes the pairing meanwhile: its 32 frames are all it gets.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { CounterSource } from "../../src/devices/async-host/counter-source.ts";
import { readTd } from "../uhci/helpers/schedule.ts";
import { PID } from "../uhci/helpers/uhci-spec.ts";
import { advanceTo, asyncSetup, ISO_IN_EP, PACKET, placeInFrame, writeIsoTd } from "./helpers/async-setup.ts";
import { isoBuf, isoTd } from "./helpers/iso-rig.ts";

/** One iso IN TD in the frame 2 ahead, answered `delay` ms after its frame; returns when it was asked. */
function oneLateRequest(delay: number) {
  const s = asyncSetup({ firstIsoDelayMs: delay });
  writeIsoTd(s.rig, isoTd(0), { pid: PID.IN, endpoint: ISO_IN_EP, buffer: isoBuf(0) });
  s.rig.fill(isoBuf(0), PACKET, 0xee);
  const askedAt = placeInFrame(s.rig, isoTd(0), 2);
  advanceTo(s.rig, askedAt);
  assert.equal(s.dev.stats.requests, 1, "the frame made the request");
  assert.equal(s.dev.inFlight, 1);
  return { ...s, askedAt };
}

describe("seed 1: a completion 10+ frames after its frame is still delivered", () => {
  for (const delay of [12, 31]) {
    it(`${delay} frames late: data, ActLen and Active land in guest memory`, () => {
      const { rig, dev, askedAt } = oneLateRequest(delay);
      advanceTo(rig, askedAt + delay - 0.5);
      assert.equal(readTd(rig.ram, isoTd(0)).active, true, "still in flight");
      assert.deepEqual(rig.bytes(isoBuf(0), 4), [0xee, 0xee, 0xee, 0xee]);
      advanceTo(rig, askedAt + delay);
      assert.equal(dev.stats.cancelled, 0, "the controller kept the pairing");
      assert.equal(dev.stats.completed, 1);
      const td = readTd(rig.ram, isoTd(0));
      assert.equal(td.active, false);
      assert.equal(td.actLen, PACKET);
      assert.equal(td.crcTimeout, false);
      assert.equal(
        CounterSource.check(rig.ram.bytes, isoBuf(0), PACKET),
        0,
        "packet 0, whole, in its buffer",
      );
    });
  }

  it("33 frames without the TD being met again: the request is cancelled and its late answer never lands", () => {
    const { rig, dev, askedAt } = oneLateRequest(33);
    advanceTo(rig, askedAt + 31);
    assert.equal(dev.stats.cancelled, 0);
    advanceTo(rig, askedAt + 32);
    assert.equal(dev.stats.cancelled, 1, "the device saw cancelPacket when the pairing expired");
    assert.equal(dev.inFlight, 0);
    advanceTo(rig, askedAt + 100);
    assert.equal(dev.stats.completed, 0, "a cancelled request never completes");
    const td = readTd(rig.ram, isoTd(0));
    assert.equal(td.active, true, "the TD is untouched");
    assert.equal(td.actLenField, 0x7ff);
    assert.deepEqual(rig.bytes(isoBuf(0), 4), [0xee, 0xee, 0xee, 0xee]);
  });

  it("a stream: ten frames of lookahead, each request answered 10 frames after its frame, none lost", () => {
    // frame list[f + k] -> ISO TD k (IN 192, buffer k) -> T   for k = 0..39
    const { rig, dev } = asyncSetup({ firstIsoDelayMs: 10, jitterMs: 0.9, seed: 7 });
    let lastAsk = 0;
    for (let k = 0; k < 40; k++) {
      writeIsoTd(rig, isoTd(k), { pid: PID.IN, endpoint: ISO_IN_EP, buffer: isoBuf(k) });
      lastAsk = placeInFrame(rig, isoTd(k), 1 + k);
    }
    advanceTo(rig, lastAsk + 12);
    assert.equal(dev.stats.cancelled, 0);
    assert.equal(dev.stats.completed, 40);
    assert.equal(dev.streamStarts, 1, "one stream: every later request continued it");
    for (let k = 0; k < 40; k++) {
      assert.equal(readTd(rig.ram, isoTd(k)).active, false);
      assert.equal(CounterSource.check(rig.ram.bytes, isoBuf(k), PACKET), k, `TD ${k} holds packet ${k}`);
    }
  });
});
