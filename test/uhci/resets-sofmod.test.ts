/**
 * Spec tests for what the UHCI Design Guide rev 1.1 decides about the frame length register and the two
 * resets, through ioRead/ioWrite and what the devices on the ports see:
 * - 2.1.6 SOFMOD: "when a new value is written into these 7 bits, the SOF timing of the next frame will
 *   be adjusted" — not at the next Run/Stop edge;
 * - 2.1.1 HCRESET resets the controller's logic and sends nothing on the bus; its reset of the ports'
 *   connect state machines is a virtual disconnect affecting PORTSC bits 8 and 3:0 only. GRESET sends
 *   reset on the bus, so every device returns to its default state.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { UsbKeyboard } from "../../src/devices/hid/keyboard.ts";
import { UsbSpeed } from "../../src/usb/constants.ts";
import { FakeDevice } from "./helpers/fake-device.ts";
import { buf, Layout, node, Rig } from "./helpers/rig.ts";
import { fillFrameList, readTd, TERM, tdLink, writeTd } from "./helpers/schedule.ts";
import { Cmd, PID, Port, Reg, Sts } from "./helpers/uhci-spec.ts";

/** Frame length in ms for a SOFMOD value (UHCI 2.1.6: 11936 + SOFMOD full-speed bit times). */
const periodFor = (sofmod: number): number => (11936 + sofmod) / 12000;

/**
 * A no-data control request (USB 2.0 9.3) to `devAddr`, run the way a guest driver runs one:
 *   frame list[*] -> SETUP TD (8 bytes at buf 0) -> status IN TD (zero length, DATA1) -> T
 */
function controlNoData(rig: Rig, devAddr: number, setup: readonly number[]): void {
  rig.ram.bytes.set(setup, buf(0));
  writeTd(rig.ram, node(0), { link: tdLink(node(1)), pid: PID.SETUP, devAddr, maxLen: 8, buffer: buf(0) });
  writeTd(rig.ram, node(1), { pid: PID.IN, devAddr, maxLen: 0, toggle: true });
  rig.start(tdLink(node(0)));
  rig.frames(3);
  assert.equal(readTd(rig.ram, node(1)).active, false, "the status stage ran");
  rig.write16(Reg.USBCMD, 0);
  fillFrameList(rig.ram, Layout.FRAME_LIST, TERM);
}

/** A keyboard on port 0, enumerated to address 5 and configured (SET_ADDRESS, SET_CONFIGURATION 1). */
function configuredKeyboard(): { rig: Rig; keyboard: UsbKeyboard } {
  const rig = new Rig();
  const keyboard = new UsbKeyboard();
  rig.plug(0, keyboard);
  controlNoData(rig, 0, [0x00, 0x05, 5, 0, 0, 0, 0, 0]);
  controlNoData(rig, 5, [0x00, 0x09, 1, 0, 0, 0, 0, 0]);
  assert.equal(keyboard.address, 5);
  assert.equal(keyboard.configuration, 1);
  return { rig, keyboard };
}

