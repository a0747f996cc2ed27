import { readFileSync } from "node:fs";
import { basename, join } from "node:path";
import { fileURLToPath } from "node:url";

/** The committed guest artefacts (guest-image/dist): SeaBIOS, its VGA BIOS, a Linux kernel and initramfs. */
export interface GuestImages {
  bios: ArrayBuffer;
  vgaBios: ArrayBuffer;
  kernel: ArrayBuffer;
  initrd: ArrayBuffer;
}

/**
 * The guest image shipped in the package (guest-image/dist, next to src/ and dist/; this module sits at
 * the same depth under both). Its licences and source versions are in guest-image/dist/LICENSES.md.
 * `fileURLToPath` decodes the module URL's escapes (`%23`, `%20`), so an install folder with `#` or a
 * space in its name works; `URL.pathname` would keep them encoded.
 */
export const BUNDLED_GUEST_DIR = fileURLToPath(new URL("../../guest-image/dist/", import.meta.url));

/** The kernel command line the bundled guest boots with, before its test plan (guest-image/README.md). */
export const BUNDLED_GUEST_CMDLINE = [
  "console=ttyS0",
  "quiet",
  "cryptomgr.notests",
  "noisapnp",
  "tsc=reliable",
  "no_timer_check",
  "nowatchdog",
  "nmi_watchdog=0",
  "random.trust_cpu=on",
  "mitigations=off",
].join(" ");

function load(dir: string, name: string): ArrayBuffer {
  let bytes: Buffer;
  try {
    bytes = readFileSync(join(dir, name));
  } catch (error) {
    const reason = error instanceof Error ? error.message : String(error);
    throw new Error(`cannot read guest image '${name}' in ${dir}: ${reason}`);
  }
  return bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength) as ArrayBuffer;
}

/**
 * Reads the guest artefacts from the folder `dir` (default: the bundled guest-image/dist), a file system
 * path (relative ones from the working directory), never parsed as a URL.
 */
export function loadGuestImages(dir = BUNDLED_GUEST_DIR): GuestImages {
  let initrdName = "initramfs.cpio.zst";
  try {
    const info: unknown = JSON.parse(new TextDecoder().decode(load(dir, "build-info.json")));
    if (
      typeof info === "object" &&
      info !== null &&
      "initramfs" in info &&
      typeof info.initramfs === "string" &&
      // A file name in this folder, not a path: build-info.json says which of its files to read.
      info.initramfs === basename(info.initramfs) &&
      info.initramfs !== ".."
    ) {
      initrdName = info.initramfs;
    }
  } catch {
    // No build-info.json: keep the default initramfs name.
  }
  return {
    bios: load(dir, "bios.bin"),
    vgaBios: load(dir, "vgabios-stdvga.bin"),
    kernel: load(dir, "bzImage"),
    initrd: load(dir, initrdName),
  };
}
