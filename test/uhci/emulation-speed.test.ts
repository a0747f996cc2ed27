/**
 * Spec tests for a long bulk queue as Linux's uhci-hcd builds it — TDs linked breadth-first (UHCI 3.2.1
 * Vf = 0) under one QH, with full-speed bandwidth reclamation (the terminating QH linked back to the first
 * full-speed QH) — under the default limits and under UHCI_EMULATION_SPEED (UHCI 3.4.2: a completed TD
 * advances its queue; breadth-first, the walk then leaves the queue for the next QH, so each TD costs a
 * trip round the loop).
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { UHCI_EMULATION_SPEED } from "../../src/controller/uhci/uhci-controller.ts";
import { ackIn, FakeDevice } from "./helpers/fake-device.ts";
import { buf, node, Rig, type RigOptions } from "./helpers/rig.ts";
import { qhElement, qhLink, readTd, TERM, tdLink, writeQh, writeTd } from "./helpers/schedule.ts";
import { PID } from "./helpers/uhci-spec.ts";

/** 64 KiB of 64-byte IN TDs: what usb-storage asks for in one 64 KiB read. */
const TDS = 1024;
const QH_CONTROL = node(0);
const QH_BULK = node(1);
const QH_TERM = node(2);
const TD_TERM = node(3);
const firstTd = 4;

function reclamationLoop(options: RigOptions): { rig: Rig; dev: FakeDevice } {
  const rig = new Rig({ ramSize: 0x20000, ...options });
  const dev = new FakeDevice({ address: 1 });
  dev.defaultReply = ackIn(new Uint8Array(64).fill(0xa5));
  rig.plug(0, dev);
  // frame list → control QH (idle) → bulk QH (the queue) → term QH (an inactive TD) → control QH again.
  writeQh(rig.ram, QH_CONTROL, qhLink(QH_BULK), TERM);
  writeQh(rig.ram, QH_BULK, qhLink(QH_TERM), tdLink(node(firstTd)));
  writeQh(rig.ram, QH_TERM, qhLink(QH_CONTROL), tdLink(TD_TERM));
  writeTd(rig.ram, TD_TERM, { pid: PID.IN, devAddr: 0x7f, active: false });
  for (let i = 0; i < TDS; i++) {
    const last = i === TDS - 1;
    writeTd(rig.ram, node(firstTd + i), {
      link: last ? TERM : tdLink(node(firstTd + i + 1)),
      pid: PID.IN,
      devAddr: 1,
      endpoint: 1,
      maxLen: 64,
      buffer: buf(i % 64),
      ioc: last,
    });
  }
  rig.start(qhLink(QH_CONTROL));
  return { rig, dev };
}

describe("UHCI 3.4.2 a breadth-first bulk queue with bandwidth reclamation", () => {
  it("by default moves 1280 bytes per frame, as a full-speed frame does", () => {
    const { rig, dev } = reclamationLoop({});
    rig.frames(1);
    assert.equal(dev.seen.length, 1280 / 64);
    assert.equal(rig.hc.lastFrameBytes, 1280);
  });

  it("with only the byte cap lifted, the default link budget ends the frame (each TD costs a loop)", () => {
    const { rig, dev } = reclamationLoop({
      bandwidthBytesPerFrame: UHCI_EMULATION_SPEED.bandwidthBytesPerFrame,
    });
    rig.frames(1);
    assert.equal(rig.hc.lastFrameLinkVisits, 1024);
    // Five links per TD: control QH, bulk QH, the TD, term QH, its inactive TD.
    assert.ok(dev.seen.length > 150 && dev.seen.length < 1024 / 5 + 1, `${dev.seen.length} TDs`);
  });

  it("with UHCI_EMULATION_SPEED moves the whole 64 KiB queue in one frame, data and status written", () => {
    const { rig, dev } = reclamationLoop({ ...UHCI_EMULATION_SPEED });
    rig.frames(1);
    assert.equal(dev.seen.length, TDS);
    assert.equal(rig.hc.lastFrameBytes, 65536);
    assert.ok(rig.hc.lastFrameLinkVisits < UHCI_EMULATION_SPEED.maxLinkVisitsPerFrame);
    for (const i of [0, TDS / 2, TDS - 1]) {
      const td = readTd(rig.ram, node(firstTd + i));
      assert.equal(td.active, false);
      assert.equal(td.actLen, 64);
    }
    assert.deepEqual(rig.bytes(buf(63), 4), [0xa5, 0xa5, 0xa5, 0xa5]);
    // The queue advanced to its end (UHCI 3.4.2: the element takes the last TD's link).
    assert.equal(qhElement(rig.ram, QH_BULK), TERM);
  });

  it("with UHCI_EMULATION_SPEED a hostile cycle of TDs still ends its frame on the link budget", () => {
    const rig = new Rig({ ...UHCI_EMULATION_SPEED });
    // 64 inactive TDs linked in a circle, no QH: nothing but the budget ends the walk (UHCI 3.4).
    for (let i = 0; i < 64; i++) {
      writeTd(rig.ram, node(i), { link: tdLink(node((i + 1) % 64)), pid: PID.IN, active: false });
    }
    rig.start(tdLink(node(0)));
    rig.frames(2);
    assert.equal(rig.hc.lastFrameLinkVisits, UHCI_EMULATION_SPEED.maxLinkVisitsPerFrame);
  });
});
