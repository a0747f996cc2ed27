/** Command-line options, the machine the results come from, and where results are written. */
import { writeFileSync } from "node:fs";
import os from "node:os";
import { join } from "node:path";
import { prepareOutputDir } from "../../src/cli/user-paths.ts";

export interface MachineInfo {
  cpu: string;
  cores: number;
  cpuMHz: number;
  platform: string;
  arch: string;
  kernel: string;
  totalMemoryGiB: number;
  node: string;
  v8: string;
  date: string;
  loadAverage1m: number;
}

export function machineInfo(): MachineInfo {
  const cpus = os.cpus();
  return {
    cpu: cpus[0]?.model.trim() ?? "unknown",
    cores: cpus.length,
    cpuMHz: cpus[0]?.speed ?? 0,
    platform: os.platform(),
    arch: os.arch(),
    kernel: os.release(),
    totalMemoryGiB: Math.round((os.totalmem() / 2 ** 30) * 10) / 10,
    node: process.version,
    v8: process.versions.v8,
    date: new Date().toISOString(),
    loadAverage1m: Math.round((os.loadavg()[0] ?? 0) * 100) / 100,
  };
}

export interface BenchOptions {
  quick: boolean;
  /** Benchmarks to run (all when empty). */
  only: readonly string[];
  /** Seconds of the real-time run. */
  realtimeSeconds: number;
  /** The stick benchmark's settings to run (`--stick-modes`; empty: its default set). */
  stickModes: readonly string[];
  /** Boots per stick setting (`--stick-runs`, default 1). */
  stickRuns: number;
  outDir: string;
  /** The command that reproduces this run, for the reports. */
  command: string;
}

export const BENCHMARK_NAMES = [
  "frame-cost",
  "allocations",
  "async-backlog",
  "sim-speed",
  "realtime",
  "v86",
  "web-resampler",
  "usbip",
  "stick",
] as const;
export type BenchmarkName = (typeof BENCHMARK_NAMES)[number];

export function parseOptions(argv: readonly string[]): BenchOptions {
  let quick = false;
  const only: string[] = [];
  let realtimeSeconds: number | undefined;
  let outDir: string | undefined;
  const stickModes: string[] = [];
  let stickRuns = 1;
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    const value = (): string => {
      const v = argv[++i];
      if (v === undefined) throw new Error(`${arg} needs a value`);
      return v;
    };
    if (arg === "--quick") quick = true;
    else if (arg === "--only") only.push(...value().split(","));
    else if (arg === "--realtime-seconds") realtimeSeconds = Number(value());
    else if (arg === "--out") outDir = value();
    else if (arg === "--stick-modes") stickModes.push(...value().split(","));
    else if (arg === "--stick-runs") stickRuns = Number(value());
    else if (arg === "--help" || arg === "-h") {
      console.log(
        [
          "npm run bench [-- options]",
          "  --quick                 every benchmark briefly (CI: checks the suite works); results in bench/results/tmp/quick",
          `  --only a,b              run only these: ${BENCHMARK_NAMES.join(", ")}`,
          "  --realtime-seconds N    length of the real-time run (default 60, quick 3)",
          "  --out DIR               where results go (default bench/results)",
          "  --stick-modes a,b       stick settings to boot: capped, uncapped, uncapped-budget-1024 (default capped,uncapped)",
          "  --stick-runs N          boots per stick setting (default 1)",
        ].join("\n"),
      );
      process.exit(0);
    } else throw new Error(`unknown option ${arg} (try --help)`);
  }
  for (const name of only) {
    if (!(BENCHMARK_NAMES as readonly string[]).includes(name)) throw new Error(`no benchmark ${name}`);
  }
  if (!Number.isInteger(stickRuns) || stickRuns < 1)
    throw new Error("--stick-runs must be a whole number ≥ 1");
  const seconds = realtimeSeconds ?? (quick ? 3 : 60);
  if (!(seconds > 0)) throw new Error("--realtime-seconds must be positive");
  return {
    quick,
    only,
    realtimeSeconds: seconds,
    stickModes,
    stickRuns,
    outDir: outDir ?? (quick ? join("bench", "results", "tmp", "quick") : join("bench", "results")),
    command: ["npm run bench", ...(argv.length > 0 ? ["--", ...argv] : [])].join(" "),
  };
}

export class ResultWriter {
  constructor(readonly dir: string) {
    // Not mkdirSync(…, { recursive: true }): it spins forever on a folder like /proc/forbidden (issue 10).
    prepareOutputDir("--out", dir);
  }

  json(name: string, value: unknown): string {
    const path = join(this.dir, `${name}.json`);
    writeFileSync(path, `${JSON.stringify(value, null, 2)}\n`);
    return path;
  }

  text(file: string, content: string): string {
    const path = join(this.dir, file);
    writeFileSync(path, content);
    return path;
  }
}
