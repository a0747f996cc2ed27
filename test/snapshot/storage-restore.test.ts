/**
 * Snapshots of a USB stick (docs/snapshots.md): the device's state — BOT phase, the CBW in flight,
 * the data engine's position, bytes it holds, sense — travels with the controller's JSON; the medium's
 * contents live in the store, which the host saves itself (here: a copy of a memory store's bytes).
 * A restore in the middle of a READ or WRITE lets the guest's transfer finish on the new machine.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { MemoryBlockStore } from "../../src/devices/storage/block-store.ts";
import { CswStatus, UsbMassStorage } from "../../src/devices/storage/mass-storage.ts";
import { BotHost, Cdb, cbw, parseCsw } from "../../src/devices/storage/testing/bot-host.ts";
import { SlowStore } from "../../src/devices/storage/testing/slow-store.ts";
import type { TransferResult } from "../../src/guest/transfer-result.ts";
import { UhciGuestDriver } from "../../src/guest/uhci-guest-driver.ts";
import type { Urb } from "../../src/guest/urb.ts";
import { SnapshotError } from "../../src/machine/snapshot.ts";
import { makeRig, restore, SwitchableMachine, snapshot } from "./helpers/rig.ts";

function medium(blocks: number): MemoryBlockStore {
  const store = new MemoryBlockStore(blocks);
  for (let i = 0; i < store.bytes.length; i++) store.bytes[i] = (i * 11 + (i >> 9)) & 0xff;
  return store;
}

/** The URB's result, read through a call (an earlier `assert.equal(urb.result, null)` narrowed the field). */
function resultOf(urb: Urb): TransferResult | null {
  return urb.result;
}

function boot(stick: UsbMassStorage) {
  const rig = makeRig([stick]);
  const switchable = new SwitchableMachine(rig);
  const driver = UhciGuestDriver.start(switchable.machine, {
    dmaBase: 0x10000,
    dmaSize: 0x80000,
    timeoutMs: 5000,
  });
  const enumerated = driver.enumerate(0);
  assert.ok(enumerated.ok);
  return { rig, switchable, driver, guest: enumerated.device };
}

