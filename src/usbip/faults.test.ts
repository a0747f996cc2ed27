/**
 * Faults on the server side (issue 13 item 3): the server closing the connection or sending a reply
 * that does not parse while the guest has requests out. The device leaves the guest's view as an
 * unplug (UHCI 2.1.7: CCS clear, CSC set), nothing that arrives later is written, the emulator keeps
 * running, and the device comes back on request. A guest that cancels a request makes a CMD_UNLINK.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { UsbKeyboard } from "../devices/hid/keyboard.ts";
import { bootGuest } from "../guest/testing/boot.ts";
import { TransferStatus } from "../guest/transfer-result.ts";
import { Pid } from "../usb/constants.ts";
import { PacketStatus, UsbPacket } from "../usb/packet.ts";
import { UsbipAttachment } from "./attachment.ts";
import { MAX_URBS_IN_FLIGHT, UsbipError } from "./connection.ts";
import { FakeUsbipServer, retSubmit, retUnlink } from "./testing/fake-server.ts";

async function rig() {
  const boot = bootGuest([]);
  const keyboard = new UsbKeyboard();
  const server = new FakeUsbipServer(boot.clock, [{ busid: "3-1", device: keyboard }]);
  const attachment = new UsbipAttachment({
    connect: server.connect,
    busid: "3-1",
    clock: boot.clock,
    plug: (d) => boot.controller.attach(0, d),
    unplug: () => boot.controller.detach(0),
  });
  const errors: (UsbipError | null)[] = [];
  attachment.onDisconnect = (e) => errors.push(e);
  await attachment.connect();
  server.latencyMs = 2;
  const result = boot.driver.enumerate(0);
  assert.ok(result.ok, result.ok ? "" : result.error);
  return { ...boot, keyboard, server, attachment, errors, guestDevice: result.device };
}

/** Lets the microtasks the fake server uses for out-of-band bytes run. */
const settle = () => new Promise((resolve) => setImmediate(resolve));

describe("USB/IP faults", () => {
  it("server closes mid-stream: unplugged, no late write, the emulator runs on; reconnect on request", async () => {
    const r = await rig();
    const poll = r.guestDevice.openInterruptIn(0x81);
    r.driver.run(20);
    assert.ok(
      r.server.submits.some((s) => s.ep === 1),
      "an interrupt URB is out at the server",
    );
    const stale = r.controller.staleCompletions;
    r.server.sessions[0]!.closeFromServer();
    await settle();
    assert.equal(r.controller.ports[0]!.device, null, "unplugged");
    assert.equal(r.errors.length, 1);
    assert.match(r.errors[0]?.message ?? "", /server closed the connection/);
    assert.equal(r.attachment.device, null);
    r.driver.run(50);
    assert.equal(r.controller.staleCompletions, stale, "nothing came back for the dead requests");
    poll.close?.();
    // Back on request: a fresh import, a fresh enumeration, keys flow again.
    await r.attachment.connect();
    assert.equal(r.attachment.imports, 2);
    const again = r.driver.enumerate(0);
    assert.ok(again.ok, again.ok ? "" : again.error);
    r.keyboard.press("B");
    const report = again.device.interruptIn(0x81, 8);
    assert.equal(report.status, TransferStatus.Ok);
    assert.equal(report.data[2], 0x05, "'b' arrives after the reconnect");
  });

  it("a reply that does not parse (garbage) drops the connection with a clear error", async () => {
    const r = await rig();
    r.server.sessions[0]!.inject(Uint8Array.from({ length: 48 }, (_, i) => (i * 37) & 0xff));
    await settle();
    assert.equal(r.controller.ports[0]!.device, null);
    assert.ok(r.errors[0] instanceof UsbipError);
    assert.match(r.errors[0]?.message ?? "", /unexpected command|no request is waiting/);
    r.driver.run(10);
  });

  it("a RET_SUBMIT with a wrong seqnum or a length beyond the buffer drops the connection", async () => {
    for (const [mutate, reason] of [
      [
        (b: Uint8Array) => {
          new DataView(b.buffer).setUint32(4, 0xdead);
          return b;
        },
        /seqnum 57005/,
      ],
      [
        (b: Uint8Array) => {
          new DataView(b.buffer).setInt32(24, 0x100000);
          return b;
        },
        /beyond the/,
      ],
    ] as const) {
      const r = await rig();
      r.server.mutateReply = mutate;
      const t = r.guestDevice.control(
        { requestType: 0x80, request: 6, value: 0x0100, index: 0, length: 18 },
        { timeoutMs: 30 },
      );
      assert.notEqual(t.status, TransferStatus.Ok, "the transfer does not complete");
      assert.equal(r.controller.ports[0]!.device, null, "unplugged");
      assert.match(r.errors[0]?.message ?? "", reason);
    }
  });

  it("the guest cancels an interrupt transfer: CMD_UNLINK; a reply that crossed the unlink is read but not delivered", async () => {
    const r = await rig();
    const stale = r.controller.staleCompletions;
    // The server's answers stop here, so the URB's RET_SUBMIT can be made to cross the unlink.
    r.server.silent = true;
    const t = r.guestDevice.interruptIn(0x81, 8, { timeoutMs: 20 });
    assert.notEqual(t.status, TransferStatus.Ok, "no key: the guest gave up");
    r.driver.run(60);
    const urb = r.server.submits.find((s) => s.ep === 1)!;
    assert.ok(
      r.server.unlinks.includes(urb.seqnum),
      "CMD_UNLINK for the guest's URB (after the controller's 32 frames)",
    );
    const device = r.attachment.device!;
    assert.ok(device.stats.cancelled >= 1);
    const unlinkSeqnum = device.connection.stats.unlinks > 0 ? urb.seqnum + 1 : -1;
    // The URB's answer arrives after the unlink left: read (the stream stays in step), not delivered.
    r.server.sessions[0]!.inject(retSubmit(urb.seqnum, 0, 8, new Uint8Array(8).fill(0x77)));
    await settle();
    assert.equal(r.controller.ports[0]!.device, device, "still plugged in");
    assert.equal(device.connection.stats.crossedUnlink, 1);
    // Then the unlink's own answer (status 0: it had completed) is taken as read.
    r.server.sessions[0]!.inject(retUnlink(unlinkSeqnum, 0));
    await settle();
    assert.equal(device.connection.closed, false, device.connection.closeError?.message);
    r.driver.run(10);
    assert.equal(r.controller.staleCompletions, stale, "the crossed answer never reached a packet");
  });

  it("a server that vanishes (no FIN, no answers): unplugged after the silence with answers due; close() before that unplugs too", async () => {
    const r = await rig();
    r.server.silent = true;
    const t = r.guestDevice.control(
      { requestType: 0x80, request: 6, value: 0x0100, index: 0, length: 18 },
      { timeoutMs: 40 },
    );
    assert.notEqual(t.status, TransferStatus.Ok);
    r.driver.run(5000);
    assert.ok(r.attachment.device !== null, "5 s of silence is not yet a vanished server");
    r.driver.run(7000);
    assert.equal(r.controller.ports[0]!.device, null, "unplugged");
    assert.match(r.errors[0]?.message ?? "", /no answer from the server for 1[01] s with requests out/);
    r.driver.run(10);
    // A quiet server with only an interrupt URB out (a keyboard nobody types on) is not gone.
    const quiet = await rig();
    const poll = quiet.guestDevice.openInterruptIn(0x81);
    quiet.driver.run(15_000);
    assert.ok(quiet.attachment.device !== null, "still plugged in after 15 s of an idle keyboard");
    poll.close?.();
    quiet.attachment.close();
    assert.equal(quiet.controller.ports[0]!.device, null, "close() unplugs");
  });
});

