/**
 * v86 snapshots with a hub (issue 12: "Snapshots carry the hub and everything behind it"): Linux in v86
 * with a 4-port hub on root port 1 and behind it a headset, a keyboard and a stick. The machine is saved
 * (v86's save_state, the controller and everything behind the hub riding along in it) while arecord
 * records the headset's microphone, and restored twice:
 * - into the same emulator while it runs (no stop around restore_state), twice: the guest goes back
 *   to the save and carries on;
 * - into a new emulator with new devices plugged in the same places.
 * Each time the recording carries on from the save (the frame counter decodes across it), a second
 * recording started after the restore is whole, keys typed afterwards arrive, and the stick still reads
 * (sha256 of a file the guest had not read before the save).
 */
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { describe, it } from "node:test";
import { guestInputEvents, guestInputNodes, inputNodeOf } from "../../src/cli/guest-report.ts";
import type { GuestEvent } from "../../src/cli/guest-vm/guest-serial.ts";
import { GuestVm } from "../../src/cli/guest-vm/guest-vm.ts";
import { compareInput, expectedKeyEvents, meaningfulEvents } from "../../src/cli/input-check.ts";
import { createFatImage } from "../../src/cli/stick/fat-image.ts";
import { UsbHeadset } from "../../src/devices/audio/headset.ts";
import { checkTestSignal, type TestSignalReport } from "../../src/devices/audio/signal-check.ts";
import { TestSignalSource } from "../../src/devices/audio/sources/test-signal-source.ts";
import { UsbKeyboard } from "../../src/devices/hid/keyboard.ts";
import { UsbHub } from "../../src/devices/hub/usb-hub.ts";
import { MemoryBlockStore } from "../../src/devices/storage/block-store.ts";
import { UsbMassStorage } from "../../src/devices/storage/mass-storage.ts";
import { BUNDLED_GUEST_CMDLINE, loadGuestImages } from "../../src/node/bundled-guest.ts";

const KEYBOARD_PRODUCT = 0x0001;
const RATE = 16_000;
/** The recording the save falls in, and the one started after the restore (seconds). */
const FIRST_SECONDS = 4;
const SECOND_SECONDS = 1;
const FILE = "host.bin";
const PLAN = [
  "enum:4",
  // Read-only: Linux marks a FAT volume dirty on a read-write mount, and the medium is not in the
  // snapshot (docs/snapshots.md), so the new machine's stick gets the same bytes again.
  "mount:ro",
  `capture:${RATE}:1:${FIRST_SECONDS}`,
  "hid:3:1",
  `capture:${RATE}:1:${SECOND_SECONDS}`,
  `sha:${FILE}`,
].join(",");
const CMDLINE = `${BUNDLED_GUEST_CMDLINE} uhci.plan=${PLAN}`;
const TIMEOUT_MS = 60_000;

function fileBytes(length: number): Uint8Array {
  const out = new Uint8Array(length);
  let x = 0x2545f491;
  for (let i = 0; i < length; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    out[i] = x & 0xff;
  }
  return out;
}

interface Machine {
  hub: UsbHub;
  headset: UsbHeadset;
  keyboard: UsbKeyboard;
  stick: UsbMassStorage;
}

/** The same devices in the same places, new each time (a new emulator gets new objects). */
function machineDevices(image: Uint8Array): Machine {
  const hub = new UsbHub({ ports: 4 });
  const headset = new UsbHeadset({ microphone: { source: new TestSignalSource() } });
  const keyboard = new UsbKeyboard({ productId: KEYBOARD_PRODUCT });
  const stick = new UsbMassStorage({ store: new MemoryBlockStore(image.slice()) });
  hub.attach(0, headset);
  hub.attach(1, keyboard);
  hub.attach(2, stick);
  return { hub, headset, keyboard, stick };
}

function nth(events: readonly GuestEvent[], name: string, n: number): GuestEvent | undefined {
  return events.filter((e) => e.event === name)[n];
}

function recording(vm: GuestVm, name: string): TestSignalReport {
  const blob = vm.serial.blobs.get(name);
  assert.ok(blob !== undefined, `the guest sent ${name}`);
  return checkTestSignal(new Int16Array(blob.buffer, blob.byteOffset, blob.byteLength >> 1), 1);
}

/**
 * What the guest does after a restore: the first recording ends and decodes across the save, keys
 * typed once it reads the keyboard arrive, the second recording is whole, the stick reads.
 */
