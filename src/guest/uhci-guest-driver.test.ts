import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { UhciController } from "../controller/uhci/uhci-controller.ts";
import { VirtualClock } from "../machine/clock.ts";
import { RamGuestMemory } from "../machine/guest-memory.ts";
import { LevelIrqLine } from "../machine/irq-line.ts";
import { UsbSpeed } from "../usb/constants.ts";
import type { GuestMachine } from "./guest-machine.ts";
import { guestMachineFor } from "./machine-adapter.ts";
import { PortSc, UhciRegister, UsbCmd, UsbIntr } from "./registers.ts";
import { TdLayout } from "./schedule-encoding.ts";
import { bootGuest } from "./testing/boot.ts";
import { GadgetEndpoint, GadgetRequest, TestGadget } from "./testing/test-gadget.ts";
import { TransferStatus } from "./transfer-result.ts";
import { ControllerState, UhciGuestDriver } from "./uhci-guest-driver.ts";

/** Vendor request, device recipient. */
const VENDOR_IN = 0xc0;
const VENDOR_OUT = 0x40;
/** SET_FEATURE(DEVICE_REMOTE_WAKEUP) (USB 2.0 9.4.9). */
const ENABLE_REMOTE_WAKEUP = { requestType: 0x00, request: 3, value: 1, index: 0 } as const;

function enumerated(gadget = new TestGadget(), timeoutMs = 200) {
  const rig = bootGuest([gadget], timeoutMs);
  const result = rig.driver.enumerate(0);
  assert.ok(result.ok, result.ok ? "" : `${result.stage}: ${result.error}`);
  return { ...rig, gadget, device: result.device };
}

