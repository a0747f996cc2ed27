/**
 * USB stick throughput in v86 (issue 12, item 6): the bundled Linux guest `dd`s 16 MiB from and to the
 * emulated stick's raw disk (usb-storage + sd, 64 KiB blocks, the page cache dropped before the read,
 * `conv=fsync` on the write; guest-image/README.md, items ddread/ddwrite), timed by the guest's own
 * monotonic clock. One boot per setting and run (`--stick-modes`, `--stick-runs`):
 *   capped    the controller's default 1280 bytes per frame, as QEMU and Bochs do: the ~1.2 MB/s
 *             that full-speed bulk reaches on real USB 1.1 (19 × 64-byte packets per 1 ms frame)
 *   uncapped  `UHCI_EMULATION_SPEED`: `bandwidthBytesPerFrame: 65536`, `maxLinkVisitsPerFrame: 8192`: how
 *             fast the emulated stick can go when nothing needs real USB timing. uhci-hcd links a
 *             queue's TDs breadth-first, so with bandwidth reclamation every TD costs a trip round
 *             the reclamation loop (~6 links): the default budget of 1024 links ends a frame after
 *             ~170 TDs, spreading a 64 KiB read over 6 frames the guest waits through; 8192 moves it
 *             in one or two (docs/benchmarks.md, section 6)
 *   uncapped-budget-1024  the cap lifted with the default link budget (the previous setting), for
 *             comparison
 * MB/s is 10^6 bytes per guest second. The guest's clock follows the host's in v86, so a loaded host
 * shows as fewer MB/s.
 */
import type { GuestEvent } from "../src/cli/guest-vm/guest-serial.ts";
import { GuestVm } from "../src/cli/guest-vm/guest-vm.ts";
import { UHCI_EMULATION_SPEED } from "../src/controller/uhci/uhci-controller.ts";
import { MemoryBlockStore } from "../src/devices/storage/block-store.ts";
import { UsbMassStorage } from "../src/devices/storage/mass-storage.ts";
import { BUNDLED_GUEST_CMDLINE, loadGuestImages } from "../src/node/bundled-guest.ts";

export interface StickDdRun {
  name: string;
  bandwidthBytesPerFrame: number;
  maxLinkVisitsPerFrame: number;
  mib: number;
  read: { ms: number; mbPerSecond: number } | null;
  write: { ms: number; mbPerSecond: number } | null;
  /** What the device saw (host side): bytes and SCSI commands. */
  device: { bytesRead: number; bytesWritten: number; commands: number; failed: number };
  wallSeconds: number;
}

export interface StickDdResult {
  runs: StickDdRun[];
  /** Per setting: every run's read and write MB/s (null: failed), in run order. */
  bySetting: Record<string, { read: (number | null)[]; write: (number | null)[] }>;
  /** The aim: at least 5 MB/s read with the cap lifted, in every uncapped run made. */
  uncappedReadAtLeast5MBps: boolean;
}

/** The settings the benchmark can boot with (`--stick-modes`); see the header. */
export const STICK_SETTINGS = {
  capped: { bandwidthBytesPerFrame: 1280, maxLinkVisitsPerFrame: 1024 },
  uncapped: UHCI_EMULATION_SPEED,
  "uncapped-budget-1024": { bandwidthBytesPerFrame: 65536, maxLinkVisitsPerFrame: 1024 },
} as const;
export type StickSetting = keyof typeof STICK_SETTINGS;
const DEFAULT_SETTINGS: readonly StickSetting[] = ["capped", "uncapped"];

const STICK_MIB = 32;

function ddOf(events: readonly GuestEvent[], dir: "read" | "write"): StickDdRun["read"] {
  const e = events.find((x) => x.event === "dd" && x.dir === dir);
  if (e === undefined || e.rc !== 0 || typeof e.ms !== "number" || typeof e.bytes !== "number") return null;
  return { ms: e.ms, mbPerSecond: Math.round((e.bytes / 1e6 / (e.ms / 1000)) * 100) / 100 };
}

async function one(name: StickSetting, mib: number): Promise<StickDdRun> {
  const { bandwidthBytesPerFrame, maxLinkVisitsPerFrame } = STICK_SETTINGS[name];
  const stick = new UsbMassStorage({ store: new MemoryBlockStore((STICK_MIB * 1024 * 1024) / 512) });
  const started = performance.now();
  const vm = await GuestVm.boot({
    images: loadGuestImages(),
    cmdline: `${BUNDLED_GUEST_CMDLINE} uhci.plan=enum:1,ddread:${mib},ddwrite:${mib}`,
    usb: [stick, null],
    controllerOptions: { bandwidthBytesPerFrame, maxLinkVisitsPerFrame },
  });
  try {
    await vm.waitForEvent((e) => e.event === "done", 600_000);
    return {
      name,
      bandwidthBytesPerFrame,
      maxLinkVisitsPerFrame,
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

export interface StickDdOptions {
  /** Settings to boot (default capped, uncapped). */
  modes?: readonly string[];
  /** Boots per setting (default 1). */
  runs?: number;
  mib?: number;
}

export async function runStickDd(
  log: (line: string) => void,
  options: StickDdOptions = {},
): Promise<StickDdResult> {
  const modes = options.modes !== undefined && options.modes.length > 0 ? options.modes : DEFAULT_SETTINGS;
  for (const m of modes) {
    if (!Object.hasOwn(STICK_SETTINGS, m))
      throw new Error(`no stick setting ${m} (${Object.keys(STICK_SETTINGS).join(", ")})`);
  }
  const runCount = options.runs ?? 1;
  const mib = options.mib ?? 16;
  const runs: StickDdRun[] = [];
  const bySetting: StickDdResult["bySetting"] = {};
  const show = (r: StickDdRun["read"]) => (r === null ? "FAILED" : `${r.mbPerSecond} MB/s (${r.ms} ms)`);
  // Settings alternate run by run, so a machine that gets busier during the benchmark weighs on each alike.
  for (let i = 0; i < runCount; i++) {
    for (const name of modes as readonly StickSetting[]) {
      const run = await one(name, mib);
      const s = STICK_SETTINGS[name];
      log(
        `   ${name.padEnd(8)} (${s.bandwidthBytesPerFrame} B/frame, ${s.maxLinkVisitsPerFrame} links/frame): read ${show(run.read)}, write ${show(run.write)}`,
      );
      runs.push(run);
      const entry = bySetting[name] ?? { read: [], write: [] };
      bySetting[name] = entry;
      entry.read.push(run.read?.mbPerSecond ?? null);
      entry.write.push(run.write?.mbPerSecond ?? null);
    }
  }
  const uncapped = runs.filter((r) => r.name === "uncapped");
  return {
    runs,
    bySetting,
    uncappedReadAtLeast5MBps: uncapped.length > 0 && uncapped.every((r) => (r.read?.mbPerSecond ?? 0) >= 5),
  };
}
