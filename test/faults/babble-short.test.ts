/**
 * A device that answers a packet in the middle of a stream with babble (more than MaxLen, or a babble
 * status) or with a short packet. The TD must end with the right bits (UHCI 3.2.2: Babble + Stalled and
 * USBERRINT, the frame ended; a short IN retired with its ActLen, stopping its queue only with SPD), and
 * the stream must go on afterwards — at the TD level, and through the software guest driver, which
 * reports the bad transfer and carries on with the next.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { IsoPreset } from "../../src/guest/iso-presets.ts";
import { bootGuest } from "../../src/guest/testing/boot.ts";
import {
  IsoGadget,
  IsoGadgetEndpoint,
  isoGadgetPayloadOk,
  isoGadgetSequence,
} from "../../src/guest/testing/iso-gadget.ts";
import { GadgetEndpoint, TestGadget } from "../../src/guest/testing/test-gadget.ts";
import { TransferStatus } from "../../src/guest/transfer-result.ts";
import type { EndpointModel } from "../../src/usb/descriptors/model.ts";
import { PacketStatus, type UsbPacket } from "../../src/usb/packet.ts";
import { ACK, ackIn, FakeDevice, type Reply } from "../uhci/helpers/fake-device.ts";
import { buf, node, Rig } from "../uhci/helpers/rig.ts";
import { qhElement, qhLink, readTd, TERM, tdLink, writeQh, writeTd } from "../uhci/helpers/schedule.ts";
import { Intr, PID, Sts } from "../uhci/helpers/uhci-spec.ts";

const bytes = (n: number, from = 1): number[] => Array.from({ length: n }, (_, i) => (from + i) & 0xff);

describe("babble and short packets mid-stream, TD by TD", () => {
  it("isochronous IN: a short packet, babble past MaxLen and a babble status each end their TD right, and the stream goes on", () => {
    // frame list[n] -> ISO TD n (IN 8, ep 1, IOC) -> QH -> T         n = 0..5
    //                                               \-> (element) TD Q (OUT 0, ep 2): one per frame
    const rig = new Rig();
    const dev = new FakeDevice({ address: 1 });
    rig.plug(0, dev);
    const iso = (n: number): number => node(8 + n);
    const replies: Reply[] = [
      ackIn(bytes(8)), // full
      ackIn(bytes(3, 0x30)), // short
      ackIn(bytes(12, 0x60)), // more than MaxLen: babble
      ackIn(bytes(8, 0x90)), // full again
      { kind: "babble" }, // the device reports babble
      ackIn(bytes(8, 0xb0)),
    ];
    let isoIndex = 0;
    dev.chooser = (packet: UsbPacket) => (packet.isochronous ? replies[isoIndex++]! : ACK);
    const qh = node(0);
    for (let n = 0; n < 6; n++) {
      writeTd(rig.ram, iso(n), {
        link: qhLink(qh),
        pid: PID.IN,
        devAddr: 1,
        endpoint: 1,
        maxLen: 8,
        buffer: buf(n),
        ios: true,
        ioc: true,
      });
      rig.fill(buf(n), 16, 0xee);
    }
    rig.start(TERM, { intr: Intr.IOC | Intr.TIMEOUT_CRC });
    for (let n = 0; n < 6; n++) rig.ram.write32(0x1000 + 4 * n, tdLink(iso(n)));
    const queueTd = (n: number): number => node(16 + n);
    for (let n = 0; n < 6; n++)
      writeTd(rig.ram, queueTd(n), {
        link: n < 5 ? tdLink(queueTd(n + 1)) : TERM,
        pid: PID.OUT,
        devAddr: 1,
        endpoint: 2,
      });
    writeQh(rig.ram, qh, TERM, tdLink(queueTd(0)));

    const outs: number[] = [];
    for (let n = 0; n < 6; n++) {
      const before = dev.seen.filter((s) => !s.isochronous).length;
      rig.frames(1);
      outs.push(dev.seen.filter((s) => !s.isochronous).length - before);
    }
    const td = (n: number) => readTd(rig.ram, iso(n));
    for (const n of [0, 3, 5]) {
      assert.equal(td(n).active, false);
      assert.equal(td(n).actLen, 8);
      assert.equal(td(n).ctrl & 0x007e_0000, 0, `TD ${n}: no error bits`);
    }
    assert.deepEqual(rig.bytes(buf(3), 8), bytes(8, 0x90), "the stream carries on after the babble");
    // Short: retired, ActLen 3, no error, nothing past the 3 bytes.
    assert.equal(td(1).active, false);
    assert.equal(td(1).actLen, 3);
    assert.equal(td(1).ctrl & 0x007e_0000, 0);
    assert.deepEqual(rig.bytes(buf(1), 8), [...bytes(3, 0x30), 0xee, 0xee, 0xee, 0xee, 0xee]);
    // Babble: retired with Babble + Stalled, nothing written past MaxLen; the frame ended there.
    for (const n of [2, 4]) {
      assert.equal(td(n).active, false);
      assert.equal(td(n).babble, true, `TD ${n}: babble`);
      assert.equal(td(n).stalled, true);
      assert.ok(td(n).actLen <= 8);
      assert.deepEqual(rig.bytes(buf(n) + 8, 8), new Array(8).fill(0xee));
    }
    assert.deepEqual(outs, [1, 1, 0, 1, 0, 1], "babble ended frames 2 and 4 before the queue ran");
    assert.equal(rig.usbsts & (Sts.USBERRINT | Sts.USBINT), Sts.USBERRINT | Sts.USBINT);
    assert.equal(rig.usbsts & Sts.HCHALTED, 0, "babble does not halt the controller");
  });

  it("bulk IN queue: a short packet with SPD stops the queue on that TD; babble stalls it; after the guest moves the queue on, it runs", () => {
    // frame list[*] -> QH -> T
    //                   \-> (element) TD1 (IN 8, SPD) -Vf-> TD2 (IN 8, SPD) -Vf-> TD3 (IN 8) -Vf-> TD4 (IN 8) -> T
    const rig = new Rig();
    const dev = new FakeDevice({ address: 1 });
    rig.plug(0, dev);
    const qh = node(0);
    const tds = [node(1), node(2), node(3), node(4)];
    tds.forEach((t, i) => {
      writeTd(rig.ram, t, {
        link: i < 3 ? tdLink(tds[i + 1]!, true) : TERM,
        pid: PID.IN,
        devAddr: 1,
        endpoint: 1,
        maxLen: 8,
        buffer: buf(i),
        spd: i < 2,
        toggle: i % 2 === 1,
      });
      rig.fill(buf(i), 16, 0xee);
    });
    writeQh(rig.ram, qh, TERM, tdLink(tds[0]!));
    dev.reply(ackIn(bytes(8)), ackIn(bytes(3, 0x40)));
    rig.start(qhLink(qh), { intr: Intr.SHORT_PACKET | Intr.TIMEOUT_CRC });
    rig.frames(1);
    const td2 = readTd(rig.ram, tds[1]!);
    assert.equal(td2.active, false, "the short TD is retired");
    assert.equal(td2.actLen, 3);
    assert.equal(
      qhElement(rig.ram, qh),
      tdLink(tds[1]!, true),
      "UHCI 3.2.2 SPD: the queue stays on the short TD",
    );
    assert.equal(rig.usbsts & Sts.USBINT, Sts.USBINT);
    assert.equal(rig.irq.level, true, "a short-packet interrupt");
    assert.equal(readTd(rig.ram, tds[2]!).active, true);
    rig.clearStatus();

    // The guest ends that transfer and points the queue at the next one (TD3), which babbles.
    dev.reply(ackIn(bytes(20, 0x50)), ackIn(bytes(8, 0x70)));
    rig.ram.write32(qh + 4, tdLink(tds[2]!));
    rig.frames(1);
    const td3 = readTd(rig.ram, tds[2]!);
    assert.equal(td3.babble && td3.stalled && !td3.active, true);
    assert.equal(qhElement(rig.ram, qh), tdLink(tds[2]!), "a babbling TD does not advance its queue");
    assert.equal(rig.usbsts & Sts.USBERRINT, Sts.USBERRINT);
    assert.deepEqual(rig.bytes(buf(2) + 8, 8), new Array(8).fill(0xee));

    // And again past the failed TD: the queue runs.
    rig.ram.write32(qh + 4, tdLink(tds[3]!));
    rig.frames(1);
    const td4 = readTd(rig.ram, tds[3]!);
    assert.equal(td4.active, false);
    assert.equal(td4.actLen, 8);
    assert.deepEqual(rig.bytes(buf(3), 8), bytes(8, 0x70));
    assert.equal(qhElement(rig.ram, qh), TERM);
  });
});

/** The test gadget, made to babble on chosen polls of its bulk IN and interrupt IN endpoints. */
class BabblingGadget extends TestGadget {
  babbleBulk = 0;
  babbleInterrupt = 0;
  protected override handleData(packet: UsbPacket, endpoint: EndpointModel): void {
    const bulk = endpoint.address === GadgetEndpoint.BulkIn && this.babbleBulk > 0;
    const interrupt =
      endpoint.address === GadgetEndpoint.InterruptIn && this.babbleInterrupt > 0 && this.reports.length > 0;
    if (bulk || interrupt) {
      if (bulk) this.babbleBulk--;
      else this.babbleInterrupt--;
      // More than the host asked for: on the wire that is babble.
      packet.data.fill(0xbb, 0, packet.length);
      packet.actualLength = packet.length;
      packet.status = PacketStatus.Babble;
      return;
    }
    super.handleData(packet, endpoint);
  }
}

