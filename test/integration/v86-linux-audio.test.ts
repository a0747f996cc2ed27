/**
 * Audio through a real Linux guest: snd-usb-audio drives the emulated USB headset behind the emulated
 * UHCI controller in v86. arecord records the microphone's frame-counter signal and aplay plays the
 * same signal to the headphones; both must arrive bit-exact with no drops, inserts or guest xruns, at
 * 48 kHz stereo and at 44.1 kHz mono (44/45-frame packets). Typed text rides along on the keyboard.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { type AudioDirectionReport, runMainJob } from "../../src/cli/jobs/main-job.ts";
import { loadGuestImages } from "../../src/node/bundled-guest.ts";

function assertClean(name: string, r: AudioDirectionReport | null, frames: number): void {
  assert.ok(r !== null, `${name}: nothing arrived`);
  assert.equal(r.framesSent, frames, name);
  assert.ok(r.bitExact, `${name}: not bit-exact`);
  assert.equal(r.dropped, 0, `${name}: dropped`);
  assert.equal(r.inserted, 0, `${name}: inserted`);
  assert.equal(r.guestXruns, 0, `${name}: guest xruns`);
  assert.equal(r.guestExitCode, 0, `${name}: guest tool failed`);
  // Head and tail loss are measured, not assumed; a few packets at either end are tolerated.
  assert.ok(r.headLossFrames + r.tailLossFrames <= r.format.sampleRate / 100, `${name}: head/tail loss`);
  assert.equal(
    r.framesReceived + r.headLossFrames + r.tailLossFrames,
    frames,
    `${name}: frames accounted for`,
  );
}

describe("audio through a Linux guest in v86", () => {
  const images = loadGuestImages();
  for (const { sampleRate, channels } of [
    { sampleRate: 48_000, channels: 2 },
    { sampleRate: 44_100, channels: 1 },
  ] as const) {
    it(`captures and plays ${sampleRate} Hz ${channels === 2 ? "stereo" : "mono"} bit-exact`, async () => {
      const seconds = 2;
      const report = await runMainJob({
        images,
        text: "ok\n",
        sampleRate,
        channels,
        seconds,
        timeoutMs: 90_000,
      });
      assert.deepEqual(report.problems, []);
      assertClean("capture", report.capture, sampleRate * seconds);
      assertClean("playback", report.playback, sampleRate * seconds);
      const headset = report.usb.devices.find((d) => d.productId === "0006");
      assert.ok(headset?.drivers.includes("snd-usb-audio"));
      assert.equal(report.hid.lost, 0);
      // Linux probes volume controls the headset does not have (SET_RES): they STALL cleanly.
      assert.ok(report.audioRequests.total > 0);
    });
  }
});
