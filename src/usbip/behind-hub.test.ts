/**
 * An imported device is a device like any other to the rest of the stack: behind an emulated hub
 * (USB 2.0 chapter 11), our own USB stick exported by the in-process server is enumerated on a hub
 * port, read and written bit for bit through Bulk-Only Transport (reads through the read-ahead), and
 * when the server goes it leaves the hub port as an unplug while the guest carries on.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { UsbHub } from "../devices/hub/usb-hub.ts";
import { MemoryBlockStore } from "../devices/storage/block-store.ts";
import { CswStatus, UsbMassStorage } from "../devices/storage/mass-storage.ts";
import { BotHost, Cdb } from "../devices/storage/testing/bot-host.ts";
import { bootGuest } from "../guest/testing/boot.ts";
import { TransferStatus } from "../guest/transfer-result.ts";
import { UsbipAttachment } from "./attachment.ts";
import { FakeUsbipServer } from "./testing/fake-server.ts";

describe("USB/IP device behind a hub", () => {
  it("a USB stick from the server: enumerated on hub port 2, read and written exactly, unplugged from the hub when the server goes", async () => {
    const store = new MemoryBlockStore(2048);
    for (let i = 0; i < store.bytes.length; i++) store.bytes[i] = (i * 31 + (i >> 9)) & 0xff;
    const stick = new UsbMassStorage({ store });
    const hub = new UsbHub({ ports: 4 });
    const { driver, clock } = bootGuest([hub], 5000);
    const server = new FakeUsbipServer(clock, [{ busid: "6-1", device: stick }]);
    const attachment = new UsbipAttachment({
      connect: server.connect,
      busid: "6-1",
      clock,
      plug: (d) => hub.attach(1, d),
      unplug: () => hub.detach(1),
    });
    const device = await attachment.connect();
    server.latencyMs = 2;
    const hubDevice = driver.enumerate(0);
    assert.ok(hubDevice.ok);
    const opened = driver.openHub(hubDevice.device);
    assert.ok(opened.ok);
    assert.equal(opened.hub.powerOn(), TransferStatus.Ok);
    const enumerated = opened.hub.enumerate(2);
    assert.ok(enumerated.ok, enumerated.ok ? "" : `${enumerated.stage}: ${enumerated.error}`);
    const host = new BotHost(enumerated.device);
    const read = host.command(Cdb.read10(7, 120), { dataIn: 120 * 512, timeoutMs: 5000 });
    assert.equal(read.csw?.status, CswStatus.Passed);
    assert.deepEqual(read.data, store.bytes.subarray(7 * 512, 127 * 512), "60 KiB read bit for bit");
    const data = Uint8Array.from({ length: 40 * 512 }, (_, i) => (i * 13) & 0xff);
    assert.equal(
      host.command(Cdb.write10(900, 40), { dataOut: data, timeoutMs: 5000 }).csw?.status,
      CswStatus.Passed,
    );
    assert.deepEqual(store.bytes.subarray(900 * 512, 940 * 512), data, "20 KiB written bit for bit");
    const ahead = device.stats.bulkReadAhead;
    assert.ok(ahead.urbs > 0 && ahead.urbs < 20, `${ahead.urbs} read-ahead URBs for ${120 * 8} packets`);

    server.sessions[0]!.closeFromServer();
    await new Promise((resolve) => setImmediate(resolve));
    assert.equal(attachment.device, null);
    assert.equal(hub.portStatus(1) & 0x0001, 0, "PORT_CONNECTION clear: unplugged from the hub port");
    driver.run(50);
    assert.equal(
      hub.portChange(1) & 0x0001,
      0x0001,
      "C_PORT_CONNECTION on the hub port (USB 2.0 11.24.2.7.2)",
    );
  });
});
