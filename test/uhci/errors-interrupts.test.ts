/**
 * Spec tests for TD completion status, errors and interrupts (UHCI Design Guide rev 1.1: 3.2.2 TD
 * control/status, 3.2.3 token, 2.1.2 USBSTS, 2.1.3 USBINTR, 4 interrupts).
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { ACK, ackIn, FakeDevice, NAK, STALL } from "./helpers/fake-device.ts";
import { buf, node, Rig } from "./helpers/rig.ts";
import { qhElement, qhLink, readTd, TERM, tdLink, writeQh, writeTd } from "./helpers/schedule.ts";
import { Cmd, Intr, PID, Sts } from "./helpers/uhci-spec.ts";

function rigWithDevice(): { rig: Rig; dev: FakeDevice } {
  const rig = new Rig();
  const dev = new FakeDevice({ address: 1 });
  rig.plug(0, dev);
  return { rig, dev };
}

const ALL_INTR = Intr.TIMEOUT_CRC | Intr.RESUME | Intr.IOC | Intr.SHORT_PACKET;

describe("UHCI 3.2.2 NAK", () => {
  it("a NAKed TD stays active with NAK set, is retried next frame, and its queue is not advanced", () => {
    // frame list[*] -> QH A -> T
    //                   \-> (element) TD1 -> T
    const { rig, dev } = rigWithDevice();
    dev.reply(NAK, NAK, NAK);
    writeQh(rig.ram, node(0), TERM, tdLink(node(1)));
    writeTd(rig.ram, node(1), { pid: PID.IN, devAddr: 1, maxLen: 8, buffer: buf(0), ioc: true, cerr: 3 });
    rig.start(qhLink(node(0)), { intr: ALL_INTR });
    rig.frames(3);
    assert.equal(dev.seen.length, 3, "retried once per frame");
    const td = readTd(rig.ram, node(1));
    assert.equal(td.active, true);
    assert.equal(td.nak, true);
    assert.equal(td.cerr, 3, "NAK is not an error: C_ERR untouched");
    assert.equal(td.stalled, false);
    assert.equal(qhElement(rig.ram, node(0)), tdLink(node(1)));
    assert.equal(rig.usbsts & (Sts.USBINT | Sts.USBERRINT), 0, "not complete: no IOC, no error");
    assert.equal(rig.irq.level, false);
    rig.frames(1);
    const done = readTd(rig.ram, node(1));
    assert.equal(done.active, false);
    assert.equal(done.nak, false, "status bits rewritten on completion");
    assert.equal(qhElement(rig.ram, node(0)), TERM);
    assert.equal(rig.irq.level, true);
  });
});

describe("UHCI 3.2.2 STALL", () => {
  it("sets Stalled, clears Active, sets USBERRINT; the queue is not advanced", () => {
    // frame list[*] -> QH A -> T
    //                   \-> (element) TD1 -> TD2 -> T
    const { rig, dev } = rigWithDevice();
    dev.reply(STALL);
    writeQh(rig.ram, node(0), TERM, tdLink(node(1)));
    writeTd(rig.ram, node(1), { link: tdLink(node(2), true), pid: PID.OUT, devAddr: 1 });
    writeTd(rig.ram, node(2), { pid: PID.OUT, devAddr: 1, endpoint: 2 });
    rig.start(qhLink(node(0)));
    rig.frames(2);
    const td = readTd(rig.ram, node(1));
    assert.equal(td.stalled, true);
    assert.equal(td.active, false);
    assert.equal(td.babble || td.crcTimeout || td.nak, false);
    assert.equal(td.cerr, 3, "UHCI 3.2.2 C_ERR table: a STALL does not decrement the counter");
    assert.equal(qhElement(rig.ram, node(0)), tdLink(node(1)));
    assert.equal(dev.seen.length, 1, "TD2 never runs");
    assert.equal(rig.usbsts & (Sts.USBERRINT | Sts.USBINT), Sts.USBERRINT);
    assert.equal(rig.irq.level, false, "USBINTR bit 0 clear: no IRQ");
    rig.write16(0x04, Intr.TIMEOUT_CRC);
    assert.equal(rig.irq.level, true);
    rig.clearStatus(Sts.USBERRINT);
    assert.equal(rig.irq.level, false);
  });

  it("raises the IRQ when the timeout/CRC interrupt is enabled; with IOC set USBINT is set too (UHCI 2.1.2)", () => {
    const { rig, dev } = rigWithDevice();
    dev.reply(STALL);
    writeTd(rig.ram, node(0), { pid: PID.IN, devAddr: 1, maxLen: 8, buffer: buf(0), ioc: true });
    rig.start(tdLink(node(0)), { intr: Intr.TIMEOUT_CRC });
    rig.frames(1);
    assert.equal(rig.usbsts & (Sts.USBERRINT | Sts.USBINT), Sts.USBERRINT | Sts.USBINT);
    assert.equal(rig.irq.level, true);
    assert.equal(rig.usbsts & Sts.HCHALTED, 0, "a STALL does not halt the controller");
  });
});

describe("UHCI 3.2.2 handshakes to a SETUP", () => {
  it("a NAK to a SETUP is also reported as a timeout error and counted in C_ERR", () => {
    const { rig, dev } = rigWithDevice();
    dev.reply(NAK, NAK);
    writeTd(rig.ram, node(0), { pid: PID.SETUP, devAddr: 1, maxLen: 8, buffer: buf(0), cerr: 2 });
    rig.start(tdLink(node(0)), { intr: Intr.TIMEOUT_CRC });
    rig.frames(1);
    let td = readTd(rig.ram, node(0));
    assert.equal(td.nak && td.crcTimeout && td.active, true);
    assert.equal(td.cerr, 1);
    rig.frames(1);
    td = readTd(rig.ram, node(0));
    assert.equal(td.active, false);
    assert.equal(td.stalled, true);
    assert.equal(rig.usbsts & Sts.USBERRINT, Sts.USBERRINT);
  });

  it("a STALL to a SETUP sets Stalled and also reports a timeout error", () => {
    const { rig, dev } = rigWithDevice();
    dev.reply(STALL);
    writeTd(rig.ram, node(0), { pid: PID.SETUP, devAddr: 1, maxLen: 8, buffer: buf(0) });
    rig.start(tdLink(node(0)));
    rig.frames(1);
    const td = readTd(rig.ram, node(0));
    assert.equal(td.stalled && td.crcTimeout && !td.active, true);
  });
});

describe("UHCI 3.2.2 C_ERR", () => {
  it("counts timeouts down 3 → 0; at 0 the TD is retired with Stalled and USBERRINT", () => {
    // frame list[*] -> QH A -> T
    //                   \-> (element) TD1 (device address 9: nobody answers) -> T
    const { rig } = rigWithDevice();
    writeQh(rig.ram, node(0), TERM, tdLink(node(1)));
    writeTd(rig.ram, node(1), { pid: PID.OUT, devAddr: 9, maxLen: 4, buffer: buf(0), cerr: 3 });
    rig.start(qhLink(node(0)), { intr: Intr.TIMEOUT_CRC });
    for (const expected of [2, 1]) {
      rig.frames(1);
      const td = readTd(rig.ram, node(1));
      assert.equal(td.cerr, expected);
      assert.equal(td.active, true);
      assert.equal(td.crcTimeout, true);
      assert.equal(td.stalled, false);
      assert.equal(rig.usbsts & Sts.USBERRINT, 0, "not final yet");
      assert.equal(rig.irq.level, false);
    }
    rig.frames(1);
    const td = readTd(rig.ram, node(1));
    assert.equal(td.cerr, 0);
    assert.equal(td.active, false);
    assert.equal(td.crcTimeout, true);
    assert.equal(td.stalled, true);
    assert.equal(qhElement(rig.ram, node(0)), tdLink(node(1)), "an error does not advance the queue");
    assert.equal(rig.usbsts & Sts.USBERRINT, Sts.USBERRINT);
    assert.equal(rig.irq.level, true);
  });

  it("C_ERR = 1 makes the first error final", () => {
    const { rig } = rigWithDevice();
    writeTd(rig.ram, node(0), { pid: PID.IN, devAddr: 9, maxLen: 4, buffer: buf(0), cerr: 1 });
    rig.start(tdLink(node(0)));
    rig.frames(1);
    const td = readTd(rig.ram, node(0));
    assert.equal(td.active, false);
    assert.equal(td.cerr, 0);
    assert.equal(rig.usbsts & Sts.USBERRINT, Sts.USBERRINT);
  });

  it("C_ERR = 0 means no error limit: retried every frame, never retired", () => {
    const { rig } = rigWithDevice();
    writeTd(rig.ram, node(0), { pid: PID.IN, devAddr: 9, maxLen: 4, buffer: buf(0), cerr: 0 });
    rig.start(tdLink(node(0)), { intr: ALL_INTR });
    rig.frames(20);
    const td = readTd(rig.ram, node(0));
    assert.equal(td.active, true);
    assert.equal(td.cerr, 0);
    assert.equal(td.crcTimeout, true);
    assert.equal(rig.usbsts & Sts.USBERRINT, 0);
    assert.equal(rig.irq.level, false);
  });

  it("a device I/O error counts like a timeout", () => {
    const { rig, dev } = rigWithDevice();
    dev.defaultReply = { kind: "io-error" };
    writeTd(rig.ram, node(0), { pid: PID.OUT, devAddr: 1, cerr: 2 });
    rig.start(tdLink(node(0)));
    rig.frames(1);
    assert.equal(readTd(rig.ram, node(0)).cerr, 1);
    rig.frames(1);
    assert.equal(readTd(rig.ram, node(0)).active, false);
    assert.equal(dev.seen.length, 2);
  });

  it("a success after errors completes normally", () => {
    const { rig, dev } = rigWithDevice();
    dev.reply({ kind: "io-error" }, ACK);
    writeTd(rig.ram, node(0), { pid: PID.OUT, devAddr: 1, cerr: 3 });
    rig.start(tdLink(node(0)));
    rig.frames(2);
    const td = readTd(rig.ram, node(0));
    assert.equal(td.active, false);
    assert.equal(td.stalled || td.crcTimeout, false);
    assert.equal(rig.usbsts & Sts.USBERRINT, 0);
  });
});

describe("UHCI 3.2.2 babble", () => {
  it("an IN that returns more than MaxLen is babble: Babble + Stalled, retired, nothing past MaxLen written", () => {
    const { rig, dev } = rigWithDevice();
    dev.reply(ackIn([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12]));
    rig.fill(buf(0), 32, 0xee);
    writeTd(rig.ram, node(0), { pid: PID.IN, devAddr: 1, maxLen: 8, buffer: buf(0) });
    rig.start(tdLink(node(0)), { intr: Intr.TIMEOUT_CRC });
    rig.frames(1);
    const td = readTd(rig.ram, node(0));
    assert.equal(td.babble, true);
    assert.equal(td.stalled, true);
    assert.equal(td.active, false);
    assert.equal(td.cerr, 3, "UHCI 3.2.2 C_ERR table: babble does not decrement the counter");
    assert.deepEqual(rig.bytes(buf(0) + 8, 24), new Array(24).fill(0xee));
    assert.equal(rig.usbsts & Sts.USBERRINT, Sts.USBERRINT);
    assert.equal(rig.irq.level, true);
  });

  it("babble ends the frame: no further TD runs until the next frame list index", () => {
    // frame list[*] -> TD1 (IN 8, device sends 9) -> TD2 (OUT) -> T
    const { rig, dev } = rigWithDevice();
    dev.reply(ackIn([1, 2, 3, 4, 5, 6, 7, 8, 9]), ACK);
    writeTd(rig.ram, node(0), { link: tdLink(node(1)), pid: PID.IN, devAddr: 1, maxLen: 8, buffer: buf(0) });
    writeTd(rig.ram, node(1), { pid: PID.OUT, devAddr: 1, endpoint: 2 });
    rig.start(tdLink(node(0)));
    rig.frames(1);
    assert.equal(readTd(rig.ram, node(0)).babble, true);
    assert.equal(dev.seen.length, 1, "TD2 not executed in the babbling frame");
    assert.equal(readTd(rig.ram, node(1)).active, true);
    assert.equal(rig.usbsts & Sts.HCHALTED, 0, "babble does not halt the controller");
    rig.frames(1);
    assert.equal(dev.seen.length, 2);
    assert.equal(readTd(rig.ram, node(1)).active, false);
  });

  it("a device reporting babble is treated the same", () => {
    const { rig, dev } = rigWithDevice();
    dev.reply({ kind: "babble" });
    writeQh(rig.ram, node(0), TERM, tdLink(node(1)));
    writeTd(rig.ram, node(1), { pid: PID.IN, devAddr: 1, maxLen: 8, buffer: buf(0) });
    rig.start(qhLink(node(0)));
    rig.frames(1);
    const td = readTd(rig.ram, node(1));
    assert.equal(td.babble && td.stalled && !td.active, true);
    assert.equal(qhElement(rig.ram, node(0)), tdLink(node(1)));
    assert.equal(rig.usbsts & Sts.USBERRINT, Sts.USBERRINT);
  });
});

describe("UHCI 3.2.2 short packets and SPD", () => {
  // frame list[*] -> QH A -> T
  //                   \-> (element) TD1 (IN 8, SPD?) -> TD2 (IN 8) -> T
  function build(spd: boolean, intr: number) {
    const { rig, dev } = rigWithDevice();
    dev.reply(ackIn([1, 2, 3]), ackIn([4]));
    writeQh(rig.ram, node(0), TERM, tdLink(node(1)));
    writeTd(rig.ram, node(1), {
      link: tdLink(node(2)),
      pid: PID.IN,
      devAddr: 1,
      maxLen: 8,
      buffer: buf(0),
      spd,
    });
    writeTd(rig.ram, node(2), { pid: PID.IN, devAddr: 1, maxLen: 8, buffer: buf(1), endpoint: 2 });
    rig.start(qhLink(node(0)), { intr });
    return { rig, dev };
  }

  it("with SPD: the TD is retired, the QH is not advanced, USBINT is set; IRQ if short-packet interrupts are on", () => {
    const { rig, dev } = build(true, Intr.SHORT_PACKET);
    rig.frames(1);
    const td = readTd(rig.ram, node(1));
    assert.equal(td.active, false);
    assert.equal(td.actLen, 3);
    assert.equal(td.stalled, false);
    assert.deepEqual(rig.bytes(buf(0), 3), [1, 2, 3]);
    assert.equal(qhElement(rig.ram, node(0)), tdLink(node(1)), "queue stays on the short TD");
    assert.equal(rig.usbsts & (Sts.USBINT | Sts.USBERRINT), Sts.USBINT);
    assert.equal(rig.irq.level, true);
    rig.frames(3);
    assert.equal(dev.seen.length, 1, "the queue does not go on to TD2");
  });

  it("with SPD but the short-packet interrupt disabled: USBINT status is set, the line stays low", () => {
    const { rig } = build(true, Intr.IOC | Intr.TIMEOUT_CRC);
    rig.frames(1);
    assert.equal(rig.usbsts & Sts.USBINT, Sts.USBINT);
    assert.equal(rig.irq.level, false);
    rig.write16(0x04, Intr.SHORT_PACKET);
    assert.equal(rig.irq.level, true);
  });

  it("without SPD a short packet is a success: the queue advances and no interrupt", () => {
    const { rig, dev } = build(false, ALL_INTR);
    rig.frames(1);
    assert.equal(readTd(rig.ram, node(1)).actLen, 3);
    assert.equal(qhElement(rig.ram, node(0)), tdLink(node(2)));
    assert.equal(rig.usbsts & Sts.USBINT, 0);
    assert.equal(rig.irq.level, false);
    rig.frames(1);
    assert.equal(dev.seen.length, 2);
    assert.equal(readTd(rig.ram, node(2)).actLen, 1);
  });

  it("a full-length IN with SPD is not short: the queue advances", () => {
    const { rig, dev } = rigWithDevice();
    dev.reply(ackIn([1, 2, 3, 4]));
    writeQh(rig.ram, node(0), TERM, tdLink(node(1)));
    writeTd(rig.ram, node(1), { pid: PID.IN, devAddr: 1, maxLen: 4, buffer: buf(0), spd: true });
    rig.start(qhLink(node(0)), { intr: ALL_INTR });
    rig.frames(1);
    assert.equal(qhElement(rig.ram, node(0)), TERM);
    assert.equal(rig.usbsts & Sts.USBINT, 0);
  });
  // (SPD on a TD outside a queue, or on OUT, is undefined in UHCI 3.2.2; not tested.)
});

describe("UHCI 3.2.2 IOC and the end of the frame", () => {
  it("USBINT is set at the end of the frame in which the IOC TD completed, not earlier", () => {
    // frame list[*] -> TD1 (IOC) -> TD2 -> T ; the device looks at USBSTS while TD2 runs
    const { rig, dev } = rigWithDevice();
    const midFrame: number[] = [];
    dev.onPacket = () => midFrame.push(rig.usbsts);
    writeTd(rig.ram, node(0), { link: tdLink(node(1)), pid: PID.OUT, devAddr: 1, ioc: true });
    writeTd(rig.ram, node(1), { pid: PID.OUT, devAddr: 1, endpoint: 2 });
    rig.start(tdLink(node(0)), { intr: Intr.IOC });
    rig.frames(1);
    assert.equal(midFrame.length, 2);
    assert.equal(midFrame[1]! & Sts.USBINT, 0, "not yet while the frame runs");
    assert.equal(rig.usbsts & Sts.USBINT, Sts.USBINT);
    assert.equal(rig.irq.level, true);
  });

  it("the status bit is set whether or not the IOC interrupt is enabled; the line only when it is", () => {
    const { rig } = rigWithDevice();
    writeTd(rig.ram, node(0), { pid: PID.OUT, devAddr: 1, ioc: true });
    rig.start(tdLink(node(0)), { intr: Intr.SHORT_PACKET | Intr.TIMEOUT_CRC | Intr.RESUME });
    rig.frames(1);
    assert.equal(rig.usbsts & Sts.USBINT, Sts.USBINT);
    assert.equal(rig.irq.level, false);
    rig.write16(0x04, Intr.IOC);
    assert.equal(rig.irq.level, true);
    rig.clearStatus(Sts.USBINT);
    assert.equal(rig.irq.level, false);
  });

  it("a TD without IOC completes silently; a NAKed IOC TD raises nothing", () => {
    const { rig, dev } = rigWithDevice();
    dev.reply(ACK, NAK);
    writeTd(rig.ram, node(0), { link: tdLink(node(1)), pid: PID.OUT, devAddr: 1 });
    writeTd(rig.ram, node(1), { pid: PID.OUT, devAddr: 1, ioc: true });
    rig.start(tdLink(node(0)), { intr: ALL_INTR });
    rig.frames(1);
    assert.equal(rig.usbsts & 0x1f, 0);
    assert.equal(rig.irq.level, false);
  });

  it("an inactive TD with IOC still raises USBINT at the end of the frame in which it is fetched", () => {
    // UHCI 3.2.2 IOC: "Even if the Active bit in the TD is already cleared when the TD is fetched
    // (no transaction will occur on USB), an IOC interrupt is generated at the end of the frame."
    // Linux uhci-hcd depends on it: uhci_set_next_interrupt sets IOC on its inactive terminating TD.
    // frame list[*] -> TD1 (inactive, IOC) -> T
    const { rig, dev } = rigWithDevice();
    writeTd(rig.ram, node(0), { pid: PID.OUT, devAddr: 1, ioc: true, active: false });
    rig.start(tdLink(node(0)), { intr: Intr.IOC });
    rig.frames(1);
    assert.equal(dev.seen.length, 0);
    assert.equal(rig.usbsts & Sts.USBINT, Sts.USBINT);
    assert.equal(rig.irq.level, true);
  });

  it("the IRQ rises once per interrupting frame after the guest clears USBSTS", () => {
    const { rig } = rigWithDevice();
    writeTd(rig.ram, node(0), { pid: PID.OUT, devAddr: 1, ioc: true });
    rig.start(tdLink(node(0)), { intr: Intr.IOC });
    rig.frames(1);
    assert.equal(rig.irq.rises, 1);
    rig.clearStatus();
    writeTd(rig.ram, node(0), { pid: PID.OUT, devAddr: 1, ioc: true });
    rig.frames(1);
    assert.equal(rig.irq.rises, 2);
    assert.equal(rig.irq.level, true);
  });
});

describe("UHCI 2.1.2 HCPE: consistency errors in a TD", () => {
  for (const [what, fields] of [
    ["an invalid PID (0xA5)", { pid: 0xa5, maxLen: 8 }],
    ["PID 0 ", { pid: 0x00, maxLen: 8 }],
    ["MaxLen 0x500", { pid: PID.OUT, maxLenField: 0x500 }],
    ["MaxLen 0x7FE", { pid: PID.IN, maxLenField: 0x7fe }],
  ] as const) {
    it(`${what} sets HCPE, halts the controller and raises the IRQ whatever USBINTR says`, () => {
      // frame list[*] -> TD1 (bad) -> TD2 -> T
      const { rig, dev } = rigWithDevice();
      writeTd(rig.ram, node(0), { link: tdLink(node(1)), devAddr: 1, buffer: buf(0), ...fields });
      writeTd(rig.ram, node(1), { pid: PID.OUT, devAddr: 1 });
      const before = readTd(rig.ram, node(0));
      rig.start(tdLink(node(0)), { intr: 0 });
      rig.frames(1);
      assert.equal(rig.usbsts & (Sts.HCPE | Sts.HCHALTED), Sts.HCPE | Sts.HCHALTED);
      assert.equal(rig.usbcmd & Cmd.RS, 0);
      assert.equal(rig.irq.level, true);
      assert.equal(dev.seen.length, 0, "nothing is sent, and the walk stops");
      assert.deepEqual(readTd(rig.ram, node(0)), before);
      const frnum = rig.frnum;
      rig.frames(3);
      assert.equal(rig.frnum, frnum, "halted");
      rig.clearStatus(Sts.HCPE);
      assert.equal(rig.irq.level, false);
    });
  }

  it("an inactive TD with a bad PID is not checked", () => {
    const { rig } = rigWithDevice();
    writeTd(rig.ram, node(0), { pid: 0x00, maxLenField: 0x600, active: false });
    rig.start(tdLink(node(0)));
    rig.frames(2);
    assert.equal(rig.usbsts & (Sts.HCPE | Sts.HCHALTED), 0);
  });
});
