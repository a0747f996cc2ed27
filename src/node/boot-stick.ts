import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { gunzipSync } from "node:zlib";
import { BUNDLED_GUEST_DIR } from "./bundled-guest.ts";

/** Where one of the bootable stick's big files goes, from `stick.json` (written by guest-image/build.sh). */
interface StickFile {
  name: string;
  /** The file in the guest folder whose bytes go there (`bzImage`, the initramfs). */
  source: string;
  offset: number;
  bytes: number;
  sha256: string;
}

interface StickManifest {
  bytes: number;
  sha256: string;
  template: string;
  partitionOffset: number;
  files: StickFile[];
}

const HEX64 = /^[0-9a-f]{64}$/;

function isStickFile(value: unknown): value is StickFile {
  if (typeof value !== "object" || value === null) return false;
  const f = value as Record<string, unknown>;
  return (
    typeof f.name === "string" &&
    typeof f.source === "string" &&
    // A file name in the guest folder, never a path (stick.json is data, not a pointer anywhere).
    /^[A-Za-z0-9._-]+$/.test(f.source) &&
    f.source !== ".." &&
    Number.isSafeInteger(f.offset) &&
    Number.isSafeInteger(f.bytes) &&
    typeof f.sha256 === "string" &&
    HEX64.test(f.sha256)
  );
}

function parseManifest(text: string): StickManifest {
  const m: unknown = JSON.parse(text);
  if (typeof m !== "object" || m === null) throw new Error("stick.json is not an object");
  const o = m as Record<string, unknown>;
  if (
    !Number.isSafeInteger(o.bytes) ||
    typeof o.sha256 !== "string" ||
    !HEX64.test(o.sha256) ||
    typeof o.template !== "string" ||
    !/^[A-Za-z0-9._-]+$/.test(o.template) ||
    !Number.isSafeInteger(o.partitionOffset) ||
    !Array.isArray(o.files) ||
    !o.files.every(isStickFile)
  ) {
    throw new Error("stick.json lacks bytes, sha256, template, partitionOffset or a valid files list");
  }
  return {
    bytes: o.bytes as number,
    sha256: o.sha256,
    template: o.template,
    partitionOffset: o.partitionOffset as number,
    files: o.files,
  };
}

function sha256(bytes: Uint8Array): string {
  return createHash("sha256").update(bytes).digest("hex");
}

/**
 * The bootable USB stick of the bundled guest (issue 12): a 16 MiB disk image with an MBR, one FAT16
 * partition, SYSLINUX, the kernel and the initramfs, whose `syslinux.cfg` boots Linux with a plan that
 * mounts the stick and checks the two files (guest-image/README.md). SeaBIOS boots it through its own
 * UHCI and mass-storage drivers. The package carries a template with zeros where the kernel and
 * initramfs go (they are in the guest folder already); this fills them in and checks every file and
 * the whole image against the sha256s build.sh recorded, so a stale template or image is an error
 * here, not a guest that fails to boot.
 */
export function loadBootStick(dir = BUNDLED_GUEST_DIR): Uint8Array {
  const read = (name: string): Buffer => {
    try {
      return readFileSync(join(dir, name));
    } catch (error) {
      const reason = error instanceof Error ? error.message : String(error);
      throw new Error(`cannot read '${name}' of the bootable stick in ${dir}: ${reason}`);
    }
  };
  const manifest = parseManifest(read("stick.json").toString("utf8"));
  const image = new Uint8Array(gunzipSync(read(manifest.template)));
  if (image.length !== manifest.bytes) {
    throw new Error(`the stick template unpacks to ${image.length} bytes, stick.json says ${manifest.bytes}`);
  }
  for (const file of manifest.files) {
    const bytes = read(file.source);
    if (bytes.length !== file.bytes || sha256(bytes) !== file.sha256) {
      throw new Error(
        `${file.source} is not the file the stick was built with (stick.json: ${file.bytes} bytes, sha256 ${file.sha256}); rebuild with guest-image/build.sh`,
      );
    }
    if (file.offset < 0 || file.offset + file.bytes > image.length) {
      throw new Error(`stick.json puts ${file.name} outside the image`);
    }
    image.set(bytes, file.offset);
  }
  if (sha256(image) !== manifest.sha256)
    throw new Error("the assembled stick's sha256 differs from stick.json");
  return image;
}
