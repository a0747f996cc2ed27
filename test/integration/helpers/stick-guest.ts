/**
 * A Linux guest in v86 with a USB stick whose medium is an image file (FileBlockStore), for the
 * durability tests (test/integration/v86-stick-durability.test.ts). Run as a script it is the host
 * process the test kills:
 *
 *   node --import tsx test/integration/helpers/stick-guest.ts IMAGE PLAN [--kill-after-sync]
 *
 * prints every guest event as one JSON line on stdout and, with --kill-after-sync, SIGKILLs itself
 * the moment the guest reports that its `sync` returned (nothing of the host gets to flush or close).
 */
import { spawnSync } from "node:child_process";
import { readFileSync, rmSync, writeFileSync, writeSync } from "node:fs";
import { resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { GuestVm } from "../../../src/cli/guest-vm/guest-vm.ts";
import { checkFatImage, createFatImage } from "../../../src/cli/stick/fat-image.ts";
import { BLOCK_SIZE, type BlockStore } from "../../../src/devices/storage/block-store.ts";
import { UsbMassStorage } from "../../../src/devices/storage/mass-storage.ts";
import { BUNDLED_GUEST_CMDLINE, loadGuestImages } from "../../../src/node/bundled-guest.ts";
import { FileBlockStore } from "../../../src/node/file-block-store.ts";

/** Boots the guest with `store` behind a stick on root port 1 and runs `plan`. */
export async function bootWithStick(
  store: BlockStore,
  plan: string,
  onEvent: (e: { event: string; [k: string]: unknown }) => void,
) {
  const stick = new UsbMassStorage({ store });
  const vm = await GuestVm.boot({
    images: loadGuestImages(),
    cmdline: `${BUNDLED_GUEST_CMDLINE} uhci.plan=${plan}`,
    usb: [stick],
    onEvent,
  });
  return { vm, stick };
}

/**
 * A fresh stick image of `mib` MiB holding `files`, made as `uhci stick pack` makes it (FatFs: an MBR
 * with one FAT partition), so the tests need nothing but Node: no dosfstools or mtools.
 */
export async function makeFatImage(path: string, mib: number, files: Record<string, Uint8Array> = {}) {
  const image = await createFatImage(mib * 1024 * 1024, {
    files: Object.entries(files).map(([name, data]) => ({ path: name, data })),
  });
  writeFileSync(path, image);
}

/** Bytes per cluster of the file system FatFs makes on `mib` MiB: the free clusters a 128 KiB file takes. */
export async function clusterBytes(mib: number): Promise<number> {
  const probe = 128 * 1024;
  const empty = await checkFatImage(await createFatImage(mib * 1024 * 1024, { files: [] }));
  const one = await checkFatImage(
    await createFatImage(mib * 1024 * 1024, { files: [{ path: "PROBE", data: new Uint8Array(probe) }] }),
  );
  return probe / (empty.freeClusters - one.freeClusters);
}

/** The FAT volume of an image makeFatImage made: the sectors of its MBR's first partition. */
function fatVolume(image: Uint8Array): Uint8Array {
  const mbr = new DataView(image.buffer, image.byteOffset, 512);
  if (mbr.getUint16(510, true) !== 0xaa55) throw new Error("the image has no MBR");
  const start = mbr.getUint32(0x1c6, true);
  const sectors = mbr.getUint32(0x1ca, true);
  return image.subarray(start * BLOCK_SIZE, (start + sectors) * BLOCK_SIZE);
}

/**
 * `fsck.fat -n` (check only) on the image's FAT volume (copied out to `IMAGE.volume`: fsck.fat reads a
 * bare file system, not a partitioned disk): exit code and output, or null when fsck.fat is not
 * installed (a machine with only Node and npm; a shell's 127, "command not found", counts as that too).
 */
export function fsckFat(image: string): { code: number; output: string } | null {
  const volume = `${image}.volume`;
  writeFileSync(volume, fatVolume(readFileSync(image)));
  try {
    const run = spawnSync("fsck.fat", ["-n", volume], { encoding: "utf8" });
    const error = run.error as NodeJS.ErrnoException | undefined;
    if (error?.code === "ENOENT" || run.status === 127) return null;
    if (error !== undefined) throw error;
    return { code: run.status ?? -1, output: `${run.stdout}${run.stderr}` };
  } finally {
    rmSync(volume, { force: true });
  }
}

async function main(): Promise<void> {
  const [image, plan, flag] = process.argv.slice(2);
  if (image === undefined || plan === undefined)
    throw new Error("usage: stick-guest.ts IMAGE PLAN [--kill-after-sync]");
  const store = FileBlockStore.open(image);
  const print = (line: string) => writeSync(1, `${line}\n`);
  const { vm } = await bootWithStick(store, plan, (event) => {
    print(JSON.stringify(event));
    if (event.event === "sync" && flag === "--kill-after-sync") {
      // The guest's sync returned: every write it made was acknowledged by the stick. Die now, with the
      // file still open and nothing flushed or closed by the host.
      process.kill(process.pid, "SIGKILL");
    }
  });
  await vm.waitForEvent((e) => e.event === "done", 120_000);
  await vm.stop();
  store.close();
}

if (process.argv[1] !== undefined && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  main().catch((error) => {
    process.stderr.write(`${error instanceof Error ? error.stack : String(error)}\n`);
    process.exit(1);
  });
}
