/**
 * A guest that finds an iso TD still Active after its frame has passed counts the packet as missed
 * (Linux uhci_result_isochronous: -EXDEV), takes the TD out of that frame (uhci_remove_tds_from_frame)
 * and frees it. Its next URB may get the very same TD from the pool, with the same token and — since
 * snd-usb-audio reuses its URB buffers — the same buffer, linked into a later frame. Address, token
 * and buffer then all match the old request, so only the frame the TD is linked from tells them apart:
 * the old request's answer must not land in the resubmitted TD.
 *
 *   frame list[f]      -> ISO TD A (IN 192, buffer B) -> T     request made, answer late
 *   (guest: A missed, unlinked from f, re-armed unchanged)
 *   frame list[f + 20] -> ISO TD A (IN 192, buffer B) -> T     a new transaction
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { CounterSource } from "../../src/devices/async-host/counter-source.ts";
import { readTd, TERM, tdLink } from "../uhci/helpers/schedule.ts";
import { PID } from "../uhci/helpers/uhci-spec.ts";
import { advanceTo, asyncSetup, ISO_IN_EP, PACKET, placeInFrame, writeIsoTd } from "./helpers/async-setup.ts";
import { isoBuf, isoTd } from "./helpers/iso-rig.ts";

const A = isoTd(0);

/** Sets up A in frame f (2 ahead), lets its request go out; returns the frame list index and times. */
function missedThenResubmitted(delay: number) {
  const s = asyncSetup({ firstIsoDelayMs: delay });
  writeIsoTd(s.rig, A, { pid: PID.IN, endpoint: ISO_IN_EP, buffer: isoBuf(0) });
  s.rig.fill(isoBuf(0), PACKET, 0xee);
  const index = (s.rig.frnum + 2) & 0x3ff;
  const askedAt = placeInFrame(s.rig, A, 2);
  advanceTo(s.rig, askedAt + 1);
  assert.equal(s.dev.stats.requests, 1);
  // The guest's scan: frame f has passed and A is still Active — missed. Unlink it from frame f and
  // resubmit it, unchanged, 20 frames after f.
  assert.equal(readTd(s.rig.ram, A).active, true);
  s.rig.setFrameListEntry(index, TERM);
  s.rig.setFrameListEntry((index + 20) & 0x3ff, tdLink(A));
  writeIsoTd(s.rig, A, { pid: PID.IN, endpoint: ISO_IN_EP, buffer: isoBuf(0) });
  const before = readTd(s.rig.ram, A);
  return { ...s, askedAt, before };
}

describe("an iso TD missed by the guest and resubmitted unchanged in a later frame", () => {
  it("the old request's late answer (before the new frame) is not written into it", () => {
    const { rig, dev, askedAt, before } = missedThenResubmitted(3);
    advanceTo(rig, askedAt + 10);
    assert.equal(dev.stats.completed, 1, "the device answered the old request");
    assert.deepEqual(readTd(rig.ram, A), before, "but the resubmitted TD is untouched");
    assert.deepEqual(rig.bytes(isoBuf(0), 2), [0xee, 0xee]);
    // Its own frame comes: a new request, answered into the TD.
    advanceTo(rig, askedAt + 20 + 3);
    assert.equal(dev.stats.requests, 2, "the resubmitted TD is a new transaction");
    const td = readTd(rig.ram, A);
    assert.equal(td.active, false);
    assert.equal(
      CounterSource.check(rig.ram.bytes, isoBuf(0), PACKET),
      1,
      "the new packet, not the stale one",
    );
  });

  it("an old request still out when the new frame comes is cancelled, and the TD asks again", () => {
    const { rig, dev, askedAt } = missedThenResubmitted(25);
    advanceTo(rig, askedAt + 20);
    assert.equal(dev.stats.cancelled, 1, "the walk met A in another frame: the old request is taken back");
    assert.equal(dev.stats.requests, 2);
    advanceTo(rig, askedAt + 60);
    assert.equal(dev.stats.completed, 1, "only the new request completes");
    assert.equal(readTd(rig.ram, A).active, false);
    assert.equal(CounterSource.check(rig.ram.bytes, isoBuf(0), PACKET), 0);
  });

  it("a TD still linked from its own frame keeps its request when another frame also leads to it", () => {
    const s = asyncSetup({ firstIsoDelayMs: 10 });
    writeIsoTd(s.rig, A, { pid: PID.IN, endpoint: ISO_IN_EP, buffer: isoBuf(0) });
    const askedAt = placeInFrame(s.rig, A, 1);
    placeInFrame(s.rig, A, 4);
    advanceTo(s.rig, askedAt + 10);
    assert.equal(s.dev.stats.requests, 1);
    assert.equal(s.dev.stats.cancelled, 0);
    assert.equal(CounterSource.check(s.rig.ram.bytes, isoBuf(0), PACKET), 0);
  });
});
