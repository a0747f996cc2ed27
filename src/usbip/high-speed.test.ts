/**
 * A high-speed device imported into the full-speed UHCI guest, and the guest's port resets reaching the
 * server's device.
 *
 * High speed: the server enumerated the device at high speed and it stays so, but the guest sees a
 * full-speed device (UHCI has no high speed), so the configuration descriptor it reads is rewritten to
 * what a full-speed device may say (USB 2.0 5.7.3, 5.8.3: bulk and interrupt packets of at most 64
 * bytes; 9.6.6: bInterval in frames), and bulk IN is read in whole server packets and handed out in
 * 64-byte ones, a short packet where the server's transfer ended.
 *
 * Port reset: a reset of a device the guest had addressed goes to the server as SET_FEATURE(PORT_RESET)
 * (which Linux's usbip-host turns into a device reset, drivers/usb/usbip/stub_rx.c); the resets of the
 * first enumeration do not.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { UsbKeyboard } from "../devices/hid/keyboard.ts";
import { bootGuest } from "../guest/testing/boot.ts";
import { TransferStatus } from "../guest/transfer-result.ts";
import { EndpointType, Pid } from "../usb/constants.ts";
import type { EndpointModel } from "../usb/descriptors/model.ts";
import { UsbDeviceBase } from "../usb/device-base.ts";
import { PacketStatus, UsbPacket } from "../usb/packet.ts";
import { UsbipAttachment } from "./attachment.ts";
import { UsbipSpeed } from "./protocol.ts";
import { FakeUsbipServer } from "./testing/fake-server.ts";

/**
 * A high-speed-shaped device: bulk endpoints of 512 bytes, an interrupt IN of 8 bytes every 64
 * microframes (bInterval 7), an interrupt IN of 1024 bytes every microframe, an isochronous IN of 1024
 * bytes per microframe. An OUT "command" of 4 bytes (little-endian N) makes the bulk IN endpoint send N
 * bytes of (i * 7 + N) & 0xff, then a 13-byte "CSW" of 0x53. (The fake server asks any device in 64-byte
 * pieces, so the packet boundaries here are the fake's; what is checked is the stream and its end.)
 */
class HighSpeedGadget extends UsbDeviceBase {
  private readonly bytes: number[] = [];
  private ended = true;
  /** What endpoint 0x85 still has to send of its one 100-byte report. */
  private report: number[] = Array.from({ length: 100 }, (_, i) => (i * 3 + 1) & 0xff);
  constructor(bulkOnly: boolean) {
    const endpoints: EndpointModel[] = [
      { address: 0x81, type: EndpointType.Bulk, maxPacketSize: 512, interval: 0 },
      { address: 0x02, type: EndpointType.Bulk, maxPacketSize: 512, interval: 0 },
      { address: 0x83, type: EndpointType.Interrupt, maxPacketSize: 8, interval: 7 },
      { address: 0x85, type: EndpointType.Interrupt, maxPacketSize: 1024, interval: 1 },
    ];
    super({
      name: "high-speed gadget",
      descriptors: {
        maxPacketSize0: 64,
        usbVersion: 0x0200,
        vendorId: 0x1234,
        productId: 0x4853,
        configurations: [
          {
            maxPowerMa: 100,
            interfaces: [
              {
                alternates: [
                  {
                    setting: 0,
                    interfaceClass: bulkOnly ? 0x08 : 0xff,
                    interfaceSubClass: bulkOnly ? 0x06 : 0,
                    interfaceProtocol: bulkOnly ? 0x50 : 0,
                    endpoints,
                  },
                ],
              },
              {
                alternates: [
                  {
                    setting: 0,
                    interfaceClass: 0xff,
                    interfaceSubClass: 0,
                    interfaceProtocol: 0,
                    endpoints: [],
                  },
                  {
                    setting: 1,
                    interfaceClass: 0xff,
                    interfaceSubClass: 0,
                    interfaceProtocol: 0,
                    endpoints: [
                      {
                        address: 0x84,
                        type: EndpointType.Isochronous,
                        maxPacketSize: 1024,
                        interval: 1,
                      },
                    ],
                  },
                ],
              },
            ],
          },
        ],
      },
    });
  }
  protected override handleData(packet: UsbPacket): void {
    if (packet.endpoint === 5 && packet.pid === Pid.In && this.report.length > 0) {
      const n = Math.min(packet.length, this.report.length);
      packet.data.set(this.report.slice(0, n));
      this.report = this.report.slice(n);
      packet.actualLength = n;
      packet.status = PacketStatus.Ack;
      return;
    }
    if (packet.endpoint !== 1 && packet.endpoint !== 2) {
      packet.status = PacketStatus.Nak;
      return;
    }
    if (packet.pid === Pid.Out) {
      const n = packet.data[0]! | (packet.data[1]! << 8) | (packet.data[2]! << 16);
      for (let i = 0; i < n; i++) this.bytes.push((i * 7 + n) & 0xff);
      this.bytes.push(-1); // the end of the data: a short packet
      for (let i = 0; i < 13; i++) this.bytes.push(0x53);
      this.bytes.push(-1);
      this.ended = false;
      packet.status = PacketStatus.Ack;
      return;
    }
    if (this.bytes.length === 0) {
      packet.status = PacketStatus.Nak;
      return;
    }
    let n = 0;
    while (n < packet.length && this.bytes.length > 0 && this.bytes[0] !== -1) {
      packet.data[n++] = this.bytes.shift()!;
    }
    // A packet shorter than asked ends the transfer; a full one followed by the end needs a zero-length one.
    if (n < packet.length && this.bytes[0] === -1) this.bytes.shift();
    else if (n === 0 && this.bytes[0] === -1) this.bytes.shift();
    this.ended = this.bytes.length === 0;
    packet.actualLength = n;
    packet.status = PacketStatus.Ack;
  }
  get idle(): boolean {
    return this.ended;
  }
}

