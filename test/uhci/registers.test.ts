/**
 * Spec tests for the UHCI I/O registers (UHCI Design Guide rev 1.1, section 2.1), through ioRead/ioWrite
 * and the IRQ line only.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { ACK, DEFER, FakeDevice, STALL } from "./helpers/fake-device.ts";
import { buf, Layout, node, Rig } from "./helpers/rig.ts";
import { fillFrameList, readTd, TERM, tdLink, writeTd } from "./helpers/schedule.ts";
import { ABSENT_PORT, Cmd, Intr, PID, Port, Reg, Sts } from "./helpers/uhci-spec.ts";

/** A rig with one full-speed device at address 1 on port 0, enabled. */
function rigWithDevice(): { rig: Rig; dev: FakeDevice } {
  const rig = new Rig();
  const dev = new FakeDevice({ address: 1 });
  rig.plug(0, dev);
  return { rig, dev };
}

/** Runs one STALLed TD with IOC so that both USBINT and USBERRINT get set. */
function raiseIntAndErr(rig: Rig, dev: FakeDevice): void {
  dev.reply(STALL);
  writeTd(rig.ram, node(0), { pid: PID.OUT, devAddr: 1, ioc: true });
  rig.start(tdLink(node(0)));
  rig.frames(1);
  assert.equal(rig.usbsts & (Sts.USBINT | Sts.USBERRINT), Sts.USBINT | Sts.USBERRINT);
  // Unlink the retired TD: fetched again, its IOC bit would set USBINT again (UHCI 3.2.2 IOC).
  fillFrameList(rig.ram, Layout.FRAME_LIST, TERM);
}

describe("UHCI 2.1 register reset values", () => {
  it("UHCI 2.1.1–2.1.7: power-on values", () => {
    const rig = new Rig();
    assert.equal(rig.read16(Reg.USBCMD), 0x0000); // UHCI 2.1.1
    assert.equal(rig.read16(Reg.USBSTS), Sts.HCHALTED); // UHCI 2.1.2: 0x0020
    assert.equal(rig.read16(Reg.USBINTR), 0x0000); // UHCI 2.1.3
    assert.equal(rig.read16(Reg.FRNUM), 0x0000); // UHCI 2.1.4
    assert.equal(rig.read32(Reg.FRBASEADD), 0x00000000); // UHCI 2.1.5
    assert.equal(rig.read8(Reg.SOFMOD), 0x40); // UHCI 2.1.6: 64
    assert.equal(rig.read16(Reg.PORTSC1), 0x0080); // UHCI 2.1.7: bit 7 reads 1
    assert.equal(rig.read16(Reg.PORTSC2), 0x0080);
    assert.equal(rig.irq.level, false);
  });

  it("UHCI 2.1.7: a device present at power-on shows CCS and CSC, port disabled", () => {
    const rig = new Rig();
    rig.hc.attach(1, new FakeDevice());
    const v = rig.portsc(1);
    assert.equal(v & (Port.CCS | Port.CSC | Port.PE | Port.PEC), Port.CCS | Port.CSC);
    assert.equal(v & Port.RESERVED_ONE, Port.RESERVED_ONE);
    assert.equal(rig.portsc(0), 0x0080);
  });

  it("UHCI 2.1.7 (QEMU/Bochs behaviour): PORTSC reads beyond the last port return 0xFF7F", () => {
    const rig = new Rig();
    for (let offset = 0x14; offset < 0x20; offset += 2) assert.equal(rig.read16(offset), ABSENT_PORT);
    // And writes there change nothing.
    rig.write16(0x14, 0xffff);
    assert.equal(rig.read16(0x14), ABSENT_PORT);
  });

  it("a one-port controller answers 0xFF7F from PORTSC2 on", () => {
    const rig = new Rig({ ports: 1 });
    assert.equal(rig.read16(Reg.PORTSC1), 0x0080);
    assert.equal(rig.read16(Reg.PORTSC2), ABSENT_PORT);
  });
});

