#!/usr/bin/env node
// Runs every *.test.ts under src/ and test/ with node's own test runner (through tsx), in two lanes:
// 1. the unit, spec, fuzz and CLI files, concurrently (node --test runs each file in its own process);
// 2. then the files that boot Linux or SeaBIOS in v86 (test/integration/v86-*), one at a time, on an
//    otherwise idle machine: their guests run against wall-clock timeouts, and on a many-core CI the
//    first lane would otherwise starve them.
// Node 20's `node --test` takes no `**` globs, so the files are listed here explicitly; an empty list
// is an error rather than a silent green run. The last line is a summary CI can read
// (`tests: … passed, … failed …`), and the exit code is non-zero if any test failed or was cancelled.
//
// usage: node scripts/run-tests.mjs [substring-of-path ...]   (only the files whose path contains one)
// test/usbip/ and test/browser/ (OPT_IN) run only when a filter names them: `npm run test:usbip`,
// `npm run test:browser`.
import { spawnSync } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

/** Files that run alone, after everything else. */
export const SERIAL_LANE =
  /(^|[\\/])test[\\/](integration[\\/]v86-|usbip[\\/]|browser[\\/])[^\\/]*\.test\.ts$/;
/**
 * Lanes of their own, left out of a plain run and run only when a filter names them: test/usbip/ boots
 * a QEMU virtual machine (a real USB/IP server) next to v86 and needs qemu-system-x86 installed
 * (`npm run test:usbip`); test/browser/ drives Debian's chromium through the demo page
 * (`npm run test:browser`).
 */
export const OPT_IN = /(^|[\\/])test[\\/](usbip|browser)[\\/]/;

function findTests(dir) {
  const out = [];
  let entries;
  try {
    entries = readdirSync(dir);
  } catch {
    return out;
  }
  for (const name of entries) {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) out.push(...findTests(path));
    else if (name.endsWith(".test.ts")) out.push(path);
  }
  return out;
}

/** The counts in the trailer of a TAP report (`# pass 12` …). */
function tapCounts(text) {
  const counts = { tests: 0, pass: 0, fail: 0, cancelled: 0, skipped: 0, todo: 0 };
  for (const line of text.split("\n")) {
    const match = /^# (tests|pass|fail|cancelled|skipped|todo) (\d+)$/.exec(line.trim());
    if (match) counts[match[1]] = Number(match[2]);
  }
  return counts;
}

function runLane(files, concurrency, tapFile) {
  const args = ["--import", "tsx", "--test", "--test-reporter=spec", "--test-reporter-destination=stdout"];
  args.push("--test-reporter=tap", `--test-reporter-destination=${tapFile}`);
  if (concurrency !== undefined) args.push(`--test-concurrency=${concurrency}`);
  const result = spawnSync(process.execPath, [...args, ...files], { stdio: "inherit" });
  let counts;
  try {
    counts = tapCounts(readFileSync(tapFile, "utf8"));
  } catch {
    counts = tapCounts("");
  }
  // A runner that crashed, or was killed, failed even if its report (if any) says otherwise.
  const ok = result.status === 0 && counts.fail === 0 && counts.cancelled === 0 && counts.tests > 0;
  return { ok, counts, status: result.status, signal: result.signal };
}

const started = performance.now();
const filter = process.argv.slice(2);
let files = [...findTests("src"), ...findTests("test")].sort();
if (filter.length > 0) files = files.filter((f) => filter.some((p) => f.includes(p)));
else files = files.filter((f) => !OPT_IN.test(f));
if (files.length === 0) {
  console.error(`no test files found${filter.length > 0 ? ` matching ${filter.join(", ")}` : ""}`);
  process.exit(1);
}

const lanes = [
  { name: "concurrent", files: files.filter((f) => !SERIAL_LANE.test(f)), concurrency: undefined },
  { name: "serial", files: files.filter((f) => SERIAL_LANE.test(f)), concurrency: 1 },
].filter((lane) => lane.files.length > 0);

const reports = mkdtempSync(join(tmpdir(), "uhci-tests-"));
const total = { tests: 0, pass: 0, fail: 0, cancelled: 0, skipped: 0, todo: 0 };
const failedLanes = [];
for (const lane of lanes) {
  if (lanes.length > 1) console.log(`\n== ${lane.name} lane: ${lane.files.length} file(s) ==\n`);
  const result = runLane(lane.files, lane.concurrency, join(reports, `${lane.name}.tap`));
  for (const key of Object.keys(total)) total[key] += result.counts[key];
  if (!result.ok) {
    const how = result.signal !== null ? `killed by ${result.signal}` : `exit code ${result.status}`;
    failedLanes.push(`${lane.name} (${how})`);
  }
}
rmSync(reports, { recursive: true, force: true });

const seconds = ((performance.now() - started) / 1000).toFixed(1);
const laneText = lanes.map((l) => `${l.files.length} ${l.name}`).join(" + ");
const verdict = failedLanes.length === 0 ? "ok" : `FAILED: ${failedLanes.join(", ")}`;
console.log(
  `\ntests: ${total.pass} passed, ${total.fail} failed, ${total.cancelled} cancelled, ${total.skipped} skipped, ` +
    `${total.todo} todo; ${files.length} files (${laneText}) in ${seconds} s — ${verdict}`,
);
process.exit(failedLanes.length === 0 ? 0 : 1);
