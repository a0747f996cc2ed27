/**
 * Benchmark 1: what one frame of the controller costs on a Linux-like schedule.
 *
 * Every scenario runs on its own controller, RAM and VirtualClock. A sample is one batch of frames:
 * `clock.advance(batchFrames)` timed with performance.now() and divided by the batch length; the guest's
 * re-arming of consumed TDs runs between batches, outside the timed region, and is timed on its own.
 * The scenarios are interleaved in rounds (each runs for a slice of time per round) after a common
 * warm-up, so that machine noise lands on all of them alike and their ratios come from one run.
 */
import { type FrameScenario, SCENARIOS } from "./lib/scenarios.ts";
import { histogram, quantileSorted, round, roundSummary, type Summary, summarize } from "./lib/stats.ts";
import { GcRecorder, now, SampleBuffer, tick } from "./lib/timing.ts";

export const FRAME_BUDGET_NS = 1_000_000;
/** The target for the audio schedule: 0.2 % of a 1 ms frame. */
export const AUDIO_TARGET_NS = 0.002 * FRAME_BUDGET_NS;

export interface FrameCostScenarioResult {
  name: string;
  description: string;
  batchFrames: number;
  batches: number;
  frames: number;
  /** ns per frame over batches. */
  nsPerFrame: Summary;
  /** p50 and p99 as a percentage of the 1 ms frame. */
  budgetPercentP50: number;
  budgetPercentP99: number;
  /** p50 relative to the idle schedule's p50, measured in the same run. */
  ratioToIdle: number;
  /** The guest's untimed re-arm work, ns per frame (mean), for reference. */
  guestRearmNsPerFrame: number;
  gc: { count: number; scavenges: number; msPerMillionFrames: number };
  facts: Record<string, number>;
  /** Batches by ns/frame: `counts[i]` over [lo + i·width, lo + (i+1)·width) up to p99; the last bin also holds the tail beyond. */
  histogram: { lo: number; width: number; counts: number[] };
}

export interface FrameCostResult {
  config: { rounds: number; sliceMs: number; warmupMs: number };
  targetAudioNsPerFrame: number;
  audioMeetsTarget: boolean;
  scenarios: FrameCostScenarioResult[];
}

interface Running {
  scenario: FrameScenario;
  samples: SampleBuffer;
  rearmMs: number;
  windows: [number, number][];
}

function batchHistogram(values: Float64Array, summary: Summary): FrameCostScenarioResult["histogram"] {
  const sorted = Float64Array.from(values).sort();
  const lo = summary.min;
  const hi = Math.max(quantileSorted(sorted, 0.99), lo * 1.01);
  const bins = 40;
  return { lo: round(lo), width: round((hi - lo) / bins), counts: histogram(values, lo, hi, bins) };
}

function batch(r: Running): void {
  const s = r.scenario;
  const t0 = now();
  s.clock.advance(s.batchFrames);
  const t1 = now();
  s.rearm();
  const t2 = now();
  r.samples.push(((t1 - t0) * 1e6) / s.batchFrames);
  r.rearmMs += t2 - t1;
}

export async function runFrameCost(quick: boolean, log: (line: string) => void): Promise<FrameCostResult> {
  const config = quick
    ? { rounds: 3, sliceMs: 25, warmupMs: 40 }
    : { rounds: 30, sliceMs: 150, warmupMs: 400 };
  const running: Running[] = SCENARIOS.map((make) => ({
    scenario: make(),
    samples: new SampleBuffer(1 << 16),
    rearmMs: 0,
    windows: [],
  }));
  // Warm-up: every scenario in turn, twice, so the JIT has seen all of them before anything is measured.
  for (let pass = 0; pass < 2; pass++) {
    for (const r of running) {
      const end = now() + config.warmupMs / 2;
      while (now() < end) batch(r);
    }
  }
  for (const r of running) {
    r.samples.length = 0;
    r.rearmMs = 0;
  }
  const gc = new GcRecorder();
  for (let round = 0; round < config.rounds; round++) {
    for (const r of running) {
      const start = now();
      const end = start + config.sliceMs;
      while (now() < end) batch(r);
      r.windows.push([start, now()]);
    }
  }
  await tick();
  await tick();
  gc.stop();

  const results: FrameCostScenarioResult[] = [];
  for (const r of running) {
    const s = r.scenario;
    const facts = s.verify();
    const values = r.samples.values();
    const summary = summarize(values);
    const frames = values.length * s.batchFrames;
    let gcCount = 0;
    let scavenges = 0;
    let gcMs = 0;
    for (const [from, to] of r.windows) {
      const g = gc.within(from, to);
      gcCount += g.count;
      scavenges += g.minor;
      gcMs += g.ms;
    }
    results.push({
      name: s.name,
      description: s.description,
      batchFrames: s.batchFrames,
      batches: values.length,
      frames,
      nsPerFrame: roundSummary(summary),
      budgetPercentP50: round((summary.p50 / FRAME_BUDGET_NS) * 100),
      budgetPercentP99: round((summary.p99 / FRAME_BUDGET_NS) * 100),
      ratioToIdle: 0,
      guestRearmNsPerFrame: round((r.rearmMs * 1e6) / Math.max(1, frames)),
      gc: { count: gcCount, scavenges, msPerMillionFrames: round((gcMs * 1e6) / Math.max(1, frames)) },
      facts,
      histogram: batchHistogram(values, summary),
    });
    log(
      `  ${s.name.padEnd(24)} p50 ${summary.p50.toFixed(0).padStart(8)} ns/frame  p99 ${summary.p99.toFixed(0).padStart(8)}  (${((summary.p50 / FRAME_BUDGET_NS) * 100).toFixed(4)} % of 1 ms)  ${values.length} batches`,
    );
  }
  const idle = results.find((x) => x.name === "idle");
  for (const x of results) x.ratioToIdle = idle ? round(x.nsPerFrame.p50 / idle.nsPerFrame.p50) : Number.NaN;
  const audio = results.find((x) => x.name === "audio");
  return {
    config,
    targetAudioNsPerFrame: AUDIO_TARGET_NS,
    audioMeetsTarget: audio !== undefined && audio.nsPerFrame.p50 < AUDIO_TARGET_NS,
    scenarios: results,
  };
}