describe("UHCI 2.1 access widths", () => {
  it("byte reads return the addressed half of a 16-bit register", () => {
    const rig = new Rig();
    assert.equal(rig.read8(Reg.USBSTS), 0x20);
    assert.equal(rig.read8(Reg.USBSTS + 1), 0x00);
    assert.equal(rig.read8(Reg.PORTSC1), 0x80);
    assert.equal(rig.read8(Reg.PORTSC1 + 1), 0x00);
  });

  it("a 32-bit read spans two registers (USBCMD|USBSTS, USBINTR|FRNUM, PORTSC1|PORTSC2)", () => {
    const rig = new Rig();
    assert.equal(rig.read32(Reg.USBCMD), Sts.HCHALTED << 16);
    rig.write16(Reg.USBINTR, 0x0005);
    rig.write16(Reg.FRNUM, 0x0123);
    assert.equal(rig.read32(Reg.USBINTR), 0x0123_0005);
    assert.equal(rig.read32(Reg.PORTSC1), 0x0080_0080);
  });

  it("a 32-bit write spans two registers, each with its own masks", () => {
    const rig = new Rig();
    rig.write32(Reg.USBINTR, (0x0456 << 16) | 0xffff);
    assert.equal(rig.read16(Reg.USBINTR), 0x000f); // UHCI 2.1.3: bits 15:4 reserved
    assert.equal(rig.read16(Reg.FRNUM), 0x0456);
  });

  it("a 32-bit write at USBCMD writes the command and write-1-clears USBSTS (UHCI 2.1.1, 2.1.2)", () => {
    const { rig, dev } = rigWithDevice();
    raiseIntAndErr(rig, dev);
    // Stop, set CF, clear only USBINT in the same access.
    rig.write32(Reg.USBCMD, (Sts.USBINT << 16) | Cmd.CF);
    assert.equal(rig.usbcmd, Cmd.CF);
    assert.equal(rig.usbsts & (Sts.USBINT | Sts.USBERRINT), Sts.USBERRINT);
    assert.equal(rig.usbsts & Sts.HCHALTED, Sts.HCHALTED);
  });

  it("byte writes to USBSTS clear only the bits of the addressed byte (UHCI 2.1.2 R/WC)", () => {
    const { rig, dev } = rigWithDevice();
    raiseIntAndErr(rig, dev);
    rig.write8(Reg.USBSTS + 1, 0xff); // high byte holds no status bits
    assert.equal(rig.usbsts & 0x03, 0x03);
    rig.write8(Reg.USBSTS, Sts.USBINT);
    assert.equal(rig.usbsts & 0x03, Sts.USBERRINT);
    rig.write8(Reg.USBSTS, 0x00); // writing 0 clears nothing
    assert.equal(rig.usbsts & 0x03, Sts.USBERRINT);
    rig.write8(Reg.USBSTS, Sts.USBERRINT);
    assert.equal(rig.usbsts & 0x03, 0);
  });

  it("byte writes to PORTSC leave the other byte alone (UHCI 2.1.7 CSC R/WC)", () => {
    const rig = new Rig();
    rig.hc.attach(0, new FakeDevice());
    rig.writePortsc(0, Port.PE); // enable; CSC is still set (written 0)
    assert.equal(rig.portsc(0) & (Port.PE | Port.CSC), Port.PE | Port.CSC);
    rig.write8(Reg.PORTSC1 + 1, 0x00); // high byte: PR = SUSP = 0
    assert.equal(rig.portsc(0) & (Port.PE | Port.CSC), Port.PE | Port.CSC);
    rig.write8(Reg.PORTSC1, Port.PE | Port.CSC); // low byte: keep PE, clear CSC
    assert.equal(rig.portsc(0) & (Port.PE | Port.CSC | Port.CCS), Port.PE | Port.CCS);
  });

  it("byte access to FRBASEADD reads the addressed byte", () => {
    const rig = new Rig();
    rig.write32(Reg.FRBASEADD, 0x1234_5000);
    assert.equal(rig.read8(Reg.FRBASEADD + 1), 0x50);
    assert.equal(rig.read8(Reg.FRBASEADD + 3), 0x12);
    assert.equal(rig.read16(Reg.FRBASEADD + 2), 0x1234);
  });
});

