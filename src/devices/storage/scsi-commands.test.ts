/**
 * The SCSI commands of the USB stick, each sent the way a host sends it (Linux's sd + usb-storage,
 * SeaBIOS's blockcmd.c), through Bulk-Only Transport, the UHCI controller and the software guest.
 * Sense data is checked against SPC-4 4.5.3 (fixed format) and annex D (the codes).
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { TransferStatus } from "../../guest/transfer-result.ts";
import {
  BLOCK_SIZE,
  type BlockStore,
  MemoryBlockStore,
  ReadOnlyBlockStore,
  type StoreCallback,
  StoreStatus,
} from "./block-store.ts";
import { CswStatus } from "./mass-storage.ts";
import {
  type BotHost,
  type BotResult,
  bootStick,
  Cdb,
  cbw as cbwBytes,
  senseOf,
} from "./testing/bot-host.ts";

const BLOCKS = 4096; // 2 MiB

function patterned(blocks = BLOCKS): MemoryBlockStore {
  const store = new MemoryBlockStore(blocks);
  for (let i = 0; i < store.bytes.length; i += 4) {
    const v = (i * 2654435761) >>> 0;
    store.bytes[i] = v >>> 24;
    store.bytes[i + 1] = (v >>> 16) & 0xff;
    store.bytes[i + 2] = (v >>> 8) & 0xff;
    store.bytes[i + 3] = v & 0xff;
  }
  return store;
}

function passed(result: BotResult): void {
  assert.deepEqual(result.events, []);
  assert.equal(result.csw?.status, CswStatus.Passed, "CSW status 0");
}

/** The command failed with CHECK CONDITION, and REQUEST SENSE reports `key/asc/ascq`. */
function failedWith(host: BotHost, result: BotResult, key: number, asc: number, ascq = 0): number | null {
  assert.equal(result.csw?.status, CswStatus.Failed, "CSW status 1 (command failed)");
  const sense = host.command(Cdb.requestSense(), { dataIn: 18 });
  passed(sense);
  const s = senseOf(sense.data);
  assert.deepEqual([s.key, s.asc, s.ascq], [key, asc, ascq], "sense key / ASC / ASCQ");
  assert.equal(sense.data[0]! & 0x7f, 0x70, "fixed format, current error");
  assert.equal(sense.data[7], 10, "additional sense length");
  return s.info;
}

const text = (bytes: Uint8Array) => Buffer.from(bytes).toString("latin1");

describe("USB stick: descriptors and class requests", () => {
  it("enumerates as mass storage, SCSI transparent, Bulk-Only (class 08h/06h/50h) with 64-byte bulk IN and OUT", () => {
    const { guest } = bootStick({ store: patterned() });
    const alt = guest.info.configuration.interfaces[0]?.alternates[0];
    assert.deepEqual(
      [alt?.interfaceClass, alt?.interfaceSubClass, alt?.interfaceProtocol],
      [0x08, 0x06, 0x50],
    );
    const eps = alt?.endpoints ?? [];
    assert.deepEqual(
      eps.map((e) => [e.address, e.type, e.maxPacketSize]),
      [
        [0x81, 2, 64],
        [0x02, 2, 64],
      ],
    );
    // BOT 4.1.1: a serial number of at least 12 hexadecimal digits.
    assert.match(guest.info.serialNumber ?? "", /^[0-9A-F]{12,}$/);
  });

  it("GET MAX LUN answers 0 (one LUN, BOT 3.2); malformed class requests stall", () => {
    const { host, guest } = bootStick({ store: patterned() });
    const lun = host.getMaxLun();
    assert.equal(lun.status, TransferStatus.Ok);
    assert.deepEqual([...lun.data], [0]);
    const wrongLength = guest.control({ requestType: 0xa1, request: 0xfe, value: 0, index: 0, length: 2 });
    assert.equal(wrongLength.status, TransferStatus.Stall);
    const wrongValue = guest.control({ requestType: 0x21, request: 0xff, value: 1, index: 0 });
    assert.equal(wrongValue.status, TransferStatus.Stall);
    const otherInterface = guest.control({ requestType: 0x21, request: 0xff, value: 0, index: 1 });
    assert.equal(otherInterface.status, TransferStatus.Stall);
    assert.equal(host.classReset().status, TransferStatus.Ok);
  });
});

