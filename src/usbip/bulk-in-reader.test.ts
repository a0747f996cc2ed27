/**
 * Bulk IN read ahead for USB Mass Storage Bulk-Only endpoints (BOT 1.0): a command's data and its
 * 13-byte CSW reach the guest in the device's own packets, bit for bit, from a few URBs instead of one
 * URB per TD; a transfer ending on a packet boundary keeps its zero-length packet; other bulk
 * endpoints keep one URB per TD.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { bootGuest } from "../guest/testing/boot.ts";
import { TransferStatus } from "../guest/transfer-result.ts";
import { EndpointType, Pid } from "../usb/constants.ts";
import type { EndpointModel } from "../usb/descriptors/model.ts";
import { UsbDeviceBase } from "../usb/device-base.ts";
import { PacketStatus, type UsbPacket } from "../usb/packet.ts";
import { UsbipAttachment } from "./attachment.ts";
import { FakeUsbipServer } from "./testing/fake-server.ts";

/**
 * A Bulk-Only-shaped device: an OUT "command" of 4 bytes (little-endian N) makes the IN endpoint send
 * N bytes of (i * 7 + N) & 0xff in 64-byte packets, then a 13-byte "CSW" of 0x53 (a short packet). A
 * zero-length packet ends data that fills whole packets.
 */
class BotGadget extends UsbDeviceBase {
  private readonly packets: number[][] = [];
  constructor(bulkOnly: boolean) {
    const endpoints: EndpointModel[] = [
      { address: 0x81, type: EndpointType.Bulk, maxPacketSize: 64, interval: 0 },
      { address: 0x02, type: EndpointType.Bulk, maxPacketSize: 64, interval: 0 },
    ];
    super({
      name: "bot gadget",
      descriptors: {
        maxPacketSize0: 64,
        vendorId: 0x1234,
        productId: 0xb07,
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
            ],
          },
        ],
      },
    });
  }
  protected override handleData(packet: UsbPacket): void {
    if (packet.pid === Pid.Out) {
      const n = packet.data[0]! | (packet.data[1]! << 8) | (packet.data[2]! << 16);
      for (let at = 0; at < n; at += 64) {
        this.packets.push(Array.from({ length: Math.min(64, n - at) }, (_, i) => ((at + i) * 7 + n) & 0xff));
      }
      if (n > 0 && n % 64 === 0) this.packets.push([]);
      this.packets.push(new Array(13).fill(0x53));
      packet.status = PacketStatus.Ack;
      return;
    }
    const next = this.packets.shift();
    if (next === undefined) {
      packet.status = PacketStatus.Nak;
      return;
    }
    packet.data.set(next.slice(0, packet.length));
    packet.actualLength = Math.min(next.length, packet.length);
    packet.status = next.length > packet.length ? PacketStatus.Babble : PacketStatus.Ack;
  }
}

async function rig(bulkOnly: boolean) {
  const boot = bootGuest([]);
  const server = new FakeUsbipServer(boot.clock, [{ busid: "5-1", device: new BotGadget(bulkOnly) }]);
  const attachment = new UsbipAttachment({
    connect: server.connect,
    busid: "5-1",
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

function command(r: Awaited<ReturnType<typeof rig>>, n: number): { data: number[]; csw: number[] } {
  const cmd = Uint8Array.of(n & 0xff, (n >> 8) & 0xff, (n >> 16) & 0xff, 0);
  assert.equal(r.guest.bulkOut(0x02, cmd).status, TransferStatus.Ok);
  const data = n > 0 ? r.guest.bulkIn(0x81, n, { timeoutMs: 2000 }) : null;
  if (data !== null) assert.equal(data.status, TransferStatus.Ok, `data of ${n}`);
  // A whole number of packets ends with a zero-length packet the guest reads as an empty transfer.
  if (n > 0 && n % 64 === 0) assert.equal(r.guest.bulkIn(0x81, 64).actualLength, 0);
  const csw = r.guest.bulkIn(0x81, 13);
  assert.equal(csw.status, TransferStatus.Ok);
  return { data: data === null ? [] : [...data.data], csw: [...csw.data] };
}

describe("bulk IN read ahead (Bulk-Only mass storage)", () => {
  it("commands' data and CSW arrive bit for bit in the device's packets, from few URBs", async () => {
    const r = await rig(true);
    for (const n of [0, 13, 64, 512, 1000, 4096, 20_000]) {
      const { data, csw } = command(r, n);
      assert.equal(data.length, n);
      assert.deepEqual(
        data,
        Array.from({ length: n }, (_, i) => (i * 7 + n) & 0xff),
        `data of ${n}`,
      );
      assert.deepEqual(csw, new Array(13).fill(0x53), `CSW after ${n}`);
    }
    const s = r.device.stats.bulkReadAhead;
    const packets = Math.ceil(25_689 / 64) + 7;
    assert.ok(s.fromBuffer > packets - 20, `${s.fromBuffer} TDs from the buffer`);
    assert.ok(s.urbs < 20, `${s.urbs} URBs for ${packets} packets`);
    assert.equal(r.device.stats.dataUrbs, 7, "the OUT commands: one URB each");
  });

  it("another class keeps one URB per TD", async () => {
    const r = await rig(false);
    const { data } = command(r, 1000);
    assert.equal(data.length, 1000);
    assert.equal(r.device.stats.bulkReadAhead.urbs, 0);
    assert.ok(r.device.stats.dataUrbs >= 1 + 16 + 1, `${r.device.stats.dataUrbs} URBs`);
  });
});
