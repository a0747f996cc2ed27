/**
 * End to end in v86: the whole emulator's host CPU time for the same guest with and without the UHCI
 * audio stream, boot time with and without the controller, and the audio fidelity of the real guest.
 *
 * Three boots of the bundled Linux guest, each measured over a window the guest marks with its own
 * events (so boot noise stays out):
 *   idle        no UHCI controller at all; the guest sleeps                          (baseline)
 *   controller  the controller with a headset attached and enumerated; the guest sleeps
 *   streaming   the same, while the guest records (arecord) and then plays (aplay) 48 kHz stereo
 * CPU is process.cpuUsage() (user + system) over the window divided by its wall time.
 */
import { createHash } from "node:crypto";
import type { GuestEvent } from "../src/cli/guest-vm/guest-serial.ts";
import { GuestVm } from "../src/cli/guest-vm/guest-vm.ts";
import { UsbHeadset } from "../src/devices/audio/headset.ts";
import { checkTestSignal } from "../src/devices/audio/signal-check.ts";
import { MemorySink } from "../src/devices/audio/sinks/memory-sink.ts";
import { TestSignalSource } from "../src/devices/audio/sources/test-signal-source.ts";
import { generateTestSignal } from "../src/devices/audio/test-signal.ts";
import { BUNDLED_GUEST_CMDLINE, loadGuestImages } from "../src/node/bundled-guest.ts";

interface Window {
  /** Host CPU seconds used by the whole process (v86 + controller + devices) per wall second. */
  cpuPerWallSecond: number;
  wallSeconds: number;
}

export interface V86Result {
  secondsPerWindow: number;
  bootSeconds: { withoutController: number; withController: number; ratio: number };
  cpu: {
    idle: Window;
    controllerIdle: Window;
    capture: Window;
    playback: Window;
    /** streaming CPU / idle CPU, from the same run of the suite. */
    captureRatio: number;
    playbackRatio: number;
    controllerIdleRatio: number;
  };
  fidelity: {
    captureBitExactFromFrameZero: boolean;
    captureFrames: number;
    playback: {
      framesReceived: number;
      bitExact: boolean;
      dropped: number;
      inserted: number;
      tailLossFrames: number;
    };
    guestXruns: number;
  };
}

const RATE = 48_000;
const CHANNELS = 2;

async function boot(plan: string, headset: UsbHeadset | null, timeoutMs: number) {
  const marks = new Map<string, { wall: number; cpu: number }>();
  const started = performance.now();
  const vm = await GuestVm.boot({
    images: loadGuestImages(),
    cmdline: `${BUNDLED_GUEST_CMDLINE} uhci.plan=${plan}`,
    usb: headset === null ? null : [headset, null],
    onEvent: (event: GuestEvent) => {
      const usage = process.cpuUsage();
      const key =
        event.event === "item-begin" || event.event === "item-end"
          ? `${event.event}:${String(event["index"])}`
          : event.event;
      marks.set(key, { wall: performance.now(), cpu: (usage.user + usage.system) / 1e6 });
    },
  });
  try {
    await vm.waitForEvent((e) => e.event === "done", timeoutMs);
    const begin = marks.get("begin");
    if (begin === undefined) throw new Error("the guest never reached /init");
    const window = (from: string, to: string): Window => {
      const a = marks.get(from);
      const b = marks.get(to);
      if (a === undefined || b === undefined) throw new Error(`the guest did not report ${from} … ${to}`);
      const wall = (b.wall - a.wall) / 1000;
      return { cpuPerWallSecond: (b.cpu - a.cpu) / wall, wallSeconds: wall };
    };
    return { bootSeconds: (begin.wall - started) / 1000, window, events: vm.serial.events };
  } finally {
    await vm.stop();
  }
}

export async function runV86EndToEnd(seconds: number, log: (line: string) => void): Promise<V86Result> {
  const timeoutMs = 180_000;
  const round = (x: number) => Math.round(x * 1000) / 1000;

  log("   boot 1/3: no controller, guest sleeps");
  const idle = await boot(`sleep:${seconds}`, null, timeoutMs);
  const idleWindow = idle.window("item-begin:0", "item-end:0");

  log("   boot 2/3: controller + headset, guest sleeps");
  const controller = await boot(`enum:1,sleep:${seconds}`, new UsbHeadset(), timeoutMs);
  const controllerWindow = controller.window("item-begin:1", "item-end:1");

  log("   boot 3/3: controller + headset, arecord then aplay");
  const sink = new MemorySink({ channels: CHANNELS, maxFrames: RATE * (seconds + 2) });
  const headset = new UsbHeadset({ microphone: { source: new TestSignalSource() }, speaker: { sink } });
  const audio = `${RATE}:${CHANNELS}:${seconds}`;
  const streaming = await boot(`enum:1,capture:${audio}:sum,playback:${audio}`, headset, timeoutMs);
  const captureWindow = streaming.window("capture-start", "capture-end");
  const playbackWindow = streaming.window("playback-start", "playback-end");

  // The guest sent only the sha256 of its recording: compare with the signal from frame 0.
  const frames = RATE * seconds;
  const expected = generateTestSignal(frames, CHANNELS);
  const expectedSha = createHash("sha256").update(new Uint8Array(expected.buffer)).digest("hex");
  const blob = streaming.events.find((e) => e.event === "blob");
  const played = checkTestSignal(sink.samples, CHANNELS, { expectedFrames: frames });
  const xruns = streaming.events
    .filter((e) => e.event === "capture-end" || e.event === "playback-end")
    .reduce((sum, e) => sum + (typeof e["xruns"] === "number" ? e["xruns"] : 0), 0);

  const w = (x: Window): Window => ({
    cpuPerWallSecond: round(x.cpuPerWallSecond),
    wallSeconds: round(x.wallSeconds),
  });
  return {
    secondsPerWindow: seconds,
    bootSeconds: {
      withoutController: round(idle.bootSeconds),
      withController: round(controller.bootSeconds),
      ratio: round(controller.bootSeconds / idle.bootSeconds),
    },
    cpu: {
      idle: w(idleWindow),
      controllerIdle: w(controllerWindow),
      capture: w(captureWindow),
      playback: w(playbackWindow),
      captureRatio: round(captureWindow.cpuPerWallSecond / idleWindow.cpuPerWallSecond),
      playbackRatio: round(playbackWindow.cpuPerWallSecond / idleWindow.cpuPerWallSecond),
      controllerIdleRatio: round(controllerWindow.cpuPerWallSecond / idleWindow.cpuPerWallSecond),
    },
    fidelity: {
      captureBitExactFromFrameZero: blob?.["sha256"] === expectedSha,
      captureFrames: typeof blob?.["bytes"] === "number" ? blob["bytes"] / (2 * CHANNELS) : 0,
      playback: {
        framesReceived: played.framesReceived,
        bitExact: played.bitExact,
        dropped: played.dropped,
        inserted: played.inserted,
        tailLossFrames: played.tailLossFrames ?? 0,
      },
      guestXruns: xruns,
    },
  };
}
