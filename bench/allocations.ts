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
  /**
   * Whether every schedule allocated nothing in a GC-free window (issue 9: zero allocations per frame
   * in steady state). `npm run bench` exits non-zero when not.
   */
  zeroAllocation: boolean;
  /** The schedules that allocated (or never got a GC-free window), with what they allocated. */
  failures: string[];
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
  const parsed = JSON.parse(line) as Omit<AllocationResult, "command" | "zeroAllocation" | "failures">;
  const failures: string[] = [];
  for (const s of parsed.scenarios) {
    const h = s.heapDelta;
    log(
      `  ${s.name.padEnd(24)} ${h.bytesPerFrame.toFixed(2).padStart(9)} B/frame (heap delta: ${h.bytes} B over ${h.frames} frames${h.valid ? "" : ", GC in window!"})  sampled ${s.samplingProfiler.bytesPerFrame.toFixed(2)} B/frame`,
    );
    if (!h.valid) {
      failures.push(`${s.name}: no GC-free window (${h.gcsInWindow} GCs), the measurement is void`);
    } else if (h.bytes > 0) {
      const where = s.samplingProfiler.sites.map((site) => `${site.stack} (${site.bytesPerFrame} B/frame)`);
      failures.push(
        `${s.name}: ${h.bytes} B over ${h.frames} frames in every window (${h.windowsBytes.join(", ")} B)${where.length > 0 ? `; sampled at ${where.join("; ")}` : ""}`,
      );
    }
  }
  for (const failure of failures) log(`  ALLOCATES: ${failure}`);
  return { command: `node ${args.join(" ")}`, zeroAllocation: failures.length === 0, failures, ...parsed };
}
