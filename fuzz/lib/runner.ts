import vm from "node:vm";
import { formatSeed, seedAt } from "./random.ts";
import { execute, type FuzzFinding, type FuzzTarget } from "./target.ts";

export interface TargetStats {
  readonly name: string;
  execs: number;
  /** Milliseconds spent executing this target. */
  ms: number;
}

export interface FuzzRunOptions {
  readonly targets: readonly FuzzTarget[];
  /** Every execution's seed derives from this and the target's name. */
  readonly baseSeed: number;
  /** Stop after this much wall time (round-robin over the targets)… */
  readonly durationMs?: number;
  /** …or once every target has run this many executions. */
  readonly execsPerTarget?: number;
  /** Time given to one target before the next one's turn. */
  readonly sliceMs?: number;
  /** An execution running longer than this is reported as a hang. */
  readonly hangMs?: number;
  /** Told after each slice (for progress lines). */
  readonly onSlice?: (stats: readonly TargetStats[]) => void;
}

export interface FuzzRunResult {
  readonly stats: readonly TargetStats[];
  readonly finding: FuzzFinding | null;
}

/** FNV-1a of a target's name: each target draws its own seed sequence from one base seed. */
function nameHash(name: string): number {
  let h = 0x811c_9dc5;
  for (let i = 0; i < name.length; i++) h = Math.imul(h ^ name.charCodeAt(i), 0x0100_0193);
  return h >>> 0;
}

/** The seed of a target's `index`-th execution in a run with `baseSeed`. */
export function executionSeed(baseSeed: number, target: string, index: number): number {
  return seedAt((baseSeed ^ nameHash(target)) >>> 0, index);
}

/**
 * Runs targets round-robin, a slice of time each, until the time or execution budget is spent or
 * something is found. Each slice runs under a vm timeout, so an execution that never returns (a hang on
 * hostile input) is interrupted and reported with its seed like any other finding.
 */
export function runFuzz(options: FuzzRunOptions): FuzzRunResult {
  const { targets, baseSeed } = options;
  const sliceMs = options.sliceMs ?? 250;
  const hangMs = options.hangMs ?? 10_000;
  const stats: TargetStats[] = targets.map((t) => ({ name: t.name, execs: 0, ms: 0 }));
  const deadline =
    options.durationMs === undefined ? Number.POSITIVE_INFINITY : performance.now() + options.durationMs;
  const quota = options.execsPerTarget ?? Number.POSITIVE_INFINITY;
  // What the slice running under the vm timeout works on, and where it is (for a hang report).
  const job = { target: 0, until: 0, seed: 0, finding: null as FuzzFinding | null };
  const runSlice = (): void => {
    const target = targets[job.target]!;
    const s = stats[job.target]!;
    do {
      job.seed = executionSeed(baseSeed, target.name, s.execs);
      const finding = execute(target, job.seed);
      s.execs++;
      if (finding !== null) {
        job.finding = finding;
        return;
      }
    } while (s.execs < quota && performance.now() < job.until);
  };
  const script = new vm.Script("runSlice()");
  const context = vm.createContext({ runSlice });

  for (;;) {
    let ran = false;
    for (let i = 0; i < targets.length; i++) {
      const now = performance.now();
      if (now >= deadline) return { stats, finding: null };
      const s = stats[i]!;
      if (s.execs >= quota) continue;
      ran = true;
      job.target = i;
      job.until = Math.min(now + sliceMs, deadline);
      try {
        script.runInContext(context, { timeout: sliceMs + hangMs });
      } catch (error) {
        if ((error as { code?: string }).code !== "ERR_SCRIPT_EXECUTION_TIMEOUT") throw error;
        job.finding = {
          target: targets[i]!.name,
          seed: job.seed,
          kind: "exception",
          message: `hang: the execution with seed ${formatSeed(job.seed)} ran for more than ${hangMs} ms`,
          stack: "",
        };
      }
      s.ms += performance.now() - now;
      options.onSlice?.(stats);
      if (job.finding !== null) return { stats, finding: job.finding };
    }
    if (!ran) return { stats, finding: null };
  }
}

/** Executions per second of a target's own running time. */
export function execsPerSecond(s: TargetStats): number {
  return s.ms > 0 ? (s.execs * 1000) / s.ms : 0;
}
