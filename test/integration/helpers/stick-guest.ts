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
import { execFileSync } from "node:child_process";
import { writeSync } from "node:fs";
import { resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { GuestVm } from "../../../src/cli/guest-vm/guest-vm.ts";
import type { BlockStore } from "../../../src/devices/storage/block-store.ts";
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

/** A FAT file system on a fresh image of `mib` MiB (dosfstools), with `files` copied in (mtools). */
export function makeFatImage(path: string, mib: number, files: Record<string, string> = {}): void {
  execFileSync("mkfs.fat", ["-C", "-n", "UHCITEST", "-i", "12345678", path, String(mib * 1024)], {
    stdio: "pipe",
  });
  for (const [name, source] of Object.entries(files)) {
    execFileSync("mcopy", ["-i", path, source, `::/${name}`], {
      stdio: "pipe",
      env: { ...process.env, MTOOLS_SKIP_CHECK: "1" },
    });
  }
}

/** A file's bytes read out of a FAT image (mtools), or null when it is not there. */
export function readFatFile(image: string, name: string): Buffer | null {
  try {
    return execFileSync("mtype", ["-i", image, `::/${name}`], {
      stdio: ["ignore", "pipe", "pipe"],
      env: { ...process.env, MTOOLS_SKIP_CHECK: "1" },
      maxBuffer: 64 << 20,
    });
  } catch {
    return null;
  }
}

/** `fsck.fat -n` (check only): exit code and output. */
export function fsckFat(image: string): { code: number; output: string } {
  try {
    const output = execFileSync("fsck.fat", ["-n", image], { stdio: ["ignore", "pipe", "pipe"] }).toString();
    return { code: 0, output };
  } catch (error) {
    const e = error as { status?: number; stdout?: Buffer; stderr?: Buffer };
    return { code: e.status ?? -1, output: `${e.stdout?.toString() ?? ""}${e.stderr?.toString() ?? ""}` };
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
