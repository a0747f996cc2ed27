/**
 * A device unplugged while the controller has requests out with it. The requests are taken back from
 * the device (cancelPacket) and their answers, should the device still give them, are dropped. The TDs
 * then end as on real hardware, where nothing answers at that address any more: a non-isochronous TD
 * times out (CRC/Time Out) each time it is tried, counting C_ERR down until it is retired with Stalled
 * (UHCI 3.2.2); an isochronous TD in a later frame is tried once and retired with CRC/Time Out; one
 * whose frame has passed stays Active (the guest counts it missed). The guest sees the disconnect in
 * PORTSC: CCS clear, CSC set, PE cleared by the hardware and so PEC set (UHCI 2.1.7).
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { AsyncHostDevice } from "../../src/devices/async-host/async-host-device.ts";
import { CounterSource } from "../../src/devices/async-host/counter-source.ts";
import { AsyncHostEndpoint, AsyncHostInterface } from "../../src/devices/async-host/default-model.ts";
import { IsoPacketStatus } from "../../src/guest/iso-packet.ts";
import { bootGuest } from "../../src/guest/testing/boot.ts";
import type { TransferResult } from "../../src/guest/transfer-result.ts";
import { TransferStatus } from "../../src/guest/transfer-result.ts";
import { DEFER, FakeDevice } from "../uhci/helpers/fake-device.ts";
import { buf, node, Rig } from "../uhci/helpers/rig.ts";
import { qhElement, qhLink, readTd, TERM, tdLink, writeQh, writeTd } from "../uhci/helpers/schedule.ts";
import { Intr, PID, Port, Sts } from "../uhci/helpers/uhci-spec.ts";

describe("a device unplugged with requests outstanding", () => {
  it("the requests are cancelled, their late answers dropped; TDs then time out as on a bus with nothing there", () => {
    // frame list[n], n = 0..7 -> ISO TD n (IN 8, ep 2, buffer n) -> QH bulk -> T
    //                                                                 \-> (element) TD B (IN 64, ep 1, C_ERR 3, IOC) -> T
    const rig = new Rig();
    const dev = new FakeDevice({ address: 1 });
    rig.plug(0, dev);
    dev.defaultReply = DEFER;
    const bulkQh = node(0);
    const bulkTd = node(1);
    const iso = (n: number): number => node(8 + n);
    writeQh(rig.ram, bulkQh, TERM, tdLink(bulkTd));
    writeTd(rig.ram, bulkTd, {
      pid: PID.IN,
      devAddr: 1,
      endpoint: 1,
      maxLen: 64,
      buffer: buf(0),
      cerr: 3,
      ioc: true,
    });
    for (let n = 0; n < 8; n++) {
      writeTd(rig.ram, iso(n), {
        link: qhLink(bulkQh),
        pid: PID.IN,
        devAddr: 1,
        endpoint: 2,
        maxLen: 8,
        buffer: buf(1 + n),
        ios: true,
      });
      rig.fill(buf(1 + n), 8, 0xee);
    }
    rig.fill(buf(0), 64, 0xee);
    rig.start(qhLink(bulkQh), { intr: Intr.TIMEOUT_CRC | Intr.IOC });
    for (let n = 0; n < 8; n++) rig.ram.write32(0x1000 + 4 * n, tdLink(iso(n)));
    rig.frames(2);
    const held = [...dev.inFlight];
    assert.equal(held.length, 3, "the bulk request and the iso requests of frames 0 and 1 are out");
    const portEnabled = rig.portsc(0);
    assert.equal(portEnabled & (Port.CCS | Port.PE), Port.CCS | Port.PE);

    rig.hc.detach(0);
    assert.equal(dev.cancelled.length, held.length, "each request was taken back from the device");
    for (const packet of held) assert.ok(dev.cancelled.includes(packet));
    assert.equal(rig.hc.asyncs.size, 0);
    const portsc = rig.portsc(0);
    assert.equal(
      portsc & (Port.CCS | Port.CSC | Port.PE | Port.PEC),
      Port.CSC | Port.PEC,
      "UHCI 2.1.7: the guest sees the disconnect",
    );
    const before = rig.bytes(0, 0x10000);
    for (const packet of held) {
      assert.equal(
        dev.complete("ack", new Uint8Array(64).fill(0x55), packet),
        false,
        "a late answer is refused",
      );
    }
    assert.deepEqual(rig.bytes(0, 0x10000), before, "and writes nothing");

    // The bulk TD is tried again in each frame: a time-out each time, C_ERR 3 → 2 → 1 → 0, then retired.
    const cerrs: number[] = [];
    for (let frame = 2; frame < 5; frame++) {
      rig.frames(1);
      const td = readTd(rig.ram, bulkTd);
      assert.equal(td.crcTimeout, true);
      cerrs.push(td.cerr);
    }
    assert.deepEqual(cerrs, [2, 1, 0]);
    const bulk = readTd(rig.ram, bulkTd);
    assert.equal(bulk.active, false);
    assert.equal(bulk.stalled, true, "C_ERR ran out: the error is final");
    assert.equal(bulk.actLen, 0);
    assert.equal(qhElement(rig.ram, bulkQh), tdLink(bulkTd), "the queue does not advance past a failed TD");
    assert.equal(rig.usbsts & (Sts.USBERRINT | Sts.USBINT), Sts.USBERRINT | Sts.USBINT);
    assert.equal(rig.irq.level, true);
    assert.deepEqual(rig.bytes(buf(0), 4), [0xee, 0xee, 0xee, 0xee]);

    // Iso TDs of frames 0 and 1 had their requests cancelled: their frames have passed, they stay Active
    // (missed). Those of frames 2.. ran once each against nothing: retired with CRC/Time Out, no data.
    rig.frames(3);
    for (let n = 0; n < 8; n++) {
      const td = readTd(rig.ram, iso(n));
      if (n < 2)
        assert.equal(td.active, true, `iso TD ${n} stays active: its frame passed while its request was out`);
      else {
        assert.equal(td.active, false, `iso TD ${n}`);
        assert.equal(td.crcTimeout, true);
        assert.equal(td.stalled, false, "no C_ERR count-down on isochronous TDs");
        assert.equal(td.actLen, 0);
      }
      assert.deepEqual(rig.bytes(buf(1 + n), 8), new Array(8).fill(0xee), `buffer ${n} untouched`);
    }
    assert.equal(dev.seen.length, 3, "nothing reached the device after it was unplugged");
  });

  it("the software guest: its bulk transfer fails with crc-timeout, its iso stream counts errors, it sees the port change", () => {
    const bulkSource = new CounterSource(64);
    const rig = bootGuest([]);
    const dev = new AsyncHostDevice({ clock: rig.clock, timing: { nonIsoDelayMs: 40, firstIsoDelayMs: 10 } });
    dev.setSource(3, bulkSource);
    rig.controller.attach(0, dev);
    const { driver } = rig;
    const result = driver.enumerate(0);
    assert.ok(result.ok, result.ok ? "" : `${result.stage}: ${result.error}`);
    const device = result.device;
    assert.equal(device.setInterface(AsyncHostInterface.Iso, 1).status, TransferStatus.Ok);

    const statuses = new Map<string, number>();
    const stream = device.openIsoStream(AsyncHostEndpoint.IsoIn, {
      urbs: 4,
      packetsPerUrb: 5,
      onPacket: (p) => statuses.set(p.status, (statuses.get(p.status) ?? 0) + 1),
    });
    let bulk: TransferResult | null = null;
    device.submit(AsyncHostEndpoint.BulkIn, 64, (r) => {
      bulk = r;
    });
    driver.run(20);
    assert.equal(bulk, null, "the bulk answer is due only after 40 ms");
    assert.ok(dev.inFlight > 1, "requests are out with the device");

    rig.controller.detach(0);
    assert.equal(dev.inFlight, 0, "every request was taken back");
    driver.run(30);
    const port = driver.rootHub.status(0);
    assert.equal(port.connected, false);
    assert.equal(port.connectChanged, true);
    assert.equal(port.enabled, false);
    assert.equal(port.enableChanged, true);
    assert.ok(bulk !== null, "the bulk transfer ended");
    assert.equal((bulk as TransferResult).status, TransferStatus.CrcTimeout);
    assert.ok(
      (statuses.get(IsoPacketStatus.CrcTimeout) ?? 0) > 0,
      "iso packets after the unplug fail with time-outs",
    );
    assert.equal(bulkSource.next, 0, "the bulk source was never asked: the request was cancelled");
    assert.equal(dev.stats.completed, 0);
    assert.deepEqual(driver.anomalies, []);
    stream.close();
    device.release();
  });
});
