/**
 * Boots the bundled GRUB floppy (guest-image/build-grub.sh) in v86 with the controller attached and
 * collects what GRUB prints on the serial console, for test/integration/v86-grub-stick.test.ts.
 *
 * GRUB's script (in the floppy's memdisk) prints `@@GRUB <what>` lines around its own output: `usb`
 * (the devices GRUB enumerated), `ls` (its disks), then for every USB disk holding /GRUB.TXT
 * `file <disk>`, hashsum's `<sha256> (<disk>)/GRUB.TXT`, `cat <disk>`, the file's bytes,
 * `file-end <disk>`; then `type` (it waits in `read` for a line from any terminal, the USB keyboard
 * included), `typed [<line>]` and `done`.
 */
import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { join } from "node:path";
import { gunzipSync } from "node:zlib";
import { V86 } from "v86";
import { attachUhciToV86, type UhciOnV86 } from "../../../src/adapters/v86/uhci-v86.ts";
import {
  Bot,
  STORAGE_BULK_IN,
  STORAGE_BULK_OUT,
  UsbMassStorage,
} from "../../../src/devices/storage/mass-storage.ts";
import { ScsiOp } from "../../../src/devices/storage/scsi.ts";
import { BUNDLED_GUEST_DIR, loadGuestImages } from "../../../src/node/bundled-guest.ts";
import { Pid } from "../../../src/usb/constants.ts";
import type { UsbDevice } from "../../../src/usb/device.ts";
import type { UsbPacket } from "../../../src/usb/packet.ts";

const wasmPath = createRequire(import.meta.url).resolve("v86/build/v86.wasm");

export const sha256 = (bytes: Uint8Array): string => createHash("sha256").update(bytes).digest("hex");

/** The floppy, unpacked and checked against the sha256 build-grub.sh recorded in grub.json. */
export function loadGrubFloppy(dir = BUNDLED_GUEST_DIR): Uint8Array {
  const info = JSON.parse(readFileSync(join(dir, "grub.json"), "utf8")) as {
    floppyBytes: number;
    floppySha256: string;
  };
  const floppy = new Uint8Array(gunzipSync(readFileSync(join(dir, "grub-floppy.img.gz"))));
  if (floppy.length !== info.floppyBytes || sha256(floppy) !== info.floppySha256) {
    throw new Error(`grub-floppy.img.gz does not unpack to the floppy grub.json describes (${dir})`);
  }
  return floppy;
}

/** The first four bytes, little-endian: a CBW's or CSW's signature (BOT 5.1, 5.2). */
function signature(d: Uint8Array): number {
  return ((d[0] ?? 0) | ((d[1] ?? 0) << 8) | ((d[2] ?? 0) << 16) | ((d[3] ?? 0) << 24)) >>> 0;
}

/** One Bulk-Only command a host sent, as the stick saw it on the bus. */
export interface SeenCommand {
  /** Who sent it: the firmware (SeaBIOS's POST) or GRUB (after its script began). */
  readonly by: "seabios" | "grub";
  /** The CDB's operation code. */
  readonly op: number;
  readonly cdb: readonly number[];
  /** The CSW's bCSWStatus (0 passed, 1 failed, 2 phase error); -1 until the CSW went out. */
  status: number;
  /** For REQUEST SENSE: the sense key, ASC and ASCQ it returned. */
  sense?: readonly [number, number, number];
}

/**
 * A stick that keeps a log of the commands hosts send it: CBWs seen on the bulk OUT endpoint, the CSW
 * status each got, and what REQUEST SENSE returned. It only watches packets on their way through the
 * public `handlePacket`; the device's behaviour is the plain {@link UsbMassStorage}'s.
 */
export class WatchedStick extends UsbMassStorage {
  readonly seen: SeenCommand[] = [];
  /** Set by the runner once GRUB's script begins: commands from then on are GRUB's. */
  by: SeenCommand["by"] = "seabios";

