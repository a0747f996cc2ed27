/**
 * Host pauses injected into the main job (v86 + the bundled Linux, test/integration/v86-host-stalls.test.ts
 * and scripts/host-stalls.ts): pauses of given lengths at seeded random points of the capture and of the
 * playback, and one just before the keyboard types, in one of two ways:
 * - "busy": the event loop is blocked in a busy wait, from inside the emulator's loop (a busy main
 *   thread);
 * - "sigstop": the job runs in a child process that the parent stops with SIGSTOP and resumes with
 *   SIGCONT (a stopped process, a laptop asleep). The child asks for each pause over IPC and spins until
 *   the pause's length has passed, so the parent's SIGSTOP lands within microseconds of the request.
 * - "both": in a child process, each pause one way or the other (seeded), so one boot sees both.
 * Either way performance.now() jumps by the pause, which is what v86 (and so the guest's clock) sees.
 *
 * Also a background tab ({@link runBackgroundTab}): a playback during which v86's loop runs once a
 * second for a while, then normally, timed at the emulated speaker.
 */
import { fork } from "node:child_process";
import { fileURLToPath } from "node:url";
import type { GuestEvent } from "../../../src/cli/guest-vm/guest-serial.ts";
import type { GuestVm } from "../../../src/cli/guest-vm/guest-vm.ts";
import { compareInput, expectedKeyEvents, type InputComparison } from "../../../src/cli/input-check.ts";
import { withGuest } from "../../../src/cli/jobs/guest-run.ts";
import { KEYBOARD_PRODUCT } from "../../../src/cli/jobs/hid-job.ts";
import type { AudioDirectionReport, MainJobReport } from "../../../src/cli/jobs/main-job.ts";
import { runMainJob } from "../../../src/cli/jobs/main-job.ts";
import type { HostStallStats } from "../../../src/controller/uhci/frame-clock.ts";
import { AsyncIsoWrapper } from "../../../src/devices/async-host/async-iso-wrapper.ts";
import { UsbHeadset } from "../../../src/devices/audio/headset.ts";
import { checkTestSignal, type SignalEvent } from "../../../src/devices/audio/signal-check.ts";
import type { AudioSink } from "../../../src/devices/audio/sinks/audio-sink.ts";
import { MemorySink } from "../../../src/devices/audio/sinks/memory-sink.ts";
import type { StreamFormat } from "../../../src/devices/audio/stream-format.ts";
import { UsbKeyboard } from "../../../src/devices/hid/keyboard.ts";
import { RealTimeClock } from "../../../src/machine/clock.ts";
import type { PauseFreeTimeStats } from "../../../src/machine/pause-free-time.ts";
import { SeededRandom } from "../../../src/machine/seeded-random.ts";
import { loadGuestImages } from "../../../src/node/bundled-guest.ts";

/** How one pause is made. */
export type PauseKind = "busy" | "sigstop";
/** How a run's pauses are made: all one kind, or "both" (each pause's kind drawn from the seed). */
export type PauseWay = PauseKind | "both";

export interface StallRunOptions {
  way: PauseWay;
  /** Pause lengths in seconds, each injected once into the capture and once into the playback. */
  pausesS: readonly number[];
  /** The capture's pauses instead of `pausesS` (seconds). */
  capturePausesS?: readonly number[];
  /** The playback's pauses instead of `pausesS` (seconds). */
  playbackPausesS?: readonly number[];
  /** Pause just before the keyboard types (seconds; the guest listens LISTEN_SECONDS of its time). */
  hidPauseS: number;
  seed: number;
  /**
   * "async": the headset answers its isochronous requests later, on host time, as passthrough does
   * (an AsyncIsoWrapper on a real-time clock, the software stream's async timing); default "sync".
   */
  host?: "sync" | "async";
  sampleRate?: number;
  channels?: 1 | 2;
  /** Seconds of audio recorded and played (guest data; pauses come on top). */
  seconds: number;
  timeoutMs?: number;
  onProgress?: (message: string) => void;
}

export interface InjectedPause {
  phase: "capture" | "playback" | "hid";
  kind: PauseKind;
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
  /** Pauses scheduled per phase (an audio phase that ended early leaves some not injected). */
  planned: { capture: number; playback: number };
  /** The guest's kernel log after the job (the plan's dmesg item). */
  dmesg: string[];
  /** What arecord and aplay printed on stderr. */
  toolErrors: string[];
  /** Host seconds and each guest event (logs and blobs left out), for reading a failure. */
  timeline: string[];
  stall: HostStallStats | null;
  /** The host pauses the guest's pause-free time took out (GuestVm.time; null: no machine). */
  guestTime: PauseFreeTimeStats | null;
}