async function carriesOn(vm: GuestVm, keyboard: UsbKeyboard, fileSha: string, label: string) {
  await vm.waitForEvent((e) => e.event === "input-open", TIMEOUT_MS);
  const node = inputNodeOf(guestInputNodes(vm.serial.events), KEYBOARD_PRODUCT);
  assert.ok(node !== undefined, `${label}: an input node for the keyboard`);
  const text = "restored ok";
  keyboard.typeText(text);
  await vm.waitForEvent((e) => e.event === "done", TIMEOUT_MS);
  const events = vm.serial.events;
  const errors = events.filter((e) => e.event === "error");
  assert.deepEqual(errors, [], `${label}: ${JSON.stringify(vm.serial.consoleLines.slice(-10))}`);

  // The recording the save fell in: arecord ends normally and the counter runs on across the save.
  assert.equal(nth(events, "capture-end", 0)?.["rc"], 0, `${label}: arecord of the first recording`);
  const first = recording(vm, "capture0");
  const firstSummary = JSON.stringify({ ...first, events: first.events.slice(0, 4) });
  assert.ok(first.found && first.bitExact, `${label}: first recording ${firstSummary}`);
  assert.equal(first.dropped, 0, `${label}: first recording ${firstSummary}`);
  assert.equal(first.inserted, 0, `${label}: first recording ${firstSummary}`);

  // A recording started after the restore.
  assert.equal(nth(events, "capture-end", 1)?.["rc"], 0, `${label}: arecord of the second recording`);
  const second = recording(vm, "capture1");
  const secondSummary = JSON.stringify({ ...second, events: second.events.slice(0, 4) });
  assert.ok(second.found && second.bitExact, `${label}: second recording ${secondSummary}`);
  assert.equal(second.dropped + second.inserted, 0, `${label}: second recording ${secondSummary}`);

  const keys = compareInput(expectedKeyEvents(text), meaningfulEvents(guestInputEvents(events, node)));
  assert.ok(keys.exact, `${label}: keys ${JSON.stringify(keys.firstDifference)}`);

  const sum = events.find((e) => e.event === "file-sum" && e["path"] === FILE);
  assert.equal(sum?.["sha256"], fileSha, `${label}: the stick's file as the guest read it`);
}

describe("v86 save_state / restore_state with a hub and devices behind it", () => {
  it("restores mid-recording into the same running emulator and into a new one; the guest carries on", async () => {
    const images = loadGuestImages();
    const file = fileBytes(96 * 1024);
    const fileSha = createHash("sha256").update(file).digest("hex");
    const image = await createFatImage(4 * 1024 * 1024, { files: [{ path: FILE, data: file }] });

    const a = machineDevices(image);
    const vmA = await GuestVm.boot({ images, cmdline: CMDLINE, usb: [a.hub] });
    let vmB: GuestVm | null = null;
    try {
      await vmA.waitForEvent((e) => e.event === "capture-start", 90_000);
      // Mid-recording: about a second of it has been recorded when the machine is saved.
      await new Promise((resolve) => setTimeout(resolve, 1200));
      const state = await vmA.saveState();
      // The guest records on; then the same emulator, still running, goes back to the save, twice: from
      // the second restore on, v86 alone would leave the guest's clock ahead by the time between the
      // first save and restore (its set_tsc adds the offset the counter had), and the arecord blocked
      // in read() at the save would end with EIO (uhci-v86.ts, setGuestTsc).
      for (let restore = 0; restore < 2; restore++) {
        await new Promise((resolve) => setTimeout(resolve, 1000));
        assert.equal(
          nth(vmA.serial.events, "capture-end", 0),
          undefined,
          "restored before the recording ends",
        );
        await vmA.restoreState(state);
      }
      await carriesOn(vmA, a.keyboard, fileSha, "same emulator");
      await vmA.stop();

      // A new emulator from the same state, with new devices in the same places.
      const b = machineDevices(image);
      vmB = await GuestVm.boot({ images, cmdline: CMDLINE, usb: [b.hub], initialState: state });
      assert.equal(b.keyboard.configuration, 1, "the keyboard behind the hub comes back configured");
      assert.equal(b.headset.address, a.headset.address);
      await carriesOn(vmB, b.keyboard, fileSha, "new emulator");
    } finally {
      await vmA.stop();
      await vmB?.stop();
    }
  });
});
