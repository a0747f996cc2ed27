/**
 * The full host-stall matrix in the real guest (v86 + the bundled Linux): for each way of pausing the
 * host (a busy event loop, SIGSTOP of the emulator's process, or both in one boot), one boot whose
 * capture and playback each get a pause of every length (default 0.1, 0.5, 1, 2 and 5 s) at seeded
 * random points, and a pause just before the keyboard types. Prints one line per pause and a verdict
 * per run; exit 1 on a failure. With --background-tab S, a playback whose emulator loop runs at 1 Hz for
 * S seconds, then normally, timed at the speaker (recovery within 100 ms).
 *
 * usage: node --import tsx scripts/host-stalls.ts [--ways busy,sigstop,both] [--pauses 0.1,0.5,1,2,5]
 *          [--capture-pauses LIST] [--playback-pauses LIST] [--seed N] [--seconds S] [--hid-pause S]
 *          [--background-tab S] [--host sync|async] [--json] [--timeline] [--dmesg]
 * (--host async: the headset answers later, on host time, as passthrough does.)
 * (--ways "" --background-tab 60: only the background tab.)
 * (CI runs a smaller matrix: test/integration/v86-host-stalls.test.ts.)
 */
import { checkBackgroundTab, checkStallRun } from "../test/integration/helpers/host-stall-check.ts";
import {
  type PauseWay,
  runBackgroundTab,
  runWithHostStalls,
} from "../test/integration/helpers/host-stalls.ts";

function arg(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && process.argv[i + 1] !== undefined ? process.argv[i + 1]! : fallback;
}
const list = (text: string) =>
  text
    .split(",")
    .filter((p) => p !== "")
    .map(Number);
const ways = arg("ways", "busy,sigstop")
  .split(",")
  .filter((w) => w !== "") as PauseWay[];
const pausesS = list(arg("pauses", "0.1,0.5,1,2,5"));
const capturePausesS = list(arg("capture-pauses", pausesS.join(",")));
const playbackPausesS = list(arg("playback-pauses", pausesS.join(",")));
const seed = Number(arg("seed", String(Date.now() % 1_000_000)));
const seconds = Number(arg("seconds", "8"));
const hidPauseS = Number(arg("hid-pause", "1"));
const json = process.argv.includes("--json");
const backgroundTabS = Number(arg("background-tab", "0"));
const host = arg("host", "sync") === "async" ? "async" : "sync";

let failed = false;
for (const way of ways) {
  console.log(
    `== ${way}${host === "async" ? " (headset behind an async host path)" : ""}: pauses ${capturePausesS.join(", ")} s in capture, ${playbackPausesS.join(", ")} s in playback, ${hidPauseS} s before typing; seed ${seed}`,
  );
  const started = performance.now();
  const result = await runWithHostStalls({
    way,
    pausesS,
    capturePausesS,
    playbackPausesS,
    hidPauseS,
    seed,
    seconds,
    host,
  });
  const problems = checkStallRun(result);
  for (const p of result.pauses)
    console.log(
      `  ${p.phase.padEnd(8)} pause ${String(p.ms).padStart(5)} ms (${p.kind.padEnd(7)}) at +${p.atMs} ms (host clock jumped ${p.actualMs} ms)`,
    );
  for (const [name, r] of [
    ["capture", result.report.capture],
    ["playback", result.report.playback],
  ] as const) {
    if (r === null) console.log(`  ${name}: nothing arrived`);
    else
      console.log(
        `  ${name.padEnd(8)} rc ${r.guestExitCode}, ${r.framesReceived}/${r.framesSent} frames, dropped ${r.dropped} (${((r.dropped / r.format.sampleRate) * 1000).toFixed(1)} ms), inserted ${r.inserted}, head ${r.headLossFrames}, tail ${r.tailLossFrames}, bit-exact ${r.bitExact}, xruns ${r.guestXruns}`,
      );
  }
  console.log(
    `  hid      sent ${result.report.hid.sent}, received ${result.report.hid.received}, lost ${result.report.hid.lost}`,
  );
  console.log(`  frame clock ${JSON.stringify(result.stall)}`);
  console.log(`  guest time (pauses taken out) ${JSON.stringify(result.guestTime)}`);
  for (const line of result.toolErrors) console.log(`  guest tool: ${line}`);
  console.log(`  problems: ${problems.length === 0 ? "none" : ""}`);
  for (const p of problems) console.log(`    - ${p}`);
  console.log(
    `  ${problems.length === 0 ? "PASS" : "FAIL"} in ${((performance.now() - started) / 1000).toFixed(1)} s`,
  );
  if (json) console.log(JSON.stringify(result));
  if (process.argv.includes("--timeline")) for (const line of result.timeline) console.log(`  ${line}`);
  if (process.argv.includes("--dmesg")) for (const line of result.dmesg) console.log(`  dmesg: ${line}`);
  if (problems.length > 0) failed = true;
}

if (process.argv.includes("--background-tab")) {
  console.log(`== background tab: aplay's emulator loop at 1 Hz for ${backgroundTabS} s, then normal`);
  const started = performance.now();
  const options = { tabS: backgroundTabS };
  const result = await runBackgroundTab(options);
  const problems = checkBackgroundTab(result, options);
  const r = result.playback;
  console.log(
    `  playback rc ${r.guestExitCode}, ${r.framesReceived}/${r.framesSent} frames, dropped ${r.dropped} (${((r.dropped / 48_000) * 1000).toFixed(1)} ms), inserted ${r.inserted}, head ${r.headLossFrames}, tail ${r.tailLossFrames}, bit-exact ${r.bitExact}, xruns ${r.guestXruns}`,
  );
  console.log(
    `  tab ${((result.tab.endedMs - result.tab.beganMs) / 1000).toFixed(1)} s; recovered ${result.recoveryMs === null ? "never" : `${result.recoveryMs.toFixed(1)} ms`} after it`,
  );
  console.log(`  after the signal's end: ${r.framesAfterSignal} frames: ${r.afterSignal.join(", ")}`);
  if (r.inserted > 0)
    console.log(
      `  inserted ${r.inserted} (silence ${r.insertedSilence}); first anomalies ${JSON.stringify(r.events.slice(0, 12))}`,
    );
  console.log(`  hid      sent ${result.hid.sent}, received ${result.hid.received}, lost ${result.hid.lost}`);
  console.log(`  frame clock ${JSON.stringify(result.stall)}`);
  console.log(`  guest time (pauses taken out) ${JSON.stringify(result.guestTime)}`);
  for (const line of result.toolErrors) console.log(`  guest tool: ${line}`);
  console.log(`  problems: ${problems.length === 0 ? "none" : ""}`);
  for (const p of problems) console.log(`    - ${p}`);
  console.log(
    `  ${problems.length === 0 ? "PASS" : "FAIL"} in ${((performance.now() - started) / 1000).toFixed(1)} s`,
  );
  if (process.argv.includes("--timeline")) for (const line of result.timeline) console.log(`  ${line}`);
  if (problems.length > 0) failed = true;
}
process.exit(failed ? 1 : 0);