async function rig(bulkOnly: boolean) {
  const boot = bootGuest([]);
  const server = new FakeUsbipServer(boot.clock, [
    { busid: "2-1", device: new HighSpeedGadget(bulkOnly), speed: UsbipSpeed.High },
  ]);
  const attachment = new UsbipAttachment({
    connect: server.connect,
    busid: "2-1",
    clock: boot.clock,
    plug: (d) => boot.controller.attach(0, d),
    unplug: () => boot.controller.detach(0),
  });
  const device = await attachment.connect();
  server.latencyMs = 1;
  const result = boot.driver.enumerate(0);
  assert.ok(result.ok, result.ok ? "" : result.error);
  return { ...boot, server, device, guest: result.device };
}

/** The endpoint descriptors of the configuration descriptor the guest reads: address → [attributes, wMaxPacketSize, bInterval]. */
function guestEndpoints(r: Awaited<ReturnType<typeof rig>>): Map<number, [number, number, number]> {
  const reply = r.guest.control({ requestType: 0x80, request: 6, value: 0x0200, index: 0, length: 255 });
  assert.equal(reply.status, TransferStatus.Ok);
  const d = reply.data;
  const found = new Map<number, [number, number, number]>();
  for (let at = 0; at + 2 <= reply.actualLength && d[at]! >= 2; at += d[at]!) {
    if (d[at + 1] === 5) found.set(d[at + 2]!, [d[at + 3]!, d[at + 4]! | (d[at + 5]! << 8), d[at + 6]!]);
  }
  return found;
}

function command(r: Awaited<ReturnType<typeof rig>>, n: number): { data: number[]; packets: number[] } {
  const cmd = Uint8Array.of(n & 0xff, (n >> 8) & 0xff, (n >> 16) & 0xff, 0);
  assert.equal(r.guest.bulkOut(0x02, cmd).status, TransferStatus.Ok);
  const data: number[] = [];
  const packets: number[] = [];
  // Read as a full-speed guest does: 64-byte packets until a short one.
  for (;;) {
    const p = r.guest.bulkIn(0x81, 64, { timeoutMs: 2000 });
    assert.equal(p.status, TransferStatus.Ok, `packet ${packets.length} of ${n}`);
    packets.push(p.actualLength);
    data.push(...p.data.subarray(0, p.actualLength));
    if (p.actualLength < 64) break;
  }
  const csw = r.guest.bulkIn(0x81, 64, { timeoutMs: 2000 });
  assert.equal(csw.status, TransferStatus.Ok);
  assert.deepEqual([...csw.data.subarray(0, csw.actualLength)], new Array(13).fill(0x53), `CSW after ${n}`);
  return { data, packets };
}

