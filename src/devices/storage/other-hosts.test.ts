/**
 * The stick as other operating systems' mass-storage drivers use it: each test replays what one
 * driver sends (read from its published source, cited per test) and checks the answer a real stick
 * gives, with the SCSI or BOT section it follows. Linux and SeaBIOS are proven in v86
 * (test/integration/); these are the hosts nobody here can boot: FreeBSD (umass + CAM da), Haiku
 * (usb_disk), ReactOS / Windows (usbstor + classpnp/disk). The findings table is in README.md.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import {
  BLOCK_SIZE,
  type BlockStore,
  MemoryBlockStore,
  ReadOnlyBlockStore,
  type StoreCallback,
  StoreStatus,
} from "./block-store.ts";
import { CswStatus } from "./mass-storage.ts";
import { type BotHost, type BotResult, bootStick, Cdb, senseOf } from "./testing/bot-host.ts";

function passed(result: BotResult): void {
  assert.deepEqual(result.events, [], "no stall, no Reset Recovery");
  assert.equal(result.csw?.status, CswStatus.Passed, "CSW status 0");
}

/** CHECK CONDITION, then the sense a REQUEST SENSE of `allocation` bytes returns. */
function failedWith(host: BotHost, result: BotResult, key: number, asc: number, ascq = 0): void {
  assert.deepEqual(result.events, [], "a refused command is a failed CSW, never a stall");
  assert.equal(result.csw?.status, CswStatus.Failed, "CSW status 1");
  const sense = host.command(Cdb.requestSense(), { dataIn: 18 });
  passed(sense);
  const s = senseOf(sense.data);
  assert.deepEqual([s.key, s.asc, s.ascq], [key, asc, ascq], "sense key / ASC / ASCQ");
}

const u32 = (b: Uint8Array, at: number) => new DataView(b.buffer, b.byteOffset).getUint32(at);
const u16 = (b: Uint8Array, at: number) => new DataView(b.buffer, b.byteOffset).getUint16(at);

/**
 * A medium of more than 2^32 blocks that holds no bytes: every block reads as its own LBA (8 bytes,
 * big-endian) and zeros; writes are remembered by LBA. READ CAPACITY(10) cannot describe it.
 */
class HugeStore implements BlockStore {
  readonly blockCount = 2 ** 32 + 16;
  readonly readOnly = false;
  readonly written = new Map<number, number>();
  flushes = 0;
  read(lba: number, blocks: number, into: Uint8Array, done: StoreCallback): void {
    into.fill(0, 0, blocks * BLOCK_SIZE);
    const v = new DataView(into.buffer, into.byteOffset);
    for (let i = 0; i < blocks; i++) v.setBigUint64(i * BLOCK_SIZE, BigInt(lba + i));
    done(StoreStatus.Ok);
  }
  write(lba: number, blocks: number, from: Uint8Array, done: StoreCallback): void {
    for (let i = 0; i < blocks; i++) this.written.set(lba + i, from[i * BLOCK_SIZE]!);
    done(StoreStatus.Ok);
  }
  flush(done: StoreCallback): void {
    this.flushes++;
    done(StoreStatus.Ok);
  }
}

/** A memory store that counts flushes (SYNCHRONIZE CACHE reaching the medium). */
class CountingStore extends MemoryBlockStore {
  flushes = 0;
  override flush(done: StoreCallback): void {
    this.flushes++;
    super.flush(done);
  }
}