/** Kernel log lines that mean a USB or sound error in the guest. */
export const USB_ERROR_PATTERN =
  /uhci_hcd.*(error|halted|host system error|host controller process error)|usb \d.*(error|disabled|reset full-speed)|cannot submit|urb.*failed|usb-audio.*(error|fail)|xrun/i;

/** A schedule of pauses: lengths in a seeded random order, at seeded random gaps (ms) after the phase starts. */
export function pauseSchedule(
  random: SeededRandom,
  pausesS: readonly number[],
  way: PauseWay = "busy",
): { gapMs: number; ms: number; kind: PauseKind }[] {
  const order = [...pausesS];
  for (let i = order.length - 1; i > 0; i--) {
    const j = random.below(i + 1);
    [order[i], order[j]] = [order[j]!, order[i]!];
  }
  // 0.4–1.6 s of streaming between pauses: the stream is back in step before the next one.
  // "both": the kinds alternate from a seeded first one, so every phase with two pauses gets both.
  const first = random.below(2);
  return order.map((s, i) => ({
    gapMs: 400 + random.below(1200),
    ms: Math.round(s * 1000),
    kind: way === "both" ? ((i + first) % 2 === 0 ? "busy" : "sigstop") : way,
  }));
}

function spin(ms: number): number {
  const t0 = performance.now();
  while (performance.now() - t0 < ms) {
    // A busy host: nothing else runs.
  }
  return performance.now() - t0;
}

/** Pauses the host `kind` way for ms; returns how far performance.now() moved. */
type Pause = (ms: number, kind: PauseKind) => number;

