/**
 * Host pauses injected into the main job (v86 + the bundled Linux, test/integration/v86-host-stalls.test.ts
 * and scripts/host-stalls.ts): pauses of given lengths at seeded random points of the capture and of the
 * playback, and one just before the keyboard types, in one of two ways:
 * - "busy": the event loop is blocked in a busy wait, from inside the emulator's loop (a busy main
 *   thread);
 * - "sigstop": the job runs in a child process that the parent stops with SIGSTOP and resumes with
 *   SIGCONT (a stopped process, a laptop asleep). The child asks for each pause over IPC and spins until
 *   the pause's length has passed, so the parent's SIGSTOP lands within microseconds of the request.
 * Either way performance.now() jumps by the pause, which is what v86 (and so the guest's clock) sees.
 */
import { fork } from "node:child_process";
import { fileURLToPath } from "node:url";
import type { GuestEvent } from "../../../src/cli/guest-vm/guest-serial.ts";
import type { GuestVm } from "../../../src/cli/guest-vm/guest-vm.ts";
import type { AudioDirectionReport, MainJobReport } from "../../../src/cli/jobs/main-job.ts";
import { runMainJob } from "../../../src/cli/jobs/main-job.ts";
import type { HostStallStats } from "../../../src/controller/uhci/frame-clock.ts";
import { SeededRandom } from "../../../src/machine/seeded-random.ts";
import { loadGuestImages } from "../../../src/node/bundled-guest.ts";

export type PauseWay = "busy" | "sigstop";

export interface StallRunOptions {
  way: PauseWay;
  /** Pause lengths in seconds, each injected once into the capture and once into the playback. */
  pausesS: readonly number[];
  /** Pause just before the keyboard types (seconds; the guest listens LISTEN_SECONDS of its time). */
  hidPauseS: number;
  seed: number;
  /**
   * A background tab: 1 s after the playback starts, v86's loop runs once a second for this many
   * seconds, then normally again (0: none).
   */
  backgroundTabS?: number;
  sampleRate?: number;
  channels?: 1 | 2;
  /** Seconds of audio recorded and played (guest data; pauses come on top). */
  seconds: number;
  timeoutMs?: number;
  onProgress?: (message: string) => void;
}

export interface InjectedPause {
  phase: "capture" | "playback" | "hid";
  /** Requested length and what performance.now() actually jumped by, in ms. */
  ms: number;
  actualMs: number;
  /** Host ms after the phase started. */
  atMs: number;
}

export type DirectionSummary = Omit<AudioDirectionReport, "samples">;

export interface StallRunResult {
  way: PauseWay;
  seed: number;
  report: Omit<MainJobReport, "capture" | "playback"> & {
    capture: DirectionSummary | null;
    playback: DirectionSummary | null;
  };
  pauses: InjectedPause[];
  /** The guest's kernel log after the job (the plan's dmesg item). */
  dmesg: string[];
  /** What arecord and aplay printed on stderr. */
  toolErrors: string[];
  /** Host seconds and each guest event (logs and blobs left out), for reading a failure. */
  timeline: string[];
  stall: HostStallStats | null;
}

/** Kernel log lines that mean a USB or sound error in the guest. */
export const USB_ERROR_PATTERN =
  /uhci_hcd.*(error|halted|host system error|host controller process error)|usb \d.*(error|disabled|reset full-speed)|cannot submit|urb.*failed|usb-audio.*(error|fail)|xrun/i;

/** A schedule of pauses: lengths in a seeded random order, at seeded random gaps (ms) after the phase starts. */
export function pauseSchedule(
  random: SeededRandom,
  pausesS: readonly number[],
): { gapMs: number; ms: number }[] {
  const order = [...pausesS];
  for (let i = order.length - 1; i > 0; i--) {
    const j = random.below(i + 1);
    [order[i], order[j]] = [order[j]!, order[i]!];
  }
  // 0.4–1.6 s of streaming between pauses: the stream is back in step before the next one.
  return order.map((s) => ({ gapMs: 400 + random.below(1200), ms: Math.round(s * 1000) }));
}

function spin(ms: number): number {
  const t0 = performance.now();
  while (performance.now() - t0 < ms) {
    // A busy host: nothing else runs.
  }
  return performance.now() - t0;
}