describe("UHCI 2.1.1 USBCMD", () => {
  it("RS clears HCHalted and runs frames; clearing RS halts and sets HCHalted", () => {
    const { rig, dev } = rigWithDevice();
    writeTd(rig.ram, node(0), { pid: PID.OUT, devAddr: 1 });
    rig.frames(5);
    assert.equal(rig.frnum, 0, "no frames while halted");
    rig.start(tdLink(node(0)));
    assert.equal(rig.usbsts & Sts.HCHALTED, 0);
    assert.equal(rig.usbcmd & Cmd.RS, Cmd.RS);
    rig.frames(3);
    assert.equal(rig.frnum, 3);
    assert.equal(dev.seen.length, 1);
    rig.write16(Reg.USBCMD, 0);
    assert.equal(rig.usbsts & Sts.HCHALTED, Sts.HCHALTED);
    rig.frames(5);
    assert.equal(rig.frnum, 3, "FRNUM stops with the schedule");
  });

  it("a TD activated while halted is not executed until RS is set", () => {
    const { rig, dev } = rigWithDevice();
    rig.start(TERM);
    rig.frames(1);
    rig.write16(Reg.USBCMD, 0);
    writeTd(rig.ram, node(0), { pid: PID.OUT, devAddr: 1 });
    rig.start(tdLink(node(0)));
    rig.write16(Reg.USBCMD, 0);
    rig.frames(3);
    assert.equal(dev.seen.length, 0);
    assert.equal(readTd(rig.ram, node(0)).active, true);
  });

  it("HCRESET resets the controller's registers and clears itself", () => {
    const { rig, dev } = rigWithDevice();
    raiseIntAndErr(rig, dev);
    rig.write16(Reg.USBINTR, 0x000f);
    rig.write8(Reg.SOFMOD, 0x10);
    rig.write16(Reg.USBCMD, Cmd.RS | Cmd.CF | Cmd.MAXP);
    rig.frames(2);
    rig.write16(Reg.USBCMD, Cmd.HCRESET);
    assert.equal(rig.usbcmd, 0, "HCRESET is self-clearing and RS is cleared");
    assert.equal(rig.usbsts, Sts.HCHALTED);
    assert.equal(rig.read16(Reg.USBINTR), 0);
    assert.equal(rig.frnum, 0);
    assert.equal(rig.read32(Reg.FRBASEADD), 0);
    assert.equal(rig.read8(Reg.SOFMOD), 0x40);
    assert.equal(rig.irq.level, false);
    // UHCI 2.1.1: HCRESET affects PORTSC bits 8 and 3:0 — a virtual disconnect disables the port (CSC
    // and PEC set), then the device is detected again (CCS).
    const portsc = rig.portsc(0);
    assert.equal(portsc & 0x000f, Port.CCS | Port.CSC | Port.PEC);
    rig.frames(5);
    assert.equal(rig.frnum, 0, "the controller stays halted");
  });

  it("HCRESET cancels requests in flight", () => {
    const { rig, dev } = rigWithDevice();
    dev.reply(DEFER);
    writeTd(rig.ram, node(0), { pid: PID.IN, devAddr: 1, maxLen: 8, buffer: buf(0) });
    rig.start(tdLink(node(0)));
    rig.frames(1);
    assert.equal(dev.inFlight.length, 1);
    const packet = dev.inFlight[0]!;
    rig.write16(Reg.USBCMD, Cmd.HCRESET);
    assert.deepEqual(dev.cancelled, [packet]);
  });

  it("GRESET resets the bus and the controller while held; clearing it leaves a reset controller", () => {
    const { rig, dev } = rigWithDevice();
    rig.write16(Reg.USBINTR, 0x000f);
    rig.write32(Reg.FRBASEADD, Layout.FRAME_LIST);
    const resetsBefore = dev.resets;
    rig.write16(Reg.USBCMD, Cmd.GRESET);
    assert.equal(dev.resets, resetsBefore + 1, "global reset signalling reaches the device");
    assert.equal(rig.usbcmd & Cmd.GRESET, Cmd.GRESET, "the bit stays set while software holds it");
    assert.equal(rig.read16(Reg.USBINTR), 0);
    assert.equal(rig.read32(Reg.FRBASEADD), 0);
    assert.equal(rig.usbsts, Sts.HCHALTED);
    rig.write16(Reg.USBCMD, 0);
    assert.equal(rig.usbcmd, 0);
    assert.equal(rig.usbsts, Sts.HCHALTED);
    // Hub registers back to the power-on state: the device is seen as a new connection, port disabled.
    assert.equal(rig.portsc(0) & (Port.CCS | Port.CSC | Port.PE), Port.CCS | Port.CSC);
  });

  it("CF and MAXP are plain read/write bits", () => {
    const rig = new Rig();
    rig.write16(Reg.USBCMD, Cmd.CF);
    assert.equal(rig.usbcmd, Cmd.CF);
    rig.write16(Reg.USBCMD, Cmd.CF | Cmd.MAXP);
    assert.equal(rig.usbcmd, Cmd.CF | Cmd.MAXP);
    rig.write16(Reg.USBCMD, 0);
    assert.equal(rig.usbcmd, 0);
    assert.equal(rig.usbsts, Sts.HCHALTED);
  });

  it("reserved bits 15:8 read as 0", () => {
    const rig = new Rig();
    rig.write16(Reg.USBCMD, 0xff00);
    assert.equal(rig.usbcmd, 0);
  });

  it("SWDBG: the controller clears RS after each transaction; setting RS runs the next one", () => {
    // frame list[*] -> TD1 -> TD2 -> T   (both OUT to device 1)
    const { rig, dev } = rigWithDevice();
    writeTd(rig.ram, node(0), { link: tdLink(node(1)), pid: PID.OUT, devAddr: 1 });
    writeTd(rig.ram, node(1), { pid: PID.OUT, devAddr: 1, endpoint: 2 });
    fillFrameList(rig.ram, Layout.FRAME_LIST, tdLink(node(0)));
    rig.write32(Reg.FRBASEADD, Layout.FRAME_LIST);
    rig.write16(Reg.USBCMD, Cmd.SWDBG); // SWDBG is changed only while stopped
    rig.write16(Reg.USBCMD, Cmd.SWDBG | Cmd.RS);
    rig.frames(1);
    assert.equal(dev.seen.length, 1, "one transaction");
    assert.equal(rig.usbcmd & (Cmd.RS | Cmd.SWDBG), Cmd.SWDBG, "RS cleared by the controller");
    assert.equal(rig.usbsts & Sts.HCHALTED, Sts.HCHALTED);
    assert.equal(readTd(rig.ram, node(0)).active, false);
    assert.equal(readTd(rig.ram, node(1)).active, true);
    rig.frames(3);
    assert.equal(dev.seen.length, 1, "nothing runs while stopped");
    rig.write16(Reg.USBCMD, Cmd.SWDBG | Cmd.RS);
    rig.frames(1);
    assert.equal(dev.seen.length, 2);
    assert.equal(dev.seen[1]!.endpoint, 2);
    assert.equal(readTd(rig.ram, node(1)).active, false);
    assert.equal(rig.usbcmd & Cmd.RS, 0);
  });
});