describe("UhciGuestDriver on UhciController", () => {
  it("brings the controller up the way uhci-hcd does", () => {
    const { driver, machine } = bootGuest([]);
    assert.equal(driver.portCount, 2);
    assert.equal(driver.state, ControllerState.Running);
    assert.equal(
      machine.io.read(UhciRegister.UsbCmd, 2),
      UsbCmd.RunStop | UsbCmd.ConfigureFlag | UsbCmd.MaxPacket64,
    );
    assert.equal(machine.io.read(UhciRegister.UsbIntr, 2), 0xf);
    assert.equal(machine.io.read(UhciRegister.FrBaseAdd, 4), driver.schedule.frameListAddress);
    assert.equal(machine.io.read(UhciRegister.SofMod, 1), 64);
    const before = driver.frameNumber();
    driver.run(10);
    assert.equal(driver.frameNumber(), before + 10);
    assert.deepEqual(driver.anomalies, []);
  });

  it("programs the registers in uhci-hcd's order and counts ports until 0xFF7F", () => {
    const memory = new RamGuestMemory(1 << 20);
    const irq = new LevelIrqLine();
    const clock = new VirtualClock();
    const inner = guestMachineFor({
      controller: new UhciController({ memory, irq, clock }),
      memory,
      irq,
      clock,
    });
    const log: string[] = [];
    const name = (offset: number): string =>
      ({ 0: "USBCMD", 2: "USBSTS", 4: "USBINTR", 6: "FRNUM", 8: "FRBASEADD", 12: "SOFMOD" })[offset] ??
      `PORTSC@${offset.toString(16)}`;
    const machine: GuestMachine = {
      ...inner,
      io: {
        read: (offset, width) => {
          const value = inner.io.read(offset, width);
          if (offset >= UhciRegister.PortSc1) log.push(`read ${name(offset)}=${value.toString(16)}`);
          return value;
        },
        write: (offset, width, value) => {
          log.push(`${name(offset)}=${value.toString(16)}`);
          inner.io.write(offset, width, value);
        },
      },
    };
    const driver = UhciGuestDriver.start(machine, { dmaBase: 0x10000, dmaSize: 0x20000 });
    assert.deepEqual(log, [
      "USBCMD=4", // GRESET …
      "USBCMD=0", // … released after 50 ms
      "USBCMD=2", // HCRESET, which clears itself
      "USBINTR=0",
      "USBCMD=0",
      "read PORTSC@10=80",
      "read PORTSC@12=80",
      "read PORTSC@14=ff7f", // no third port
      "SOFMOD=40",
      `FRBASEADD=${driver.schedule.frameListAddress.toString(16)}`,
      "FRNUM=0",
      "USBCMD=c1", // RS | CF | MAXP
      "USBINTR=f", // timeout/CRC, resume, IOC, short packet
    ]);
  });

  it("enumerates a full-speed device: descriptors, strings, address, configuration", () => {
    const { driver, gadget, device } = enumerated();
    assert.equal(device.address, 1);
    assert.equal(gadget.address, 1);
    assert.equal(gadget.configuration, 1);
    assert.equal(device.speed, UsbSpeed.Full);
    assert.equal(device.info.descriptor.vendorId, 0x1234);
    assert.equal(device.info.descriptor.productId, 0x5678);
    assert.equal(device.info.product, "Test Gadget");
    assert.equal(device.info.manufacturer, "uhci tests");
    assert.equal(device.info.serialNumber, "0001");
    assert.deepEqual(device.info.languages, [0x0409]);
    assert.deepEqual(
      device.endpoints().map((e) => e.address),
      [GadgetEndpoint.InterruptIn, GadgetEndpoint.BulkOut, GadgetEndpoint.BulkIn],
    );
    // After reset the port is enabled and its change bits were acknowledged.
    const port = driver.rootHub.status(0);
    assert.equal(port.enabled, true);
    assert.equal(port.connectChanged, false);
    assert.deepEqual(driver.anomalies, []);
  });

  it("reads a multi-packet control transfer and restarts a short one at its status stage", () => {
    const { driver, device } = enumerated();
    const full = device.control({
      requestType: VENDOR_IN,
      request: GadgetRequest.Count,
      value: 100,
      index: 0,
      length: 100,
    });
    assert.equal(full.status, TransferStatus.Ok);
    assert.equal(full.actualLength, 100);
    assert.equal(full.short, false);
    assert.deepEqual(
      [...full.data],
      Array.from({ length: 100 }, (_, i) => i),
    );

    // The device has only 20 bytes (a short packet in the third data TD): the rest is skipped.
    const short = device.control({
      requestType: VENDOR_IN,
      request: GadgetRequest.Count,
      value: 20,
      index: 0,
      length: 64,
    });
    assert.equal(short.status, TransferStatus.Ok);
    assert.equal(short.short, true);
    assert.deepEqual(
      [...short.data],
      Array.from({ length: 20 }, (_, i) => i),
    );
    // The queue carries on normally afterwards.
    const again = device.getDescriptor(1, 0, 18);
    assert.equal(again.status, TransferStatus.Ok);
    assert.equal(again.actualLength, 18);
    assert.deepEqual(driver.anomalies, []);
  });

  it("sends a control data stage", () => {
    const { device, gadget } = enumerated();
    const data = Uint8Array.from({ length: 21 }, (_, i) => 0x80 + i);
    const result = device.control({
      requestType: VENDOR_OUT,
      request: GadgetRequest.Store,
      value: 0,
      index: 0,
      data,
    });
    assert.equal(result.status, TransferStatus.Ok);
    assert.equal(result.actualLength, 21);
    assert.deepEqual(gadget.lastVendorData, data);
  });

  it("reports a STALL as a value, with its stage, and goes on", () => {
    const { driver, device } = enumerated();
    const stalled = device.control({ requestType: VENDOR_IN, request: 0x7f, value: 0, index: 0, length: 4 });
    assert.equal(stalled.status, TransferStatus.Stall);
    assert.equal(stalled.failedStage, "data");
    const noData = device.control({ requestType: VENDOR_OUT, request: 0x7f, value: 0, index: 0 });
    assert.equal(noData.status, TransferStatus.Stall);
    assert.equal(noData.failedStage, "status");
    assert.equal(device.getDescriptor(1, 0, 18).status, TransferStatus.Ok);
    assert.ok(driver.interrupts.errorInt >= 2);
  });

  it("delivers interrupt reports in order from a standing URB, one per period", () => {
    const { driver, gadget, device } = enumerated();
    const arrivals: number[] = [];
    const stream = device.openInterruptIn(GadgetEndpoint.InterruptIn, {
      onReport: (_, at) => arrivals.push(at),
    });
    driver.run(20);
    assert.equal(stream.available, 0);
    const polls = gadget.interruptPolls;
    assert.ok(polls >= 2 && polls <= 3, `bInterval 10 polls every 8 frames (${polls} polls in 20)`);
    gadget.reports.push(Uint8Array.of(1), Uint8Array.of(2, 2), Uint8Array.of(3, 3, 3));
    const reports = stream.waitForReports(3);
    assert.deepEqual(
      reports.map((r) => [...r]),
      [[1], [2, 2], [3, 3, 3]],
    );
    assert.deepEqual(
      arrivals.slice(1).map((t, i) => t - arrivals[i]!),
      [8, 8],
    );
    assert.equal(stream.running, true);
    stream.close();
    driver.run(20);
    assert.equal(stream.error, TransferStatus.Cancelled);
    assert.deepEqual(driver.anomalies, []);
  });

  it("moves bulk data both ways, including short reads and queued transfers", () => {
    const { driver, gadget, device } = enumerated();
    const out = Uint8Array.from({ length: 200 }, (_, i) => i);
    const sent = device.bulkOut(GadgetEndpoint.BulkOut, out);
    assert.equal(sent.status, TransferStatus.Ok);
    assert.equal(sent.actualLength, 200);
    assert.deepEqual(gadget.bulkReceived, [...out]);

    gadget.queueBulkIn(Uint8Array.from({ length: 100 }, (_, i) => 255 - i));
    const read = device.bulkIn(GadgetEndpoint.BulkIn, 256);
    assert.equal(read.status, TransferStatus.Ok);
    assert.equal(read.short, true);
    assert.equal(read.actualLength, 100);
    assert.equal(read.data[0], 255);

    // Three URBs queued at once; each ends short at a different TD, so the queue is restarted and the
    // toggles of the URBs behind are renumbered each time.
    const results: number[] = [];
    const urbs = [0, 1, 2].map(() =>
      device.submit(GadgetEndpoint.BulkIn, 192, (r) => results.push(r.actualLength)),
    );
    gadget.queueBulkIn(new Uint8Array(30));
    gadget.queueBulkIn(new Uint8Array(100));
    gadget.queueBulkIn(new Uint8Array(150));
    driver.runUntil(() => urbs.every((u) => u.done), 100);
    assert.deepEqual(results, [30, 100, 150]);
    assert.deepEqual(driver.anomalies, []);
  });

  it("times out a transfer the device never answers, and the endpoint still works after", () => {
    const { driver, gadget, device } = enumerated();
    const started = driver.elapsedMs;
    const timedOut = device.bulkIn(GadgetEndpoint.BulkIn, 64, { timeoutMs: 30 });
    assert.equal(timedOut.status, TransferStatus.Timeout);
    assert.equal(driver.elapsedMs - started, 30);
    gadget.queueBulkIn(Uint8Array.of(7, 8, 9));
    const read = device.bulkIn(GadgetEndpoint.BulkIn, 64);
    assert.equal(read.status, TransferStatus.Ok);
    assert.deepEqual([...read.data], [7, 8, 9]);
  });

  it("reports a halted bulk endpoint as STALL and clears the halt", () => {
    const { gadget, device } = enumerated();
    gadget.halt(GadgetEndpoint.BulkIn);
    assert.equal(device.bulkIn(GadgetEndpoint.BulkIn, 64).status, TransferStatus.Stall);
    assert.equal(device.clearHalt(GadgetEndpoint.BulkIn).status, TransferStatus.Ok);
    gadget.queueBulkIn(Uint8Array.of(1));
    assert.equal(device.bulkIn(GadgetEndpoint.BulkIn, 64).status, TransferStatus.Ok);
  });

  it("enumerates a low-speed device on the low-speed control list", () => {
    const gadget = new TestGadget({ speed: UsbSpeed.Low, interruptInterval: 10 });
    const { driver, device } = enumerated(gadget);
    assert.equal(device.speed, UsbSpeed.Low);
    assert.equal(driver.rootHub.status(0).lowSpeed, true);
    assert.equal(driver.schedule.members("lsControl").length, 1);
    assert.equal(driver.schedule.members("fsControl").length, 0);
    const stream = device.openInterruptIn(GadgetEndpoint.InterruptIn);
    gadget.reports.push(Uint8Array.of(0x42));
    assert.deepEqual(
      stream.waitForReports(1).map((r) => [...r]),
      [[0x42]],
    );
  });

  it("suspends and resumes a port, and follows a remote wakeup on it", () => {
    const { driver, gadget, device } = enumerated();
    assert.equal(device.control(ENABLE_REMOTE_WAKEUP).status, TransferStatus.Ok);
    driver.rootHub.suspend(0);
    driver.run(5);
    assert.equal(gadget.suspended, true);
    assert.equal(driver.rootHub.status(0).suspended, true);
    assert.equal(driver.rootHub.resume(0), true);
    assert.equal(gadget.suspended, false);
    assert.equal(device.getDescriptor(1, 0, 18).status, TransferStatus.Ok);

    driver.rootHub.suspend(0);
    driver.run(5);
    assert.equal(gadget.wake(), true);
    assert.equal(driver.rootHub.waitForRemoteWakeup(0, 50), true);
    const port = driver.rootHub.status(0);
    assert.equal(port.suspended, false);
    assert.equal(port.resumeDetected, false);
    assert.equal(gadget.suspended, false);
    assert.equal(device.getDescriptor(1, 0, 18).status, TransferStatus.Ok);
  });

  it("suspends the whole bus and wakes on a device's remote wakeup", () => {
    const { driver, gadget, device, machine } = enumerated();
    assert.equal(device.control(ENABLE_REMOTE_WAKEUP).status, TransferStatus.Ok);
    driver.suspend();
    assert.equal(driver.state, ControllerState.Suspended);
    assert.equal(gadget.suspended, true);
    assert.equal(machine.io.read(UhciRegister.UsbIntr, 2), UsbIntr.Resume);
    const frame = driver.frameNumber();
    driver.run(10);
    assert.equal(driver.frameNumber(), frame, "no frames run while suspended");
    assert.equal(driver.waitForRemoteWakeup(20), false);
    gadget.wake();
    assert.equal(driver.waitForRemoteWakeup(20), true);
    assert.equal(driver.state, ControllerState.Running);
    assert.equal(gadget.suspended, false);
    assert.ok(driver.interrupts.resumeDetect >= 1);
    assert.equal(device.getDescriptor(1, 0, 18).status, TransferStatus.Ok);
    assert.deepEqual(driver.anomalies, []);
  });

  it("resumes from global suspend on the host's initiative", () => {
    const { driver, gadget, device } = enumerated();
    driver.suspend({ remoteWakeup: false });
    driver.run(10);
    driver.resume();
    assert.equal(gadget.suspended, false);
    assert.equal(device.getDescriptor(1, 0, 18).status, TransferStatus.Ok);
  });

  it("sees a disconnect as connect and enable changes, and transfers to it fail without a hang", () => {
    const { driver, controller, device } = enumerated();
    controller.detach(0);
    const port = driver.rootHub.status(0);
    assert.equal(port.connected, false);
    assert.equal(port.connectChanged, true);
    assert.equal(port.enabled, false);
    const result = device.getDescriptor(1, 0, 18);
    assert.equal(result.status, TransferStatus.CrcTimeout);
    device.release();
    driver.rootHub.clearChanges(0);
    assert.equal(driver.rootHub.status(0).raw & (PortSc.ConnectChange | PortSc.EnableChange), 0);
  });

  it("reports a controller halt (HCPE) as controller-halted", () => {
    const { driver, device, memory } = enumerated();
    const urb = device.submitControl({ requestType: 0x80, request: 6, value: 0x0100, index: 0, length: 18 });
    // Corrupt the SETUP TD's PID before the controller sees it: a process error (UHCI 3.2.3).
    const setupTd = urb.tds[0]!.address;
    memory.write32(setupTd + TdLayout.Token, memory.read32(setupTd + TdLayout.Token) & ~0xff);
    driver.runUntil(() => urb.done, 10);
    assert.equal(urb.result?.status, TransferStatus.ControllerHalted);
    assert.match(driver.haltReason ?? "", /HCPE/);
    assert.equal(driver.state, ControllerState.Halted);
    assert.equal(device.getDescriptor(1, 0, 18).status, TransferStatus.ControllerHalted);
  });

  it("enumerates on every port and gives each device its own address", () => {
    const a = new TestGadget();
    const b = new TestGadget({ speed: UsbSpeed.Low });
    const { driver } = bootGuest([a, b]);
    const first = driver.enumerate(0);
    const second = driver.enumerate(1);
    assert.ok(first.ok && second.ok);
    assert.equal(a.address, 1);
    assert.equal(b.address, 2);
    first.device.release();
    driver.run(2);
    assert.equal(driver.openDevices.length, 1);
  });

  it("fails enumeration of an empty port with a typed result", () => {
    const { driver } = bootGuest([]);
    const result = driver.enumerate(1);
    assert.equal(result.ok, false);
    assert.equal(result.ok ? "" : result.stage, "connect");
  });

  it("notices a controller that completes transfers without raising its interrupt", () => {
    const memory = new RamGuestMemory(1 << 20);
    const irq = new LevelIrqLine();
    const clock = new VirtualClock();
    const controller = new UhciController({ memory, irq, clock });
    controller.attach(0, new TestGadget());
    const machine: GuestMachine = {
      ...guestMachineFor({ controller, memory, irq, clock }),
      irqLevel: () => false,
    };
    const driver = UhciGuestDriver.start(machine, { dmaBase: 0x10000, dmaSize: 0x20000, timeoutMs: 20 });
    // Each transfer is found finished only when its frame budget runs out: slow, but it completes.
    const started = driver.elapsedMs;
    const result = driver.enumerate(0);
    assert.equal(result.ok, true);
    assert.ok(driver.elapsedMs - started > 10 * 20);
    assert.deepEqual(driver.anomalies, ["a control transfer finished without raising an interrupt"]);
  });

  it("throws for misuse, never for device errors", () => {
    const { device, driver } = enumerated();
    assert.throws(() => device.bulkIn(0x85, 8), /not part of the current configuration/);
    assert.throws(() => device.bulkIn(GadgetEndpoint.BulkOut, 8), /not IN/);
    assert.throws(() => driver.rootHub.status(5), RangeError);
    assert.throws(() => driver.resume(), /running/);
    assert.equal(UhciGuestDriver.name, "UhciGuestDriver");
  });
});