describe("UHCI 2.1.6 SOFMOD written while the controller runs", () => {
  it("changes the length from the frame after the one in progress, on the same grid", () => {
    const rig = new Rig();
    rig.start(TERM);
    rig.clock.advanceTo(10.5); // frames 1–10 ran; frame 11 is in progress
    assert.equal(rig.frnum, 10);
    rig.write8(Reg.SOFMOD, 76); // 12012 bit times: 1.001 ms
    const longer = periodFor(76);
    // Frame 11 keeps the length it started with.
    rig.clock.advanceTo(11 - 1e-6);
    assert.equal(rig.frnum, 10);
    rig.clock.advanceTo(11);
    assert.equal(rig.frnum, 11, "the frame in progress ends on the old grid");
    // From frame 12 on, every frame is 1.001 ms, counted from the end of frame 11 (not from RS, not
    // from the moment of the write).
    rig.clock.advanceTo(11 + longer - 1e-6);
    assert.equal(rig.frnum, 11, "frame 12 is longer: not due at 12.000 ms");
    rig.clock.advanceTo(11 + longer);
    assert.equal(rig.frnum, 12);
    rig.clock.advanceTo(11 + 1000 * longer - 1e-6);
    assert.equal(rig.frnum, 1010);
    rig.clock.advanceTo(11 + 1000 * longer);
    assert.equal(rig.frnum, 1011, "a thousand frames later the grid has not drifted");
    assert.equal(rig.usbcmd & Cmd.RS, Cmd.RS, "no Run/Stop edge was needed");
  });

  it("a shorter frame length too, and the last value written within one frame is the one used", () => {
    const rig = new Rig();
    rig.start(TERM);
    rig.clock.advanceTo(3.2);
    rig.write8(Reg.SOFMOD, 127);
    rig.write8(Reg.SOFMOD, 0); // 11936 bit times: 0.99466… ms
    rig.clock.advanceTo(4);
    assert.equal(rig.frnum, 4);
    const shorter = periodFor(0);
    rig.clock.advanceTo(4 + 500 * shorter - 1e-6);
    assert.equal(rig.frnum, 503);
    rig.clock.advanceTo(4 + 500 * shorter);
    assert.equal(rig.frnum, 504);
  });

  it("writing the old value back before the next frame leaves the length as it was", () => {
    const rig = new Rig();
    rig.start(TERM);
    rig.clock.advanceTo(2.5);
    rig.write8(Reg.SOFMOD, 100);
    rig.write8(Reg.SOFMOD, 64);
    rig.clock.advanceTo(200);
    assert.equal(rig.frnum, 200);
  });

  it("a write while halted sets the length of the first frame after RS", () => {
    const rig = new Rig();
    rig.write8(Reg.SOFMOD, 76);
    rig.clock.advanceTo(7);
    rig.start(TERM);
    rig.clock.advanceTo(7 + 10 * periodFor(76) - 1e-6);
    assert.equal(rig.frnum, 9);
    rig.clock.advanceTo(7 + 10 * periodFor(76));
    assert.equal(rig.frnum, 10);
  });

  it("a snapshot taken between the write and the new length's first frame keeps the change", () => {
    const a = new Rig();
    a.start(TERM);
    a.clock.advanceTo(20.25);
    a.write8(Reg.SOFMOD, 76);
    const state = JSON.parse(JSON.stringify(a.hc.saveState())) as unknown;
    const b = new Rig();
    b.clock.advanceTo(1000.25); // the same phase within the frame
    b.hc.restoreState(state);
    assert.equal(b.frnum, 20);
    b.clock.advanceTo(1001);
    assert.equal(b.frnum, 21, "the frame in progress at the save keeps the old length");
    b.clock.advanceTo(1001 + 100 * periodFor(76) - 1e-6);
    assert.equal(b.frnum, 120);
    b.clock.advanceTo(1001 + 100 * periodFor(76));
    assert.equal(b.frnum, 121);
  });

  it("after a host stall the overdue frames run at their old due times; the change follows them", () => {
    const rig = new Rig({ maxFramesPerWakeup: 4 });
    rig.start(TERM);
    rig.clock.advanceTo(5);
    // The clock jumps 20 ms at once (a stalled host): frames 6–25 are overdue, 4 run per wake-up.
    rig.clock.jumpTo(25.5);
    rig.write8(Reg.SOFMOD, 76);
    rig.clock.advanceTo(26);
    assert.equal(rig.frnum, 26, "every overdue frame ran, and frame 26 on the old grid");
    rig.clock.advanceTo(26 + 10 * periodFor(76) - 1e-6);
    assert.equal(rig.frnum, 35);
    rig.clock.advanceTo(26 + 10 * periodFor(76));
    assert.equal(rig.frnum, 36);
  });
});