  override handlePacket(packet: UsbPacket): void {
    const isCbw =
      packet.pid === Pid.Out &&
      packet.endpoint === (STORAGE_BULK_OUT & 0x0f) &&
      packet.length === Bot.CBW_LENGTH &&
      signature(packet.data) === Bot.CBW_SIGNATURE;
    if (isCbw) {
      const cdbLength = packet.data[14] ?? 0;
      const cdb = Array.from(packet.data.subarray(15, 15 + Math.min(cdbLength, 16)));
      this.seen.push({ by: this.by, op: cdb[0] ?? -1, cdb, status: -1 });
    }
    super.handlePacket(packet);
    if (packet.pid !== Pid.In || packet.endpoint !== (STORAGE_BULK_IN & 0x0f)) return;
    const last = this.seen[this.seen.length - 1];
    if (last === undefined) return;
    const d = packet.data;
    if (packet.actualLength === Bot.CSW_LENGTH && signature(d) === Bot.CSW_SIGNATURE) {
      last.status = d[12] ?? -1;
    } else if (last.op === ScsiOp.RequestSense && last.sense === undefined && packet.actualLength >= 14) {
      last.sense = [(d[2] ?? 0) & 0x0f, d[12] ?? 0, d[13] ?? 0];
    }
  }
}

export interface GrubRun {
  /** Everything GRUB printed on ttyS0 (CR removed). */
  readonly console: string;
  /** Whether `@@GRUB done` arrived before the timeout. */
  readonly done: boolean;
  /** Host milliseconds from the emulator's start to `done` (or to the timeout). */
  readonly ms: number;
  /** USBSTS (UHCI 2.1.2) when the run ended. */
  readonly usbsts: number;
}

/**
 * Boots GRUB from the floppy with `rootPorts` on the controller's two root ports, marks every
 * {@link WatchedStick} in `sticks` as GRUB's once `@@GRUB begin` is printed, calls `onType` when GRUB
 * waits for a typed line, and resolves at `@@GRUB done` or after `timeoutMs`.
 */
export async function runGrub(options: {
  rootPorts: readonly [UsbDevice | null, UsbDevice | null];
  sticks: readonly WatchedStick[];
  onType: () => void;
  timeoutMs: number;
}): Promise<GrubRun> {
  const images = loadGuestImages();
  const floppy = loadGrubFloppy();
  const started = performance.now();
  let uhci: UhciOnV86 | undefined;
  let attachError: unknown;
  const emulator = new V86({
    wasm_path: wasmPath,
    memory_size: 32 * 1024 * 1024,
    vga_memory_size: 2 * 1024 * 1024,
    bios: { buffer: images.bios },
    vga_bios: { buffer: images.vgaBios },
    fda: { buffer: floppy.buffer as ArrayBuffer },
    // SeaBIOS's CMOS boot order, one nibble per entry from the lowest: floppy first (1), then hard
    // disks (2: the sticks, which SeaBIOS's USB driver also offers) and CD (3).
    boot_order: 0x321,
    autostart: true,
    disable_keyboard: true,
    disable_mouse: true,
    disable_speaker: true,
  });
  let text = "";
  let typed = false;
  let finish: (done: boolean) => void = () => {};
  const finished = new Promise<boolean>((resolve) => {
    finish = resolve;
  });
  emulator.add_listener("emulator-ready", () => {
    try {
      uhci = attachUhciToV86(emulator);
      options.rootPorts.forEach((device, port) => {
        if (device !== null) uhci?.controller.attach(port, device);
      });
    } catch (error) {
      attachError = error;
      finish(false);
    }
  });
  emulator.add_listener("serial0-output-byte", (byte: number) => {
    if (byte === 0x0d) return;
    text += String.fromCharCode(byte);
    if (byte !== 0x0a) return;
    if (text.endsWith("@@GRUB begin\n")) for (const stick of options.sticks) stick.by = "grub";
    if (!typed && text.endsWith("@@GRUB type\n")) {
      typed = true;
      // GRUB's `read` polls its terminals once it runs; the reports wait in the keyboard's queue.
      options.onType();
    }
    if (text.endsWith("@@GRUB done\n")) finish(true);
  });
  const timer = setTimeout(() => finish(false), options.timeoutMs);
  const done = await finished;
  clearTimeout(timer);
  const ms = performance.now() - started;
  const usbsts = uhci?.controller.ioRead(0x02, 2) ?? -1;
  uhci?.detach();
  await emulator.destroy();
  if (attachError !== undefined) throw attachError;
  if (uhci === undefined) throw new Error("v86 never got ready");
  return { console: text, done, ms, usbsts };
}
