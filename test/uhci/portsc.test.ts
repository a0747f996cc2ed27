/**
 * Spec tests for the root hub ports, PORTSC (UHCI Design Guide rev 1.1, section 2.1.7), through
 * ioRead/ioWrite, attach/detach and the device interface.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { UsbSpeed } from "../../src/usb/constants.ts";
import { DEFER, FakeDevice } from "./helpers/fake-device.ts";
import { buf, node, Rig } from "./helpers/rig.ts";
import { readTd, tdLink, writeTd } from "./helpers/schedule.ts";
import { Intr, PID, Port, Sts } from "./helpers/uhci-spec.ts";

const LINE = Port.LINE_DPLUS | Port.LINE_DMINUS;

describe("UHCI 2.1.7 PORTSC connect status", () => {
  it("connect sets CCS and CSC; a full-speed device idles with D+ high (J state)", () => {
    const rig = new Rig();
    rig.hc.attach(0, new FakeDevice());
    const v = rig.portsc(0);
    assert.equal(v & (Port.CCS | Port.CSC), Port.CCS | Port.CSC);
    assert.equal(v & Port.LSDA, 0);
    assert.equal(v & LINE, Port.LINE_DPLUS);
  });

  it("a low-speed device sets LSDA and idles with D− high", () => {
    const rig = new Rig();
    rig.hc.attach(1, new FakeDevice({ speed: UsbSpeed.Low }));
    const v = rig.portsc(1);
    assert.equal(v & Port.LSDA, Port.LSDA);
    assert.equal(v & LINE, Port.LINE_DMINUS);
  });

  it("an empty port reads line status SE0 and no connect", () => {
    const rig = new Rig();
    assert.equal(rig.portsc(0) & (LINE | Port.CCS | Port.LSDA), 0);
  });

  it("CCS, LSDA and line status are read-only", () => {
    const rig = new Rig();
    rig.writePortsc(0, Port.CCS | Port.LSDA | LINE);
    assert.equal(rig.portsc(0), 0x0080);
  });

  it("CSC is write-1-to-clear and stays cleared while nothing changes", () => {
    const rig = new Rig();
    rig.hc.attach(0, new FakeDevice());
    rig.writePortsc(0, 0);
    assert.equal(rig.portsc(0) & Port.CSC, Port.CSC, "writing 0 leaves it");
    rig.writePortsc(0, Port.CSC);
    assert.equal(rig.portsc(0) & (Port.CSC | Port.CCS), Port.CCS);
  });

  it("disconnect of an enabled port clears CCS and PE and sets CSC and PEC", () => {
    const rig = new Rig();
    const dev = new FakeDevice({ address: 1 });
    rig.plug(0, dev);
    rig.writePortsc(0, Port.PE | Port.CSC | Port.PEC); // acknowledge the connect
    assert.equal(rig.portsc(0) & 0x000f, Port.CCS | Port.PE);
    assert.equal(rig.hc.detach(0), dev);
    const v = rig.portsc(0);
    assert.equal(v & 0x000f, Port.CSC | Port.PEC);
    assert.equal(v & (LINE | Port.LSDA), 0);
    assert.equal(dev.upstream, null);
    rig.writePortsc(0, Port.CSC | Port.PEC);
    assert.equal(rig.portsc(0), 0x0080);
  });

  it("CSC stays set across connect, disconnect, connect until software clears it", () => {
    const rig = new Rig();
    rig.hc.attach(0, new FakeDevice());
    rig.hc.detach(0);
    rig.hc.attach(0, new FakeDevice());
    assert.equal(rig.portsc(0) & (Port.CSC | Port.CCS), Port.CSC | Port.CCS);
  });

  it("detach cancels the departing device's requests in flight", () => {
    const rig = new Rig();
    const dev = new FakeDevice({ address: 1 }).reply(DEFER);
    rig.plug(0, dev);
    writeTd(rig.ram, node(0), { pid: PID.IN, devAddr: 1, maxLen: 8, buffer: buf(0) });
    rig.start(tdLink(node(0)));
    rig.frames(1);
    const packet = dev.inFlight[0]!;
    const ctrlBefore = readTd(rig.ram, node(0)).ctrl;
    rig.hc.detach(0);
    assert.deepEqual(dev.cancelled, [packet]);
    assert.equal(dev.complete("ack", [1, 2], packet), false, "a late completion is ignored");
    assert.equal(readTd(rig.ram, node(0)).ctrl, ctrlBefore);
    assert.deepEqual(rig.bytes(buf(0), 2), [0, 0]);
  });
});

describe("UHCI 2.1.7 PORTSC enable", () => {
  it("PE can be set by software only with a device present", () => {
    const rig = new Rig();
    rig.writePortsc(0, Port.PE);
    assert.equal(rig.portsc(0) & Port.PE, 0);
    rig.hc.attach(0, new FakeDevice());
    rig.writePortsc(0, Port.PE);
    assert.equal(rig.portsc(0) & Port.PE, Port.PE);
  });

  it("software disabling a port does not set PEC", () => {
    const rig = new Rig();
    rig.plug(0, new FakeDevice());
    rig.writePortsc(0, 0);
    assert.equal(rig.portsc(0) & (Port.PE | Port.PEC), 0);
  });

  it("PEC is write-1-to-clear", () => {
    const rig = new Rig();
    rig.plug(0, new FakeDevice());
    rig.hc.detach(0);
    rig.writePortsc(0, 0);
    assert.equal(rig.portsc(0) & Port.PEC, Port.PEC);
    rig.writePortsc(0, Port.PEC);
    assert.equal(rig.portsc(0) & Port.PEC, 0);
  });

  it("a device on a disabled port sees no traffic (its TD times out)", () => {
    const rig = new Rig();
    const dev = new FakeDevice({ address: 1 });
    rig.hc.attach(0, dev); // connected, never enabled
    writeTd(rig.ram, node(0), { pid: PID.OUT, devAddr: 1, cerr: 1 });
    rig.start(tdLink(node(0)), { intr: Intr.TIMEOUT_CRC });
    rig.frames(1);
    assert.equal(dev.seen.length, 0);
    const td = readTd(rig.ram, node(0));
    assert.equal(td.crcTimeout, true);
    assert.equal(td.active, false);
    assert.equal(rig.usbsts & Sts.USBERRINT, Sts.USBERRINT);
  });
});

describe("UHCI 2.1.7 PORTSC reset", () => {
  it("PR resets the device, disables the port and drives SE0; PR reads back set", () => {
    const rig = new Rig();
    const dev = new FakeDevice();
    rig.plug(0, dev);
    const resets = dev.resets;
    rig.writePortsc(0, Port.PE | Port.PR);
    assert.equal(dev.resets, resets + 1);
    const v = rig.portsc(0);
    assert.equal(v & (Port.PR | Port.PE | Port.CCS), Port.PR | Port.CCS);
    assert.equal(v & LINE, 0, "SE0 during reset");
    // Holding PR does not reset the device again.
    rig.writePortsc(0, Port.PR);
    assert.equal(dev.resets, resets + 1);
    rig.writePortsc(0, 0);
    assert.equal(rig.portsc(0) & (Port.PR | Port.PE), 0);
    assert.equal(rig.portsc(0) & LINE, Port.LINE_DPLUS);
    rig.writePortsc(0, Port.PE);
    assert.equal(rig.portsc(0) & Port.PE, Port.PE);
  });

  it("PR cancels the device's requests in flight", () => {
    const rig = new Rig();
    const dev = new FakeDevice({ address: 1 }).reply(DEFER);
    rig.plug(0, dev);
    writeTd(rig.ram, node(0), { pid: PID.OUT, devAddr: 1, maxLen: 4, buffer: buf(0) });
    rig.start(tdLink(node(0)));
    rig.frames(1);
    assert.equal(dev.inFlight.length, 1);
    rig.writePortsc(0, Port.PR);
    assert.equal(dev.cancelled.length, 1);
  });
});

describe("UHCI 2.1.7 PORTSC suspend and resume", () => {
  it("SUSP suspends the device; the device gets no traffic while suspended", () => {
    const rig = new Rig();
    const dev = new FakeDevice({ address: 1 });
    rig.plug(0, dev);
    rig.writePortsc(0, Port.PE | Port.SUSP);
    assert.equal(rig.portsc(0) & (Port.SUSP | Port.PE), Port.SUSP | Port.PE);
    assert.equal(dev.suspended, true);
    writeTd(rig.ram, node(0), { pid: PID.OUT, devAddr: 1, cerr: 0 });
    rig.start(tdLink(node(0)));
    rig.frames(2);
    assert.equal(dev.seen.length, 0);
    assert.equal(readTd(rig.ram, node(0)).active, true);
    rig.writePortsc(0, Port.PE);
    assert.equal(dev.suspended, false);
    rig.frames(1);
    assert.equal(dev.seen.length, 1);
    assert.equal(readTd(rig.ram, node(0)).active, false);
  });

  it("SUSP cannot be set on an empty port", () => {
    const rig = new Rig();
    rig.writePortsc(0, Port.SUSP);
    assert.equal(rig.portsc(0) & Port.SUSP, 0);
  });

  it("remote wakeup on a suspended port sets RD; software ends resume by clearing RD and SUSP", () => {
    const rig = new Rig();
    const dev = new FakeDevice();
    rig.plug(0, dev);
    assert.equal(dev.upstream?.signalRemoteWakeup(), false, "not suspended: no wakeup");
    assert.equal(rig.portsc(0) & Port.RD, 0);
    rig.writePortsc(0, Port.PE | Port.SUSP);
    assert.equal(dev.upstream?.signalRemoteWakeup(), true);
    assert.equal(rig.portsc(0) & (Port.RD | Port.SUSP), Port.RD | Port.SUSP);
    rig.writePortsc(0, Port.PE | Port.SUSP); // RD written 0: resume signalling ends
    rig.writePortsc(0, Port.PE);
    assert.equal(rig.portsc(0) & (Port.RD | Port.SUSP | Port.PE), Port.PE);
    assert.equal(dev.suspended, false);
  });

  it("RD is read/write: software drives resume", () => {
    const rig = new Rig();
    rig.plug(0, new FakeDevice());
    rig.writePortsc(0, Port.PE | Port.SUSP | Port.RD);
    assert.equal(rig.portsc(0) & Port.RD, Port.RD);
    rig.writePortsc(0, Port.PE | Port.SUSP);
    assert.equal(rig.portsc(0) & Port.RD, 0);
  });

  it("disconnect of a suspended port ends the suspend", () => {
    const rig = new Rig();
    const dev = new FakeDevice();
    rig.plug(0, dev);
    rig.writePortsc(0, Port.PE | Port.SUSP);
    rig.hc.detach(0);
    assert.equal(rig.portsc(0) & (Port.SUSP | Port.PE), 0);
  });
});
