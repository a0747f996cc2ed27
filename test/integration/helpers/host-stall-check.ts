import type { StallRunResult } from "./host-stalls.ts";
import { USB_ERROR_PATTERN } from "./host-stalls.ts";

/**
 * Audio a pause may cost beyond its own length: the packets in flight when it starts (snd-usb-audio
 * keeps ≤ 18 ms of iso URBs queued) and the frame the host clock was in. Per pause.
 */
export const PAUSE_SLACK_MS = 30;
/** Head and tail loss tolerated at each end of a stream (as the plain audio test: 10 ms). */
const END_LOSS_MS = 10;

/** What a run with host pauses must show (issue 10, item 2); empty when it does. */
export function checkStallRun(result: StallRunResult, pausesS: readonly number[]): string[] {
  const problems: string[] = [];
  const { report } = result;
  // Frames dropped, and the underruns aplay reports for them, are expected here and bounded below;
  // every other problem the job found counts.
  for (const p of report.problems)
    if (!/frames dropped$|the guest reported \d+ xruns$/.test(p)) problems.push(`job: ${p}`);
  const pausedMs = pausesS.reduce((sum, s) => sum + s * 1000, 0);
  for (const [name, r] of [
    ["capture", report.capture],
    ["playback", report.playback],
  ] as const) {
    if (r === null) {
      problems.push(`${name}: nothing arrived`);
      continue;
    }
    const rate = r.format.sampleRate;
    // One underrun per pause at most: the guest counting the audio the pause cost.
    if (r.guestXruns > pausesS.length)
      problems.push(`${name}: ${r.guestXruns} xruns for ${pausesS.length} pauses`);
    if (r.guestExitCode !== 0) problems.push(`${name}: the guest's tool exited with ${r.guestExitCode}`);
    if (!r.bitExact || r.inserted > 0) problems.push(`${name}: not bit-exact (inserted ${r.inserted})`);
    const allowed = Math.round(((pausedMs + pausesS.length * PAUSE_SLACK_MS) * rate) / 1000);
    if (r.dropped > allowed)
      problems.push(`${name}: ${r.dropped} frames dropped, more than the pauses allow (${allowed})`);
    const endAllowed = (END_LOSS_MS * rate) / 1000;
    if (r.headLossFrames + r.tailLossFrames > 2 * endAllowed)
      problems.push(`${name}: head ${r.headLossFrames} + tail ${r.tailLossFrames} frames lost`);
    // Playback: every frame aplay played arrived or is counted lost. (Capture: arecord records exactly
    // framesSent frames, so frames dropped inside push the signal's end past it.)
    if (
      name === "playback" &&
      r.framesReceived + r.dropped + r.headLossFrames + r.tailLossFrames !== r.framesSent
    )
      problems.push(`${name}: frames not accounted for`);
  }
  if (report.hid.lost > 0 || !report.hid.inOrder)
    problems.push(`hid: ${report.hid.lost} key events lost after the pause`);
  const usbErrors = result.dmesg.filter((line) => USB_ERROR_PATTERN.test(line));
  for (const line of usbErrors.slice(0, 5)) problems.push(`dmesg: ${line}`);
  if (result.pauses.filter((p) => p.phase !== "hid").length !== 2 * pausesS.length)
    problems.push(`only ${result.pauses.length} pauses were injected (the stream ended first?)`);
  return problems;
}
