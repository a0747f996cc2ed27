/**
 * Issue 13, item 4: `uhci start --usbip HOST:PORT/BUSID`, run as a user runs it (the CLI in a child
 * process, `--json`), with the peer's QEMU usb-audio speaker (a real Linux usbip-host + usbipd,
 * test/usbip/peer/). The main job keeps every emulated device and check, and the imported speaker
 * joins them behind the hub: the guest lists it with snd-usb-audio bound, aplay plays the job's test
 * signal to it (exit 0, no xruns), and QEMU's WAV holds that signal frame for frame (bit-exact, head
 * and tail loss within 10 ms each, nothing dropped or inserted). The report is ok as a whole, so the
 * emulated headset's capture and playback are still bit-exact next to the passed-through stream.
 */
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import type { MainJobReport } from "../../src/cli/jobs/main-job.ts";
import { checkTestSignal } from "../../src/devices/audio/signal-check.ts";
import { decodeWav } from "../../src/devices/audio/wav.ts";
import { runUhci } from "../cli/testing/cli-process.ts";
import { UsbipPeer } from "./peer/peer.ts";

const RATE = 48_000;
const SECONDS = 2;
/** Head and tail loss allowed each: 10 ms, the allowance every audio report in this project uses. */
const EDGE_FRAMES = RATE / 100;

type StartJson = Omit<MainJobReport, "capture" | "playback"> & {
  capture: { bitExact: boolean } | null;
  playback: { bitExact: boolean } | null;
};

describe("uhci start --usbip with a real USB/IP server's speaker", () => {
  let peer: UsbipPeer;
  let out: string;
  before(async () => {
    peer = await UsbipPeer.start({ devices: ["audio"] });
    out = mkdtempSync(join(tmpdir(), "uhci-start-usbip-"));
  });
  after(async () => {
    await peer?.stop(true);
    if (out !== undefined) rmSync(out, { recursive: true, force: true });
  });

  it("lists it, plays the test signal to it, and QEMU's WAV holds it frame for frame", async (t) => {
    const run = await runUhci(
      "start",
      "--usbip",
      `${peer.address}/1-1`,
      "--json",
      "--quiet",
      "--seconds",
      String(SECONDS),
      "--out",
      out,
    );
    const why = `exit ${run.code}\nstderr:\n${run.stderr.slice(-3000)}\nstdout:\n${run.stdout.slice(-3000)}`;
    const report = JSON.parse(run.stdout) as StartJson;
    assert.deepEqual(report.problems, [], why);
    assert.equal(run.code, 0, why);
    assert.equal(report.ok, true);
    // The emulated headset's streams are as they were.
    assert.equal(report.capture?.bitExact, true);
    assert.equal(report.playback?.bitExact, true);

    assert.equal(report.usbip.length, 1);
    const speaker = report.usbip[0]!;
    assert.equal(speaker.busid, "1-1");
    assert.equal(speaker.vidPid, "46f4:0002");
    assert.equal(speaker.hubPort, 6);
    assert.equal(speaker.path, `${report.hub.path}.6`);
    assert.ok(speaker.drivers.includes("snd-usb-audio"), speaker.drivers.join(", "));
    assert.equal(speaker.lost, null);
    const played = speaker.playback;
    assert.ok(played !== null, "the guest found no sound card to play to on the speaker");
    assert.equal(played.usbid, "46f4:0002");
    assert.equal(played.guestExitCode, 0, played.guestToolOutput.join("\n"));
    assert.equal(played.guestXruns, 0);
    assert.equal(played.framesSent, RATE * SECONDS);
    assert.ok(speaker.isoOut.packets >= (RATE * SECONDS) / 48, `${speaker.isoOut.packets} iso packets`);
    assert.equal(speaker.isoOut.dropped, 0);
    assert.equal(speaker.isoOut.packetErrors, 0);

    // Stopped with SIGTERM, QEMU finalises the WAV header.
    assert.deepEqual(await peer.stop(), { code: 0, signal: null });
    const wav = decodeWav(readFileSync(peer.wavPath));
    assert.deepEqual(wav.format, { sampleRate: RATE, channels: 2, bitsPerSample: 16 });
    const check = checkTestSignal(wav.samples, 2, { expectedFrames: RATE * SECONDS });
    const summary = JSON.stringify({ ...check, events: check.events.slice(0, 8) });
    assert.ok(check.bitExact, `not bit-exact: ${summary}`);
    assert.equal(check.dropped, 0, summary);
    assert.equal(check.inserted, 0, summary);
    assert.ok(check.headLossFrames <= EDGE_FRAMES, `head loss: ${summary}`);
    assert.ok((check.tailLossFrames ?? 0) <= EDGE_FRAMES, `tail loss: ${summary}`);
    assert.equal(check.framesReceived + check.headLossFrames + (check.tailLossFrames ?? 0), RATE * SECONDS);
    t.diagnostic(
      `guest: ${report.guest.totalSeconds} s; aplay ${played.guestMs} ms to card ${played.card}; client: ${speaker.isoOut.packets} iso OUT packets, ${speaker.isoOut.startFrameGaps} start_frame gaps; WAV: ${check.framesReceived} frames, head loss ${check.headLossFrames}, tail loss ${check.tailLossFrames ?? 0}`,
    );
  });
});