describe("USB/IP device and snapshots", () => {
  it("a controller restore re-attaches it: reset, a connect change on its port, requests unlinked; the guest re-enumerates", async () => {
    const r = await rig();
    const poll = r.guestDevice.openInterruptIn(0x81);
    r.driver.run(20);
    const saved = r.controller.saveState();
    const ports = saved["ports"] as { device: { snapshotMode: string } | null }[];
    assert.equal(ports[0]?.device?.snapshotMode, "reattach", "saved as a device to re-attach, not in place");
    const device = r.attachment.device!;
    const unlinksBefore = r.server.unlinks.length;
    r.controller.restoreState(saved);
    assert.equal(r.controller.ports[0]!.device, device, "the same device, still plugged in");
    assert.equal(device.address, 0, "reset");
    const portsc = r.controller.ioRead(0x10, 2);
    assert.equal(portsc & 0x0002, 0x0002, "CSC: the guest sees a disconnect and connect (UHCI 2.1.7)");
    assert.ok(r.server.unlinks.length > unlinksBefore, "the interrupt URB out was unlinked");
    poll.close?.();
    r.driver.run(5);
    const again = r.driver.enumerate(0);
    assert.ok(again.ok, again.ok ? "" : again.error);
    r.keyboard.press("C");
    const report = again.device.interruptIn(0x81, 8);
    assert.equal(report.data[2], 0x06, "'c' after the restore");
  });
});

describe("USB/IP bounds", () => {
  it("a guest abandoning control transfers to a silent server cannot grow the URB table past its bound", async () => {
    const r = await rig();
    r.server.silent = true;
    const device = r.attachment.device!;
    const connection = device.connection;
    // Driven as a controller would (UsbDevice.handlePacket): SETUP, the first IN of its data stage
    // (which sends the URB and waits), then the next SETUP abandons it (its URB is unlinked).
    const packet = new UsbPacket();
    let ioErrors = 0;
    for (let i = 0; i < 1100; i++) {
      packet.init(Pid.Setup, device.address, 0, 8);
      packet.data.set([0x80, 6, 0, 1, 0, 0, 18, 0]);
      device.handlePacket(packet);
      packet.finish();
      packet.init(Pid.In, device.address, 0, 8);
      device.handlePacket(packet);
      if (packet.status === PacketStatus.IoError) ioErrors++;
      packet.cancel();
      device.cancelPacket(packet);
    }
    assert.ok(connection.urbsInFlight <= MAX_URBS_IN_FLIGHT, `${connection.urbsInFlight} URBs out`);
    assert.ok(connection.stats.refused > 0, "submits beyond the bound were refused");
    assert.equal(ioErrors, connection.stats.refused, "each refused as an I/O error to the guest");
    assert.equal(connection.closed, false);
  });
});