/** The iso gadget, made to send more than asked on chosen packets (babble on the wire). */
class OverlongIsoGadget extends IsoGadget {
  overlong = new Set<number>();
  protected override handleData(packet: UsbPacket, endpoint: EndpointModel): void {
    const seq = this.inSequence;
    super.handleData(packet, endpoint);
    if (endpoint.address === IsoGadgetEndpoint.In && this.overlong.has(seq))
      packet.actualLength = packet.length + 4;
  }
}

describe("babble and short packets mid-stream, through the software guest", () => {
  it("bulk IN: a babbled transfer is reported as babble and the next transfer gets its data", () => {
    const gadget = new BabblingGadget();
    const { driver } = bootGuest([gadget]);
    const result = driver.enumerate(0);
    assert.ok(result.ok);
    const device = result.device;
    gadget.queueBulkIn(Uint8Array.from(bytes(100)));
    gadget.babbleBulk = 1;
    const bad = device.bulkIn(GadgetEndpoint.BulkIn, 128);
    assert.equal(bad.status, TransferStatus.Babble);
    const good = device.bulkIn(GadgetEndpoint.BulkIn, 128);
    assert.equal(good.status, TransferStatus.Ok);
    assert.deepEqual(
      [...good.data],
      bytes(100),
      "the data the babbled transfer could not take arrives whole",
    );
    assert.equal(good.short, true);
    // A short packet in the middle of a multi-packet read ends it early; the next read is whole again.
    gadget.queueBulkIn(Uint8Array.from(bytes(70, 9)));
    gadget.queueBulkIn(Uint8Array.from(bytes(64, 200)));
    const first = device.bulkIn(GadgetEndpoint.BulkIn, 256);
    assert.equal(first.status, TransferStatus.Ok);
    assert.equal(first.actualLength, 70);
    assert.equal(first.short, true);
    assert.deepEqual([...first.data], bytes(70, 9));
    const second = device.bulkIn(GadgetEndpoint.BulkIn, 64);
    assert.deepEqual([...second.data], bytes(64, 200));
    assert.deepEqual(driver.anomalies, []);
  });

  it("interrupt IN: babble stops the standing stream with an error; restarted, it delivers every report", () => {
    const gadget = new BabblingGadget();
    const { driver } = bootGuest([gadget]);
    const result = driver.enumerate(0);
    assert.ok(result.ok);
    const stream = result.device.openInterruptIn(GadgetEndpoint.InterruptIn);
    gadget.reports.push(Uint8Array.of(1), Uint8Array.of(2));
    assert.deepEqual(
      stream.waitForReports(2).map((r) => [...r]),
      [[1], [2]],
    );
    gadget.babbleInterrupt = 1;
    gadget.reports.push(Uint8Array.of(3), Uint8Array.of(4));
    driver.run(40);
    assert.equal(stream.error, TransferStatus.Babble);
    assert.equal(stream.running, false);
    stream.restart();
    assert.deepEqual(
      stream.waitForReports(2).map((r) => [...r]),
      [[3], [4]],
      "the report the babbling poll was about goes out again",
    );
    assert.deepEqual(driver.anomalies, []);
  });

  it("isochronous IN: short packets and babble mid-stream are counted per packet and the stream keeps running", () => {
    const gadget = new OverlongIsoGadget();
    gadget.inLength = (seq, max) => (seq % 10 === 5 ? 40 : max);
    gadget.overlong = new Set([17, 43]);
    const { driver } = bootGuest([gadget]);
    const result = driver.enumerate(0);
    assert.ok(result.ok);
    assert.equal(result.device.setInterface(0, 1).status, TransferStatus.Ok);
    const sequences: number[] = [];
    const lengths = new Map<number, number>();
    let badPayloads = 0;
    const stream = result.device.openIsoStream(IsoGadgetEndpoint.In, {
      ...IsoPreset.Seed,
      onData: (data) => {
        const seq = isoGadgetSequence(data);
        sequences.push(seq);
        lengths.set(seq, data.length);
        if (!isoGadgetPayloadOk(data)) badPayloads++;
      },
    });
    driver.run(100);
    assert.ok(stream.drain(100));
    const s = stream.stats;
    assert.equal(s.errors.babble, 2, "the two over-long packets");
    assert.equal(s.packetsError, 2);
    assert.equal(s.packetsMissed, 0);
    assert.ok(s.packetsShort >= 8, `${s.packetsShort} short packets`);
    assert.equal(lengths.get(15), 40, "a short packet arrives with its length");
    assert.equal(lengths.get(16), 192);
    assert.ok(!sequences.includes(17) && !sequences.includes(43), "babbled packets are not delivered");
    assert.ok(sequences.includes(18) && sequences.includes(44), "the stream goes on after each");
    assert.equal(badPayloads, 0);
    assert.equal(stream.error, null);
    assert.deepEqual(driver.anomalies, []);
  });
});
