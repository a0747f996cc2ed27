/**
 * The benchmark suite: `npm run bench` (full, a few minutes) or `npm run bench -- --quick` (every
 * benchmark briefly, to check the suite works). Writes <out>/<name>.json per benchmark, SVG plots and
 * <out>/summary.md. See docs/benchmarks.md.
 */
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { runAllocations } from "./allocations.ts";
import { type AsyncBacklogResult, asyncBacklogMarkdown, runAsyncBacklog } from "./async-backlog.ts";
import { runFrameCost } from "./frame-cost.ts";
import { machineInfo, parseOptions, ResultWriter } from "./lib/options.ts";
import { runRealtime } from "./realtime.ts";
import {
  type AllResults,
  allocationPlots,
  framesCostPlots,
  type Meta,
  realtimePlots,
  simSpeedPlots,
  summaryMarkdown,
} from "./report.ts";
import { runSimSpeed } from "./sim-speed.ts";
import { runStickDd } from "./stick-dd.ts";
import { runUsbipPeerBench } from "./usbip-peer.ts";
import { runV86EndToEnd } from "./v86-e2e.ts";
import { runWebResampler } from "./web-resampler.ts";

const options = parseOptions(process.argv.slice(2));
const machine = machineInfo();
const writer = new ResultWriter(options.outDir);
const log = (line: string): void => console.log(line);
const wanted = (name: string): boolean => options.only.length === 0 || options.only.includes(name);
const meta = (benchmark: string): Meta => ({
  benchmark,
  mode: options.quick ? "quick" : "full",
  command: options.command,
  machine,
});
const writePlots = (plots: Record<string, string>): void => {
  for (const [file, svg] of Object.entries(plots)) writer.text(file, svg);
};
const started = performance.now();
const elapsed = (): string => `${((performance.now() - started) / 1000).toFixed(1)} s`;

log(
  `uhci benchmarks (${options.quick ? "quick" : "full"}) on ${machine.cpu} × ${machine.cores}, Node ${machine.node}`,
);

if (wanted("frame-cost")) {
  log("1. per-frame cost");
  const result = { ...meta("frame-cost"), ...(await runFrameCost(options.quick, log)) };
  writer.json("frame-cost", result);
  writePlots(framesCostPlots(result));
  log(`   done at ${elapsed()}`);
}
if (wanted("allocations")) {
  log("1b. heap allocations per frame (child process)");
  const result = { ...meta("allocations"), ...runAllocations(options.quick, log) };
  writer.json("allocations", result);
  writePlots(allocationPlots(result));
  // A schedule that allocates per frame fails the suite (issue 9), after its results are written.
  if (!result.zeroAllocation) {
    log("   FAILED: a schedule allocates per frame (see ALLOCATES above)");
    process.exitCode = 1;
  }
  log(`   done at ${elapsed()}`);
}
if (wanted("async-backlog")) {
  log("1c. the cost of a deferred request with 16 k requests out (a hostile backlog) against 1 k out");
  const result = { ...meta("async-backlog"), ...runAsyncBacklog(options.quick, log) };
  writer.json("async-backlog", result);
  // The bound is the check this benchmark exists for (moved out of the unit tests): a run that
  // exceeds it fails, like a schedule that did not do what it claims.
  if (!result.withinBound) process.exitCode = 1;
  log(`   done at ${elapsed()}`);
}
if (wanted("sim-speed")) {
  log("2. simulated speed");
  const result = { ...meta("sim-speed"), ...runSimSpeed(options.quick, log) };
  writer.json("sim-speed", result);
  writePlots(simSpeedPlots(result));
  log(`   done at ${elapsed()}`);
}
if (wanted("realtime")) {
  log(`3. real time on Node timers (${options.realtimeSeconds} s, fixed grid and pre-seed side by side)`);
  const result = { ...meta("realtime"), ...(await runRealtime(options.realtimeSeconds, log)) };
  for (const v of result.variants) {
    const c = v.completions;
    // Functional checks that do not depend on timing: completion is synchronous, and the guest sees data.
    if (c.completed === 0 || c.visibleWhenCompleteReturned !== c.completed || c.seenByGuest === 0) {
      throw new Error(
        `realtime ${v.name}: completions ${c.completed}, visible at return ${c.visibleWhenCompleteReturned}, seen ${c.seenByGuest}`,
      );
    }
  }
  writer.json("realtime", result);
  writePlots(realtimePlots(result));
  log(`   done at ${elapsed()}`);
}

