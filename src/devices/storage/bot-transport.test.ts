/**
 * Bulk-Only Transport (BOT 1.0) of the USB stick through the UHCI controller and the software guest:
 * the thirteen cases of host and device expectations (BOT 6.7), invalid and not-meaningful CBWs
 * (BOT 6.2, 6.6.1), Reset Recovery (BOT 5.3.4), a store that answers later (NAK until then), late,
 * repeated and stale store answers, unplugging.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { TransferStatus } from "../../guest/transfer-result.ts";
import { PacketStatus } from "../../usb/packet.ts";
import { PacketHost } from "../../usb/testing/packet-host.ts";
import { MemoryBlockStore, StoreStatus } from "./block-store.ts";
import { BotPhase, CswStatus, UsbMassStorage } from "./mass-storage.ts";
import { bootStick, Cdb, cbw, parseCsw, senseOf } from "./testing/bot-host.ts";
import { SlowStore } from "./testing/slow-store.ts";

function filled(blocks: number): MemoryBlockStore {
  const store = new MemoryBlockStore(blocks);
  for (let i = 0; i < store.bytes.length; i++) store.bytes[i] = (i * 13 + (i >> 9)) & 0xff;
  return store;
}

describe("BOT 6.7: the thirteen cases", () => {
  it("case 1 (Hn = Dn): passed, residue 0", () => {
    const { host } = bootStick({ store: filled(64) });
    const r = host.command(Cdb.testUnitReady());
    assert.deepEqual([r.csw?.status, r.csw?.residue, r.events], [CswStatus.Passed, 0, []]);
  });

  it("cases 2 and 3 (Hn < Di, Hn < Do): phase error with no data moved; the host's Reset Recovery brings it back", () => {
    const store = filled(64);
    const before = store.bytes.slice();
    const { host, stick } = bootStick({ store });
    const c2 = host.command(Cdb.readCapacity10());
    assert.equal(c2.csw?.status, CswStatus.PhaseError);
    assert.deepEqual(c2.events, ["reset-recovery"]);
    const c3 = host.command(Cdb.write10(0, 1));
    assert.equal(c3.csw?.status, CswStatus.PhaseError);
    assert.deepEqual(store.bytes, before, "nothing written");
    assert.equal(stick.stats.phaseErrors, 2);
    assert.equal(host.command(Cdb.testUnitReady()).csw?.status, CswStatus.Passed);
  });

  it("case 4 (Hi > Dn): padded with zeros to Hi, residue Hi, no stall (SeaBIOS never clears one)", () => {
    const { host } = bootStick({ store: filled(64) });
    const r = host.command(Cdb.testUnitReady(), { dataIn: 64 });
    assert.deepEqual(r.events, []);
    assert.deepEqual([r.csw?.status, r.csw?.residue], [CswStatus.Passed, 64]);
    assert.equal(r.data.length, 64);
    assert.ok(r.data.every((b) => b === 0));
    // A failed command with Hi: the same, status 1.
    const f = host.command(Cdb.read10(1000, 1), { dataIn: 512 });
    assert.deepEqual(
      [f.csw?.status, f.csw?.residue, f.data.length, f.events],
      [CswStatus.Failed, 512, 512, []],
    );
  });

  it("case 5 (Hi > Di): the intended data, then padding; residue Hi − Di", () => {
    const { host } = bootStick({ store: filled(64) });
    const r = host.command(Cdb.inquiry(36), { dataIn: 100 });
    assert.deepEqual([r.csw?.status, r.csw?.residue, r.data.length], [CswStatus.Passed, 64, 100]);
    assert.equal(r.data[1], 0x80);
    assert.ok(r.data.subarray(36).every((b) => b === 0));
    // A READ of 2 blocks with room for 3: residue one block.
    const read = host.command(Cdb.read10(0, 2), { dataIn: 1536 });
    assert.deepEqual([read.csw?.status, read.csw?.residue], [CswStatus.Passed, 512]);
  });

  it("case 6 (Hi = Di): passed, residue 0", () => {
    const store = filled(64);
    const { host } = bootStick({ store });
    const r = host.command(Cdb.read10(3, 4), { dataIn: 2048 });
    assert.deepEqual([r.csw?.status, r.csw?.residue], [CswStatus.Passed, 0]);
    assert.deepEqual(r.data, store.bytes.subarray(3 * 512, 7 * 512));
  });

  it("case 7 (Hi < Di): exactly Hi bytes of the data, then a phase error", () => {
    const store = filled(64);
    const { host } = bootStick({ store });
    const r = host.command(Cdb.read10(0, 4), { dataIn: 1000 });
    assert.equal(r.csw?.status, CswStatus.PhaseError);
    assert.deepEqual(r.data, store.bytes.subarray(0, 1000));
  });

  it("case 8 (Hi <> Do): a WRITE with an IN data phase is a phase error; nothing is written", () => {
    const store = filled(64);
    const before = store.bytes.slice();
    const { host } = bootStick({ store });
    const r = host.command(Cdb.write10(0, 1), { dataIn: 512 });
    assert.equal(r.csw?.status, CswStatus.PhaseError);
    assert.deepEqual(store.bytes, before);
  });

  it("case 9 (Ho > Dn): the data is accepted and dropped; residue Ho", () => {
    const { host } = bootStick({ store: filled(64) });
    const r = host.command(Cdb.testUnitReady(), { dataOut: new Uint8Array(100) });
    assert.deepEqual([r.csw?.status, r.csw?.residue, r.events], [CswStatus.Passed, 100, []]);
  });

  it("case 10 (Ho <> Di): an INQUIRY with an OUT data phase is a phase error", () => {
    const { host } = bootStick({ store: filled(64) });
    const r = host.command(Cdb.inquiry(36), { dataOut: new Uint8Array(36) });
    assert.equal(r.csw?.status, CswStatus.PhaseError);
  });

  it("case 11 (Ho > Do): the blocks the command names are written, the rest dropped; residue Ho − Do", () => {
    const store = filled(64);
    const before = store.bytes.slice();
    const { host } = bootStick({ store });
    const data = new Uint8Array(1024).fill(0xee);
    const r = host.command(Cdb.write10(5, 1), { dataOut: data });
    assert.deepEqual([r.csw?.status, r.csw?.residue], [CswStatus.Passed, 512]);
    before.fill(0xee, 5 * 512, 6 * 512);
    assert.deepEqual(store.bytes, before);
  });

  it("case 12 (Ho = Do): passed, residue 0", () => {
    const store = filled(64);
    const { host } = bootStick({ store });
    const r = host.command(Cdb.write10(1, 2), { dataOut: new Uint8Array(1024).fill(3) });
    assert.deepEqual([r.csw?.status, r.csw?.residue], [CswStatus.Passed, 0]);
    assert.ok(store.bytes.subarray(512, 1536).every((b) => b === 3));
  });

  it("case 13 (Ho < Do): the host's bytes are taken but not written, phase error", () => {
    const store = filled(64);
    const before = store.bytes.slice();
    const { host } = bootStick({ store });
    const r = host.command(Cdb.write10(0, 2), { dataOut: new Uint8Array(512).fill(7) });
    assert.equal(r.csw?.status, CswStatus.PhaseError);
    assert.deepEqual(store.bytes, before);
  });
});

function withByte(b: Uint8Array, at: number, value: number): Uint8Array {
  b[at] = value;
  return b;
}

describe("BOT 6.2 / 6.6.1: CBWs that are not valid or not meaningful", () => {
  const bad: [string, (b: Uint8Array) => Uint8Array][] = [
    ["a wrong signature", (b) => withByte(b, 0, 0x54)],
    ["30 bytes", (b) => b.subarray(0, 30)],
    ["32 bytes", (b) => Uint8Array.from([...b, 0])],
    ["LUN 1 (GET MAX LUN said 0)", (b) => withByte(b, 13, 1)],
    ["reserved flag bits", (b) => withByte(b, 12, 0x40)],
    ["a CB length of 0", (b) => withByte(b, 14, 0)],
    ["a CB length of 17", (b) => withByte(b, 14, 17)],
  ];
  for (const [what, bend] of bad) {
    it(`${what}: both bulk endpoints stall, CLEAR_FEATURE alone does not release them, Reset Recovery does`, () => {
      const { host, guest, stick } = bootStick({ store: filled(64) });
      const sent = guest.bulkOut(0x02, bend(cbw(Cdb.testUnitReady(), 0, 0, 1)));
      // The CBW itself may be taken; what follows stalls.
      assert.ok(sent.status === TransferStatus.Ok || sent.status === TransferStatus.Stall);
      assert.equal(stick.stats.invalidCbws, 1);
      assert.equal(guest.bulkIn(0x81, 13).status, TransferStatus.Stall);
      assert.equal(guest.bulkOut(0x02, cbw(Cdb.testUnitReady(), 0, 0, 2)).status, TransferStatus.Stall);
      assert.equal(guest.clearHalt(0x81).status, TransferStatus.Ok);
      assert.equal(guest.clearHalt(0x02).status, TransferStatus.Ok);
      assert.equal(guest.bulkIn(0x81, 13).status, TransferStatus.Stall, "still halted until the class reset");
      host.resetRecovery();
      const r = host.command(Cdb.testUnitReady());
      assert.deepEqual([r.csw?.status, r.events], [CswStatus.Passed, []]);
    });
  }

  it("a CDB shorter than its command (CB length 6 for a READ(10)) reads the CBW's zero-filled rest, never past it", () => {
    const { host } = bootStick({ store: filled(64) });
    const r = host.command(Cdb.read10(0, 1), { dataIn: 512, cbLength: 6 });
    // Bytes 6–9 of the CDB are taken as 0 (the CB field's fill): a transfer length of 0.
    assert.deepEqual([r.csw?.status, r.csw?.residue], [CswStatus.Passed, 512]);
  });
});

describe("BOT resets and phases", () => {
  it("Bulk-Only Mass Storage Reset in the middle of a data phase: the next CBW is taken as a command", () => {
    const { host, guest, stick } = bootStick({ store: filled(512) });
    assert.equal(guest.bulkOut(0x02, cbw(Cdb.read10(0, 256), 256 * 512, 0x80, 9)).status, TransferStatus.Ok);
    assert.equal(guest.bulkIn(0x81, 1024).status, TransferStatus.Ok);
    assert.equal(stick.phase, BotPhase.DataIn);
    host.resetRecovery();
    assert.equal(stick.phase, BotPhase.Command);
    const r = host.command(Cdb.inquiry(36), { dataIn: 36 });
    assert.deepEqual([r.csw?.status, r.data[1]], [CswStatus.Passed, 0x80]);
  });

  it("an IN with no command (no CSW to send) is NAKed: the host's transfer waits, the device stays in step", () => {
    const { host, guest } = bootStick({ store: filled(64) });
    const early = guest.bulkIn(0x81, 13, { timeoutMs: 20 });
    assert.equal(early.status, TransferStatus.Timeout);
    assert.equal(host.command(Cdb.testUnitReady()).csw?.status, CswStatus.Passed);
  });

  it("the CSW echoes dCBWTag (SeaBIOS sends 999 every time)", () => {
    const { host } = bootStick({ store: filled(64) });
    for (const tag of [999, 999, 0xffffffff, 0]) {
      const r = host.command(Cdb.testUnitReady(), { tag });
      assert.equal(r.csw?.tag, tag);
      assert.deepEqual(r.events, []);
    }
  });

  it("a bus reset or SET_CONFIGURATION also returns to the Command phase", () => {
    const { host, guest, stick } = bootStick({ store: filled(512) });
    guest.bulkOut(0x02, cbw(Cdb.read10(0, 8), 8 * 512, 0x80, 1));
    assert.equal(stick.phase, BotPhase.DataIn);
    assert.equal(guest.setConfiguration(1).status, TransferStatus.Ok);
    assert.equal(stick.phase, BotPhase.Command);
    assert.equal(host.command(Cdb.testUnitReady()).csw?.status, CswStatus.Passed);
  });
});

describe("a store that answers later", () => {
  it("reads and writes through a store that answers 3 ms late: NAK meanwhile, the data exact", () => {
    const { host, stick, clock } = bootStick({ store: null });
    const base = filled(1024);
    const slow = new SlowStore(base, clock, 3);
    stick.insert(slow);
    host.command(Cdb.testUnitReady()); // takes the unit attention
    const read = host.command(Cdb.read10(100, 300), { dataIn: 300 * 512, timeoutMs: 5000 });
    assert.deepEqual([read.csw?.status, read.events], [CswStatus.Passed, []]);
    assert.deepEqual(read.data, base.bytes.subarray(100 * 512, 400 * 512));
    const data = Uint8Array.from({ length: 200 * 512 }, (_, i) => (i * 7) & 0xff);
    const write = host.command(Cdb.write10(600, 200), { dataOut: data, timeoutMs: 5000 });
    assert.deepEqual([write.csw?.status, write.events], [CswStatus.Passed, []]);
    assert.deepEqual(base.bytes.subarray(600 * 512, 800 * 512), data);
    const sync = host.command(Cdb.synchronizeCache10());
    assert.equal(sync.csw?.status, CswStatus.Passed);
    assert.ok(stick.stats.naksWhileBusy > 0, "the endpoints NAKed while the store worked");
    assert.deepEqual(slow.calls, [
      "read 100+128",
      "read 228+128",
      "read 356+44",
      "write 600+128",
      "write 728+72",
      "flush",
    ]);
  });

  it("a reset while the store holds a read: its late answer is dropped and counted, the next command gets its own data", () => {
    const rig = bootStick({ store: null });
    const base = filled(256);
    const slow = new SlowStore(base, rig.clock, 1);
    rig.stick.insert(slow);
    rig.host.command(Cdb.testUnitReady());
    slow.hold = true;
    rig.guest.bulkOut(0x02, cbw(Cdb.read10(0, 1), 512, 0x80, 5));
    const stuck = rig.guest.bulkIn(0x81, 512, { timeoutMs: 10 });
    assert.equal(stuck.status, TransferStatus.Timeout, "NAKed while the store holds the read");
    assert.ok(slow.busy);
    rig.host.resetRecovery();
    // The late answer arrives after the reset: dropped.
    slow.release();
    assert.equal(rig.stick.stats.staleStoreCompletions, 1);
    const read = rig.host.command(Cdb.read10(7, 1), { dataIn: 512 });
    assert.equal(read.csw?.status, CswStatus.Passed);
    assert.deepEqual(read.data, base.bytes.subarray(7 * 512, 8 * 512));
  });

  it("a store that answers twice: the second answer is dropped and counted, nothing else changes", () => {
    const rig = bootStick({ store: null });
    const base = filled(256);
    const slow = new SlowStore(base, rig.clock, 1);
    slow.duplicate = true;
    rig.stick.insert(slow);
    rig.host.command(Cdb.testUnitReady());
    const read = rig.host.command(Cdb.read10(0, 2), { dataIn: 1024 });
    assert.equal(read.csw?.status, CswStatus.Passed);
    assert.deepEqual(read.data, base.bytes.subarray(0, 1024));
    assert.equal(rig.stick.stats.staleStoreCompletions, 1);
  });

  it("a late failure: MEDIUM ERROR after the NAKs", () => {
    const rig = bootStick({ store: null });
    const slow = new SlowStore(filled(256), rig.clock, 2);
    rig.stick.insert(slow);
    rig.host.command(Cdb.testUnitReady());
    slow.failNext = StoreStatus.MediumError;
    const read = rig.host.command(Cdb.read10(4, 1), { dataIn: 512 });
    assert.equal(read.csw?.status, CswStatus.Failed);
    const sense = rig.host.command(Cdb.requestSense(), { dataIn: 18 });
    assert.deepEqual(senseOf(sense.data), { key: 3, asc: 0x11, ascq: 0, info: 4 });
  });
});

describe("unplugging", () => {
  it("the stick's medium is flushed when it is unplugged, and the controller carries on", () => {
    let flushes = 0;
    const base = filled(64);
    const store = {
      blockCount: base.blockCount,
      readOnly: false,
      read: base.read.bind(base),
      write: base.write.bind(base),
      flush: (done: (s: StoreStatus) => void) => {
        flushes++;
        done(StoreStatus.Ok);
      },
    };
    const { controller, host, driver } = bootStick({ store });
    host.command(Cdb.write10(0, 1), { dataOut: new Uint8Array(512) });
    const removed = controller.detach(0);
    assert.ok(removed instanceof UsbMassStorage);
    assert.equal(flushes, 1);
    driver.run(20);
  });

  it("unplugged in the middle of a write: the blocks acknowledged before are in the store", () => {
    const store = filled(512);
    const { controller, guest, stick, driver } = bootStick({ store });
    const data = new Uint8Array(256 * 512).fill(0x77);
    guest.submit(0x02, cbw(Cdb.write10(0, 256), data.length, 0, 3));
    guest.submit(0x02, data);
    for (let i = 0; i < 500 && stick.stats.bytesWritten < 128 * 512; i++) driver.run(1);
    const acknowledged = stick.stats.bytesWritten;
    assert.ok(acknowledged >= 128 * 512);
    controller.detach(0);
    driver.run(10);
    assert.ok(store.bytes.subarray(0, acknowledged).every((b) => b === 0x77));
  });
});

describe("CSW bytes", () => {
  it("are 13 bytes: USBS, the tag, the residue, the status", () => {
    const { guest } = bootStick({ store: filled(64) });
    guest.bulkOut(0x02, cbw(Cdb.inquiry(36), 40, 0x80, 0x01020304));
    guest.bulkIn(0x81, 40);
    const csw = guest.bulkIn(0x81, 13);
    assert.deepEqual([...csw.data], [0x55, 0x53, 0x42, 0x53, 4, 3, 2, 1, 4, 0, 0, 0, 0]);
    assert.deepEqual(parseCsw(csw.data), { signature: 0x53425355, tag: 0x01020304, residue: 4, status: 0 });
  });
});

describe("packets beyond wMaxPacketSize", () => {
  it("an OUT packet of more than 64 bytes gets no handshake (a time-out) and nothing of it is taken", () => {
    const store = filled(64);
    const before = store.bytes.slice();
    const stick = new UsbMassStorage({ store });
    const host = new PacketHost(stick, 64);
    host.enumerate(1);
    assert.equal(host.out(2, [...cbw(Cdb.write10(0, 1), 512, 0, 1)]), PacketStatus.Ack);
    assert.equal(host.out(2, new Array(65).fill(0x11)), PacketStatus.IoError);
    for (let i = 0; i < 8; i++) assert.equal(host.out(2, new Array(64).fill(0x22)), PacketStatus.Ack);
    const csw = host.poll(1, 64);
    assert.deepEqual([csw.status, csw.data[12], csw.data.length], [PacketStatus.Ack, CswStatus.Passed, 13]);
    before.fill(0x22, 0, 512);
    assert.deepEqual(store.bytes, before);
  });
});