/** Runs the job in this process; `pause` blocks for ms (busy) or has the parent stop this process. */
async function runHere(options: StallRunOptions, pause: (ms: number) => number): Promise<StallRunResult> {
  const random = new SeededRandom(options.seed);
  const capture = pauseSchedule(random, options.pausesS);
  const playback = pauseSchedule(random, options.pausesS);
  const pauses: InjectedPause[] = [];
  let vm: GuestVm | null = null;
  const timers: NodeJS.Timeout[] = [];
  const inject = (phase: InjectedPause["phase"], schedule: { gapMs: number; ms: number }[]) => {
    const start = performance.now();
    let at = 0;
    for (const { gapMs, ms } of schedule) {
      at += gapMs;
      timers.push(
        setTimeout(() => {
          const atMs = Math.round(performance.now() - start);
          timeline.push(`${(performance.now() / 1000).toFixed(3)} pause ${ms} ms (${phase})`);
          pauses.push({ phase, ms, actualMs: Math.round(pause(ms)), atMs });
        }, at),
      );
      at += ms;
    }
  };
  const timeline: string[] = [];
  const onGuestEvent = (event: GuestEvent) => {
    if (event.event !== "log" && !event.event.startsWith("blob"))
      timeline.push(`${(performance.now() / 1000).toFixed(3)} ${JSON.stringify(event)}`);
    if (event.event === "capture-start") inject("capture", capture);
    if (event.event === "playback-start") {
      inject("playback", playback);
      const tabMs = (options.backgroundTabS ?? 0) * 1000;
      if (tabMs > 0) {
        timers.push(
          setTimeout(() => {
            timeline.push(`${(performance.now() / 1000).toFixed(3)} background tab begins`);
            (vm as GuestVm | null)?.throttle(1000);
          }, 1000),
          setTimeout(() => {
            timeline.push(`${(performance.now() / 1000).toFixed(3)} background tab ends`);
            (vm as GuestVm | null)?.throttle(null);
          }, 1000 + tabMs),
        );
      }
    }
    if (event.event === "input-open" && options.hidPauseS > 0) {
      const ms = Math.round(options.hidPauseS * 1000);
      pauses.push({ phase: "hid", ms, actualMs: Math.round(pause(ms)), atMs: 0 });
    }
  };
  try {
    const report = await runMainJob({
      images: loadGuestImages(),
      text: "ok\n",
      sampleRate: options.sampleRate ?? 48_000,
      channels: options.channels ?? 1,
      seconds: options.seconds,
      timeoutMs: options.timeoutMs ?? 180_000,
      onProgress: options.onProgress,
      onGuestEvent,
      onMachine: (machine) => {
        vm = machine;
      },
      extraPlanItems: ["dmesg"],
    });
    const machine = vm as GuestVm | null;
    const logs = (source: string) =>
      (machine?.serial.events ?? [])
        .filter((e) => e.event === "log" && e["source"] === source)
        .map((e) => String(e["line"]));
    const dmesg = logs("dmesg");
    const toolErrors = [...logs("arecord"), ...logs("aplay")];
    const strip = (r: AudioDirectionReport | null): DirectionSummary | null => {
      if (r === null) return null;
      const { samples: _samples, ...rest } = r;
      return rest;
    };
    return {
      way: options.way,
      seed: options.seed,
      report: { ...report, capture: strip(report.capture), playback: strip(report.playback) },
      pauses,
      dmesg,
      toolErrors,
      timeline,
      stall: machine?.uhci?.controller.hostStallStats ?? null,
    };
  } finally {
    for (const t of timers) clearTimeout(t);
  }
}

const CHILD_FLAG = "--host-stall-child";

/** Runs the job with pauses injected the given way; "sigstop" runs it in a child process. */
export async function runWithHostStalls(options: StallRunOptions): Promise<StallRunResult> {
  if (options.way === "busy") return runHere(options, spin);
  const child = fork(fileURLToPath(import.meta.url), [CHILD_FLAG], {
    execArgv: ["--import", "tsx"],
    stdio: ["ignore", "inherit", "inherit", "ipc"],
  });
  const { onProgress, ...sent } = options;
  return new Promise<StallRunResult>((resolve, reject) => {
    let result: StallRunResult | null = null;
    child.on("message", (message: ChildMessage) => {
      if (message.kind === "pause") {
        child.kill("SIGSTOP");
        setTimeout(() => child.kill("SIGCONT"), message.ms);
      } else if (message.kind === "progress") onProgress?.(message.text);
      else if (message.kind === "result") result = message.result;
      else reject(new Error(message.error));
    });
    child.on("exit", (code) => {
      if (result !== null) resolve(result);
      else reject(new Error(`the stalled job's process exited with ${code} and no result`));
    });
    child.send({ kind: "run", options: sent } satisfies ParentMessage);
  });
}

type ChildMessage =
  | { kind: "pause"; ms: number }
  | { kind: "progress"; text: string }
  | { kind: "result"; result: StallRunResult }
  | { kind: "error"; error: string };
type ParentMessage = { kind: "run"; options: Omit<StallRunOptions, "onProgress"> };

if (process.argv.includes(CHILD_FLAG)) {
  const send = (message: ChildMessage) => process.send?.(message);
  process.once("message", (message: ParentMessage) => {
    const pause = (ms: number): number => {
      send({ kind: "pause", ms });
      // Stopped by the parent within microseconds; the spin only covers that moment.
      return spin(ms);
    };
    runHere({ ...message.options, onProgress: (text) => send({ kind: "progress", text }) }, pause).then(
      (result) => {
        send({ kind: "result", result });
        process.disconnect?.();
      },
      (error: unknown) => {
        send({ kind: "error", error: error instanceof Error ? error.message : String(error) });
        process.disconnect?.();
      },
    );
  });
}