describe("UHCI 2.1.1 EGSM/FGR global suspend and resume", () => {
  it("EGSM suspends the bus; clearing it resumes the devices", () => {
    const { rig, dev } = rigWithDevice();
    rig.write16(Reg.USBCMD, Cmd.EGSM);
    assert.equal(dev.suspended, true);
    assert.equal(rig.usbcmd, Cmd.EGSM);
    rig.write16(Reg.USBCMD, Cmd.EGSM | Cmd.FGR); // software drives global resume
    assert.equal(dev.suspended, false);
    rig.write16(Reg.USBCMD, Cmd.FGR);
    rig.write16(Reg.USBCMD, 0);
    assert.equal(dev.suspended, false);
    // PORTSC.SUSP is per-port selective suspend and is not set by global suspend.
    assert.equal(rig.portsc(0) & Port.SUSP, 0);
  });

  it("remote wakeup during global suspend sets FGR and USBSTS.RD, raising the IRQ if enabled (UHCI 2.1.2)", () => {
    const { rig, dev } = rigWithDevice();
    rig.write16(Reg.USBINTR, Intr.RESUME);
    rig.write16(Reg.USBCMD, Cmd.EGSM);
    assert.equal(dev.upstream?.signalRemoteWakeup(), true);
    assert.equal(rig.usbcmd & (Cmd.EGSM | Cmd.FGR), Cmd.EGSM | Cmd.FGR);
    assert.equal(rig.usbsts & Sts.RD, Sts.RD);
    assert.equal(rig.irq.level, true);
    // Software ends the resume: FGR cleared, then EGSM.
    rig.write16(Reg.USBCMD, Cmd.EGSM);
    rig.write16(Reg.USBCMD, 0);
    assert.equal(dev.suspended, false);
    rig.clearStatus(Sts.RD);
    assert.equal(rig.usbsts & Sts.RD, 0);
    assert.equal(rig.irq.level, false);
  });

  it("USBSTS.RD is set but no IRQ when resume interrupts are disabled (UHCI 2.1.3)", () => {
    const { rig, dev } = rigWithDevice();
    rig.write16(Reg.USBCMD, Cmd.EGSM);
    dev.upstream?.signalRemoteWakeup();
    assert.equal(rig.usbsts & Sts.RD, Sts.RD);
    assert.equal(rig.irq.level, false);
    rig.write16(Reg.USBINTR, Intr.RESUME);
    assert.equal(rig.irq.level, true, "enabling the interrupt with the cause pending raises the line");
  });

  it("a connect during global suspend is a resume event", () => {
    const rig = new Rig();
    rig.write16(Reg.USBINTR, Intr.RESUME);
    rig.write16(Reg.USBCMD, Cmd.EGSM);
    rig.hc.attach(1, new FakeDevice());
    assert.equal(rig.usbsts & Sts.RD, Sts.RD);
    assert.equal(rig.usbcmd & Cmd.FGR, Cmd.FGR);
    assert.equal(rig.irq.level, true);
  });

  it("USBSTS.RD is not set by a remote wakeup outside global suspend", () => {
    const { rig, dev } = rigWithDevice();
    rig.writePortsc(0, Port.PE | Port.SUSP);
    assert.equal(dev.upstream?.signalRemoteWakeup(), true);
    assert.equal(rig.usbsts & Sts.RD, 0);
  });
});

