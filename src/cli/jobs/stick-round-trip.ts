import { createHash } from "node:crypto";
import { MemoryBlockStore } from "../../devices/storage/block-store.ts";
import type { GuestEvent } from "../guest-vm/guest-serial.ts";
import { createFatImage, readFatImage } from "../stick/fat-image.ts";

/**
 * A file round trip through a USB stick (issue 12: "Linux mounts the stick, reads a file the host put
 * there (sha256 equal), writes a file, syncs, unmounts; the host then finds that file in the image,
 * byte for byte"). The host makes a FAT stick (FatFs) holding `host.bin`; the guest's plan mounts it,
 * reports host.bin's sha256, copies it to `guest.bin`, writes `random.bin` from its own /dev/urandom
 * (reporting its sha256), syncs and unmounts; the host then reads both files out of the image the
 * device was left with.
 */
export interface StickRoundTripReport {
  ok: boolean;
  /** The guest mounted the stick (vfat), and unmounted it at the end. */
  mounted: boolean;
  unmounted: boolean;
  /** host.bin as the guest read it: equal when its sha256 is the host's. */
  hostToGuest: { bytes: number; sha256: string; guestSha256: string | null; equal: boolean };
  /** guest.bin (the guest's copy of host.bin) as the host found it in the image. */
  guestCopy: { bytes: number | null; equal: boolean };
  /** random.bin: the guest's own bytes; the host's sha256 of the file it found against the guest's. */
  guestToHost: { bytes: number | null; sha256: string | null; guestSha256: string | null; equal: boolean };
  /** Guest milliseconds of the mount, of reading host.bin, of writing both files, of the sync. */
  guestMs: { mount: number | null; read: number | null; write: number | null; sync: number | null };
  problems: string[];
}

export const ROUND_TRIP_HOST_FILE = "host.bin";
const GUEST_COPY = "guest.bin";
const GUEST_RANDOM = "random.bin";

const sha256 = (bytes: Uint8Array): string => createHash("sha256").update(bytes).digest("hex");

/** Different bytes everywhere (a block read from the wrong place shows), from a seed. */
function fileBytes(length: number, seed: number): Uint8Array {
  const out = new Uint8Array(length);
  let x = seed >>> 0 || 1;
  for (let i = 0; i < length; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    out[i] = x & 0xff;
  }
  return out;
}

export interface StickRoundTrip {
  /** The stick's medium, for a `UsbMassStorage`: the FAT image, changed in place by the guest. */
  store: MemoryBlockStore;
  /** The guest's plan items, to append to a plan (comma-separated, guest-image/README.md). */
  planItems: string;
  /** Reads the outcome from the guest's events and the image (call once the guest reported `done`). */
  check(events: readonly GuestEvent[]): Promise<StickRoundTripReport>;
}

/**
 * Makes the stick: `stickMiB` MiB (FAT12/16 as FatFs picks), host.bin of `fileBytes` bytes, random.bin
 * of `guestKiB` KiB written by the guest.
 */
export async function prepareStickRoundTrip(
  options: { stickMiB?: number; fileBytes?: number; guestKiB?: number; seed?: number } = {},
): Promise<StickRoundTrip> {
  const host = fileBytes(options.fileBytes ?? 256 * 1024, options.seed ?? 0x5eed);
  const hostSha = sha256(host);
  const image = await createFatImage((options.stickMiB ?? 8) * 1024 * 1024, {
    files: [{ path: ROUND_TRIP_HOST_FILE, data: host }],
  });
  const store = new MemoryBlockStore(image);
  const guestKiB = options.guestKiB ?? 64;
  const planItems = [
    "mount",
    `sha:${ROUND_TRIP_HOST_FILE}`,
    `copy:${ROUND_TRIP_HOST_FILE}:${GUEST_COPY}`,
    `write:${GUEST_RANDOM}:${guestKiB}`,
    "sync",
    "umount",
  ].join(",");
  return {
    store,
    planItems,
    async check(events) {
      const problems: string[] = [];
      const mount = events.find((e) => e.event === "mount");
      const umount = events.find((e) => e.event === "umount");
      const sums = events.filter((e) => e.event === "file-sum");
      const sumOf = (path: string) => sums.find((e) => e.path === path);
      const guestRead = sumOf(ROUND_TRIP_HOST_FILE);
      const guestRandom = sumOf(GUEST_RANDOM);
      const itemMs = (prefix: string): number | null => {
        const end = events.find(
          (e) => e.event === "item-end" && typeof e.item === "string" && e.item.startsWith(prefix),
        );
        return typeof end?.ms === "number" ? end.ms : null;
      };
      const writeMs = [itemMs("copy:"), itemMs("write:")];
      const mounted = mount?.ok === true;
      if (!mounted) problems.push("the guest did not mount the stick");
      const guestSha256 = typeof guestRead?.sha256 === "string" ? guestRead.sha256 : null;
      const hostToGuest = {
        bytes: host.length,
        sha256: hostSha,
        guestSha256,
        equal: guestSha256 === hostSha,
      };
      if (mounted && !hostToGuest.equal)
        problems.push(
          `the guest read ${ROUND_TRIP_HOST_FILE} with sha256 ${guestSha256}, the host wrote ${hostSha}`,
        );
      // The image as the guest left it (MemoryBlockStore writes into it in place).
      let found = new Map<string, Uint8Array>();
      try {
        found = new Map((await readFatImage(store.bytes)).files.map((f) => [f.path, f.data]));
      } catch (error) {
        problems.push(
          `the stick no longer holds a FAT file system: ${error instanceof Error ? error.message : String(error)}`,
        );
      }
      const copy = found.get(GUEST_COPY);
      const guestCopy = {
        bytes: copy?.length ?? null,
        equal: copy !== undefined && Buffer.from(copy).equals(Buffer.from(host)),
      };
      if (mounted && !guestCopy.equal)
        problems.push(
          copy === undefined
            ? `${GUEST_COPY} is not on the stick after the guest's sync`
            : `${GUEST_COPY} on the stick differs from ${ROUND_TRIP_HOST_FILE}`,
        );
      const random = found.get(GUEST_RANDOM);
      const randomSha = random === undefined ? null : sha256(random);
      const guestRandomSha = typeof guestRandom?.sha256 === "string" ? guestRandom.sha256 : null;
      const guestToHost = {
        bytes: random?.length ?? null,
        sha256: randomSha,
        guestSha256: guestRandomSha,
        equal: randomSha !== null && randomSha === guestRandomSha && random?.length === guestKiB * 1024,
      };
      if (mounted && !guestToHost.equal)
        problems.push(
          random === undefined
            ? `${GUEST_RANDOM} is not on the stick after the guest's sync`
            : `${GUEST_RANDOM} on the stick (sha256 ${randomSha}) is not what the guest wrote (${guestRandomSha})`,
        );
      const unmounted = umount?.ok === true;
      if (mounted && !unmounted) problems.push("the guest could not unmount the stick");
      return {
        ok: problems.length === 0,
        mounted,
        unmounted,
        hostToGuest,
        guestCopy,
        guestToHost,
        guestMs: {
          mount: typeof mount?.ms === "number" ? mount.ms : null,
          read: itemMs(`sha:${ROUND_TRIP_HOST_FILE}`),
          write: writeMs.every((m) => m !== null) ? writeMs.reduce<number>((a, b) => a + (b ?? 0), 0) : null,
          sync: itemMs("sync"),
        },
        problems,
      };
    },
  };
}
