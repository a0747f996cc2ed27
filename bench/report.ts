/** Plots (SVG) and the Markdown summary, from the results of a run. */
import type { AllocationResult } from "./allocations.ts";
import type { FrameCostResult } from "./frame-cost.ts";
import type { MachineInfo } from "./lib/options.ts";
import { barChart, columnChart, lineChart } from "./lib/svg.ts";
import type { RealtimeResult } from "./realtime.ts";
import type { SimSpeedResult } from "./sim-speed.ts";
import type { V86Result } from "./v86-e2e.ts";

export interface Meta {
  benchmark: string;
  mode: "full" | "quick";
  command: string;
  machine: MachineInfo;
}

export interface AllResults {
  frameCost?: Meta & FrameCostResult;
  allocations?: Meta & AllocationResult;
  simSpeed?: Meta & SimSpeedResult;
  realtime?: Meta & RealtimeResult;
  v86?: Meta & V86Result;
}

export function framesCostPlots(r: FrameCostResult): Record<string, string> {
  const labels = r.scenarios.map((s) => s.name);
  const plots: Record<string, string> = {
    "frame-cost.svg": barChart({
      title: "Controller cost per frame (ns, batches of frames, VirtualClock)",
      labels,
      series: [
        { name: "p50", values: r.scenarios.map((s) => s.nsPerFrame.p50) },
        { name: "p99", values: r.scenarios.map((s) => s.nsPerFrame.p99) },
      ],
      axisLabel: "ns per frame",
      log: true,
      reference: { value: r.targetAudioNsPerFrame, label: "0.2 % of 1 ms" },
    }),
  };
  for (const s of r.scenarios) {
    if (s.name !== "audio" && s.name !== "idle") continue;
    const h = s.histogram;
    plots[`frame-cost-${s.name}-histogram.svg`] = columnChart({
      title: `${s.name}: ns per frame over ${s.batches} batches of ${s.batchFrames} frames`,
      labels: h.counts.map((_, i) => String(Math.round(h.lo + (i + 0.5) * h.width))),
      series: [{ name: s.name, values: h.counts }],
      xLabel: "ns per frame (bin centre, min to p99; the last bin also holds the 1 % tail)",
      yLabel: "batches",
      log: true,
    });
  }
  return plots;
}

export function allocationPlots(r: AllocationResult): Record<string, string> {
  return {
    "allocations.svg": barChart({
      title: "Heap bytes allocated per frame, steady state",
      labels: r.scenarios.map((s) => s.name),
      series: [
        { name: "heap delta (no GC in window)", values: r.scenarios.map((s) => s.heapDelta.bytesPerFrame) },
        { name: "sampling heap profiler", values: r.scenarios.map((s) => s.samplingProfiler.bytesPerFrame) },
      ],
      axisLabel: "bytes per frame",
    }),
  };
}

export function simSpeedPlots(r: SimSpeedResult): Record<string, string> {
  return {
    "sim-speed.svg": barChart({
      title: "Simulated speed: virtual frames per host second (controller only)",
      labels: r.rows.map((row) => `${row.schedule}, ${row.stepMs} ms steps`),
      series: [{ name: "frames/s", values: r.rows.map((row) => row.framesPerSecond) }],
      axisLabel: "virtual frames per host second",
      log: true,
      reference: { value: 1000, label: "real time" },
    }),
  };
}

export function realtimePlots(r: RealtimeResult): Record<string, string> {
  const maxBin = Math.max(
    1,
    ...r.variants.map((v) => v.framesPerWakeup.reduce((m, count, i) => (count > 0 ? i : m), 0)),
  );
  const edges = r.variants[0]?.completions.histogramUs.edges ?? [];
  const edgeLabel = (i: number): string =>
    i + 1 < edges.length ? `${edges[i]}–${edges[i + 1]}` : `≥${edges[i] ?? ""}`;
  return {
    "realtime-drift.svg": lineChart({
      title: `Frames run − frames due on Node timers (${r.config.seconds} s, same process)`,
      series: r.variants.map((v) => ({ name: v.name, points: v.drift.samples })),
      xLabel: "seconds since Run/Stop",
      yLabel: "drift (frames)",
    }),
    "realtime-wakeups.svg": columnChart({
      title: "Frames run per timer wake-up",
      labels: Array.from({ length: maxBin + 1 }, (_, i) => String(i)),
      series: r.variants.map((v) => ({ name: v.name, values: v.framesPerWakeup.slice(0, maxBin + 1) })),
      xLabel: "frames in one wake-up",
      yLabel: "wake-ups",
      log: true,
    }),
    "realtime-latency.svg": columnChart({
      title: "Async capture completion: complete() → guest memory / → guest IRQ handler",
      labels: edges.map((_, i) => edgeLabel(i)),
      series: r.variants.flatMap((v) => [
        { name: `${v.name}: → guest memory`, values: v.completions.histogramUs.toGuestMemory },
        { name: `${v.name}: → guest IRQ handler`, values: v.completions.histogramUs.toGuestInterrupt },
      ]),
      xLabel: "µs",
      yLabel: "completions",
      log: true,
    }),
  };
}

