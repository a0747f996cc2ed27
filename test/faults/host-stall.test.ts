/**
 * The host stalls for a whole second (a GC pause, a background tab, a long emulator slice): the clock
 * jumps 1000 ms and every timer fires late, at once. In the "replay" host-stall mode with room for the
 * whole second (a bus that ran on while the CPU stood still; the default replays at most 512 frames and
 * holds the rest, and "hold": src/controller/uhci/frame-clock.test.ts)
 * the controller must run every frame it owes, in
 * order, at most maxFramesPerWakeup per wake-up, with FRNUM counting exactly the elapsed frames — and
 * nothing it had in flight may turn into a stale write: an iso request whose TD's frame went by during
 * the stall is cancelled (the TD stays Active; the guest counts it missed), while a bulk request whose
 * TD the walk keeps meeting survives and completes afterwards. (Stalls of up to 200 ms over ten minutes
 * are in test/iso/frame-grid.test.ts.)
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { UHCI_DEFAULTS } from "../../src/controller/uhci/uhci-controller.ts";
import { AsyncHostDevice } from "../../src/devices/async-host/async-host-device.ts";
import { CounterSource } from "../../src/devices/async-host/counter-source.ts";
import { AsyncHostInterface } from "../../src/devices/async-host/default-model.ts";
import { VirtualClock } from "../../src/machine/clock.ts";
import { enumerate, useControlSchedule } from "../iso/helpers/control.ts";
import { FakeHostClock } from "../iso/helpers/fake-host-clock.ts";
import { IsoRig, isoBuf, isoTd } from "../iso/helpers/iso-rig.ts";
import { SyncIsoDevice } from "../iso/helpers/sync-iso-device.ts";
import { FakeDevice, NAK } from "../uhci/helpers/fake-device.ts";
import { qhLink, readTd, TERM, tdLink, writeQh, writeTd } from "../uhci/helpers/schedule.ts";
import { Intr, PID, Reg, Sts } from "../uhci/helpers/uhci-spec.ts";

const STALL_MS = 1000;
const ISO = 4;
const BULK = 2;
const PACKET = 16;
/** Where the async host device is enumerated to. */
const ADDRESS = 5;

/**
 * frame list[n] -> ISO TD n (IN 16, ep 1, buffer n) -> QH bulk -> T            for every n
 *                                                        \-> (element) TD (IN 8, ep 1): NAKed every frame
 */
function stalledRig<C extends VirtualClock | FakeHostClock>(clock: C, advance: (ms: number) => void) {
  const rig = new IsoRig<C>({ clock, advance, hostStall: { mode: "replay", maxReplayFrames: 1024 } });
  const source = new CounterSource(PACKET);
  const iso = new SyncIsoDevice(ISO, source);
  const bulk = new FakeDevice({ address: BULK });
  bulk.defaultReply = NAK;
  rig.plug(0, iso);
  rig.plug(1, bulk);
  const qh = isoTd(1100);
  writeQh(rig.ram, qh, TERM, tdLink(isoTd(1101)));
  writeTd(rig.ram, isoTd(1101), { pid: PID.IN, devAddr: BULK, endpoint: 1, maxLen: 8, buffer: isoBuf(1100) });
  for (let n = 0; n < 1024; n++) {
    writeTd(rig.ram, isoTd(n), {
      link: qhLink(qh),
      pid: PID.IN,
      devAddr: ISO,
      endpoint: 1,
      maxLen: PACKET,
      buffer: isoBuf(n),
      ios: true,
    });
    rig.setFrameListEntry(n, tdLink(isoTd(n)));
  }
  rig.start({ intr: Intr.IOC | Intr.TIMEOUT_CRC, frnum: 0x7f0 });
  return { rig, iso, bulk, source };
}

/** Every frame of the run took its iso TD in order: TD (frame & 1023) holds packet `frame`. */
function assertFramesInOrder(rig: IsoRig<VirtualClock | FakeHostClock>, frames: number): void {
  for (let f = 0; f < frames; f++) {
    const n = (0x7f0 + f) & 1023;
    const td = readTd(rig.ram, isoTd(n));
    assert.equal(td.active, false, `frame ${f}: its iso TD ran`);
    assert.equal(td.actLen, PACKET);
    assert.equal(CounterSource.check(rig.ram.bytes, isoBuf(n), PACKET), f, `frame ${f} got packet ${f}`);
  }
  const next = readTd(rig.ram, isoTd((0x7f0 + frames) & 1023));
  assert.equal(next.active, true, "no frame ran ahead of time");
}

