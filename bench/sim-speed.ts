/**
 * Benchmark 2: simulated speed — frames of virtual time per second of host time, with the
 * VirtualClock advanced in big steps (as an emulator running ahead of real time would), idle and
 * streaming. For comparison, the same with 1 ms steps (one advance() call per frame).
 *
 * The guest's re-arming between steps is timed apart: "controller only" excludes it, "with guest"
 * includes it.
 */
import { audioScenario, type FrameScenario, idleScenario } from "./lib/scenarios.ts";
import { round } from "./lib/stats.ts";
import { now } from "./lib/timing.ts";

export interface SimSpeedRow {
  schedule: string;
  stepMs: number;
  framesRun: number;
  hostSeconds: number;
  /** Virtual frames per host second, controller only. */
  framesPerSecond: number;
  /** Same, including the untimed guest re-arming between steps. */
  framesPerSecondWithGuest: number;
  /** framesPerSecond / 1000: how many times faster than real time. */
  timesRealTime: number;
}

export interface SimSpeedResult {
  config: { secondsPerRow: number; bigStepMs: number };
  rows: SimSpeedRow[];
  /** Streaming relative to idle (big steps), from this run. */
  streamingToIdleRatio: number;
  /** 1 ms steps relative to big steps, per schedule. */
  smallStepPenalty: Record<string, number>;
}

function measure(s: FrameScenario, stepMs: number, seconds: number): SimSpeedRow {
  // A chunk is `calls` advance() calls of `stepMs`, then the guest re-arms: at most every 1024 frames
  // (the frame list length) and at least every 128 (a guest would not re-arm per frame).
  const calls = stepMs >= 128 ? 1 : Math.ceil(128 / stepMs);
  const chunkFrames = calls * stepMs;
  if (chunkFrames > 1024) throw new Error("sim-speed: a step may not outrun the frame list");
  let frames = 0;
  let controllerMs = 0;
  let guestMs = 0;
  const deadline = now() + seconds * 1000;
  while (now() < deadline) {
    const t0 = now();
    for (let i = 0; i < calls; i++) s.clock.advance(stepMs);
    const t1 = now();
    s.rearm();
    guestMs += now() - t1;
    controllerMs += t1 - t0;
    frames += chunkFrames;
  }
  return {
    schedule: s.name,
    stepMs,
    framesRun: frames,
    hostSeconds: round((controllerMs + guestMs) / 1000),
    framesPerSecond: round(frames / (controllerMs / 1000)),
    framesPerSecondWithGuest: round(frames / ((controllerMs + guestMs) / 1000)),
    timesRealTime: round(frames / controllerMs),
  };
}

export function runSimSpeed(quick: boolean, log: (line: string) => void): SimSpeedResult {
  const secondsPerRow = quick ? 0.25 : 2.5;
  const bigStepMs = 1024;
  const rows: SimSpeedRow[] = [];
  for (const make of [idleScenario, () => audioScenario()]) {
    const s = make();
    measure(s, bigStepMs, secondsPerRow / 4); // warm-up
    for (const step of [bigStepMs, 1]) {
      const row = measure(s, step, secondsPerRow);
      s.verify();
      rows.push(row);
      log(
        `  ${row.schedule.padEnd(8)} step ${String(row.stepMs).padStart(5)} ms: ${(row.framesPerSecond / 1e6).toFixed(3)} M frames/s (${row.timesRealTime.toFixed(0)}× real time)`,
      );
    }
  }
  const get = (schedule: string, step: number) =>
    rows.find((r) => r.schedule === schedule && r.stepMs === step)?.framesPerSecond ?? Number.NaN;
  return {
    config: { secondsPerRow, bigStepMs },
    rows,
    streamingToIdleRatio: round(get("audio", bigStepMs) / get("idle", bigStepMs)),
    smallStepPenalty: {
      idle: round(get("idle", 1) / get("idle", bigStepMs)),
      audio: round(get("audio", 1) / get("audio", bigStepMs)),
    },
  };
}