const n = (v: number, digits = 3): string =>
  Number.isFinite(v) ? String(Number(v.toPrecision(digits))) : String(v);

export function summaryMarkdown(all: AllResults): string {
  const meta = all.frameCost ?? all.allocations ?? all.simSpeed ?? all.realtime;
  const lines: string[] = ["# uhci benchmark results", ""];
  if (meta) {
    const m = meta.machine;
    lines.push(
      `Machine: ${m.cpu}, ${m.cores} cores, ${m.platform}/${m.arch} (${m.kernel}), Node ${m.node} (V8 ${m.v8}); load average ${m.loadAverage1m} at start.`,
      "",
      `Mode: ${meta.mode}. Command: \`${meta.command}\`. Date: ${m.date}.`,
      "",
    );
  }
  const fc = all.frameCost;
  if (fc) {
    lines.push(
      "## 1. Per-frame cost",
      "",
      "One sample = one batch of frames run by `VirtualClock.advance()`; guest re-arming runs between batches, untimed.",
      "",
      "| schedule | p50 ns/frame | p99 ns/frame | p50 % of 1 ms | p99 % of 1 ms | × idle | guest re-arm ns/frame | batches × frames | GCs (scavenges) | GC ms per 10⁶ frames |",
      "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
      ...fc.scenarios.map(
        (s) =>
          `| ${s.name} | ${n(s.nsPerFrame.p50, 4)} | ${n(s.nsPerFrame.p99, 4)} | ${n(s.budgetPercentP50)} | ${n(s.budgetPercentP99)} | ${n(s.ratioToIdle)} | ${n(s.guestRearmNsPerFrame)} | ${s.batches} × ${s.batchFrames} | ${s.gc.count} (${s.gc.scavenges}) | ${n(s.gc.msPerMillionFrames)} |`,
      ),
      "",
      `Audio target (< ${fc.targetAudioNsPerFrame} ns = 0.2 % of 1 ms at p50): ${fc.audioMeetsTarget ? "met" : "NOT met"}.`,
      "",
      ...fc.scenarios.map((s) => `- **${s.name}**: ${s.description}.`),
      "",
      "![per-frame cost](frame-cost.svg)",
      "",
    );
  }
  const al = all.allocations;
  if (al) {
    lines.push(
      "## 1b. Heap allocations per frame (steady state)",
      "",
      `Child process: \`${al.command}\`. Calibration: ${al.calibration.objects} ${al.calibration.what} measured ${al.calibration.measuredBytesEach} B each.`,
      "",
      "| schedule | heap delta B/frame | frames in window | GC in window | sampled B/frame | top allocation sites (B/frame) |",
      "| --- | ---: | ---: | ---: | ---: | --- |",
      ...al.scenarios.map(
        (s) =>
          `| ${s.name} | ${n(s.heapDelta.bytesPerFrame, 4)} | ${s.heapDelta.frames} | ${s.heapDelta.gcsInWindow} | ${n(s.samplingProfiler.bytesPerFrame, 4)} | ${
            s.samplingProfiler.sites
              .slice(0, 3)
              .map((x) => `${x.stack}: ${n(x.bytesPerFrame)}`)
              .join("<br>") || "—"
          } |`,
      ),
      "",
      "![allocations](allocations.svg)",
      "",
    );
  }
  const ss = all.simSpeed;
  if (ss) {
    lines.push(
      "## 2. Simulated speed",
      "",
      "| schedule | step | virtual frames / host s | × real time | with guest re-arm |",
      "| --- | ---: | ---: | ---: | ---: |",
      ...ss.rows.map(
        (r) =>
          `| ${r.schedule} | ${r.stepMs} ms | ${n(r.framesPerSecond, 4)} | ${n(r.timesRealTime, 4)} | ${n(r.framesPerSecondWithGuest, 4)} |`,
      ),
      "",
      `Streaming / idle (big steps): ${ss.streamingToIdleRatio}. 1 ms steps / big steps: idle ${ss.smallStepPenalty["idle"]}, audio ${ss.smallStepPenalty["audio"]}.`,
      "",
      "![simulated speed](sim-speed.svg)",
      "",
    );
  }
  const rt = all.realtime;
  if (rt) {
    lines.push(
      `## 3. Real time on Node timers (${rt.config.seconds} s, both variants in one process)`,
      "",
      "| variant | frames run / due | pace | final drift (frames) | max abs drift | FRNUM: final / max abs drift | drift frames/s | timer lateness p50 / p99 ms | wake-ups with 0 / 1 / 2 / ≥3 frames |",
      "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |",
      ...rt.variants.map((v) => {
        const w = v.framesPerWakeup;
        const rest = w.slice(3).reduce((a, b) => a + b, 0);
        return `| ${v.name} | ${v.framesRun} / ${v.framesDue} | ${v.paceRatio} | ${v.drift.finalFrames} | ${v.drift.maxAbsFrames} | ${v.drift.finalFrnumFrames} / ${v.drift.maxAbsFrnumFrames} | ${v.drift.framesPerSecond} | ${v.timerLatenessMs.p50} / ${v.timerLatenessMs.p99} | ${w[0]} / ${w[1]} / ${w[2]} / ${rest} |`;
      }),
      "",
      "Async capture completions (`packet.complete()` from a separate setImmediate):",
      "",
      "| variant | completed | data in memory when complete() returned | IRQ high when it returned | seen by guest | missed | complete() → memory p50 / p99 / max µs | complete() → guest IRQ handler p50 / p99 / max µs |",
      "| --- | ---: | ---: | ---: | ---: | ---: | --- | --- |",
      ...rt.variants.map((v) => {
        const c = v.completions;
        return `| ${v.name} | ${c.completed} | ${c.visibleWhenCompleteReturned} | ${c.irqHighWhenCompleteReturned} | ${c.seenByGuest} | ${c.missedByGuest} | ${c.toGuestMemoryUs.p50} / ${c.toGuestMemoryUs.p99} / ${c.toGuestMemoryUs.max} | ${c.toGuestInterruptUs.p50} / ${c.toGuestInterruptUs.p99} / ${c.toGuestInterruptUs.max} |`;
      }),
      "",
      `Ratios pre-seed / fixed-grid (same run): final |drift| ${rt.ratios.finalDriftAbs}, max |drift| ${rt.ratios.maxDriftAbs}, pace ${rt.ratios.paceRatio}, completion → guest handler p50 ${rt.ratios.toGuestInterruptP50} and p99 ${rt.ratios.toGuestInterruptP99}, timer lateness p50 ${rt.ratios.timerLatenessP50}.`,
      "",
      ...rt.notes.map((x) => `- ${x}`),
      "",
      "![drift](realtime-drift.svg)",
      "",
      "![frames per wake-up](realtime-wakeups.svg)",
      "",
      "![completion latency](realtime-latency.svg)",
      "",
    );
  }
  const v = all.v86;
  if (v) {
    const c = v.cpu;
    lines.push(
      "## 4. End to end in v86",
      "",
      `Three boots of the bundled Linux guest; each CPU figure is host CPU seconds (user + system, the whole process) per wall second over a ${v.secondsPerWindow} s window the guest marks itself.`,
      "",
      "| run | CPU / wall s | × idle |",
      "| --- | ---: | ---: |",
      `| idle guest, no UHCI controller | ${c.idle.cpuPerWallSecond} | 1 |`,
      `| controller + headset, guest idle | ${c.controllerIdle.cpuPerWallSecond} | ${c.controllerIdleRatio} |`,
      `| arecord 48 kHz stereo from the headset | ${c.capture.cpuPerWallSecond} | ${c.captureRatio} |`,
      `| aplay 48 kHz stereo to the headset | ${c.playback.cpuPerWallSecond} | ${c.playbackRatio} |`,
      "",
      `Boot to /init: ${v.bootSeconds.withoutController} s without the controller, ${v.bootSeconds.withController} s with it (× ${v.bootSeconds.ratio}).`,
      "",
      `Fidelity: capture bit-exact from frame 0: ${v.fidelity.captureBitExactFromFrameZero} (${v.fidelity.captureFrames} frames); playback ${v.fidelity.playback.framesReceived} frames, bit-exact ${v.fidelity.playback.bitExact}, dropped ${v.fidelity.playback.dropped}, inserted ${v.fidelity.playback.inserted}, tail loss ${v.fidelity.playback.tailLossFrames}; guest xruns ${v.fidelity.guestXruns}.`,
      "",
    );
  }
  return `${lines.join("\n")}`;
}