describe("UHCI 2.1.1 HCRESET: the controller's logic only, nothing on the bus", () => {
  it("does not reset the devices: the keyboard keeps its address and configuration", () => {
    const { rig, keyboard } = configuredKeyboard();
    rig.write16(Reg.USBCMD, Cmd.HCRESET);
    assert.equal(rig.usbcmd, 0, "HCRESET clears itself");
    assert.equal(keyboard.address, 5);
    assert.equal(keyboard.configuration, 1);
  });

  it("is a virtual disconnect: port disabled, CSC and PEC set, the device detected again (CCS, LSDA)", () => {
    const rig = new Rig();
    const dev = new FakeDevice({ address: 1, speed: UsbSpeed.Low });
    rig.plug(0, dev);
    rig.writePortsc(0, Port.PE | Port.CSC | Port.PEC); // clear the change bits left by plugging in
    assert.equal(rig.portsc(0) & 0x010f, Port.LSDA | Port.PE | Port.CCS);
    const resets = dev.resets;
    rig.write16(Reg.USBCMD, Cmd.HCRESET);
    assert.equal(rig.portsc(0) & 0x010f, Port.LSDA | Port.PEC | Port.CSC | Port.CCS);
    assert.equal(dev.resets, resets, "no reset signalling reached the device");
    // The disabled port carries no traffic until the guest enables it again.
    writeTd(rig.ram, node(0), { pid: PID.OUT, devAddr: 1, ls: true, cerr: 1 });
    rig.start(tdLink(node(0)));
    rig.frames(2);
    assert.equal(dev.seen.length, 0);
    assert.equal(rig.usbsts & Sts.USBERRINT, Sts.USBERRINT, "the TD timed out (UHCI 3.2.2 C_ERR)");
    // Enabled again without a port reset, the device answers at the address it already had.
    writeTd(rig.ram, node(0), { pid: PID.OUT, devAddr: 1, ls: true });
    rig.writePortsc(0, Port.PE);
    rig.frames(1);
    assert.equal(dev.seen.length, 1);
    assert.equal(dev.resets, resets);
  });

  it("keeps PORTSC suspend, port reset and resume detect: it affects bits 8 and 3:0 only", () => {
    const rig = new Rig();
    const dev = new FakeDevice({ address: 1 });
    rig.plug(0, dev);
    rig.writePortsc(0, Port.PE | Port.SUSP);
    assert.equal(dev.suspended, true);
    const suspendCalls = dev.suspendCalls.length;
    rig.write16(Reg.USBCMD, Cmd.HCRESET);
    const portsc = rig.portsc(0);
    assert.equal(portsc & Port.SUSP, Port.SUSP, "SUSP keeps its value (Linux's uhci-hcd clears it itself)");
    assert.equal(portsc & Port.PE, 0);
    assert.equal(dev.suspended, true, "the bus stays idle: the device is not resumed");
    assert.equal(dev.suspendCalls.length, suspendCalls, "nothing was signalled to the device");
    // A second port held in reset by software stays in reset.
    const other = new FakeDevice({ address: 2 });
    rig.hc.attach(1, other);
    rig.writePortsc(1, Port.PR);
    rig.write16(Reg.USBCMD, Cmd.HCRESET);
    assert.equal(rig.portsc(1) & Port.PR, Port.PR);
    // Software then clears the bits and resets the port as usual (uhci-hcd's finish_reset).
    rig.writePortsc(0, 0);
    rig.writePortsc(0, Port.PR);
    rig.writePortsc(0, 0);
    assert.equal(dev.suspended, false);
  });

  it("during global suspend: EGSM clears, but without resume signalling the devices stay suspended", () => {
    const rig = new Rig();
    const dev = new FakeDevice({ address: 1 });
    rig.plug(0, dev);
    rig.write16(Reg.USBCMD, Cmd.EGSM);
    assert.equal(dev.suspended, true);
    rig.write16(Reg.USBCMD, Cmd.HCRESET);
    assert.equal(rig.usbcmd, 0);
    assert.equal(dev.suspended, true);
    // The guest's port reset is what wakes it.
    rig.enablePort(0);
    assert.equal(dev.suspended, false);
  });
});

describe("UHCI 2.1.1 GRESET: reset on the bus, then the whole controller", () => {
  it("every device returns to its default state (address 0, unconfigured)", () => {
    const { rig, keyboard } = configuredKeyboard();
    rig.write16(Reg.USBCMD, Cmd.GRESET);
    assert.equal(keyboard.address, 0);
    assert.equal(keyboard.configuration, 0);
    rig.write16(Reg.USBCMD, 0);
    // The hub registers are back at their power-on state: a new connection on a disabled port.
    assert.equal(rig.portsc(0) & 0x000f, Port.CCS | Port.CSC);
  });

  it("resets PORTSC whole: suspend and resume detect clear, and a suspended device is woken by the reset", () => {
    const rig = new Rig();
    const dev = new FakeDevice({ address: 1 });
    rig.plug(0, dev);
    rig.writePortsc(0, Port.PE | Port.SUSP | Port.RD);
    assert.equal(dev.suspended, true);
    const resets = dev.resets;
    rig.write16(Reg.USBCMD, Cmd.GRESET);
    rig.write16(Reg.USBCMD, 0);
    assert.equal(rig.portsc(0) & (Port.SUSP | Port.RD | Port.PE | Port.PR), 0);
    assert.equal(dev.resets, resets + 1);
    assert.equal(dev.suspended, false);
  });
});