describe("a host stall of one second", () => {
  it("timers fire late (host clock): every frame runs, in order, at most maxFramesPerWakeup per wake-up, FRNUM exact", () => {
    const clock = new FakeHostClock();
    const batches: number[] = [];
    let lastFrames = 0;
    const { rig, bulk } = stalledRig(clock, (ms) => clock.runTo(clock.now() + ms));
    clock.afterWakeup = () => {
      batches.push(rig.hc.framesRun - lastFrames);
      lastFrames = rig.hc.framesRun;
    };
    rig.advance(5);
    batches.length = 0;
    const wakeupsBefore = clock.wakeups;
    clock.stall(STALL_MS);
    assert.equal(rig.hc.framesRun, 5 + STALL_MS, "every frame owed has run");
    assert.equal(rig.frnum, (0x7f0 + 5 + STALL_MS) & 0x7ff, "FRNUM counts exactly the elapsed frames");
    assert.ok(Math.max(...batches) <= UHCI_DEFAULTS.maxFramesPerWakeup, `batches ${Math.max(...batches)}`);
    assert.equal(
      Math.max(...batches),
      UHCI_DEFAULTS.maxFramesPerWakeup,
      "the backlog was run in full batches",
    );
    assert.ok(clock.wakeups - wakeupsBefore >= Math.ceil(STALL_MS / UHCI_DEFAULTS.maxFramesPerWakeup));
    assertFramesInOrder(rig, 5 + STALL_MS);
    assert.equal(bulk.seen.length, 5 + STALL_MS, "the NAKed bulk TD was tried once in every frame");
    assert.equal(readTd(rig.ram, isoTd(1101)).active, true);
    assert.equal(rig.usbsts & (Sts.HSE | Sts.HCPE | Sts.HCHALTED), 0);
    // And the clock carries on on its grid after the stall.
    rig.advance(10);
    assert.equal(rig.hc.framesRun, 5 + STALL_MS + 10);
  });

  it("the clock jumps (virtual clock): the same frames, each at its own time, FRNUM exact", () => {
    const clock = new VirtualClock();
    const { rig } = stalledRig(clock, (ms) => clock.advance(ms));
    rig.advance(STALL_MS);
    assert.equal(rig.hc.framesRun, STALL_MS);
    assert.equal(rig.frnum, (0x7f0 + STALL_MS) & 0x7ff);
    assertFramesInOrder(rig, STALL_MS);
  });

  it("requests in flight across the stall: replayed frames age none, so the device answers every iso TD the replay asked for (IOC) and the bulk one", () => {
    // frame list[n] -> ISO TD n (IN 192, ep 1, IOC) -> QH bulk -> T           (n: the next 20 frames)
    //                                                    \-> (element) TD (IN 64, ep 3): answer due in 5 ms
    const clock = new FakeHostClock();
    const rig = new IsoRig<FakeHostClock>({
      clock,
      advance: (ms) => clock.runTo(clock.now() + ms),
      hostStall: { mode: "replay", maxReplayFrames: 1024 },
    });
    const dev = new AsyncHostDevice({
      clock,
      timing: { firstIsoDelayMs: 10, nonIsoDelayMs: 5 },
      sources: { 1: new CounterSource(192), 3: new CounterSource(64) },
    });
    rig.plug(0, dev);
    useControlSchedule(rig);
    rig.start();
    enumerate(rig, ADDRESS, [[AsyncHostInterface.Iso, 1]]);
    rig.stop();
    const qh = isoTd(1100);
    const bulkTd = isoTd(1101);
    writeQh(rig.ram, qh, TERM, tdLink(bulkTd));
    writeTd(rig.ram, bulkTd, {
      pid: PID.IN,
      devAddr: ADDRESS,
      endpoint: 3,
      maxLen: 64,
      buffer: isoBuf(1100),
      ioc: true,
    });
    rig.fillFrameList(qhLink(qh));
    rig.write16(Reg.FRNUM, 0);
    for (let n = 0; n < 20; n++) {
      writeTd(rig.ram, isoTd(n), {
        link: qhLink(qh),
        pid: PID.IN,
        devAddr: ADDRESS,
        endpoint: 1,
        maxLen: 192,
        buffer: isoBuf(n),
        ios: true,
        ioc: true,
      });
      rig.fill(isoBuf(n), 4, 0xee);
      rig.setFrameListEntry(n, tdLink(isoTd(n)));
    }
    rig.start({ intr: Intr.IOC | Intr.TIMEOUT_CRC });
    rig.advance(3);
    assert.equal(dev.inFlight, 4, "three iso requests and the bulk request are out");
    clock.stall(STALL_MS);
    assert.equal(rig.hc.framesRun, 3 + STALL_MS);
    assert.equal(rig.frnum, (3 + STALL_MS) & 0x7ff);
    // The replay ran TDs 3–19's frames in no host time: none of their requests aged (AsyncQueue.endFrame),
    // so the device answers each, in host time after it, while its TD is still in its frame, and
    // the guest finds its queued TDs done with an IOC, as if the bus had run on through the pause.
    assert.equal(
      dev.inFlight,
      17,
      "TDs 3–19 asked during the replay are out (0–2 and the bulk one answered)",
    );
    // (The device answers iso requests one per ms from 10 ms out: all 17 within 30 ms.)
    rig.advance(30);
    assert.equal(dev.stats.cancelled, 0, "no request was taken back");
    for (let n = 0; n < 20; n++) {
      const td = readTd(rig.ram, isoTd(n));
      assert.equal(td.active, false, `iso TD ${n} completed`);
      assert.equal(td.actLen, 192);
      assert.equal(CounterSource.check(rig.ram.bytes, isoBuf(n), 192), n, `TD ${n} got packet ${n}`);
    }
    assert.ok(rig.usbsts & Sts.USBINT, "IOC raised");
    const bulk = readTd(rig.ram, bulkTd);
    assert.equal(bulk.active, false, "the bulk request, met every frame, survived the stall and completed");
    assert.equal(bulk.actLen, 64);
    assert.equal(CounterSource.check(rig.ram.bytes, isoBuf(1100), 64), 0);
    assert.equal(dev.stats.ignored, 0);
    assert.equal(rig.usbsts & (Sts.HSE | Sts.HCPE | Sts.HCHALTED), 0);
  });
});
