/**
 * Hostile schedules: what a buggy or malicious guest can write into memory. The controller must not
 * throw, must bound its work per frame, and must report DMA outside RAM as a host system error
 * (UHCI 2.1.2 HSE) and malformed TDs as a process error (HCPE) — halting in both cases.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { FakeDevice, NAK } from "./helpers/fake-device.ts";
import { buf, Layout, node, Rig } from "./helpers/rig.ts";
import { fillFrameList, qhLink, readTd, TERM, tdLink, writeQh, writeTd } from "./helpers/schedule.ts";
import { Cmd, PID, Reg, Sts } from "./helpers/uhci-spec.ts";

const LIMIT = 200;

function rigWithDevice(maxLinkVisitsPerFrame = LIMIT): { rig: Rig; dev: FakeDevice } {
  const rig = new Rig({ maxLinkVisitsPerFrame });
  const dev = new FakeDevice({ address: 1 });
  rig.plug(0, dev);
  return { rig, dev };
}

/** Runs frames one at a time, checking the per-frame bound each time. */
function runBounded(rig: Rig, frames: number, limit = LIMIT): number[] {
  const visits: number[] = [];
  for (let i = 0; i < frames; i++) {
    rig.frames(1);
    assert.ok(rig.hc.lastFrameLinkVisits <= limit, `frame ${i}: ${rig.hc.lastFrameLinkVisits} links`);
    visits.push(rig.hc.lastFrameLinkVisits);
  }
  return visits;
}

function assertHalted(rig: Rig, bit: number): void {
  assert.equal(rig.usbsts & (bit | Sts.HCHALTED), bit | Sts.HCHALTED);
  assert.equal(rig.usbcmd & Cmd.RS, 0);
  assert.equal(rig.irq.level, true, "HSE/HCPE interrupt whatever USBINTR says");
  const frnum = rig.frnum;
  rig.frames(3);
  assert.equal(rig.frnum, frnum);
}

describe("hostile: loops", () => {
  it("a TD linked to itself (NAKing): each frame ends within the link budget and frames go on", () => {
    // frame list[*] -> TD1 -> TD1 -> TD1 ...
    const { rig, dev } = rigWithDevice();
    dev.defaultReply = NAK;
    writeTd(rig.ram, node(0), { link: tdLink(node(0)), pid: PID.IN, devAddr: 1, maxLen: 8, buffer: buf(0) });
    rig.start(tdLink(node(0)));
    runBounded(rig, 5);
    assert.equal(rig.frnum, 5);
    assert.equal(readTd(rig.ram, node(0)).active, true);
    assert.equal(rig.usbsts & (Sts.HSE | Sts.HCPE), 0);
  });

  it("a TD linked to itself that completes is executed once", () => {
    const { rig, dev } = rigWithDevice();
    writeTd(rig.ram, node(0), { link: tdLink(node(0), true), pid: PID.OUT, devAddr: 1 });
    rig.start(tdLink(node(0)));
    runBounded(rig, 3);
    assert.equal(dev.seen.length, 1);
  });

  it("a queue whose TD links back to itself depth-first is walked once per completion", () => {
    // frame list[*] -> QH A -> T
    //                   \-> (element) TD1 -Vf-> TD1 ...
    const { rig, dev } = rigWithDevice();
    writeQh(rig.ram, node(0), TERM, tdLink(node(1)));
    writeTd(rig.ram, node(1), { link: tdLink(node(1), true), pid: PID.OUT, devAddr: 1 });
    rig.start(qhLink(node(0)));
    runBounded(rig, 3);
    assert.equal(dev.seen.length, 1);
  });

  it("a QH cycle with no active TDs ends the frame early", () => {
    // frame list[*] -> QH A -> QH B -> QH A ...   (both elements T)
    const { rig } = rigWithDevice(1024);
    writeQh(rig.ram, node(0), qhLink(node(1)), TERM);
    writeQh(rig.ram, node(1), qhLink(node(0)), TERM);
    rig.start(qhLink(node(0)));
    const visits = runBounded(rig, 3, 1024);
    // Emulator policy (QEMU does the same): an idle reclamation loop does not burn the whole budget.
    assert.ok(Math.max(...visits) < 16, `visits ${visits}`);
    assert.equal(rig.frnum, 3);
  });

  it("a QH cycle with NAKing TDs (bandwidth reclamation) is bounded by the link budget", () => {
    // frame list[*] -> QH A -> QH B -> QH A ...
    //                   |        \-> (element) TD2 (NAK) -> T
    //                   \-> (element) TD1 (NAK) -> T
    const { rig, dev } = rigWithDevice();
    dev.defaultReply = NAK;
    writeQh(rig.ram, node(0), qhLink(node(1)), tdLink(node(2)));
    writeQh(rig.ram, node(1), qhLink(node(0)), tdLink(node(3)));
    writeTd(rig.ram, node(2), { pid: PID.IN, devAddr: 1, maxLen: 8, buffer: buf(0) });
    writeTd(rig.ram, node(3), { pid: PID.IN, devAddr: 1, maxLen: 8, buffer: buf(1), endpoint: 1 });
    rig.start(qhLink(node(0)));
    runBounded(rig, 4);
    assert.ok(dev.seen.length >= 8, "each queue is tried at least once per frame");
    assert.equal(rig.frnum, 4);
  });

  it("a QH whose element points at itself is bounded", () => {
    const { rig } = rigWithDevice();
    writeQh(rig.ram, node(0), TERM, qhLink(node(0)));
    rig.start(qhLink(node(0)));
    runBounded(rig, 3);
    assert.equal(rig.frnum, 3);
  });

  it("a long chain of distinct QHs (more than any loop table) is bounded", () => {
    // frame list[*] -> QH 0 -> QH 1 -> ... -> QH 999 -> QH 0
    const { rig } = rigWithDevice(1024);
    for (let i = 0; i < 1000; i++) writeQh(rig.ram, node(i), qhLink(node((i + 1) % 1000)), TERM);
    rig.start(qhLink(node(0)));
    runBounded(rig, 3, 1024);
    assert.equal(rig.frnum, 3);
  });
});