describe("a high-speed device on the full-speed guest", () => {
  it("shows full-speed endpoint descriptors: bulk 64, interrupt interval in frames, wide interrupt 64, iso refused", async () => {
    const r = await rig(false);
    const rewrittenBefore = r.device.stats.endpointsRewritten;
    const eps = guestEndpoints(r);
    assert.deepEqual(eps.get(0x81), [EndpointType.Bulk, 64, 0]);
    assert.deepEqual(eps.get(0x02), [EndpointType.Bulk, 64, 0]);
    // 2^(7-1) = 64 microframes = 8 frames.
    assert.deepEqual(eps.get(0x83), [EndpointType.Interrupt, 8, 8]);
    // 1024 bytes every microframe: narrowed to 64 every frame, with a notice.
    assert.deepEqual(eps.get(0x85), [EndpointType.Interrupt, 64, 1]);
    assert.deepEqual(eps.get(0x84), [EndpointType.Isochronous, 0, 1]);
    // bulk ×2, 0x83's interval, 0x85's size and interval (counted once), 0x84: per descriptor read.
    assert.equal(r.device.stats.endpointsRewritten - rewrittenBefore, 5);
    assert.equal(r.device.notices.length, 2, r.device.notices.join("\n"));
    assert.match(r.device.notices.join("\n"), /0x84: isochronous, 1024 bytes .* not offered/);
    assert.match(r.device.notices.join("\n"), /0x85: interrupt, 1024-byte packets/);
  });

  it("reads bulk IN one server packet (512 bytes) per URB and gives the guest the same byte stream in 64-byte packets", async () => {
    const r = await rig(false);
    for (const n of [13, 64, 192, 512, 1000]) {
      const { data, packets } = command(r, n);
      assert.deepEqual(
        data,
        Array.from({ length: n }, (_, i) => (i * 7 + n) & 0xff),
        `data of ${n}`,
      );
      // Full packets, then a short one — a zero-length one when the data filled whole packets, as a
      // full-speed device ends such a transfer (the server's device ended it with a short 512-byte one).
      assert.equal(packets.length, Math.floor(n / 64) + 1, `packets of ${n}`);
    }
    const bulkIn = r.server.submits.filter((s) => s.ep === 1 && s.dirIn);
    assert.ok(bulkIn.length > 0);
    assert.ok(
      bulkIn.every((s) => s.length === 512),
      `URB lengths ${[...new Set(bulkIn.map((s) => s.length))]}`,
    );
  });

  it("reads a Bulk-Only endpoint ahead in whole server packets", async () => {
    const r = await rig(true);
    for (const n of [512, 4096, 20_000]) {
      const { data } = command(r, n);
      assert.deepEqual(
        data,
        Array.from({ length: n }, (_, i) => (i * 7 + n) & 0xff),
        `data of ${n}`,
      );
    }
    const bulkIn = r.server.submits.filter((s) => s.ep === 1 && s.dirIn);
    assert.ok(bulkIn.every((s) => s.length === 16384));
    assert.ok(bulkIn.length < 12, `${bulkIn.length} URBs`);
  });

  it("asks the server for interrupt IN at the device's own interval, in microframes", async () => {
    const r = await rig(false);
    const read = r.guest.interruptIn(0x83, 8, { timeoutMs: 20 });
    assert.notEqual(read.status, TransferStatus.Ok, "the gadget never answers it");
    const urb = r.server.submits.find((s) => s.ep === 3 && s.dirIn);
    assert.equal(urb?.interval, 64);
  });

  it("gives a wide interrupt endpoint's report in 64-byte pieces from one URB of the server's packet size", async () => {
    const r = await rig(false);
    const first = r.guest.interruptIn(0x85, 64, { timeoutMs: 200 });
    const second = r.guest.interruptIn(0x85, 64, { timeoutMs: 200 });
    assert.equal(first.status, TransferStatus.Ok);
    assert.equal(second.status, TransferStatus.Ok);
    assert.deepEqual(
      [...first.data.subarray(0, first.actualLength), ...second.data.subarray(0, second.actualLength)],
      Array.from({ length: 100 }, (_, i) => (i * 3 + 1) & 0xff),
    );
    assert.deepEqual([first.actualLength, second.actualLength], [64, 36]);
    const urbs = r.server.submits.filter((s) => s.ep === 5 && s.dirIn);
    assert.ok(urbs.length >= 1);
    // 1024 bytes, every microframe (bInterval 1 at high speed), as the server's host takes it.
    assert.deepEqual(urbs[0] && [urbs[0].length, urbs[0].interval], [1024, 1]);
  });

  it("refuses isochronous packets on an endpoint it did not offer", async () => {
    const r = await rig(false);
    assert.equal(r.guest.setInterface(1, 1).status, TransferStatus.Ok);
    const before = r.server.submits.length;
    // What the controller hands the device for an iso TD of that endpoint.
    const packet = new UsbPacket(1024);
    packet.init(Pid.In, r.device.address, 4, 64, true);
    r.device.handlePacket(packet);
    assert.equal(packet.status, PacketStatus.Stall);
    assert.equal(r.device.stats.isoRefused, 1);
    assert.equal(r.server.submits.length, before, "nothing sent to the server");
  });
});