if (wanted("web-resampler")) {
  log(
    "5. the WebAudio bridge's main-thread cost per 1 ms frame (uhci/web: ring, resampler, drift controller)",
  );
  const result = { ...meta("web-resampler"), ...runWebResampler(options.quick, log) };
  writer.json("web-resampler", result);
  log(`   done at ${elapsed()}`);
}

if (wanted("v86") && !options.quick) {
  log("4. end to end in v86 (three boots of the Linux guest)");
  const result = { ...meta("v86"), ...(await runV86EndToEnd(6, log)) };
  writer.json("v86", result);
  log(
    `   boot ${result.bootSeconds.withoutController} s without the controller, ${result.bootSeconds.withController} s with (× ${result.bootSeconds.ratio})`,
  );
  log(
    `   CPU per wall second: idle ${result.cpu.idle.cpuPerWallSecond}, controller idle ${result.cpu.controllerIdle.cpuPerWallSecond} (× ${result.cpu.controllerIdleRatio}), capture ${result.cpu.capture.cpuPerWallSecond} (× ${result.cpu.captureRatio}), playback ${result.cpu.playback.cpuPerWallSecond} (× ${result.cpu.playbackRatio})`,
  );
  log(`   fidelity ${JSON.stringify(result.fidelity)}`);
  log(`   done at ${elapsed()}`);
} else if (wanted("v86")) {
  log("4. end to end in v86: skipped in --quick mode (three Linux boots; run `npm run bench -- --only v86`)");
}

if (wanted("usbip") && !options.quick) {
  log("7. USB/IP against a real server (Linux usbip-host + usbipd in a QEMU VM): 60 s of aplay in v86");
  const result = { ...meta("usbip"), ...(await runUsbipPeerBench(60, log)) };
  if (result.skipped !== null) {
    log(`   skipped: ${result.skipped}`);
  } else {
    writer.json("usbip", result);
    log(`   URB round trip ms ${JSON.stringify(result.roundTripMs)}`);
    log(`   iso ${JSON.stringify(result.iso)}`);
    log(`   controller per frame (ns) ${JSON.stringify(result.controllerFrameNs)}`);
    if (result.error !== null) {
      log(`   FAILED: ${result.error}`);
      process.exitCode = 1;
    }
  }
  log(`   done at ${elapsed()}`);
} else if (wanted("usbip")) {
  log(
    "7. USB/IP against a real server: skipped in --quick mode (a QEMU VM and a Linux boot; run `npm run bench -- --only usbip`)",
  );
}

if (wanted("stick") && !options.quick) {
  log(
    "6. USB stick throughput in v86: dd of 16 MiB from and to the raw disk, capped and uncapped (one boot per setting and run)",
  );
  const result = {
    ...meta("stick"),
    ...(await runStickDd(log, { modes: options.stickModes, runs: options.stickRuns })),
  };
  writer.json("stick", result);
  log(`   done at ${elapsed()}`);
} else if (wanted("stick")) {
  log(
    "6. USB stick throughput in v86: skipped in --quick mode (two Linux boots; `npm run bench -- --only stick`)",
  );
}

// The summary covers every result present in the output directory (a run with --only updates its part).
const read = <T>(name: string): T | undefined => {
  const path = join(options.outDir, `${name}.json`);
  return existsSync(path) ? (JSON.parse(readFileSync(path, "utf8")) as T) : undefined;
};
const all: AllResults = {
  frameCost: read("frame-cost"),
  allocations: read("allocations"),
  simSpeed: read("sim-speed"),
  realtime: read("realtime"),
  v86: read("v86"),
};
writer.text(
  "summary.md",
  summaryMarkdown(all) + asyncBacklogMarkdown(read<AsyncBacklogResult>("async-backlog")),
);
log(`results in ${options.outDir}/ (summary.md, *.json, *.svg), total ${elapsed()}`);
