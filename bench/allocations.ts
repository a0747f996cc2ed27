/**
 * Benchmark 1b: heap allocations per frame in steady state. The measurement needs `--expose-gc` and a
 * large young generation, so it runs in a child process (bench/alloc-child.ts explains the method).
 */
import { spawnSync } from "node:child_process";

export const ALLOC_CHILD_FLAGS = [
  "--expose-gc",
  "--min-semi-space-size=64",
  "--max-semi-space-size=64",
  "--import",
  "tsx",
] as const;

export interface AllocationSite {
  stack: string;
  bytesPerFrame: number;
}

export interface AllocationScenarioResult {
  name: string;
  heapDelta: {
    frames: number;
    /** heapUsed after − before. */
    rawBytes: number;
    /** rawBytes − the empty window's bytes. */
    bytes: number;
    bytesPerFrame: number;
    gcsInWindow: number;
    valid: boolean;
    retries: number;
    /** Both windows' bytes (the smaller is reported); frames may differ if the first was cut. */
    windowsBytes: number[];
  };
  samplingProfiler: { frames: number; bytesPerFrame: number; sites: AllocationSite[] };
}

export interface AllocationResult {
  command: string;
  emptyWindowBytes: number;
  calibration: { objects: number; what: string; measuredBytesEach: number; gcsInWindow: number };
  execArgv: string[];
  scenarios: AllocationScenarioResult[];
}

export function runAllocations(quick: boolean, log: (line: string) => void): AllocationResult {
  const args = [...ALLOC_CHILD_FLAGS, "bench/alloc-child.ts", ...(quick ? ["--quick"] : [])];
  const child = spawnSync(process.execPath, args, { encoding: "utf8", maxBuffer: 64 * 1024 * 1024 });
  if (child.status !== 0) {
    throw new Error(`alloc-child failed (${child.status}): ${child.stderr}`);
  }
  const line = child.stdout.trim().split("\n").at(-1) ?? "";
  const parsed = JSON.parse(line) as Omit<AllocationResult, "command">;
  for (const s of parsed.scenarios) {
    log(
      `  ${s.name.padEnd(24)} ${s.heapDelta.bytesPerFrame.toFixed(2).padStart(9)} B/frame (heap delta over ${s.heapDelta.frames} frames${s.heapDelta.valid ? "" : ", GC in window!"})  sampled ${s.samplingProfiler.bytesPerFrame.toFixed(2)} B/frame`,
    );
  }
  return { command: `node ${args.join(" ")}`, ...parsed };
}