describe("UHCI 2.1.2 USBSTS", () => {
  it("status bits are write-1-to-clear; HCHalted follows the controller", () => {
    const { rig, dev } = rigWithDevice();
    raiseIntAndErr(rig, dev);
    rig.clearStatus(Sts.USBERRINT);
    assert.equal(rig.usbsts & 0x1f, Sts.USBINT);
    rig.clearStatus(0);
    assert.equal(rig.usbsts & 0x1f, Sts.USBINT);
    rig.clearStatus(Sts.USBINT | Sts.USBERRINT);
    assert.equal(rig.usbsts & 0x1f, 0);
    assert.equal(rig.usbsts & Sts.HCHALTED, 0, "still running");
  });

  it("reserved bits read as 0", () => {
    const rig = new Rig();
    rig.write16(Reg.USBSTS, 0xffff);
    assert.equal(rig.usbsts & 0xffc0, 0);
  });
});

describe("UHCI 2.1.3 USBINTR", () => {
  it("bits 3:0 are read/write, the rest reserved", () => {
    const rig = new Rig();
    rig.write16(Reg.USBINTR, 0xffff);
    assert.equal(rig.read16(Reg.USBINTR), 0x000f);
    rig.write16(Reg.USBINTR, 0x0005);
    assert.equal(rig.read16(Reg.USBINTR), 0x0005);
  });
});