describe("FreeBSD (sys/dev/usb/storage/umass.c, sys/cam/scsi/scsi_xpt.c, scsi_da.c)", () => {
  it("CAM's probe: INQUIRY 36 needs no second INQUIRY, SPC-2 means no REPORT LUNS, no CmdQue means no control page; VPD 00h lists 00h and 80h only (SPC-3 6.4.2, 7.6.13)", () => {
    // probestart/probedone: INQUIRY of SHORT_INQUIRY_LENGTH (36); a second, longer one when additional
    // length + 5 > 36; REPORT LUNS when the version is above SPC-2; MODE SENSE of the control mode page
    // when CmdQue is set; otherwise INQUIRY VPD 00h with a 255-byte buffer (4 + SVPD_SUPPORTED_PAGES_SIZE),
    // then 83h, 86h, 80h only if that list names them.
    const { host } = bootStick({ store: new MemoryBlockStore(2048) });
    const inq = host.command(Cdb.inquiry(36), { dataIn: 36 });
    passed(inq);
    assert.equal(inq.data[4]! + 5, 36, "additional length 31: 36 bytes, no second INQUIRY");
    assert.ok(inq.data[2]! <= 4, "version SPC-2 or older: CAM sends no REPORT LUNS");
    assert.equal(inq.data[7]! & 0x02, 0, "CmdQue clear: CAM skips MODE SENSE of the control mode page");
    assert.equal(inq.csw?.residue, 0);

    const vpd = host.command(Cdb.inquiry(255, true, 0x00), { dataIn: 255 });
    passed(vpd);
    const count = vpd.data[3]!;
    assert.deepEqual([...vpd.data.subarray(4, 4 + count)], [0x00, 0x80], "supported pages: 00h, 80h");
    assert.equal(vpd.csw?.residue, 255 - (4 + count), "residue: what was not page data");
    // The pages da would probe next are not listed, so it does not ask; asked anyway, each is 05/24/00.
    for (const page of [0x83, 0x86, 0x89, 0xb0, 0xb1, 0xb2, 0xb6]) {
      failedWith(host, host.command(Cdb.inquiry(255, true, page), { dataIn: 255 }), 0x5, 0x24);
    }
    // The control mode page (0Ah) CAM would read of a queuing device: not a page this stick has.
    failedWith(host, host.command(Cdb.modeSense6(0x0a, 24), { dataIn: 24 }), 0x5, 0x24);
  });

  it("da's write-protect probe through umass (PIM_NO_6_BYTE): MODE SENSE(10) page 3Fh, DBD 0, 192 bytes; WP in the header's byte 3 (SPC-3 7.4.3, SBC-3 6.4.1)", () => {
    // DA_STATE_PROBE_WP: scsi_mode_sense_len(dbd FALSE, SMS_ALL_PAGES_PAGE, 192 bytes,
    // minimum_cmd_size) — umass's path inquiry sets PIM_NO_6_BYTE, so the 10-byte command.
    for (const readOnly of [false, true]) {
      const base = new MemoryBlockStore(2048);
      const { host } = bootStick({ store: readOnly ? new ReadOnlyBlockStore(base) : base });
      const r = host.command(Cdb.modeSense10(0x3f, 192), { dataIn: 192 });
      passed(r);
      const length = u16(r.data, 0) + 2;
      assert.equal(length, 8 + 20, "header and the caching page");
      assert.equal(r.data[3], readOnly ? 0x80 : 0x00, "device-specific parameter: WP");
      assert.equal(u16(r.data, 6), 0, "no block descriptors");
      assert.equal(r.data[8]! & 0x3f, 0x08, "the caching page follows the header");
      assert.equal(r.csw?.residue, 192 - length);
      assert.ok(
        r.data.subarray(length).every((b) => b === 0),
        "padded with zeros (BOT 6.7.2)",
      );
    }
  });

  it("da's capacity probe past 2^32 blocks: READ CAPACITY(10) says FFFFFFFFh, READ CAPACITY(16) of 32 bytes the real last LBA; READ/WRITE(16) reach it (SBC-3 5.15, 5.16, 5.8)", () => {
    // DA_STATE_PROBE_RC, then DA_STATE_PROBE_RC16 when the (10) answer is 0xffffffff; Haiku's
    // usb_disk_update_capacity does the same (block_count wraps to 0 → usb_disk_update_capacity_16)
    // and reads with READ(16) once blockPosition + blockCount reaches 2^32 (usb_disk_block_read).
    const store = new HugeStore();
    const { host } = bootStick({ store });
    const rc10 = host.command(Cdb.readCapacity10(), { dataIn: 8 });
    passed(rc10);
    assert.deepEqual([u32(rc10.data, 0), u32(rc10.data, 4)], [0xffff_ffff, 512]);
    const rc16 = host.command(Cdb.readCapacity16(32), { dataIn: 32 });
    passed(rc16);
    const v = new DataView(rc16.data.buffer, rc16.data.byteOffset);
    assert.equal(Number(v.getBigUint64(0)), store.blockCount - 1);
    assert.equal(v.getUint32(8), 512);
    assert.ok(
      rc16.data.subarray(12).every((b) => b === 0),
      "no protection, no provisioning, aligned at 0",
    );

    const lba = 2 ** 32 + 3;
    const read = host.command(Cdb.read16(lba, 2), { dataIn: 2 * BLOCK_SIZE });
    passed(read);
    const rv = new DataView(read.data.buffer, read.data.byteOffset);
    assert.deepEqual([Number(rv.getBigUint64(0)), Number(rv.getBigUint64(BLOCK_SIZE))], [lba, lba + 1]);
    const data = new Uint8Array(BLOCK_SIZE).fill(0x5a);
    passed(host.command(Cdb.write16(lba + 10, 1), { dataOut: data }));
    assert.equal(store.written.get(lba + 10), 0x5a);
    // The last block and one past it (05/21/00: LBA out of range).
    passed(host.command(Cdb.read16(store.blockCount - 1, 1), { dataIn: BLOCK_SIZE }));
    failedWith(host, host.command(Cdb.read16(store.blockCount, 1), { dataIn: BLOCK_SIZE }), 0x5, 0x21);
  });

  it("umass's auto-sense: REQUEST SENSE in CAM's 252-byte buffer (SSD_FULL_SIZE) gets 18 bytes, zeros, residue 234 (SPC-3 6.27, BOT 6.7.2 case 5)", () => {
    // umass_cam_cb on a failed CSW: REQUEST SENSE with the CCB's sense_len; umass_cam_sense_cb takes
    // sense_len − residue as the sense length.
    const { host, stick } = bootStick({ store: new MemoryBlockStore(2048) });
    stick.eject();
    const tur = host.command(Cdb.testUnitReady());
    assert.equal(tur.csw?.status, CswStatus.Failed);
    const sense = host.command(Cdb.requestSense(252), { dataIn: 252 });
    passed(sense);
    assert.equal(sense.csw?.residue, 252 - 18);
    assert.equal(sense.data[7]! + 8, 18, "additional sense length: 18 bytes of sense");
    const s = senseOf(sense.data);
    assert.deepEqual([s.key, s.asc], [0x2, 0x3a], "NOT READY / MEDIUM NOT PRESENT");
    assert.ok(sense.data.subarray(18).every((b) => b === 0));
  });

  it("da's open and close: PREVENT, SYNCHRONIZE CACHE(10) of LBA 0 and 0 blocks (the whole medium) flushes the store, ALLOW; then an eject is accepted (SBC-3 5.22, SPC-3 6.13)", () => {
    // daopen: PREVENT ALLOW (prevent) for a removable medium; daclose: SYNCHRONIZE CACHE with
    // begin_lba 0 and lb_count 0 when dirty, then PREVENT ALLOW (allow).
    const store = new CountingStore(2048);
    const { host } = bootStick({ store });
    passed(host.command(Cdb.preventAllow(true)));
    failedWith(host, host.command(Cdb.startStop(true, false)), 0x5, 0x53, 0x02);
    passed(host.command(Cdb.synchronizeCache10(0, 0)));
    assert.equal(store.flushes, 1, "the flush ran before the CSW");
    passed(host.command(Cdb.preventAllow(false)));
    passed(host.command(Cdb.startStop(true, false)));
  });
});

