import type { BackgroundTabOptions, BackgroundTabResult, StallRunResult } from "./host-stalls.ts";
import { USB_ERROR_PATTERN } from "./host-stalls.ts";

/**
 * Audio a pause may cost beyond its own length: the packets in flight when it starts (snd-usb-audio
 * keeps ≤ 18 ms of iso URBs queued) and the frame the host clock was in. Per pause.
 */
export const PAUSE_SLACK_MS = 30;
/** Head and tail loss tolerated at each end of a stream (as the plain audio test: 10 ms). */
const END_LOSS_MS = 10;

/** What a run with host pauses must show (issue 10, item 2); empty when it does. */
export function checkStallRun(result: StallRunResult): string[] {
  const problems: string[] = [];
  const { report } = result;
  const injected = (phase: "capture" | "playback") => result.pauses.filter((p) => p.phase === phase);
  // Frames dropped, and the underruns aplay reports for them, are expected here and bounded below;
  // every other problem the job found counts.
  for (const p of report.problems)
    if (!/frames dropped$|the guest reported \d+ xruns$/.test(p)) problems.push(`job: ${p}`);
  for (const [name, r] of [
    ["capture", report.capture],
    ["playback", report.playback],
  ] as const) {
    if (r === null) {
      problems.push(`${name}: nothing arrived`);
      continue;
    }
    const rate = r.format.sampleRate;
    const pauses = injected(name);
    // Bounded by what performance.now() jumped: a SIGSTOP lands a little after the request.
    const pausedMs = pauses.reduce((sum, p) => sum + Math.max(p.ms, p.actualMs), 0);
    // One underrun per pause at most: the guest counting the audio the pause cost.
    if (r.guestXruns > pauses.length)
      problems.push(`${name}: ${r.guestXruns} xruns for ${pauses.length} pauses`);
    if (r.guestExitCode !== 0) problems.push(`${name}: the guest's tool exited with ${r.guestExitCode}`);
    if (!r.bitExact || r.inserted > 0) problems.push(`${name}: not bit-exact (inserted ${r.inserted})`);
    const allowed = Math.round(((pausedMs + pauses.length * PAUSE_SLACK_MS) * rate) / 1000);
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
  for (const phase of ["capture", "playback"] as const)
    if (injected(phase).length !== result.planned[phase])
      problems.push(
        `${phase}: ${injected(phase).length} of ${result.planned[phase]} pauses were injected (the stream ended first?)`,
      );
  return problems;
}

/** Recovery after a background tab allowed (issue 10, item 2: "within 100 ms of normal running"). */
export const RECOVERY_LIMIT_MS = 100;

/** What a background tab must show (issue 10, item 2); empty when it does. */
export function checkBackgroundTab(result: BackgroundTabResult, options: BackgroundTabOptions): string[] {
  const problems: string[] = [];
  const r = result.playback;
  const rate = 48_000;
  if (r.guestExitCode !== 0) problems.push(`playback: aplay exited with ${r.guestExitCode}`);
  if (!r.bitExact || r.inserted > 0) problems.push(`playback: not bit-exact (inserted ${r.inserted})`);
  // What the tab may cost: its own length (the guest ran about one slice a second) and one more second
  // for the run of the loop in flight when it began and ended.
  const allowed = (options.tabS + 1) * rate;
  if (r.dropped > allowed)
    problems.push(`playback: ${r.dropped} frames dropped, more than the tab allows (${allowed})`);
  if (r.headLossFrames + r.tailLossFrames > (2 * END_LOSS_MS * rate) / 1000)
    problems.push(`playback: head ${r.headLossFrames} + tail ${r.tailLossFrames} frames lost`);
  if (r.framesReceived + r.dropped + r.headLossFrames + r.tailLossFrames !== r.framesSent)
    problems.push("playback: frames not accounted for");
  // After the signal: aplay's padding of its last period (6000 frames at most) and the drain's overrun
  // of it (one URB, ~13 packets); a quarter second bounds both.
  if (r.framesAfterSignal > rate / 4)
    problems.push(
      `playback: ${r.framesAfterSignal} frames after the signal's end (${r.afterSignal.slice(0, 4).join(", ")})`,
    );
  if (result.recoveryMs === null) problems.push("playback: the signal never ran unbroken after the tab");
  else if (result.recoveryMs > RECOVERY_LIMIT_MS)
    problems.push(
      `playback: recovered ${result.recoveryMs.toFixed(0)} ms after the tab, more than ${RECOVERY_LIMIT_MS}`,
    );
  if (!result.hid.exact)
    problems.push(`hid: ${result.hid.lost} key events lost, ${result.hid.unexpected} unexpected`);
  for (const line of result.dmesg.filter((l) => USB_ERROR_PATTERN.test(l)).slice(0, 5))
    problems.push(`dmesg: ${line}`);
  return problems;
}
