/**
 * Hostile schedules: what a buggy or malicious guest can write into memory. The controller must not
 * throw, must bound its work per frame, and must report DMA outside RAM as a host system error
 * (UHCI 2.1.2 HSE) and malformed TDs as a process error (HCPE) — halting in both cases.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { checkInterruptLine, checkRegisters } from "../../fuzz/lib/controller-invariants.ts";
import { CounterSource } from "../../src/devices/async-host/counter-source.ts";
import { encodeSetupPacket } from "../../src/guest/control-request.ts";
import { SeededRandom } from "../../src/machine/seeded-random.ts";
import { StandardRequest, UsbSpeed } from "../../src/usb/constants.ts";
import type { UsbDevice } from "../../src/usb/device.ts";
import {
  asyncSetup,
  DEVICE_ADDRESS,
  ISO_IN_EP,
  placeInFrame,
  writeIsoTd,
} from "../iso/helpers/async-setup.ts";
import { type IsoRig, isoBuf, isoTd } from "../iso/helpers/iso-rig.ts";
import { ackIn, FakeDevice, NAK } from "./helpers/fake-device.ts";
import { buf, Layout, node, Rig } from "./helpers/rig.ts";
import { fillFrameList, qhLink, readTd, TERM, tdLink, writeQh, writeTd } from "./helpers/schedule.ts";
import { Cmd, Intr, PID, Reg, Sts } from "./helpers/uhci-spec.ts";

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

describe("hostile: registers (UHCI 2.1)", () => {
  it("garbage at every offset 0..0x1F in widths 1, 2 and 4 while running: consistent registers and IRQ after each write, then a clean restart works", () => {
    // frame list[*] -> QH A -> T
    //                   \-> (element) TD1 (IN, NAKed) -> T
    const { rig, dev } = rigWithDevice(1024);
    dev.defaultReply = NAK;
    writeQh(rig.ram, node(0), TERM, tdLink(node(1)));
    writeTd(rig.ram, node(1), { pid: PID.IN, devAddr: 1, maxLen: 8, buffer: buf(0), ioc: true });
    rig.start(qhLink(node(0)), { intr: 0xf });
    const rng = new SeededRandom(0x0bad_f00d);
    let writes = 0;
    let whileRunning = 0;
    for (let round = 0; round < 6; round++) {
      for (let offset = 0; offset < 0x20; offset++) {
        for (const width of [1, 2, 4] as const) {
          // A guest that keeps the controller running between garbage writes (GRESET released, RS set).
          if (rig.usbsts & Sts.HCHALTED) rig.write16(Reg.USBCMD, Cmd.RS);
          const running = (rig.usbsts & Sts.HCHALTED) === 0;
          if (running) whileRunning++;
          const frnum = rig.frnum;
          const value = rng.chance(0.25) ? rng.pick([0, 0xffff_ffff, 0x8000_0000, 0x0000_ffff]) : rng.u32();
          rig.hc.ioWrite(offset, width, value);
          writes++;
          checkRegisters(rig.hc);
          checkInterruptLine(rig.hc, rig.irq);
          // UHCI 2.1.4: FRNUM changes only while halted (a write that reaches USBCMD may halt or reset first).
          if (running && offset > 1) assert.equal(rig.frnum, frnum, `write${8 * width} at ${offset}`);
          const read = rig.hc.ioRead(offset, width);
          assert.ok(Number.isInteger(read) && read >= 0 && read < 2 ** (8 * width));
          if (rng.chance(0.2)) {
            rig.frames(1);
            assert.ok(rig.hc.lastFrameLinkVisits <= 1024);
            checkRegisters(rig.hc);
            checkInterruptLine(rig.hc, rig.irq);
          }
        }
      }
    }
    assert.equal(writes, 6 * 0x20 * 3);
    assert.ok(
      whileRunning > writes / 2,
      `only ${whileRunning} of ${writes} writes reached a running controller`,
    );

    // A driver takes over: reset, program the controller again; the schedule runs as before.
    rig.write16(Reg.USBCMD, Cmd.HCRESET);
    rig.clearStatus();
    rig.enablePort(0);
    dev.defaultReply = ackIn([1, 2, 3]);
    writeTd(rig.ram, node(1), { pid: PID.IN, devAddr: 1, maxLen: 8, buffer: buf(0), ioc: true });
    writeQh(rig.ram, node(0), TERM, tdLink(node(1)));
    rig.write8(Reg.SOFMOD, 64);
    rig.start(qhLink(node(0)), { intr: 0xf });
    rig.frames(2);
    const td = readTd(rig.ram, node(1));
    assert.equal(td.active, false);
    assert.equal(td.actLen, 3);
    assert.deepEqual(rig.bytes(buf(0), 3), [1, 2, 3]);
    assert.equal(rig.usbsts & Sts.USBINT, Sts.USBINT);
    assert.equal(rig.irq.level, true);
  });

  it("FRNUM written while running is ignored at every width and offset that reaches it (UHCI 2.1.4)", () => {
    const rig = new Rig();
    rig.write16(Reg.FRNUM, 0x123);
    rig.start(TERM);
    rig.frames(2);
    const writes: [number, 1 | 2 | 4][] = [
      [Reg.FRNUM, 1],
      [Reg.FRNUM + 1, 1],
      [Reg.FRNUM, 2],
      [Reg.FRNUM - 1, 2],
      [Reg.FRNUM + 1, 2],
      [Reg.USBINTR, 4],
      [Reg.FRNUM, 4],
      [Reg.FRNUM - 1, 4],
      [Reg.FRNUM - 3, 4],
    ];
    for (const [offset, width] of writes) {
      const before = rig.frnum;
      rig.hc.ioWrite(offset, width, 0xffff_ffff);
      assert.equal(rig.frnum, before, `write${8 * width} at ${offset}`);
      rig.frames(1);
      assert.equal(rig.frnum, (before + 1) & 0x7ff, "and the frames go on from where they were");
    }
    rig.write16(Reg.USBCMD, 0);
    rig.hc.ioWrite(Reg.FRNUM + 1, 1, 0x05);
    assert.equal(rig.frnum & 0x700, 0x500, "halted, a byte write reaches FRNUM's high byte");
  });

  it("GRESET held while other bits are written: HCRESET never sticks and RS does not read 1 while halted", () => {
    const rig = new Rig();
    rig.write16(Reg.USBCMD, Cmd.GRESET);
    rig.write16(Reg.USBCMD, 0x00ff);
    assert.equal(rig.usbcmd, Cmd.GRESET, "the controller is in reset while GRESET is held");
    assert.equal(rig.usbsts & Sts.HCHALTED, Sts.HCHALTED);
    rig.write16(Reg.USBCMD, 0);
    rig.write16(Reg.USBCMD, Cmd.RS);
    assert.equal(rig.usbsts & Sts.HCHALTED, 0, "released, it runs");
  });
});

describe("hostile: HCRESET and GRESET in the middle of transfers (UHCI 2.1.1)", () => {
  // frame list[f + k] -> ISO TD k (IN 192, ep 1, IOC) -> QH ctrl -> QH bulk -> T        (k = 0..19)
  //                                                        |          \-> (element) bulk IN 64, ep 3
  //                                                        \-> (element) SETUP -> IN -> IN -> IN -> IN -> OUT (status)
  // The control TDs are linked breadth first, so the transfer advances one stage per frame and is still
  // in flight when the reset comes; the iso requests and the bulk request are out with the device.
  const CTRL_QH = isoTd(300);
  const BULK_QH = isoTd(310);
  const BULK_TD = isoTd(311);
  // UHCI 2.1.1: GRESET sends reset on the bus; HCRESET resets the controller only (the device keeps its
  // address and configuration — test/uhci/resets-sofmod.test.ts).
  const RESETS: [string, (rig: IsoRig) => void, boolean][] = [
    ["HCRESET", (rig) => rig.write16(Reg.USBCMD, Cmd.HCRESET), false],
    [
      "GRESET",
      (rig) => {
        rig.write16(Reg.USBCMD, Cmd.GRESET);
        rig.advance(20);
        rig.write16(Reg.USBCMD, 0);
      },
      true,
    ],
  ];

  function transfersInFlight() {
    const s = asyncSetup({ firstIsoDelayMs: 10, nonIsoDelayMs: 50 }, Intr.IOC | Intr.TIMEOUT_CRC);
    const { rig } = s;
    s.dev.setSource(3, new CounterSource(64));
    const setupBuffer = isoBuf(300);
    rig.ram.write(
      setupBuffer,
      encodeSetupPacket({
        requestType: 0x80,
        request: StandardRequest.GetDescriptor,
        value: 0x0200,
        index: 0,
        length: 255,
      }),
      8,
    );
    const control = [isoTd(301), isoTd(302), isoTd(303), isoTd(304), isoTd(305), isoTd(306)];
    control.forEach((td, i) => {
      const last = i === control.length - 1;
      const link = last ? TERM : tdLink(control[i + 1]!);
      if (i === 0)
        writeTd(rig.ram, td, {
          link,
          pid: PID.SETUP,
          devAddr: DEVICE_ADDRESS,
          maxLen: 8,
          buffer: setupBuffer,
        });
      else if (last)
        writeTd(rig.ram, td, { link, pid: PID.OUT, devAddr: DEVICE_ADDRESS, toggle: true, ioc: true });
      else {
        writeTd(rig.ram, td, {
          link,
          pid: PID.IN,
          devAddr: DEVICE_ADDRESS,
          maxLen: 64,
          buffer: isoBuf(300 + i),
          toggle: i % 2 === 1,
        });
      }
    });
    writeQh(rig.ram, CTRL_QH, qhLink(BULK_QH), tdLink(control[0]!));
    writeQh(rig.ram, BULK_QH, TERM, tdLink(BULK_TD));
    writeTd(rig.ram, BULK_TD, {
      pid: PID.IN,
      devAddr: DEVICE_ADDRESS,
      endpoint: 3,
      maxLen: 64,
      buffer: isoBuf(310),
      ioc: true,
    });
    rig.fillFrameList(qhLink(CTRL_QH));
    for (let k = 0; k < 20; k++) {
      writeIsoTd(rig, isoTd(k), { pid: PID.IN, endpoint: ISO_IN_EP, buffer: isoBuf(k), ioc: true });
      rig.ram.write32(isoTd(k), qhLink(CTRL_QH));
      placeInFrame(rig, isoTd(k), k);
    }
    rig.advance(4);
    assert.equal(readTd(rig.ram, control[0]!).active, false, "the SETUP went out");
    assert.equal(readTd(rig.ram, control[5]!).active, true, "the status stage has not");
    assert.equal(readTd(rig.ram, BULK_TD).active, true);
    assert.equal(s.dev.inFlight, 5, "four iso requests and the bulk request are out");
    assert.equal(rig.hc.asyncs.size, 5);
    return { ...s, control };
  }

  for (const [name, reset, busReset] of RESETS) {
    it(`${name}: every request is taken back, and no TD or buffer is written afterwards`, () => {
      const { rig, dev } = transfersInFlight();
      const { address, configuration } = dev;
      reset(rig);
      assert.equal(dev.stats.cancelled, 5, "the device was told to drop all five");
      assert.equal(dev.inFlight, 0);
      assert.equal(rig.hc.asyncs.size, 0);
      if (busReset) {
        assert.equal(dev.address, 0, "the bus reset returned the device to its default state");
        assert.equal(dev.configuration, 0);
      } else {
        assert.equal(dev.address, address, "no reset was sent on the bus");
        assert.equal(dev.configuration, configuration);
      }
      const memory = rig.ram.bytes.slice();
      rig.advance(200);
      assert.equal(dev.stats.completed, 0);
      assert.ok(
        Buffer.from(rig.ram.bytes).equals(Buffer.from(memory)),
        "guest memory is untouched after the reset",
      );
      assert.equal(rig.usbsts, Sts.HCHALTED);
      assert.equal(rig.frnum, 0);
      assert.equal(rig.irq.level, false);
    });
  }
});

describe("hostile: thousands of requests out with an async device", () => {
  it("a backlog of 16,384 deferred requests: each TD asked once, taken back after 32 frames, every frame walked whole", () => {
    // frame list[f] -> TD f.0 -> TD f.1 -> … -> TD f.511 -> T     (f = 0..47: fresh TDs every frame)
    // A device that defers everything and never answers leaves every TD with a request out: 16,384
    // after 32 frames. What that costs per frame (indexed lookups, not scans) is measured, with its
    // bound, by the async-backlog benchmark (bench/async-backlog.ts), not by a clock in a unit test.
    const TDS = 512;
    const FRAMES = 48;
    const LIFETIME = 32;
    const rig = new Rig({ ramSize: 0x20000 + FRAMES * TDS * 16, maxLinkVisitsPerFrame: 1024 });
    let asked = 0;
    let takenBack = 0;
    const deferring: UsbDevice = {
      name: "deferring",
      speed: UsbSpeed.Full,
      address: 1,
      handlePacket: (packet) => {
        asked++;
        packet.deferred();
      },
      cancelPacket: () => {
        takenBack++;
      },
      reset: () => {},
      setUpstream: () => {},
      setSuspended: () => {},
    };
    rig.plug(0, deferring);
    fillFrameList(rig.ram, Layout.FRAME_LIST, TERM);
    const first = 0x20000;
    let at = first;
    for (let f = 0; f < FRAMES; f++) {
      rig.ram.write32(Layout.FRAME_LIST + 4 * f, tdLink(at));
      for (let i = 0; i < TDS; i++, at += 16) {
        writeTd(rig.ram, at, {
          link: i < TDS - 1 ? tdLink(at + 16) : TERM,
          pid: PID.IN,
          devAddr: 1,
          endpoint: 1,
          maxLen: 8,
          buffer: buf(0),
        });
      }
    }
    const schedule = rig.ram.bytes.slice(first, at);
    rig.write32(Reg.FRBASEADD, Layout.FRAME_LIST);
    rig.write16(Reg.USBCMD, Cmd.RS);
    for (let f = 0; f < FRAMES; f++) {
      rig.frames(1);
      // UHCI 3.4: the frame's whole TD chain is walked, however many requests are out elsewhere.
      assert.equal(rig.hc.lastFrameLinkVisits, TDS, `frame ${f} walked its ${TDS} TDs`);
      assert.equal(asked, (f + 1) * TDS, `frame ${f}: each TD asked once, none asked again`);
      const out = Math.min(f + 1, LIFETIME) * TDS;
      assert.equal(asked - takenBack, out, `frame ${f}: requests out`);
    }
    assert.equal(rig.hc.asyncs.size, LIFETIME * TDS, "the controller holds exactly the live pairings");
    assert.ok(
      Buffer.from(rig.ram.bytes.subarray(first, at)).equals(Buffer.from(schedule)),
      "no TD written: an unanswered request leaves its TD active and untouched",
    );
    assert.equal(rig.usbsts & (Sts.HSE | Sts.HCPE | Sts.HCHALTED), 0);
  });
});
