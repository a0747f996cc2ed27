/**
 * The seed's point 2: isochronous TDs of one stream all carry the same token (same address, endpoint,
 * length, PID; no data toggle), so a completion found by token lands in whichever TD asked first. The
 * buffer is what tells them apart; the controller pairs an iso request with its TD address, token
 * and buffer, so a TD the guest recycled (new token or buffer) never takes over an old request.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { CounterSource } from "../../src/devices/async-host/counter-source.ts";
import { readTd, writeTd } from "../uhci/helpers/schedule.ts";
import { Ctrl, PID } from "../uhci/helpers/uhci-spec.ts";
import {
  advanceTo,
  asyncSetup,
  DEVICE_ADDRESS,
  ISO_IN_EP,
  ISO_OUT_EP,
  PACKET,
  placeInFrame,
  writeIsoTd,
} from "./helpers/async-setup.ts";
import { isoBuf, isoTd } from "./helpers/iso-rig.ts";

describe("seed 2: iso TDs with the same token are told apart by their buffers", () => {
  it("two iso IN TDs, same token, consecutive frames: each buffer gets its own packet", () => {
    // frame list[f]     -> ISO TD A (IN 192, ep 1, buffer A) -> T
    // frame list[f + 1] -> ISO TD B (IN 192, ep 1, buffer B) -> T      (token A = token B)
    const { rig, dev } = asyncSetup({ firstIsoDelayMs: 10 });
    const [a, b] = [isoTd(0), isoTd(1)];
    writeIsoTd(rig, a, { pid: PID.IN, endpoint: ISO_IN_EP, buffer: isoBuf(0) });
    writeIsoTd(rig, b, { pid: PID.IN, endpoint: ISO_IN_EP, buffer: isoBuf(1) });
    assert.equal(readTd(rig.ram, a).token, readTd(rig.ram, b).token);
    placeInFrame(rig, a, 1);
    const bAsked = placeInFrame(rig, b, 2);
    advanceTo(rig, bAsked);
    assert.equal(dev.stats.requests, 2, "B is a request of its own, not A's in flight");
    advanceTo(rig, bAsked + 10);
    assert.equal(dev.stats.completed, 2);
    for (const [td, n] of [
      [a, 0],
      [b, 1],
    ] as const) {
      const view = readTd(rig.ram, td);
      assert.equal(view.active, false);
      assert.equal(view.actLen, PACKET);
      assert.equal(CounterSource.check(rig.ram.bytes, isoBuf(n), PACKET), n, `buffer ${n} holds packet ${n}`);
    }
  });

  it("two iso OUT TDs, same token, consecutive frames: the device receives each buffer once, in order", () => {
    const { rig, dev, sink } = asyncSetup({ firstIsoDelayMs: 10 });
    const [c, d] = [isoTd(2), isoTd(3)];
    rig.fill(isoBuf(2), PACKET, 0xc1);
    rig.fill(isoBuf(3), PACKET, 0xd2);
    writeIsoTd(rig, c, { pid: PID.OUT, endpoint: ISO_OUT_EP, buffer: isoBuf(2) });
    writeIsoTd(rig, d, { pid: PID.OUT, endpoint: ISO_OUT_EP, buffer: isoBuf(3) });
    placeInFrame(rig, c, 1);
    const dAsked = placeInFrame(rig, d, 2);
    advanceTo(rig, dAsked + 10);
    assert.equal(dev.stats.completed, 2);
    assert.deepEqual(
      sink.packets.map((p) => [p.length, p[0], p[PACKET - 1]]),
      [
        [PACKET, 0xc1, 0xc1],
        [PACKET, 0xd2, 0xd2],
      ],
    );
    for (const td of [c, d]) {
      assert.equal(readTd(rig.ram, td).active, false);
      assert.equal(readTd(rig.ram, td).actLen, PACKET);
    }
  });
});

describe("a recycled iso TD never receives the stale completion", () => {
  it("rewritten (new token and buffer) while its request is out: the answer is dropped, nothing is written", () => {
    const { rig, dev } = asyncSetup({ firstIsoDelayMs: 10 });
    const td = isoTd(0);
    writeIsoTd(rig, td, { pid: PID.IN, endpoint: ISO_IN_EP, buffer: isoBuf(0) });
    rig.fill(isoBuf(0), PACKET, 0xee);
    rig.fill(isoBuf(1), PACKET, 0xee);
    const asked = placeInFrame(rig, td, 1);
    advanceTo(rig, asked + 3);
    // The guest reuses the TD for another transfer (Linux frees and reallocates TDs from a pool).
    writeTd(rig.ram, td, {
      pid: PID.IN,
      devAddr: DEVICE_ADDRESS,
      endpoint: ISO_IN_EP,
      maxLen: 64,
      buffer: isoBuf(1),
      ios: true,
    });
    const rewritten = readTd(rig.ram, td);
    advanceTo(rig, asked + 20);
    assert.equal(dev.stats.completed, 1, "the device answered");
    assert.deepEqual(readTd(rig.ram, td), rewritten, "the controller wrote nothing into the recycled TD");
    assert.deepEqual(rig.bytes(isoBuf(0), 2), [0xee, 0xee], "nor into the old buffer");
    assert.deepEqual(rig.bytes(isoBuf(1), 2), [0xee, 0xee], "nor into the new one");
  });

  it("rewritten and met again before the answer: the old request is cancelled, the new one gets its own data", () => {
    // frame list[f] and [f + 2] -> the same TD; the guest gives it a new buffer in between.
    const { rig, dev } = asyncSetup({ firstIsoDelayMs: 10 });
    const td = isoTd(0);
    writeIsoTd(rig, td, { pid: PID.IN, endpoint: ISO_IN_EP, buffer: isoBuf(0) });
    rig.fill(isoBuf(0), PACKET, 0xee);
    placeInFrame(rig, td, 1);
    const again = placeInFrame(rig, td, 3);
    advanceTo(rig, again - 1);
    rig.ram.write32(td + 12, isoBuf(1));
    advanceTo(rig, again);
    assert.equal(dev.stats.cancelled, 1, "the stale request was taken back");
    assert.equal(dev.stats.requests, 2);
    advanceTo(rig, again + 20);
    assert.equal(dev.stats.completed, 1, "only the new request completes");
    assert.deepEqual(rig.bytes(isoBuf(0), 2), [0xee, 0xee]);
    assert.equal(CounterSource.check(rig.ram.bytes, isoBuf(1), PACKET), 0);
    assert.equal(readTd(rig.ram, td).active, false);
  });

  it("taken back by the guest (Active cleared) while its request is out: the answer is dropped", () => {
    const { rig, dev } = asyncSetup({ firstIsoDelayMs: 10 });
    const td = isoTd(0);
    writeIsoTd(rig, td, { pid: PID.IN, endpoint: ISO_IN_EP, buffer: isoBuf(0) });
    rig.fill(isoBuf(0), PACKET, 0xee);
    const asked = placeInFrame(rig, td, 1);
    advanceTo(rig, asked + 2);
    rig.ram.write32(td + 4, rig.ram.read32(td + 4) & ~Ctrl.ACTIVE);
    const before = readTd(rig.ram, td);
    advanceTo(rig, asked + 20);
    assert.equal(dev.stats.completed, 1);
    assert.deepEqual(readTd(rig.ram, td), before);
    assert.deepEqual(rig.bytes(isoBuf(0), 2), [0xee, 0xee]);
    assert.equal(rig.read16(0x02) & 1, 0, "no USBINT for a TD the guest took back");
  });
});

describe("the frame list may lead to the same TD in two frames", () => {
  it("while its request is out, meeting it again neither asks twice nor cancels", () => {
    const { rig, dev } = asyncSetup({ firstIsoDelayMs: 10 });
    const td = isoTd(0);
    writeIsoTd(rig, td, { pid: PID.IN, endpoint: ISO_IN_EP, buffer: isoBuf(0) });
    placeInFrame(rig, td, 1);
    const again = placeInFrame(rig, td, 5);
    advanceTo(rig, again + 10);
    assert.equal(dev.stats.requests, 1);
    assert.equal(dev.stats.cancelled, 0);
    assert.equal(CounterSource.check(rig.ram.bytes, isoBuf(0), PACKET), 0);
  });
});
