import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { RamGuestMemory } from "../machine/guest-memory.ts";
import { DmaAllocator } from "./dma-allocator.ts";
import { FRAME_LIST_ENTRIES, framePeriod, interruptPeriod, Schedule } from "./schedule.ts";
import { decodeLink, LINK_TERMINATE, QhLayout, TdLayout } from "./schedule-encoding.ts";

const SKELETONS = ["int1", "int2", "int4", "int8", "int16", "int32", "int64", "int128"];
const ASYNC = ["lsControl", "fsControl", "bulk", "term"];

function setup(): { memory: RamGuestMemory; schedule: Schedule; names: Map<number, string> } {
  const memory = new RamGuestMemory(0x40000);
  const schedule = new Schedule(memory, new DmaAllocator(memory, 0x10000, 0x20000));
  const names = new Map<number, string>();
  for (const name of [...SKELETONS, ...ASYNC]) names.set(schedule.skeletonQh(name), name);
  return { memory, schedule, names };
}

/** Follows the horizontal links from frame `frame` the way a controller would, naming what it meets. */
function walk(
  memory: RamGuestMemory,
  schedule: Schedule,
  frame: number,
  names: Map<number, string>,
): string[] {
  const seen: string[] = [];
  let link = memory.read32(schedule.frameListAddress + frame * 4) >>> 0;
  for (let guard = 0; guard < 64; guard++) {
    const target = decodeLink(link);
    if (target.terminate) return seen;
    if (target.queueHead) {
      seen.push(names.get(target.address) ?? `qh@${target.address.toString(16)}`);
      link = memory.read32(target.address + QhLayout.Head) >>> 0;
    } else {
      seen.push(names.get(target.address) ?? `td@${target.address.toString(16)}`);
      link = memory.read32(target.address + TdLayout.Link) >>> 0;
    }
  }
  throw new Error("schedule loops");
}

describe("Schedule", () => {
  it("puts the frame list on a 4 KiB boundary", () => {
    const { schedule } = setup();
    assert.equal(schedule.frameListAddress % 4096, 0);
  });

  it("enters each frame at one interrupt skeleton, then runs int1 and the async lists", () => {
    const { memory, schedule, names } = setup();
    //   frame 0 (≡ 0 mod 128) ─► int1 ─► lsControl ─► fsControl ─► bulk ─► term ─► T
    //   frame 1 (odd)         ─► int2 ─► int1 ─► …
    //   frame 64              ─► int128 ─► int1 ─► …
    const tail = ["int1", ...ASYNC];
    assert.deepEqual(walk(memory, schedule, 0, names), tail);
    assert.deepEqual(walk(memory, schedule, 1, names), ["int2", ...tail]);
    assert.deepEqual(walk(memory, schedule, 2, names), ["int4", ...tail]);
    assert.deepEqual(walk(memory, schedule, 12, names), ["int8", ...tail]);
    assert.deepEqual(walk(memory, schedule, 64, names), ["int128", ...tail]);
    assert.deepEqual(walk(memory, schedule, 128, names), tail);
  });

  it("runs a period-N skeleton exactly once every N frames", () => {
    for (const period of [1, 2, 4, 8, 16, 32, 64, 128]) {
      let visits = 0;
      let lastGap = 0;
      let last = -1;
      for (let frame = 0; frame < FRAME_LIST_ENTRIES; frame++) {
        const entry = framePeriod(frame);
        if (entry === period || period === 1) {
          if (last >= 0) lastGap = frame - last;
          last = frame;
          visits++;
        }
      }
      assert.equal(visits, FRAME_LIST_ENTRIES / period, `period ${period}`);
      assert.equal(lastGap, period, `period ${period} gap`);
    }
  });

  it("rounds intervals down to a power of two, at most 128", () => {
    assert.deepEqual(
      [0, 1, 3, 8, 10, 255].map((i) => interruptPeriod(i)),
      [1, 1, 2, 8, 8, 128],
    );
  });

  it("keeps skeleton QHs empty and parks an inactive TD under the terminating QH", () => {
    const { memory, schedule } = setup();
    assert.equal(memory.read32(schedule.skeletonQh("bulk") + QhLayout.Element), LINK_TERMINATE);
    const termElement = decodeLink(memory.read32(schedule.skeletonQh("term") + QhLayout.Element));
    assert.equal(termElement.queueHead, false);
    assert.equal(termElement.address, schedule.terminatingTd);
    assert.equal(memory.read32(schedule.terminatingTd + TdLayout.ControlStatus) & (1 << 23), 0);
  });

  it("links endpoint QHs after their skeleton in order, and unlinks them", () => {
    const { memory, schedule, names } = setup();
    const qhA = 0x200;
    const qhB = 0x300;
    const qhI = 0x400;
    names.set(qhA, "ctrlA");
    names.set(qhB, "ctrlB");
    names.set(qhI, "intr8");
    for (const qh of [qhA, qhB, qhI]) memory.write32(qh + QhLayout.Element, LINK_TERMINATE);
    schedule.linkQh(qhA, { kind: "control", lowSpeed: false });
    schedule.linkQh(qhB, { kind: "control", lowSpeed: false });
    schedule.linkQh(qhI, { kind: "interrupt", interval: 10 });
    //   frame 4 ─► int8 ─► intr8 ─► int1 ─► lsControl ─► fsControl ─► ctrlA ─► ctrlB ─► bulk ─► term
    assert.deepEqual(walk(memory, schedule, 4, names), [
      "int8",
      "intr8",
      "int1",
      "lsControl",
      "fsControl",
      "ctrlA",
      "ctrlB",
      "bulk",
      "term",
    ]);
    schedule.unlinkQh(qhA);
    schedule.unlinkQh(qhI);
    assert.deepEqual(walk(memory, schedule, 4, names), [
      "int8",
      "int1",
      "lsControl",
      "fsControl",
      "ctrlB",
      "bulk",
      "term",
    ]);
    assert.throws(() => schedule.unlinkQh(qhA));
  });

  it("chains isochronous TDs per frame in front of the skeleton", () => {
    const { memory, schedule, names } = setup();
    names.set(0x500, "iso1");
    names.set(0x510, "iso2");
    schedule.linkIsoTd(1027, 0x500); // frame 3 (the list wraps at 1024)
    schedule.linkIsoTd(3, 0x510);
    //   frame 3 ─► iso1 ─► iso2 ─► int2 ─► int1 ─► …
    assert.deepEqual(walk(memory, schedule, 3, names), ["iso1", "iso2", "int2", "int1", ...ASYNC]);
    assert.deepEqual(schedule.isoTds(3), [0x500, 0x510]);
    schedule.unlinkIsoTd(3, 0x500);
    assert.deepEqual(walk(memory, schedule, 3, names), ["iso2", "int2", "int1", ...ASYNC]);
    schedule.unlinkIsoTd(3, 0x510);
    assert.deepEqual(walk(memory, schedule, 3, names), ["int2", "int1", ...ASYNC]);
  });
});
