/**
 * USB/IP against a real server (issue 13, item 6): the Linux guest in v86 plays 60 s of the 48 kHz
 * stereo frame-counter signal with aplay to QEMU's usb-audio, exported by Linux usbip-host + Debian
 * usbipd in the peer VM (test/usbip/peer/) and imported by our client. Measured:
 * - URB round trip (CMD_SUBMIT sent → RET_SUBMIT read) through the client, p50/p99: control
 *   (enumeration, mixer) and iso OUT (8 packets a URB);
 * - iso packets lost: what the server's WAV is missing inside the signal (frames / 48), packets the
 *   client dropped or the server failed, and RET_SUBMIT start_frame gaps (the WAV backend writes no
 *   silence for an underrun, so the wire says what the file cannot);
 * - the controller's cost per frame (its frame routine, host time) while the passed-through stream runs.
 * Needs qemu-system-x86_64 (skips with a message without it) and the peer's build (made on first use).
 */
import { readFileSync } from "node:fs";
import { checkTestSignal } from "../src/devices/audio/signal-check.ts";
import { decodeWav } from "../src/devices/audio/wav.ts";
import type { UsbipConnect } from "../src/usbip/index.ts";
import { bootGuestWithPeer, eventsNamed } from "../test/usbip/peer/guest.ts";
import { findQemu, qemuVersion, UsbipPeer } from "../test/usbip/peer/peer.ts";
import { startFrameGaps, WireLog } from "../test/usbip/peer/wire-log.ts";
import { summarize } from "./lib/stats.ts";

export interface UsbipPeerResult {
  skipped: string | null;
  qemu: string;
  seconds: number;
  roundTripMs: {
    control: { count: number; p50Ms: number; p99Ms: number; maxMs: number };
    isoOut: { count: number; p50Ms: number; p99Ms: number; maxMs: number };
  } | null;
  iso: {
    packetsSent: number;
    /** Packets missing inside the signal in the server's WAV (dropped frames / 48). */
    packetsLostInWav: number;
    clientDropped: number;
    serverPacketErrors: number;
    startFrameGaps: number;
    /** Each gap: the URB (index in the stream), frames missing, seconds after the first URB's reply. */
    startFrameGapsAt: { urb: number; frames: number; secondsIn: number }[];
    /** Frames of the signal missing before its first / after its last frame in the WAV. */
    headLossFrames: number;
    tailLossFrames: number;
    bitExact: boolean;
    guestXruns: number;
    guestExitCode: number;
  } | null;
  controllerFrameNs: { frames: number; p50: number; p99: number; max: number } | null;
  error: string | null;
}

const FRAMES_PER_PACKET = 48;

/** `wrapConnect` wraps the client's TCP connect (a diagnostic tap); the suite passes none. */
export async function runUsbipPeerBench(
  seconds: number,
  log: (line: string) => void,
  wrapConnect: (connect: UsbipConnect) => UsbipConnect = (connect) => connect,
): Promise<UsbipPeerResult> {
  const empty = { qemu: "", seconds, roundTripMs: null, iso: null, controllerFrameNs: null, error: null };
  const qemu = findQemu();
  if (qemu === null) {
    return {
      ...empty,
      skipped:
        "qemu-system-x86_64 is not installed (apt-get install -y --no-install-recommends qemu-system-x86)",
    };
  }
  const peer = await UsbipPeer.start({ devices: ["audio"] });
  log(`   peer ready in ${peer.bootSeconds.ready.toFixed(1)} s at ${peer.address}`);
  const wire = new WireLog();
  // Preallocated: the wrapper must not allocate per frame in the window it measures.
  const frameNs = new Float64Array((seconds + 60) * 1000);
  let frames = 0;
  let measuring = false;
  let result: UsbipPeerResult = { ...empty, qemu: qemuVersion(qemu), skipped: null };
  const guest = await bootGuestWithPeer({
    peer,
    busids: ["1-1"],
    plan: `mixer,playback:48000:2:${seconds}`,
    wrapConnect: (c) => wire.wrap(wrapConnect(c)),
    onEvent: (e) => {
      if (e.event === "playback-start") measuring = true;
      if (e.event === "playback-end") measuring = false;
    },
  });
  try {
    // The controller's frame routine, timed from outside (a bench-only wrapper; FrameClock calls it
    // through the instance, so the wrapper sees every frame).
    const controller = guest.vm.uhci?.controller as unknown as { runFrame: () => void } | undefined;
    if (controller !== undefined) {
      const original = controller.runFrame.bind(controller);
      controller.runFrame = () => {
        if (!measuring) return original();
        const t = performance.now();
        original();
        if (frames < frameNs.length) frameNs[frames++] = (performance.now() - t) * 1e6;
      };
    }
    const device = guest.devices[0];
    const done = await guest.vm.waitForEvent((e) => e.event === "done", (seconds + 240) * 1000);
    const end = eventsNamed(guest.vm, "playback-end")[0];
    await guest.stop();
    await peer.stop();
    const wav = decodeWav(readFileSync(peer.wavPath));
    const report = checkTestSignal(wav.samples, 2, { expectedFrames: 48_000 * seconds });
    const iso = wire.replies.filter((r) => (wire.submits.get(r.seqnum)?.packets ?? 0) > 0);
    const stats = device?.connection.stats;
    result = {
      ...result,
      roundTripMs:
        stats === undefined
          ? null
          : { control: stats.controlRoundTrip.summary(), isoOut: stats.isoRoundTrip.summary() },
      iso: {
        packetsSent: device?.stats.isoOut.packets ?? 0,
        packetsLostInWav: Math.ceil(report.dropped / FRAMES_PER_PACKET),
        clientDropped: device?.stats.isoOut.dropped ?? 0,
        serverPacketErrors: device?.stats.isoOut.packetErrors ?? 0,
        startFrameGaps: startFrameGaps(iso).length,
        startFrameGapsAt: startFrameGaps(iso).map(([index, frames]) => ({
          urb: index,
          frames,
          secondsIn: Math.round((iso[index]?.at ?? 0) - (iso[0]?.at ?? 0)) / 1000,
        })),
        headLossFrames: report.headLossFrames,
        tailLossFrames: report.tailLossFrames ?? -1,
        bitExact: report.bitExact,
        guestXruns: typeof end?.["xruns"] === "number" ? end["xruns"] : -1,
        guestExitCode: typeof end?.["rc"] === "number" ? end["rc"] : -1,
      },
      error:
        done["ok"] === true
          ? null
          : `the guest's plan failed; client: ${String(guest.attachments[0]?.lastError?.message ?? "no error")}`,
    };
    if (frames > 0) {
      const s = summarize(frameNs.subarray(0, frames));
      result.controllerFrameNs = {
        frames,
        p50: Math.round(s.p50),
        p99: Math.round(s.p99),
        max: Math.round(s.max),
      };
    }
  } catch (error) {
    result.error = error instanceof Error ? (error.message.split("\n")[0] ?? "") : String(error);
  } finally {
    await guest.stop();
    await peer.stop(true);
  }
  return result;
}
