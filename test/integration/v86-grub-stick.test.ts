/**
 * GRUB as a real client (issue 12: "the SCSI commands real hosts send … anything else Linux, SeaBIOS or
 * GRUB are seen to send"): the bundled GRUB floppy (guest-image/build-grub.sh: GRUB 2.06 from Debian's
 * grub-pc-bin, i386-pc, no `biosdisk`) boots in v86 and its own drivers — `uhci`, `usb` with its hub
 * driver, `usbms` over its SCSI layer, `usb_keyboard` — take the controller over from SeaBIOS,
 * enumerate a stick on root port 1 and, behind a hub on root port 2, a second stick and a keyboard;
 * GRUB lists both disks, reads /GRUB.TXT (hashsum sha256 and cat) and a 160 KiB /GRUB.BIN (sha256)
 * from each FAT, and a line typed on the emulated keyboard reaches its `read`. The sticks log every
 * CBW, so the test also sees which SCSI commands GRUB sent and that each one passed. One boot, 5–17 s
 * (the longer under a load average of 11).
 */
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { before, describe, it } from "node:test";
import { createFatImage } from "../../src/cli/stick/fat-image.ts";
import { UsbKeyboard } from "../../src/devices/hid/keyboard.ts";
import { UsbHub } from "../../src/devices/hub/usb-hub.ts";
import { MemoryBlockStore } from "../../src/devices/storage/block-store.ts";
import { ScsiOp } from "../../src/devices/storage/scsi.ts";
import { type GrubRun, runGrub, type SeenCommand, sha256, WatchedStick } from "./helpers/grub-guest.ts";
import { UsbStsBits } from "./uhci-bits.ts";

/** SCSI operation codes by name, as the stick's own table spells them (ScsiOp). */
const SCSI_NAMES = new Map<number, string>(Object.entries(ScsiOp).map(([name, op]) => [op, name]));
const opName = (op: number) => SCSI_NAMES.get(op) ?? `0x${op.toString(16).padStart(2, "0")}`;

/** "INQUIRY ×1, READ(10) ×3" — the commands in the order first sent, with counts. */
function summary(commands: readonly SeenCommand[]): string {
  const counts = new Map<number, number>();
  for (const c of commands) counts.set(c.op, (counts.get(c.op) ?? 0) + 1);
  return [...counts].map(([op, n]) => `${opName(op)} ×${n}`).join(", ");
}

/** A bigger file GRUB only hashes: 160 KiB, many READ(10) sectors and ~2,600 bulk packets. */
const BIN_BYTES = 160 * 1024;

interface TestStick {
  readonly stick: WatchedStick;
  readonly text: Uint8Array;
  readonly bin: Uint8Array;
}

async function stickWith(text: string): Promise<TestStick> {
  const bytes = new TextEncoder().encode(text);
  const bin = new Uint8Array(randomBytes(BIN_BYTES));
  // An MBR with one FAT partition, as `uhci stick pack` makes it (FatFs).
  const image = await createFatImage(4 * 1024 * 1024, {
    files: [
      { path: "GRUB.TXT", data: bytes },
      { path: "GRUB.BIN", data: bin },
    ],
  });
  return { stick: new WatchedStick({ store: new MemoryBlockStore(image) }), text: bytes, bin };
}

