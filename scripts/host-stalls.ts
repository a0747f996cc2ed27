/**
 * The full host-stall matrix in the real guest (v86 + the bundled Linux): for each way of pausing the
 * host (a busy event loop, SIGSTOP of the emulator's process), one boot whose capture and playback each
 * get a pause of every length (default 0.1, 0.5, 1, 2 and 5 s) at seeded random points, and a pause
 * just before the keyboard types. Prints one line per pause and a verdict per run; exit 1 on a failure.
 *
 * usage: node --import tsx scripts/host-stalls.ts [--ways busy,sigstop] [--pauses 0.1,0.5,1,2,5]
 *          [--seed N] [--seconds S] [--hid-pause S] [--background-tab S] [--json]
 * (--pauses "" --background-tab 60: the playback's emulator loop runs at 1 Hz for 60 s, then normally)
 * (CI runs a smaller matrix: test/integration/v86-host-stalls.test.ts.)
 */
import { checkStallRun } from "../test/integration/helpers/host-stall-check.ts";
import { type PauseWay, runWithHostStalls } from "../test/integration/helpers/host-stalls.ts";

function arg(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && process.argv[i + 1] !== undefined ? process.argv[i + 1]! : fallback;
}
const ways = arg("ways", "busy,sigstop").split(",") as PauseWay[];
const pausesS = arg("pauses", "0.1,0.5,1,2,5")
  .split(",")
  .filter((p) => p !== "")
  .map(Number);
const seed = Number(arg("seed", String(Date.now() % 1_000_000)));
const seconds = Number(arg("seconds", "8"));
const hidPauseS = Number(arg("hid-pause", "1"));
const json = process.argv.includes("--json");
const backgroundTabS = Number(arg("background-tab", "0"));

let failed = false;
for (const way of ways) {
  console.log(
    `== ${way}: pauses ${pausesS.join(", ")} s in capture and playback, ${hidPauseS} s before typing; seed ${seed}`,
  );
  const started = performance.now();
  const result = await runWithHostStalls({ way, pausesS, hidPauseS, seed, seconds, backgroundTabS });
  const problems = checkStallRun(result, pausesS);
  for (const p of result.pauses)
    console.log(
      `  ${p.phase.padEnd(8)} pause ${String(p.ms).padStart(5)} ms at +${p.atMs} ms (host clock jumped ${p.actualMs} ms)`,
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
  console.log(
    `  dmesg USB errors: ${result.dmesg.filter((l) => /usb|uhci|snd/i.test(l) && /err|fail|xrun|disabl/i.test(l)).length}`,
  );
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
process.exit(failed ? 1 : 0);