describe("UHCI 2.1.4 FRNUM", () => {
  it("is writable (bits 10:0) only while halted", () => {
    const rig = new Rig();
    rig.write16(Reg.FRNUM, 0xffff);
    assert.equal(rig.frnum, 0x07ff);
    rig.write16(Reg.FRNUM, 0x0123);
    assert.equal(rig.frnum, 0x0123);
    rig.start(TERM);
    rig.write16(Reg.FRNUM, 0x0200);
    assert.equal(rig.frnum, 0x0123, "ignored while running");
    rig.frames(1);
    assert.equal(rig.frnum, 0x0124);
    rig.write16(Reg.USBCMD, 0);
    rig.write16(Reg.FRNUM, 0x0200);
    assert.equal(rig.frnum, 0x0200);
  });
});

describe("UHCI 2.1.5 FRBASEADD", () => {
  it("bits 11:0 are ignored (the frame list is 4 KiB aligned)", () => {
    const rig = new Rig();
    rig.write32(Reg.FRBASEADD, 0x1234_5678);
    assert.equal(rig.read32(Reg.FRBASEADD), 0x1234_5000);
    rig.write32(Reg.FRBASEADD, 0xffff_ffff);
    assert.equal(rig.read32(Reg.FRBASEADD), 0xffff_f000);
  });

  it("a frame list written at an unaligned base is fetched from the aligned base", () => {
    const { rig, dev } = rigWithDevice();
    writeTd(rig.ram, node(0), { pid: PID.OUT, devAddr: 1 });
    rig.start(tdLink(node(0)), { frameList: 0x3000 });
    rig.write16(Reg.USBCMD, 0);
    rig.write32(Reg.FRBASEADD, 0x3abc);
    rig.write16(Reg.USBCMD, Cmd.RS);
    rig.frames(1);
    assert.equal(dev.seen.length, 1);
  });
});

describe("UHCI 2.1.6 SOFMOD", () => {
  it("holds 7 bits", () => {
    const rig = new Rig();
    rig.write8(Reg.SOFMOD, 0xff);
    assert.equal(rig.read8(Reg.SOFMOD), 0x7f);
    rig.write8(Reg.SOFMOD, 0x00);
    assert.equal(rig.read8(Reg.SOFMOD), 0x00);
  });

  it("sets the frame length to 11936 + SOFMOD bit times of 1/12 µs", () => {
    for (const [sofmod, framesIn1s] of [
      [64, 1000],
      [0, Math.floor((1000 * 12000) / 11936)], // 1005
      [127, Math.floor((1000 * 12000) / 12063)], // 994
    ] as const) {
      const rig = new Rig();
      rig.write8(Reg.SOFMOD, sofmod);
      rig.start(TERM);
      rig.frames(1000);
      assert.equal(rig.frnum, framesIn1s % 2048, `SOFMOD ${sofmod}`);
    }
  });
});

describe("UHCI 2.1.3 interrupt line", () => {
  it("is a level: high while an enabled status bit is set, low once the guest clears it", () => {
    const { rig, dev } = rigWithDevice();
    dev.reply(ACK);
    writeTd(rig.ram, node(0), { pid: PID.OUT, devAddr: 1, ioc: true });
    rig.start(tdLink(node(0)), { intr: Intr.IOC });
    rig.frames(1);
    assert.equal(rig.irq.level, true);
    // Unlink the finished TD (an inactive IOC TD raises IOC again each time it is fetched, UHCI 3.2.2).
    fillFrameList(rig.ram, Layout.FRAME_LIST, TERM);
    rig.frames(3);
    assert.equal(rig.irq.level, true, "stays high until cleared");
    assert.equal(rig.irq.rises, 1);
    rig.clearStatus(Sts.USBINT);
    assert.equal(rig.irq.level, false);
    rig.frames(2);
    assert.equal(rig.irq.level, false);
  });

  it("disabling the enable bit drops the line with the status still set", () => {
    const { rig, dev } = rigWithDevice();
    raiseIntAndErr(rig, dev);
    rig.write16(Reg.USBINTR, Intr.TIMEOUT_CRC);
    assert.equal(rig.irq.level, true);
    rig.write16(Reg.USBINTR, 0);
    assert.equal(rig.irq.level, false);
    assert.equal(rig.usbsts & Sts.USBERRINT, Sts.USBERRINT);
  });
});