describe("USB stick: SCSI commands", () => {
  it("INQUIRY: standard data (direct access, removable, SPC-2, vendor/product/revision), cut to the allocation length", () => {
    const { host } = bootStick({
      store: patterned(),
      vendor: "Acme",
      product: "Stick 2000",
      revision: "4.2",
    });
    const inq = host.command(Cdb.inquiry(36), { dataIn: 36 });
    passed(inq);
    assert.equal(inq.csw?.residue, 0);
    assert.deepEqual([...inq.data.subarray(0, 5)], [0x00, 0x80, 0x04, 0x02, 31]);
    assert.equal(text(inq.data.subarray(8, 16)), "Acme    ");
    assert.equal(text(inq.data.subarray(16, 32)), "Stick 2000      ");
    assert.equal(text(inq.data.subarray(32, 36)), "4.2 ");
    // SeaBIOS and Linux's first probe ask 36; an allocation of 5 gets 5 bytes (SPC-4 4.2.5.6).
    const short = host.command(Cdb.inquiry(5), { dataIn: 5 });
    passed(short);
    assert.deepEqual([...short.data], [...inq.data.subarray(0, 5)]);
  });

  it("INQUIRY VPD: supported pages (00h) and unit serial number (80h); another page or a page without EVPD is INVALID FIELD IN CDB", () => {
    const { host } = bootStick({ store: patterned(), serialNumber: "00AB12CD34EF" });
    const pages = host.command(Cdb.inquiry(255, true, 0x00), { dataIn: 255 });
    passed(pages);
    assert.deepEqual([...pages.data.subarray(0, 6)], [0, 0x00, 0, 2, 0x00, 0x80]);
    assert.equal(pages.csw?.residue, 255 - 6);
    const serial = host.command(Cdb.inquiry(255, true, 0x80), { dataIn: 255 });
    passed(serial);
    assert.equal(serial.data[3], 12);
    assert.equal(text(serial.data.subarray(4, 16)), "00AB12CD34EF");
    failedWith(host, host.command(Cdb.inquiry(255, true, 0x83), { dataIn: 255 }), 0x5, 0x24);
    failedWith(host, host.command(Cdb.inquiry(36, false, 0x80), { dataIn: 36 }), 0x5, 0x24);
  });

  it("TEST UNIT READY: good with a medium; NOT READY / MEDIUM NOT PRESENT (02/3A/00) without", () => {
    const { host, stick } = bootStick({ store: patterned() });
    passed(host.command(Cdb.testUnitReady()));
    stick.eject();
    failedWith(host, host.command(Cdb.testUnitReady()), 0x2, 0x3a);
    // With no other condition to report, REQUEST SENSE says why the unit is not ready (SeaBIOS stops on 3A).
    const again = host.command(Cdb.requestSense(), { dataIn: 18 });
    assert.deepEqual([senseOf(again.data).key, senseOf(again.data).asc], [0x2, 0x3a]);
  });

  it("REQUEST SENSE: NO SENSE after a good command, a failure's sense once, descriptor format refused (24/00)", () => {
    const { host } = bootStick({ store: patterned() });
    passed(host.command(Cdb.testUnitReady()));
    const none = host.command(Cdb.requestSense(), { dataIn: 18 });
    passed(none);
    assert.deepEqual(senseOf(none.data), { key: 0, asc: 0, ascq: 0, info: null });
    failedWith(host, host.command([0xa1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]), 0x5, 0x20);
    const cleared = host.command(Cdb.requestSense(), { dataIn: 18 });
    assert.equal(senseOf(cleared.data).key, 0, "sense is reported once");
    failedWith(host, host.command(Cdb.requestSense(18, true), { dataIn: 18 }), 0x5, 0x24);
    // A short allocation gets a prefix (Linux's first auto-sense asks 18, older hosts 14).
    const short = host.command(Cdb.requestSense(8), { dataIn: 8 });
    passed(short);
    assert.equal(short.data.length, 8);
  });

  it("READ CAPACITY(10) and (16): the last LBA and 512-byte blocks; a LBA without PMI is INVALID FIELD IN CDB", () => {
    const { host, stick } = bootStick({ store: patterned() });
    const cap = host.command(Cdb.readCapacity10(), { dataIn: 8 });
    passed(cap);
    const v = new DataView(cap.data.buffer, cap.data.byteOffset);
    assert.deepEqual([v.getUint32(0), v.getUint32(4)], [BLOCKS - 1, 512]);
    const cap16 = host.command(Cdb.readCapacity16(32), { dataIn: 32 });
    passed(cap16);
    const v16 = new DataView(cap16.data.buffer, cap16.data.byteOffset);
    assert.deepEqual([Number(v16.getBigUint64(0)), v16.getUint32(8)], [BLOCKS - 1, 512]);
    const withLba = Cdb.readCapacity10();
    withLba[5] = 1;
    failedWith(host, host.command(withLba, { dataIn: 8 }), 0x5, 0x24);
    stick.eject();
    failedWith(host, host.command(Cdb.readCapacity10(), { dataIn: 8 }), 0x2, 0x3a);
  });

  it("READ(6/10/12/16): the store's bytes, across the device's 64 KiB chunks; a length of 0 moves nothing", () => {
    const store = patterned();
    const { host, stick } = bootStick({ store });
    const at = (lba: number, n: number) => store.bytes.subarray(lba * BLOCK_SIZE, (lba + n) * BLOCK_SIZE);
    const r10 = host.command(Cdb.read10(7, 240), { dataIn: 240 * 512, timeoutMs: 5000 });
    passed(r10);
    assert.deepEqual(r10.data, at(7, 240));
    const r6 = host.command(Cdb.read6(100, 3), { dataIn: 3 * 512 });
    passed(r6);
    assert.deepEqual(r6.data, at(100, 3));
    const r12 = host.command(Cdb.read12(BLOCKS - 2, 2), { dataIn: 1024 });
    passed(r12);
    assert.deepEqual(r12.data, at(BLOCKS - 2, 2));
    const r16 = host.command(Cdb.read16(0, 1), { dataIn: 512 });
    passed(r16);
    assert.deepEqual(r16.data, at(0, 1));
    passed(host.command(Cdb.read10(5, 0)));
    assert.equal(stick.stats.bytesRead, (240 + 3 + 2 + 1) * 512);
  });

  it("WRITE(6/10/12/16): the data reaches the store, and nothing around it changes", () => {
    const store = patterned();
    const before = store.bytes.slice();
    const { host, stick } = bootStick({ store });
    const data = (n: number, seed: number) =>
      Uint8Array.from({ length: n * 512 }, (_, i) => (i * 31 + seed) & 0xff);
    const writes: [number[], number, number][] = [
      [Cdb.write10(9, 200), 9, 200],
      [Cdb.write6(300, 1), 300, 1],
      [Cdb.write12(BLOCKS - 1, 1), BLOCKS - 1, 1],
      [Cdb.write16(500, 2), 500, 2],
    ];
    for (const [cdb, lba, n] of writes) {
      const bytes = data(n, lba);
      passed(host.command(cdb, { dataOut: bytes, timeoutMs: 5000 }));
      before.set(bytes, lba * 512);
    }
    assert.deepEqual(store.bytes, before);
    assert.equal(stick.stats.bytesWritten, 204 * 512);
  });

  it("READ/WRITE/VERIFY past the end: ILLEGAL REQUEST / LBA OUT OF RANGE (05/21/00) with the LBA, nothing moved", () => {
    const store = patterned();
    const before = store.bytes.slice();
    const { host } = bootStick({ store });
    const read = host.command(Cdb.read10(BLOCKS - 1, 2), { dataIn: 1024 });
    assert.equal(read.csw?.residue, 1024, "no relevant data");
    assert.equal(failedWith(host, read, 0x5, 0x21), BLOCKS - 1, "INFORMATION = the LBA");
    failedWith(
      host,
      host.command(Cdb.write10(BLOCKS, 1), { dataOut: new Uint8Array(512).fill(9) }),
      0x5,
      0x21,
    );
    failedWith(host, host.command(Cdb.read16(2 ** 40, 1), { dataIn: 512 }), 0x5, 0x21);
    failedWith(host, host.command(Cdb.verify10(BLOCKS, 1)), 0x5, 0x21);
    assert.deepEqual(store.bytes, before);
  });

  it("VERIFY(10) of a range inside the medium is good; BYTCHK (compare with sent data) is INVALID FIELD IN CDB", () => {
    const { host } = bootStick({ store: patterned() });
    passed(host.command(Cdb.verify10(0, BLOCKS)));
    failedWith(host, host.command(Cdb.verify10(0, 1, true)), 0x5, 0x24);
  });

  it("MODE SENSE(6/10): WP clear on a writable medium, set on a read-only one; caching page, all pages, page 0", () => {
    const rw = bootStick({ store: patterned() }).host;
    const all6 = rw.command(Cdb.modeSense6(0x3f, 192), { dataIn: 192 });
    passed(all6);
    assert.equal(all6.data[0], 3 + 20, "mode data length");
    assert.equal(all6.data[2], 0x00, "WP clear");
    assert.deepEqual([...all6.data.subarray(4, 6)], [0x08, 0x12], "caching page (SBC-3 6.4.5)");
    assert.equal(all6.csw?.residue, 192 - 24);
    const ro = bootStick({ store: new ReadOnlyBlockStore(patterned()) }).host;
    const wp6 = ro.command(Cdb.modeSense6(0x3f, 192), { dataIn: 192 });
    assert.equal(wp6.data[2], 0x80, "WP set: Linux's sd mounts read-only");
    const wp10 = ro.command(Cdb.modeSense10(0x08, 0xff), { dataIn: 0xff });
    passed(wp10);
    assert.deepEqual([wp10.data[0], wp10.data[1], wp10.data[3], wp10.data[8]], [0, 6 + 20, 0x80, 0x08]);
    const page0 = rw.command(Cdb.modeSense6(0x00, 4), { dataIn: 4 });
    passed(page0);
    assert.deepEqual([...page0.data], [3, 0, 0, 0]);
    // Linux asks with 4 bytes first when 192 fails (sd_do_mode_sense): the header alone.
    const head = rw.command(Cdb.modeSense6(0x3f, 4), { dataIn: 4 });
    assert.deepEqual([...head.data], [23, 0, 0, 0]);
    failedWith(rw, rw.command(Cdb.modeSense6(0x1c, 192), { dataIn: 192 }), 0x5, 0x24);
    failedWith(rw, rw.command(Cdb.modeSense6(0x3f, 192, 3), { dataIn: 192 }), 0x5, 0x39);
  });

  it("a read-only medium: WRITE fails with DATA PROTECT / WRITE PROTECTED (07/27/00), READ works", () => {
    const base = patterned();
    const before = base.bytes.slice();
    const { host } = bootStick({ store: new ReadOnlyBlockStore(base) });
    const write = host.command(Cdb.write10(0, 2), { dataOut: new Uint8Array(1024).fill(1) });
    assert.equal(write.csw?.residue, 1024);
    failedWith(host, write, 0x7, 0x27);
    assert.deepEqual(base.bytes, before);
    const read = host.command(Cdb.read10(0, 2), { dataIn: 1024 });
    passed(read);
    assert.deepEqual(read.data, before.subarray(0, 1024));
  });

  it("PREVENT ALLOW MEDIUM REMOVAL and START STOP UNIT: eject refused while prevented (05/53/02), then the guest's eject and load", () => {
    const { host } = bootStick({ store: patterned() });
    passed(host.command(Cdb.preventAllow(true)));
    failedWith(host, host.command(Cdb.startStop(true, false)), 0x5, 0x53, 0x02);
    passed(host.command(Cdb.preventAllow(false)));
    passed(host.command(Cdb.startStop(true, false)));
    failedWith(host, host.command(Cdb.testUnitReady()), 0x2, 0x3a);
    passed(host.command(Cdb.startStop(true, true)));
    passed(host.command(Cdb.testUnitReady()));
    // START without LoEj (Linux's sd on resume) and power conditions need nothing.
    passed(host.command(Cdb.startStop(false, true)));
  });

  it("SYNCHRONIZE CACHE(10) flushes the store before its CSW; a failed flush is MEDIUM ERROR / WRITE ERROR (03/0C/00)", () => {
    let flushes = 0;
    let failFlush = false;
    const base = patterned();
    const store: BlockStore = {
      blockCount: base.blockCount,
      readOnly: false,
      read: (l, b, i, d) => base.read(l, b, i, d),
      write: (l, b, f, d) => base.write(l, b, f, d),
      flush: (done: StoreCallback) => {
        flushes++;
        done(failFlush ? StoreStatus.MediumError : StoreStatus.Ok);
      },
    };
    const { host } = bootStick({ store });
    passed(host.command(Cdb.synchronizeCache10()));
    assert.equal(flushes, 1);
    failFlush = true;
    failedWith(host, host.command(Cdb.synchronizeCache10()), 0x3, 0x0c);
    failedWith(host, host.command(Cdb.synchronizeCache10(BLOCKS + 1, 1)), 0x5, 0x21);
  });

  it("READ FORMAT CAPACITIES: the formatted capacity (type 2); without a medium, type 3 (no media)", () => {
    const { host, stick } = bootStick({ store: patterned() });
    const rfc = host.command(Cdb.readFormatCapacities(0xfc), { dataIn: 0xfc });
    passed(rfc);
    const v = new DataView(rfc.data.buffer, rfc.data.byteOffset);
    assert.deepEqual(
      [v.getUint32(0), v.getUint32(4), rfc.data[8], v.getUint32(8) & 0xffffff],
      [8, BLOCKS, 2, 512],
    );
    assert.equal(rfc.csw?.residue, 0xfc - 12);
    stick.eject();
    const none = host.command(Cdb.readFormatCapacities(12), { dataIn: 12 });
    passed(none);
    assert.equal(none.data[8], 3);
  });

  it("REPORT LUNS: LUN 0 alone", () => {
    const { host } = bootStick({ store: patterned() });
    const luns = host.command(Cdb.reportLuns(16), { dataIn: 16 });
    passed(luns);
    assert.deepEqual([...luns.data], [0, 0, 0, 8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
  });

  it("an operation code it does not implement (ATA PASS-THROUGH, MODE SELECT, FORMAT UNIT) is INVALID COMMAND OPERATION CODE (05/20/00)", () => {
    const { host } = bootStick({ store: patterned() });
    for (const op of [0xa1, 0x85, 0x15, 0x04]) {
      failedWith(host, host.command([op, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]), 0x5, 0x20);
    }
  });

  it("a medium inserted by the host: UNIT ATTENTION / MEDIUM CHANGED (06/28/00) once; INQUIRY passes it by, REQUEST SENSE takes it", () => {
    const { host, stick } = bootStick({ store: null });
    failedWith(host, host.command(Cdb.testUnitReady()), 0x2, 0x3a);
    stick.insert(patterned(64));
    passed(host.command(Cdb.inquiry(36), { dataIn: 36 }));
    failedWith(host, host.command(Cdb.testUnitReady()), 0x6, 0x28);
    passed(host.command(Cdb.testUnitReady()));
    stick.insert(patterned(128));
    const sense = host.command(Cdb.requestSense(), { dataIn: 18 });
    assert.deepEqual([senseOf(sense.data).key, senseOf(sense.data).asc], [0x6, 0x28]);
    const cap = host.command(Cdb.readCapacity10(), { dataIn: 8 });
    passed(cap);
    assert.equal(
      new DataView(cap.data.buffer, cap.data.byteOffset).getUint32(0),
      127,
      "the new medium's size",
    );
  });

  it("a store that fails a read: the data read before it, zeros after, CSW failed with the residue, MEDIUM ERROR 03/11/00 at the chunk's LBA", () => {
    const base = patterned();
    const store: BlockStore = {
      blockCount: base.blockCount,
      readOnly: false,
      // Blocks from 1000 on are gone (a host file that shrank).
      read: (l, b, into, done) =>
        l + b > 1000 ? done(StoreStatus.MediumError) : base.read(l, b, into, done),
      write: (l, b, f, d) => base.write(l, b, f, d),
      flush: (d) => base.flush(d),
    };
    const { host } = bootStick({ store });
    const read = host.command(Cdb.read10(850, 200), { dataIn: 200 * 512, timeoutMs: 5000 });
    assert.equal(read.data.length, 200 * 512, "the data phase is padded to the host's length");
    // The first chunk (128 blocks, up to 977) was read; the second (978…) failed.
    assert.deepEqual(read.data.subarray(0, 128 * 512), base.bytes.subarray(850 * 512, 978 * 512));
    assert.ok(read.data.subarray(128 * 512).every((b) => b === 0));
    assert.equal(read.csw?.residue, 72 * 512, "the relevant data is what was read");
    assert.equal(failedWith(host, read, 0x3, 0x11), 978);
    const before = host.command(Cdb.read10(0, 200), { dataIn: 200 * 512, timeoutMs: 5000 });
    passed(before);
  });

  it("a store that fails a write, or throws: MEDIUM ERROR / WRITE ERROR (03/0C/00), the rest of the data accepted and dropped", () => {
    const base = patterned();
    let throwNow = false;
    const store: BlockStore = {
      blockCount: base.blockCount,
      readOnly: false,
      read: (l, b, i, d) => base.read(l, b, i, d),
      write: (l, b, from, done) => {
        if (throwNow) throw new Error("disk on fire");
        return l >= 128 ? done(StoreStatus.MediumError) : base.write(l, b, from, done);
      },
      flush: (d) => base.flush(d),
    };
    const { host } = bootStick({ store });
    const data = new Uint8Array(200 * 512).fill(0x5a);
    const write = host.command(Cdb.write10(0, 200), { dataOut: data, timeoutMs: 5000 });
    assert.equal(write.csw?.residue, 72 * 512, "the first chunk (128 blocks) was written");
    assert.equal(failedWith(host, write, 0x3, 0x0c), 128);
    assert.ok(base.bytes.subarray(0, 128 * 512).every((b) => b === 0x5a));
    throwNow = true;
    failedWith(host, host.command(Cdb.write10(0, 1), { dataOut: data.subarray(0, 512) }), 0x3, 0x0c);
  });

  it("the host ejects the medium in the middle of a read: the CSW fails, NOT READY / MEDIUM NOT PRESENT", () => {
    const { host, stick, guest, driver } = bootStick({ store: patterned() });
    const tag = 77;
    let ejected = false;
    // Queue the CBW and the data phase; eject once the first data has moved.
    guest.submit(0x02, Uint8Array.from(cbwBytes(Cdb.read10(0, 256), 256 * 512, 0x80, tag)));
    const urb = guest.submit(0x81, 256 * 512);
    for (let i = 0; i < 200 && urb.result === null; i++) {
      driver.run(1);
      if (!ejected && stick.stats.bytesRead > 0) {
        stick.eject();
        ejected = true;
      }
    }
    assert.ok(ejected);
    const csw = host.device.bulkIn(0x81, 13);
    const status = csw.data[12];
    assert.equal(status, CswStatus.Failed);
    const sense = host.command(Cdb.requestSense(), { dataIn: 18 });
    assert.deepEqual([senseOf(sense.data).key, senseOf(sense.data).asc], [0x2, 0x3a]);
  });
});
