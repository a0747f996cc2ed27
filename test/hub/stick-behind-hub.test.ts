/**
 * A USB stick behind a hub, driven by the software guest (hub driver + a BOT host shaped like Linux's
 * usb-storage): it enumerates on a hub port, reads and writes across the device's chunks, and when it
 * is unplugged from the hub its medium is flushed and the blocks acknowledged before are in it.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { UsbHub } from "../../src/devices/hub/usb-hub.ts";
import { MemoryBlockStore, StoreStatus } from "../../src/devices/storage/block-store.ts";
import { CswStatus, UsbMassStorage } from "../../src/devices/storage/mass-storage.ts";
import { BotHost, Cdb } from "../../src/devices/storage/testing/bot-host.ts";
import { bootGuest } from "../../src/guest/testing/boot.ts";
import { TransferStatus } from "../../src/guest/transfer-result.ts";

describe("a USB stick behind a hub", () => {
  it("enumerates on hub port 3, reads and writes exactly, and is flushed when unplugged from the hub", () => {
    const store = new MemoryBlockStore(1024);
    for (let i = 0; i < store.bytes.length; i++) store.bytes[i] = (i * 17) & 0xff;
    let flushes = 0;
    const counting = {
      blockCount: store.blockCount,
      readOnly: false,
      read: store.read.bind(store),
      write: store.write.bind(store),
      flush: (done: (s: StoreStatus) => void) => {
        flushes++;
        done(StoreStatus.Ok);
      },
    };
    const hub = new UsbHub({ ports: 4 });
    const stick = new UsbMassStorage({ store: counting });
    hub.attach(2, stick);
    const { driver } = bootGuest([hub], 5000);
    const hubDevice = driver.enumerate(0);
    assert.ok(hubDevice.ok);
    const opened = driver.openHub(hubDevice.device);
    assert.ok(opened.ok);
    assert.equal(opened.hub.powerOn(), TransferStatus.Ok);
    const enumerated = opened.hub.enumerate(3);
    assert.ok(enumerated.ok, enumerated.ok ? "" : `${enumerated.stage}: ${enumerated.error}`);
    const host = new BotHost(enumerated.device);
    const read = host.command(Cdb.read10(5, 200), { dataIn: 200 * 512 });
    assert.equal(read.csw?.status, CswStatus.Passed);
    assert.deepEqual(read.data, store.bytes.subarray(5 * 512, 205 * 512));
    const data = new Uint8Array(150 * 512).fill(0x3c);
    assert.equal(host.command(Cdb.write10(600, 150), { dataOut: data }).csw?.status, CswStatus.Passed);
    assert.deepEqual(store.bytes.subarray(600 * 512, 750 * 512), data);
    assert.equal(hub.detach(2), stick);
    assert.equal(flushes, 1, "unplugging from the hub flushed the medium");
    driver.run(50);
    assert.deepEqual(driver.anomalies, []);
  });
});