describe("USB stick snapshots", () => {
  it("restored in the middle of a READ: the guest's transfer finishes on the new machine with the right data and CSW", () => {
    const store = medium(1024);
    const { rig, switchable, driver, guest } = boot(new UsbMassStorage({ store }));
    guest.submit(0x02, cbw(Cdb.read10(10, 300), 300 * 512, 0x80, 42));
    const data = guest.submit(0x81, 300 * 512);
    driver.run(30);
    assert.equal(data.result, null, "still in the data phase");
    const snap = snapshot(rig);
    const saved = store.bytes.slice();

    const stick = new UsbMassStorage({ store: new MemoryBlockStore(saved) });
    switchable.switchTo(restore(snap, [stick], { clockStartMs: 9000 }));
    for (let i = 0; i < 5000 && data.result === null; i++) driver.run(1);
    assert.equal(resultOf(data)?.status, "ok");
    assert.deepEqual(resultOf(data)?.data, store.bytes.subarray(10 * 512, 310 * 512));
    const csw = parseCsw(guest.bulkIn(0x81, 13).data);
    assert.deepEqual([csw?.tag, csw?.status, csw?.residue], [42, CswStatus.Passed, 0]);
    assert.deepEqual(driver.anomalies, []);
  });

  it("restored in the middle of a WRITE: data received before the snapshot and after it all reach the new store", () => {
    const { rig, switchable, driver, guest } = boot(new UsbMassStorage({ store: medium(1024) }));
    const payload = Uint8Array.from({ length: 200 * 512 }, (_, i) => (i * 7 + 1) & 0xff);
    guest.submit(0x02, cbw(Cdb.write10(50, 200), payload.length, 0, 7));
    const out = guest.submit(0x02, payload);
    driver.run(20);
    assert.equal(out.result, null);
    const snap = snapshot(rig);
    // The store as the host saved it with the snapshot: the medium plus the chunk written before it.
    const original = (rig.controller.ports[0]!.device as UsbMassStorage).store as MemoryBlockStore;
    const copy = new MemoryBlockStore(original.bytes.slice());
    const stick = new UsbMassStorage({ store: copy });
    switchable.switchTo(restore(snap, [stick], { clockStartMs: 100 }));
    for (let i = 0; i < 5000 && out.result === null; i++) driver.run(1);
    assert.equal(resultOf(out)?.status, "ok");
    const csw = parseCsw(guest.bulkIn(0x81, 13).data);
    assert.deepEqual([csw?.tag, csw?.status], [7, CswStatus.Passed]);
    assert.deepEqual(copy.bytes.subarray(50 * 512, 250 * 512), payload);
    assert.equal(new BotHost(guest).command(Cdb.testUnitReady()).csw?.status, CswStatus.Passed);
  });

  it("a store read in flight at the snapshot is issued again on restore; the old store's late answer changes nothing", () => {
    const base = medium(256);
    let slow: SlowStore | null = null;
    const rig = makeRig((clock) => {
      slow = new SlowStore(base, clock, 2);
      return [new UsbMassStorage({ store: slow })];
    });
    const switchable = new SwitchableMachine(rig);
    const driver = UhciGuestDriver.start(switchable.machine, { dmaBase: 0x10000, dmaSize: 0x40000 });
    const enumerated = driver.enumerate(0);
    assert.ok(enumerated.ok);
    const guest = enumerated.device;
    slow!.hold = true;
    guest.submit(0x02, cbw(Cdb.read10(3, 4), 2048, 0x80, 5));
    const data = guest.submit(0x81, 2048);
    driver.run(10);
    assert.ok(slow!.busy, "the read is held by the store");
    const snap = snapshot(rig);
    const fresh = new UsbMassStorage({ store: new MemoryBlockStore(base.bytes.slice()) });
    switchable.switchTo(restore(snap, [fresh]));
    slow!.release(); // the old machine's store answers: nobody listens
    for (let i = 0; i < 200 && data.result === null; i++) driver.run(1);
    assert.deepEqual(data.result?.data, base.bytes.subarray(3 * 512, 7 * 512));
    assert.equal(parseCsw(guest.bulkIn(0x81, 13).data)?.status, CswStatus.Passed);
  });

  it("sense data, a pending unit attention, prevent and load state survive; a bad state is refused whole", () => {
    const { rig, guest } = boot(new UsbMassStorage({ store: medium(64) }));
    const host = new BotHost(guest);
    host.command(Cdb.preventAllow(true));
    host.command(Cdb.read10(100, 1), { dataIn: 512 }); // fails: LBA out of range
    const device = rig.controller.ports[0]!.device as UsbMassStorage;
    const state = device.saveState();
    const fresh = new UsbMassStorage({ store: medium(64) });
    fresh.restoreState(JSON.parse(JSON.stringify(state)));
    assert.deepEqual(fresh.saveState(), state);

    const bad = JSON.parse(JSON.stringify(state));
    bad.phase = "sideways";
    const before = JSON.stringify(fresh.saveState());
    assert.throws(() => fresh.restoreState(bad), SnapshotError);
    const tooFar = JSON.parse(JSON.stringify(state));
    tooFar.moved = tooFar.hostLength + 1;
    assert.throws(() => fresh.restoreState(tooFar), SnapshotError);
    const short = JSON.parse(JSON.stringify(state));
    short.source = 1; // a response in the buffer…
    short.chunkLength = 36; // …of 36 bytes, but none saved
    short.buffer = "";
    assert.throws(() => fresh.restoreState(short), /buffer holds 0 bytes; the saved position needs 36/);
    assert.equal(JSON.stringify(fresh.saveState()), before, "nothing applied");
  });

  it("restored with a medium of another size: the guest is told the medium changed (UNIT ATTENTION 28/00)", () => {
    const { rig, switchable, driver, guest } = boot(new UsbMassStorage({ store: medium(64) }));
    const snap = snapshot(rig);
    switchable.switchTo(restore(snap, [new UsbMassStorage({ store: medium(128) })]));
    driver.run(2);
    const host = new BotHost(guest);
    assert.equal(host.command(Cdb.testUnitReady()).csw?.status, CswStatus.Failed);
    const sense = host.command(Cdb.requestSense(), { dataIn: 18 });
    assert.deepEqual([sense.data[2], sense.data[12]], [0x6, 0x28]);
  });
});