describe("the guest's port reset reaches the server's device", () => {
  async function keyboardRig() {
    const boot = bootGuest([]);
    const keyboard = new UsbKeyboard();
    const server = new FakeUsbipServer(boot.clock, [{ busid: "1-1", device: keyboard }]);
    const attachment = new UsbipAttachment({
      connect: server.connect,
      busid: "1-1",
      clock: boot.clock,
      plug: (d) => boot.controller.attach(0, d),
      unplug: () => boot.controller.detach(0),
    });
    const device = await attachment.connect();
    server.latencyMs = 2;
    return { ...boot, keyboard, server, device };
  }
  const isPortReset = (setup: number[]) =>
    setup[0] === 0x23 && setup[1] === 3 && setup[2] === 4 && setup[3] === 0;

  it("not the resets of the first enumeration; a reset after it, as SET_FEATURE(PORT_RESET), once", async () => {
    const r = await keyboardRig();
    const first = r.driver.enumerate(0);
    assert.ok(first.ok, first.ok ? "" : first.error);
    assert.equal(r.keyboard.configuration, 1);
    assert.equal(r.server.portResets, 0, "enumeration's resets at address 0 stay here");
    assert.equal(r.server.submits.filter((s) => isPortReset(s.setup)).length, 0);

    // The guest resets the port of its configured device (usb-storage's error recovery, usbreset).
    const reset = r.driver.rootHub.reset(0);
    assert.ok(reset.enabled);
    r.driver.run(20);
    assert.equal(r.device.stats.portResets, 1);
    assert.equal(r.device.stats.portResetsDone, 1);
    assert.equal(r.server.portResets, 1);
    assert.equal(r.keyboard.configuration, 0, "the server's device was reset: unconfigured");
    assert.equal(r.device.address, 0);

    // The guest enumerates it again; that enumeration's own resets (at address 0) are not forwarded.
    const again = r.driver.enumerate(0);
    assert.ok(again.ok, again.ok ? "" : again.error);
    assert.equal(r.keyboard.configuration, 1);
    assert.equal(r.server.portResets, 1);
    assert.equal(r.device.stats.portResets, 1);
  });

  it("not after the connection is gone", async () => {
    const r = await keyboardRig();
    const first = r.driver.enumerate(0);
    assert.ok(first.ok);
    r.server.sessions[0]?.closeFromServer();
    await new Promise((resolve) => setTimeout(resolve, 0));
    r.device.reset();
    assert.equal(r.device.stats.portResets, 0);
  });
});