describe("GRUB's own UHCI, hub, mass-storage and keyboard drivers in v86", () => {
  const nonce = randomBytes(8).toString("hex");
  const typedLine = `uhci ${nonce.slice(0, 6)} grub`;
  let direct: TestStick;
  let behindHub: TestStick;
  const keyboard = new UsbKeyboard();
  const hub = new UsbHub({ ports: 4 });
  let run: GrubRun;
  const where = () => `GRUB's console:\n${run.console}`;

  before(async () => {
    direct = await stickWith(`uhci GRUB test: the stick on root port 1, nonce ${nonce}\n`);
    behindHub = await stickWith(`uhci GRUB test: the stick behind the hub, hub port 2, nonce ${nonce}\n`);
    hub.attach(1, behindHub.stick);
    hub.attach(2, keyboard);
    run = await runGrub({
      rootPorts: [direct.stick, hub],
      sticks: [direct.stick, behindHub.stick],
      onType: () => keyboard.typeText(`${typedLine}\n`),
      // About 5 s on a quiet machine (SeaBIOS POST, the floppy, GRUB's enumeration and reads).
      timeoutMs: 90_000,
    });
  });

  it("boots GRUB from the floppy and runs its script to the end, with no host system or process error", (t) => {
    assert.ok(run.done, `GRUB's script did not finish in time. ${where()}`);
    assert.match(run.console, /@@GRUB begin\n/);
    assert.equal(run.usbsts & (UsbStsBits.HSE | UsbStsBits.HCPE), 0, `USBSTS ${run.usbsts.toString(16)}`);
    t.diagnostic(`GRUB's script done ${(run.ms / 1000).toFixed(1)} s after v86 started`);
  });

  it("enumerates both sticks, the hub and the keyboard behind it (GRUB's `usb` listing)", () => {
    const listing = run.console.split("@@GRUB usb-list\n")[1]?.split("@@GRUB ls\n")[0] ?? "";
    assert.equal(listing.match(/Class: \(0x08\) Mass Storage, Subclass: 0x06/g)?.length, 2, where());
    assert.match(listing, /Class: \(0x09\) Hub/, where());
    assert.match(listing, /Class: \(0x03\) HID, Subclass: 0x01,\s*Protocol:\s*0x01/, where());
    // Each stick was configured by GRUB, at an address of its own.
    assert.notEqual(direct.stick.address, 0);
    assert.notEqual(behindHub.stick.address, 0);
    assert.notEqual(direct.stick.address, behindHub.stick.address);
    assert.equal(hub.configuration, 1);
  });

  it("lists a USB disk with an msdos partition for each stick (GRUB's `ls`, no BIOS disk)", () => {
    const ls = run.console.split("@@GRUB ls\n")[1]?.split("@@GRUB ls-end\n")[0] ?? "";
    const partitions = ls.match(/\(usb\d+,msdos1\)/g) ?? [];
    assert.equal(partitions.length, 2, where());
    // Built without biosdisk: no (hd…) or (fd…) that SeaBIOS's int 13h could have served.
    assert.doesNotMatch(ls, /\((hd|fd)\d/, where());
  });

  it("reads the files the host put on each stick's FAT: the sha256s and the text's bytes match", () => {
    const blocks = [
      ...run.console.matchAll(
        /@@GRUB file (\S+)\n([\s\S]*?)@@GRUB cat \1\n([\s\S]*?)@@GRUB bin \1\n([\s\S]*?)@@GRUB file-end \1\n/g,
      ),
    ];
    assert.equal(blocks.length, 2, where());
    for (const [label, want] of [
      ["root port", direct],
      ["behind the hub", behindHub],
    ] as const) {
      const text = new TextDecoder().decode(want.text);
      // GRUB's cat ends its output with a newline of its own.
      const block = blocks.find((b) => b[3] === `${text}\n`);
      assert.ok(block, `GRUB did not print the file of the stick ${label}. ${where()}`);
      assert.equal(
        block[2]?.match(/[0-9a-f]{64}/)?.[0],
        sha256(want.text),
        `GRUB.TXT's hashsum, stick ${label}`,
      );
      assert.equal(
        block[4]?.match(/[0-9a-f]{64}/)?.[0],
        sha256(want.bin),
        `GRUB.BIN's hashsum, stick ${label}`,
      );
    }
  });

  // A keyboard on a root port works too (seen by hand: 22 of 22 reports, the line arrived) since the
  // script keeps the inputs GRUB activated before it ran (`terminal_input --append`, build-grub.sh).
  it("takes a line typed on the USB keyboard behind the hub (GRUB's usb_keyboard terminal)", () => {
    assert.match(run.console, new RegExp(`@@GRUB typed \\[${typedLine}\\]\n`), where());
  });

  it("sends only SCSI commands the stick implements: every one GRUB sent passed", (t) => {
    for (const [label, stick] of [
      ["root port", direct.stick],
      ["behind the hub", behindHub.stick],
    ] as const) {
      const grub = stick.seen.filter((c) => c.by === "grub");
      t.diagnostic(`stick ${label}, GRUB: ${summary(grub)}`);
      t.diagnostic(`stick ${label}, SeaBIOS: ${summary(stick.seen.filter((c) => c.by === "seabios"))}`);
      // GRUB's scsi layer opens a disk with INQUIRY and READ CAPACITY(10) and reads it with READ(10).
      for (const op of [ScsiOp.Inquiry, ScsiOp.ReadCapacity10, ScsiOp.Read10]) {
        assert.ok(
          grub.some((c) => c.op === op),
          `GRUB sent no ${opName(op)} to the stick ${label}: ${summary(grub)}`,
        );
      }
      const failed = grub.filter((c) => c.status !== 0);
      assert.deepEqual(
        failed.map(
          (c) => `${opName(c.op)} [${c.cdb.map((b) => b.toString(16)).join(" ")}] status ${c.status}`,
        ),
        [],
        `commands GRUB sent that did not pass (stick ${label})`,
      );
      const senses = new Set(grub.flatMap((c) => (c.sense === undefined ? [] : [c.sense.join("/")])));
      t.diagnostic(`stick ${label}, REQUEST SENSE answers (key/ASC/ASCQ): ${[...senses].join(", ")}`);
      const illegal = grub.filter((c) => c.sense !== undefined && c.sense[0] === 0x05);
      assert.deepEqual(illegal, [], "no REQUEST SENSE reported ILLEGAL REQUEST");
      assert.equal(stick.stats.phaseErrors, 0);
      assert.equal(stick.stats.invalidCbws, 0);
      assert.equal(stick.stats.bytesWritten, 0, "GRUB only reads");
      assert.ok(stick.stats.bytesRead >= BIN_BYTES, `${stick.stats.bytesRead} bytes read`);
    }
  });
});