describe("Haiku (src/add-ons/kernel/drivers/disk/usb/usb_disk/usb_disk.cpp)", () => {
  it("TEST UNIT READY in a CBW marked IN with no data (usb_disk_test_unit_ready passes directionIn true): case 1, passed (BOT 6.7.1)", () => {
    const { host } = bootStick({ store: new MemoryBlockStore(2048) });
    const r = host.command(Cdb.testUnitReady(), { flags: 0x80 });
    passed(r);
    assert.equal(r.csw?.residue, 0);
  });

  it("every data phase moves exactly dCBWDataTransferLength (usb_disk_operation_bulk resets the device when a transfer without a stall comes up short): INQUIRY 36, READ CAPACITY 8, REQUEST SENSE 18 — also with no medium", () => {
    const { host, stick } = bootStick({ store: new MemoryBlockStore(2048) });
    for (const [cdb, length] of [
      [Cdb.inquiry(36), 36],
      [Cdb.readCapacity10(), 8],
      [Cdb.requestSense(18), 18],
      [Cdb.readCapacity16(32), 32],
    ] as const) {
      const r = host.command(cdb, { dataIn: length });
      passed(r);
      assert.equal(r.data.length, length);
    }
    stick.eject();
    // With no medium READ CAPACITY fails; the failed command still moves all 8 bytes (zeros), no stall.
    const rc = host.command(Cdb.readCapacity10(), { dataIn: 8 });
    assert.equal(rc.data.length, 8);
    assert.equal(rc.csw?.residue, 8, "nothing relevant sent");
    failedWith(host, rc, 0x2, 0x3a);
  });

  it("B_EJECT_DEVICE and B_LOAD_MEDIA: START STOP UNIT with byte 4 = 2, then 3; TEST UNIT READY says 02/3A between (SBC-3 5.20)", () => {
    const { host, stick } = bootStick({ store: new MemoryBlockStore(2048) });
    passed(host.command([0x1b, 0, 0, 0, 2, 0]));
    assert.equal(stick.mediumReady, false);
    failedWith(host, host.command(Cdb.testUnitReady(), { flags: 0x80 }), 0x2, 0x3a);
    passed(host.command([0x1b, 0, 0, 0, 3, 0]));
    passed(host.command(Cdb.testUnitReady(), { flags: 0x80 }));
  });

  it("usb_disk_synchronize: SYNCHRONIZE CACHE(10), CBW OUT with no data, reaches the store; never ILLEGAL REQUEST (Haiku stops syncing after one) (SBC-3 5.22)", () => {
    const store = new CountingStore(2048);
    const { host } = bootStick({ store });
    for (let i = 1; i <= 3; i++) {
      passed(host.command(Cdb.synchronizeCache10(), { flags: 0x00 }));
      assert.equal(store.flushes, i);
    }
  });
});