describe("hostile: pointers outside RAM (UHCI 2.1.2 HSE)", () => {
  const FAR = 0x0fff_fff0; // 256 MiB: far beyond the 64 KiB of RAM

  it("a frame list base beyond RAM", () => {
    const { rig } = rigWithDevice();
    rig.write32(Reg.FRBASEADD, 0x0010_0000);
    rig.write16(Reg.USBCMD, Cmd.RS);
    rig.frames(1);
    assertHalted(rig, Sts.HSE);
  });

  it("a frame list entry pointing to a TD beyond RAM", () => {
    const { rig } = rigWithDevice();
    rig.start(tdLink(FAR));
    rig.frames(1);
    assertHalted(rig, Sts.HSE);
  });

  it("a TD that straddles the end of RAM", () => {
    // RAM ends 8 bytes into the 16-byte TD at 0x10000.
    const rig = new Rig({ ramSize: 0x10008, maxLinkVisitsPerFrame: LIMIT });
    rig.ram.write32(0x10000, TERM);
    rig.ram.write32(0x10004, 0x0080_0000);
    rig.start(tdLink(0x10000));
    rig.frames(1);
    assertHalted(rig, Sts.HSE);
  });

  it("a QH beyond RAM, and a QH element beyond RAM", () => {
    for (const setup of [
      (rig: Rig) => rig.start(qhLink(FAR)),
      (rig: Rig) => {
        writeQh(rig.ram, node(0), TERM, tdLink(FAR));
        rig.start(qhLink(node(0)));
      },
    ]) {
      const { rig } = rigWithDevice();
      setup(rig);
      rig.frames(1);
      assertHalted(rig, Sts.HSE);
    }
  });

  it("a horizontal link beyond RAM after a good TD: the good TD completes, then HSE", () => {
    const { rig, dev } = rigWithDevice();
    writeTd(rig.ram, node(0), { link: qhLink(0xffff_fff0), pid: PID.OUT, devAddr: 1 });
    rig.start(tdLink(node(0)));
    rig.frames(1);
    assert.equal(dev.seen.length, 1);
    assert.equal(readTd(rig.ram, node(0)).active, false);
    assertHalted(rig, Sts.HSE);
  });

  it("an OUT buffer beyond RAM: nothing is sent, HSE", () => {
    const { rig, dev } = rigWithDevice();
    writeTd(rig.ram, node(0), { pid: PID.OUT, devAddr: 1, maxLen: 8, buffer: Layout.RAM_SIZE - 4 });
    rig.start(tdLink(node(0)));
    rig.frames(1);
    assert.equal(dev.seen.length, 0);
    assertHalted(rig, Sts.HSE);
  });

  it("an IN buffer running off the end of RAM: nothing written, HSE", () => {
    const { rig, dev } = rigWithDevice();
    dev.reply({ kind: "ack", data: [1, 2, 3, 4, 5, 6, 7, 8] });
    const end = Layout.RAM_SIZE - 4;
    rig.fill(end, 4, 0xee);
    writeTd(rig.ram, node(0), { pid: PID.IN, devAddr: 1, maxLen: 8, buffer: end });
    rig.start(tdLink(node(0)));
    rig.frames(1);
    assert.deepEqual(rig.bytes(end, 4), [0xee, 0xee, 0xee, 0xee]);
    assertHalted(rig, Sts.HSE);
  });

  it("after HSE, the guest can clear the status, repair the schedule and run again", () => {
    const { rig, dev } = rigWithDevice();
    rig.start(tdLink(FAR));
    rig.frames(1);
    assertHalted(rig, Sts.HSE);
    rig.clearStatus(Sts.HSE);
    assert.equal(rig.irq.level, false);
    writeTd(rig.ram, node(0), { pid: PID.OUT, devAddr: 1 });
    fillFrameList(rig.ram, Layout.FRAME_LIST, tdLink(node(0)));
    rig.write16(Reg.USBCMD, Cmd.RS);
    rig.frames(1);
    assert.equal(dev.seen.length, 1);
    assert.equal(rig.usbsts & (Sts.HSE | Sts.HCHALTED), 0);
  });
});

describe("hostile: malformed TDs (UHCI 2.1.2 HCPE, 3.2.3)", () => {
  it("an invalid PID deep in a queue halts the controller mid-frame", () => {
    // frame list[*] -> QH A -> T
    //                   \-> (element) TD1 -Vf-> TD2 (PID 0x5A) -> T
    const { rig, dev } = rigWithDevice();
    writeQh(rig.ram, node(0), TERM, tdLink(node(1)));
    writeTd(rig.ram, node(1), { link: tdLink(node(2), true), pid: PID.OUT, devAddr: 1 });
    writeTd(rig.ram, node(2), { pid: 0x5a, devAddr: 1 });
    rig.start(qhLink(node(0)));
    rig.frames(1);
    assert.equal(dev.seen.length, 1);
    assertHalted(rig, Sts.HCPE);
  });

  it("an illegal MaxLen halts the controller", () => {
    const { rig } = rigWithDevice();
    writeTd(rig.ram, node(0), { pid: PID.IN, devAddr: 1, maxLenField: 0x6ab, buffer: buf(0) });
    rig.start(tdLink(node(0)));
    rig.frames(1);
    assertHalted(rig, Sts.HCPE);
  });
});