/** Runs the job in this process; `pause` blocks for ms (busy) or has the parent stop this process. */
async function runHere(options: StallRunOptions, pause: Pause): Promise<StallRunResult> {
  const random = new SeededRandom(options.seed);
  const capture = pauseSchedule(random, options.capturePausesS ?? options.pausesS, options.way);
  const playback = pauseSchedule(random, options.playbackPausesS ?? options.pausesS, options.way);
  const hidKind: PauseKind =
    options.way === "both" ? (random.below(2) === 0 ? "busy" : "sigstop") : options.way;
  const pauses: InjectedPause[] = [];
  let vm: GuestVm | null = null;
  const timers: NodeJS.Timeout[] = [];
  const inject = (phase: InjectedPause["phase"], schedule: ReturnType<typeof pauseSchedule>) => {
    const start = performance.now();
    let at = 0;
    for (const { gapMs, ms, kind } of schedule) {
      at += gapMs;
      timers.push(
        setTimeout(() => {
          const atMs = Math.round(performance.now() - start);
          timeline.push(`${(performance.now() / 1000).toFixed(3)} pause ${ms} ms (${phase}, ${kind})`);
          pauses.push({ phase, kind, ms, actualMs: Math.round(pause(ms, kind)), atMs });
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
    if (event.event === "playback-start") inject("playback", playback);
    if (event.event === "input-open" && options.hidPauseS > 0) {
      const ms = Math.round(options.hidPauseS * 1000);
      pauses.push({ phase: "hid", kind: hidKind, ms, actualMs: Math.round(pause(ms, hidKind)), atMs: 0 });
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
      wrapHeadset:
        options.host === "async"
          ? (headset) =>
              new AsyncIsoWrapper(headset, {
                clock: new RealTimeClock(),
                timing: { isoLatencyMs: 0.4, jitterMs: 0.3, seed: options.seed },
              })
          : undefined,
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
      planned: { capture: capture.length, playback: playback.length },
      dmesg,
      toolErrors,
      timeline,
      stall: machine?.uhci?.controller.hostStallStats ?? null,
      guestTime: machine?.time.stats ?? null,
    };
  } finally {
    for (const t of timers) clearTimeout(t);
  }
}

export interface BackgroundTabOptions {
  /** Seconds v86's loop is throttled for. */
  tabS: number;
  /** Host ms between two runs of v86's loop while throttled (a background tab's timers: 1000). */
  intervalMs?: number;
  /** Host seconds after aplay starts when the tab goes to the background. */
  beforeS?: number;
  /** Seconds of audio left to play after the tab is back (the stream must recover in them). */
  afterS?: number;
  timeoutMs?: number;
  onProgress?: (message: string) => void;
}

export interface BackgroundTabResult {
  playback: {
    framesSent: number;
    framesReceived: number;
    dropped: number;
    inserted: number;
    /** The part of `inserted` that is silence. */
    insertedSilence: number;
    headLossFrames: number;
    tailLossFrames: number;
    bitExact: boolean;
    guestExitCode: number | null;
    guestXruns: number;
    /** The checker's first anomalies (kind, stream position, expected frame, count). */
    events: readonly SignalEvent[];
    /**
     * Frames that arrived after the signal's last frame: aplay's padding of its last period (silence)
     * and whatever the guest's drain sent beyond it. Not part of the checks above.
     */
    framesAfterSignal: number;
    /** Those frames as runs: "silence×N" or "counter A…B×N" (the signal's low 16 bits). */
    afterSignal: string[];
  };
  /**
   * Host ms from the tab's return to normal running until the first packet at the speaker from which
   * the signal runs on unbroken for {@link RECOVERED_RUN_MS}; null if it never did.
   */
  recoveryMs: number | null;
  /** Host ms the tab was throttled (performance.now() at its start and end). */
  tab: { beganMs: number; endedMs: number };
  hid: InputComparison;
  dmesg: string[];
  toolErrors: string[];
  timeline: string[];
  stall: HostStallStats | null;
  /** The host pauses the guest's pause-free time took out (GuestVm.time; null: no machine). */
  guestTime: PauseFreeTimeStats | null;
}

/** Signal that must arrive unbroken after a background tab for the stream to count as recovered. */
export const RECOVERED_RUN_MS = 500;

/**
 * A speaker sink that keeps what arrives and, per packet, the host time, the first frame's counter
 * (the test signal's channel 0) and the frame count: when the stream ran, not only what it carried.
 * Arrays are sized up front; packets beyond them are kept but not timed.
 */
class TimedSink implements AudioSink {
  readonly memory: MemorySink;
  readonly at: Float64Array;
  readonly counter: Int32Array;
  readonly frames: Uint16Array;
  packets = 0;
  constructor(maxFrames: number, maxPackets: number) {
    this.memory = new MemorySink({ channels: 1, maxFrames });
    this.at = new Float64Array(maxPackets);
    this.counter = new Int32Array(maxPackets);
    this.frames = new Uint16Array(maxPackets);
  }
  start(format: StreamFormat): void {
    this.memory.start(format);
  }
  write(samples: Int16Array, frames: number, format: StreamFormat): number {
    if (frames > 0 && this.packets < this.at.length) {
      this.at[this.packets] = performance.now();
      this.counter[this.packets] = (samples[0] ?? 0) & 0xffff;
      this.frames[this.packets] = frames;
      this.packets++;
    }
    return this.memory.write(samples, frames, format);
  }
}

/** The position just after the last frame of a mono test signal whose last frame index is `lastFrame`. */
function signalEnd(samples: Int16Array, lastFrame: number): number {
  const last = lastFrame & 0xffff;
  for (let p = samples.length - 1; p > 0; p--)
    if ((samples[p]! & 0xffff) === last && (samples[p - 1]! & 0xffff) === ((last - 1) & 0xffff)) return p + 1;
  return samples.length;
}

/** Mono test-signal samples as runs: silence, or counter values running on by one (for reading a failure). */
function describeRuns(samples: Int16Array): string[] {
  const runs: string[] = [];
  let i = 0;
  while (i < samples.length && runs.length < 40) {
    const first = samples[i]! & 0xffff;
    let j = i + 1;
    if (first === 0) while (j < samples.length && samples[j] === 0) j++;
    else while (j < samples.length && (samples[j]! & 0xffff) === ((samples[j - 1]! + 1) & 0xffff)) j++;
    runs.push(first === 0 ? `silence×${j - i}` : `counter ${first}…${samples[j - 1]! & 0xffff}×${j - i}`);
    i = j;
  }
  return runs;
}

/** See {@link BackgroundTabResult.recoveryMs}. */
function recoveryAfter(sink: TimedSink, fromMs: number, sampleRate: number): number | null {
  const need = (RECOVERED_RUN_MS * sampleRate) / 1000;
  for (let i = 0; i < sink.packets; i++) {
    if (sink.at[i]! < fromMs) continue;
    let run = sink.frames[i]!;
    let j = i;
    while (
      run < need &&
      j + 1 < sink.packets &&
      sink.counter[j + 1] === ((sink.counter[j]! + sink.frames[j]!) & 0xffff)
    ) {
      j++;
      run += sink.frames[j]!;
    }
    if (run >= need) return sink.at[i]! - fromMs;
  }
  return null;
}

/**
 * A background tab during a playback (issue 10): aplay plays the test signal to the headset; `beforeS`
 * after it starts, v86's loop is throttled to one run per `intervalMs` (as a browser runs a background
 * tab's timers) for `tabS` seconds, then runs normally again; the keyboard types afterwards. The
 * speaker's packets are timed, so the recovery after the tab is measured, not guessed.
 */
export async function runBackgroundTab(options: BackgroundTabOptions): Promise<BackgroundTabResult> {
  const rate = 48_000;
  const beforeS = options.beforeS ?? 1;
  const afterS = options.afterS ?? 4;
  const seconds = Math.ceil(beforeS + options.tabS + afterS);
  const sentFrames = rate * seconds;
  const sink = new TimedSink(sentFrames + rate * 2, seconds * 1000 + 10_000);
  const headset = new UsbHeadset({ speaker: { sink } });
  const keyboard = new UsbKeyboard({ productId: KEYBOARD_PRODUCT });
  const text = "ok\n";
  const timeline: string[] = [];
  const stamp = (what: string) => timeline.push(`${(performance.now() / 1000).toFixed(3)} ${what}`);
  const tab = { beganMs: 0, endedMs: 0 };
  const timers: NodeJS.Timeout[] = [];
  let machine: GuestVm | null = null;
  const timeoutMs = options.timeoutMs ?? 240_000;
  try {
    return await withGuest(
      {
        images: loadGuestImages(),
        plan: `enum:2,playback:${rate}:1:${seconds},hid:4:1,dmesg`,
        usb: [headset, keyboard],
        onProgress: options.onProgress ?? (() => {}),
        describe: (event) => {
          if (event.event !== "log" && !event.event.startsWith("blob")) stamp(JSON.stringify(event));
          if (event.event === "playback-start" && options.tabS > 0) {
            timers.push(
              setTimeout(() => {
                tab.beganMs = performance.now();
                stamp("background tab begins");
                machine?.throttle(options.intervalMs ?? 1000);
              }, beforeS * 1000),
              setTimeout(
                () => {
                  tab.endedMs = performance.now();
                  stamp("background tab ends");
                  machine?.throttle(null);
                },
                (beforeS + options.tabS) * 1000,
              ),
            );
          }
          return undefined;
        },
      },
      async (vm) => {
        machine = vm;
        await vm.waitForEvent((e) => e.event === "input-open", timeoutMs);
        keyboard.typeText(text);
        await vm.waitForEvent((e) => e.event === "done", timeoutMs);
        const events = vm.serial.events;
        const logs = (source: string) =>
          events.filter((e) => e.event === "log" && e["source"] === source).map((e) => String(e["line"]));
        const end = events.find((e) => e.event === "playback-end");
        const start = events.find((e) => e.event === "playback-start");
        const framesSent = typeof start?.["frames"] === "number" ? start["frames"] : sentFrames;
        // The signal is judged up to its last frame; what follows is aplay's drain, reported apart:
        // after an underrun recovered inside the throttled tab, snd-usb-audio's drain ran past aplay's
        // silence padding into the ring buffer's stale contents (measured: 624 frames of the signal
        // from exactly one 24000-frame buffer earlier), which is the guest's doing, not the bus's.
        const all = sink.memory.samples;
        const whole = checkTestSignal(all, 1, { expectedFrames: framesSent });
        const signalEndAt = whole.found ? signalEnd(all, whole.lastFrame) : all.length;
        const check = checkTestSignal(all.subarray(0, signalEndAt), 1, { expectedFrames: framesSent });
        const received = events
          .filter((e) => e.event === "input")
          .map((e) => ({ type: Number(e["type"]), code: Number(e["code"]), value: Number(e["value"]) }));
        return {
          playback: {
            framesSent,
            framesReceived: check.framesReceived,
            dropped: check.dropped,
            inserted: check.inserted,
            insertedSilence: check.insertedSilence,
            events: check.events,
            framesAfterSignal: all.length - signalEndAt,
            afterSignal: describeRuns(all.subarray(signalEndAt)),
            headLossFrames: check.headLossFrames,
            tailLossFrames: check.tailLossFrames ?? 0,
            bitExact: check.bitExact,
            guestExitCode: typeof end?.["rc"] === "number" ? end["rc"] : null,
            guestXruns: typeof end?.["xruns"] === "number" ? end["xruns"] : 0,
          },
          recoveryMs: tab.endedMs > 0 ? recoveryAfter(sink, tab.endedMs, rate) : null,
          tab,
          hid: compareInput(expectedKeyEvents(text), received),
          dmesg: logs("dmesg"),
          toolErrors: logs("aplay"),
          timeline,
          stall: vm.uhci?.controller.hostStallStats ?? null,
          guestTime: vm.time.stats,
        };
      },
    );
  } finally {
    for (const t of timers) clearTimeout(t);
  }
}

const CHILD_FLAG = "--host-stall-child";

/** Runs the job with pauses injected the given way; "sigstop" runs it in a child process. */
export async function runWithHostStalls(options: StallRunOptions): Promise<StallRunResult> {
  if (options.way === "busy") return runHere(options, (ms) => spin(ms));
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
    const pause = (ms: number, kind: PauseKind): number => {
      if (kind === "busy") return spin(ms);
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
