/**
 * USB stick throughput in v86 (issue 12, item 6): the bundled Linux guest `dd`s 16 MiB from and to the
 * emulated stick's raw disk (usb-storage + sd, 64 KiB blocks, the page cache dropped before the read,
 * `conv=fsync` on the write; guest-image/README.md, items ddread/ddwrite), timed by the guest's own
 * monotonic clock. One boot per bandwidth setting:
 *   capped    the controller's default 1280 bytes per frame, as QEMU and Bochs do: the ~1.2 MB/s
 *             that full-speed bulk reaches on real USB 1.1 (19 × 64-byte packets per 1 ms frame)
 *   uncapped  `bandwidthBytesPerFrame: 65536` (emulation only; the link budget of 1024 TDs per
 *             frame then bounds a frame): how fast the emulated stick can go when nothing needs real
 *             USB timing
 * MB/s is 10^6 bytes per guest second. The guest's clock follows the host's in v86, so a loaded host
 * shows as fewer MB/s.
 */
import type { GuestEvent } from "../src/cli/guest-vm/guest-serial.ts";
import { GuestVm } from "../src/cli/guest-vm/guest-vm.ts";
import { MemoryBlockStore } from "../src/devices/storage/block-store.ts";
import { UsbMassStorage } from "../src/devices/storage/mass-storage.ts";
import { BUNDLED_GUEST_CMDLINE, loadGuestImages } from "../src/node/bundled-guest.ts";

export interface StickDdRun {
  name: string;
  bandwidthBytesPerFrame: number;
  mib: number;
  read: { ms: number; mbPerSecond: number } | null;
  write: { ms: number; mbPerSecond: number } | null;
  /** What the device saw (host side): bytes and SCSI commands. */
  device: { bytesRead: number; bytesWritten: number; commands: number; failed: number };
  wallSeconds: number;
}

export interface StickDdResult {
  runs: StickDdRun[];
  /** The aim: at least 5 MB/s read with the cap lifted. */
  uncappedReadAtLeast5MBps: boolean;
}

const STICK_MIB = 32;

function ddOf(events: readonly GuestEvent[], dir: "read" | "write"): StickDdRun["read"] {
  const e = events.find((x) => x.event === "dd" && x.dir === dir);
  if (e === undefined || e.rc !== 0 || typeof e.ms !== "number" || typeof e.bytes !== "number") return null;
  return { ms: e.ms, mbPerSecond: Math.round((e.bytes / 1e6 / (e.ms / 1000)) * 100) / 100 };
}

async function one(name: string, bandwidthBytesPerFrame: number, mib: number): Promise<StickDdRun> {
  const stick = new UsbMassStorage({ store: new MemoryBlockStore((STICK_MIB * 1024 * 1024) / 512) });
  const started = performance.now();
  const vm = await GuestVm.boot({
    images: loadGuestImages(),
    cmdline: `${BUNDLED_GUEST_CMDLINE} uhci.plan=enum:1,ddread:${mib},ddwrite:${mib}`,
    usb: [stick, null],
    controllerOptions: { bandwidthBytesPerFrame },
  });
  try {
    await vm.waitForEvent((e) => e.event === "done", 600_000);
    return {
      name,
      bandwidthBytesPerFrame,
      mib,
      read: ddOf(vm.serial.events, "read"),
      write: ddOf(vm.serial.events, "write"),
      device: {
        bytesRead: stick.stats.bytesRead,
        bytesWritten: stick.stats.bytesWritten,
        commands: stick.stats.commands,
        failed: stick.stats.failed,
      },
      wallSeconds: Math.round((performance.now() - started) / 100) / 10,
    };
  } finally {
    await vm.stop();
  }
}

export async function runStickDd(log: (line: string) => void, mib = 16): Promise<StickDdResult> {
  const runs: StickDdRun[] = [];
  for (const [name, cap] of [
    ["capped", 1280],
    ["uncapped", 65536],
  ] as const) {
    const run = await one(name, cap, mib);
    const show = (r: StickDdRun["read"]) => (r === null ? "FAILED" : `${r.mbPerSecond} MB/s (${r.ms} ms)`);
    log(`   ${name.padEnd(8)} (${cap} B/frame): read ${show(run.read)}, write ${show(run.write)}`);
    runs.push(run);
  }
  const uncapped = runs.find((r) => r.name === "uncapped");
  return { runs, uncappedReadAtLeast5MBps: (uncapped?.read?.mbPerSecond ?? 0) >= 5 };
}