describe("ReactOS / Windows (drivers/usb/usbstor/scsi.c; Windows-driver-samples classpnp, disk, sfloppy)", () => {
  it("usbstor's CBW: flags from the SRB (IN 80h, OUT and none 00h), the tag a pointer (high bit set), the CDB length per command; the CSW echoes the tag (BOT 5.1, 5.2)", () => {
    const { host } = bootStick({ store: new MemoryBlockStore(2048) });
    const tag = 0xffff_a810;
    const r = host.command(Cdb.inquiry(36), { dataIn: 36, tag });
    passed(r);
    assert.equal(r.csw?.tag, tag);
    const tur = host.command(Cdb.testUnitReady(), { tag: 0x8000_0001 });
    passed(tur);
    assert.equal(tur.csw?.tag, 0x8000_0001);
  });

  it("disk.sys's MODE SENSE(6): all pages in MODE_DATA_SIZE (192), the caching page (WCE set, so Windows flushes), the informational exceptions page 1Ch as changeable values refused (05/24/00: 'does not support SMART') (SPC-3 7.4, SBC-3 6.4.5)", () => {
    const { host } = bootStick({ store: new MemoryBlockStore(2048) });
    const all = host.command(Cdb.modeSense6(0x3f, 192), { dataIn: 192 });
    passed(all);
    assert.equal(all.data[0]! + 1, 4 + 20, "mode data length");
    assert.equal(all.csw?.residue, 192 - 24);
    const caching = host.command(Cdb.modeSense6(0x08, 192), { dataIn: 192 });
    passed(caching);
    assert.equal(caching.data[4]! & 0x3f, 0x08);
    assert.equal(caching.data[6]! & 0x04, 0x04, "WCE: DiskGetCacheInformation sees a write cache");
    // DiskGetInfoExceptionInformation / DiskEnableInfoExceptions: page 1Ch, PC 1 (changeable) and 0.
    failedWith(host, host.command(Cdb.modeSense6(0x1c, 192, 1), { dataIn: 192 }), 0x5, 0x24);
    failedWith(host, host.command(Cdb.modeSense6(0x1c, 192, 0), { dataIn: 192 }), 0x5, 0x24);
    // The changeable caching page is all zero: disk.sys sees WCE cannot be changed, sends no MODE SELECT.
    const changeable = host.command(Cdb.modeSense6(0x08, 192, 1), { dataIn: 192 });
    passed(changeable);
    assert.ok(changeable.data.subarray(6, 24).every((b) => b === 0));
  });

  it("GET MAX LUN then the enumeration Windows XP's usbstor runs (ReactOS USBSTOR_GetMaxLUN; the sequence in Axelson, USB Mass Storage, fig. 11-2): 0 in one byte, INQUIRY 36, READ FORMAT CAPACITIES, READ CAPACITY(10), READ(10) of sector 0 (BOT 3.2)", () => {
    const store = new MemoryBlockStore(2048);
    store.bytes.set([0xeb, 0x3c, 0x90], 0);
    store.bytes.set([0x55, 0xaa], 510);
    const { host } = bootStick({ store });
    const lun = host.getMaxLun();
    assert.deepEqual([...lun.data], [0], "one LUN; ReactOS refuses a value above 15");
    passed(host.command(Cdb.inquiry(36), { dataIn: 36 }));
    passed(host.command(Cdb.readFormatCapacities(252), { dataIn: 252 }));
    const cap = host.command(Cdb.readCapacity10(), { dataIn: 8 });
    passed(cap);
    assert.equal(u32(cap.data, 0), 2047);
    const sector0 = host.command(Cdb.read10(0, 1), { dataIn: BLOCK_SIZE });
    passed(sector0);
    assert.deepEqual([...sector0.data], [...store.bytes.subarray(0, BLOCK_SIZE)]);
  });

  it("MODE SENSE(6) of 3Fh and 08h with small allocation lengths (4, 8, 12): the first bytes, the mode data length still the full one, residue 0 (SPC-3 4.3.5.6, 7.4.3)", () => {
    const { host } = bootStick({ store: new MemoryBlockStore(2048) });
    const full = host.command(Cdb.modeSense6(0x3f, 192), { dataIn: 192 });
    for (const allocation of [4, 8, 12]) {
      for (const page of [0x3f, 0x08]) {
        const r = host.command(Cdb.modeSense6(page, allocation), { dataIn: allocation });
        passed(r);
        assert.equal(r.csw?.residue, 0);
        assert.deepEqual([...r.data], [...full.data.subarray(0, allocation)]);
        assert.equal(r.data[0], 23, "mode data length: what the whole answer would be");
      }
    }
  });

  it("sfloppy's READ FORMAT CAPACITIES with 4 + 31 × 8 = 252 bytes: a list of one current descriptor, zeros after, residue 240 (UFI 4.10 / MMC)", () => {
    const { host } = bootStick({ store: new MemoryBlockStore(2048) });
    const r = host.command(Cdb.readFormatCapacities(252), { dataIn: 252 });
    passed(r);
    assert.equal(r.data[3], 8, "capacity list length: one descriptor");
    assert.deepEqual([u32(r.data, 4), r.data[8]! & 0x03], [2048, 0x02], "blocks, formatted media");
    assert.equal(r.csw?.residue, 240);
  });

  it("classpnp polls a removable disk with TEST UNIT READY (GESN only for CD-ROM): an unknown 4Ah, or ATA PASS-THROUGH, is 05/20/00 and the stick carries on (SPC-3 4.5.6)", () => {
    const { host } = bootStick({ store: new MemoryBlockStore(2048) });
    const gesn = [0x4a, 0x01, 0, 0, 0x10, 0, 0, 0, 8, 0];
    failedWith(host, host.command(gesn, { dataIn: 8 }), 0x5, 0x20);
    failedWith(
      host,
      host.command([0x85, 0x08, 0x0e, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0xec, 0], { dataIn: 512 }),
      0x5,
      0x20,
    );
    passed(host.command(Cdb.testUnitReady()));
  });
});

describe("Linux (drivers/usb/storage/transport.c), beyond the path v86 proves", () => {
  it("INQUIRY of 36 and READ CAPACITY(10) of 8 end with residue 0: usb_stor_Bulk_transport marks a stick whose good CSW carries a residue there as US_FL_IGNORE_RESIDUE and ignores every residue after (BOT 5.2)", () => {
    const { host } = bootStick({ store: new MemoryBlockStore(2048) });
    for (const [cdb, length] of [
      [Cdb.inquiry(36), 36],
      [Cdb.readCapacity10(), 8],
    ] as const) {
      const r = host.command(cdb, { dataIn: length });
      passed(r);
      assert.equal(r.csw?.residue, 0);
    }
    // A residue where the data was short stays meaningful: sd's 192-byte MODE SENSE of page 3Fh.
    const ms = host.command(Cdb.modeSense6(0x3f, 192), { dataIn: 192 });
    passed(ms);
    assert.equal(ms.csw?.residue, 192 - (ms.data[0]! + 1));
  });
});
