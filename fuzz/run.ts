/**
 * The fuzzers' command line (npm run fuzz -- …):
 *
 *   --minutes N            run the targets round-robin for N minutes (default 1)
 *   --execs N              or: run N executions of each target
 *   --target a,b           only these targets (see --list)
 *   --seed S               base seed (default: from the clock); every execution's own seed derives from it
 *   --replay S             run one execution of --target with seed S, printing its trace
 *   --trace-lines N        how much of the trace --replay prints (default 80, 0 = all)
 *   --hang-seconds N       an execution running longer is a finding (default 10)
 *   --list                 list the targets
 *
 * On a finding it prints the target, the seed and a one-line replay command, and exits 1.
 */
import { flagHelp, parseFlags, UsageError } from "../src/cli/args.ts";
import { formatSeed } from "./lib/random.ts";
import { execsPerSecond, runFuzz, type TargetStats } from "./lib/runner.ts";
import { describeFinding, execute, type FuzzTarget } from "./lib/target.ts";
import { FUZZ_TARGETS, findTarget } from "./targets/index.ts";

const FLAGS = {
  minutes: { kind: "number", help: "run for this many minutes", min: 0 },
  execs: { kind: "number", help: "or run this many executions of each target", min: 1, integer: true },
  target: { kind: "string", help: "comma-separated target names (default: all)" },
  seed: { kind: "number", help: "base seed", min: 0, max: 0xffff_ffff, integer: true },
  replay: {
    kind: "number",
    help: "replay one execution of --target with this seed",
    min: 0,
    max: 0xffff_ffff,
    integer: true,
  },
  "trace-lines": {
    kind: "number",
    help: "trace lines --replay prints (0 = all)",
    default: 80,
    min: 0,
    integer: true,
  },
  "hang-seconds": { kind: "number", help: "an execution running longer is a finding", default: 10, min: 1 },
  list: { kind: "boolean", help: "list the targets" },
  help: { kind: "boolean", help: "this text" },
} as const;

function selectTargets(names: string | undefined): FuzzTarget[] {
  if (names === undefined) return [...FUZZ_TARGETS];
  return names.split(",").map((name) => {
    const target = findTarget(name.trim());
    if (target === undefined) {
      throw new UsageError(`no target '${name}'; targets: ${FUZZ_TARGETS.map((t) => t.name).join(", ")}`);
    }
    return target;
  });
}

function table(stats: readonly TargetStats[]): string {
  const rows = stats.map(
    (s) =>
      `  ${s.name.padEnd(20)} ${String(s.execs).padStart(10)} execs ${execsPerSecond(s).toFixed(0).padStart(8)} exec/s`,
  );
  return rows.join("\n");
}

function replay(target: FuzzTarget, seed: number, traceLines: number): number {
  const trace: string[] = [];
  const finding = execute(target, seed, (line) => trace.push(line));
  const shown = traceLines === 0 ? trace : trace.slice(-traceLines);
  if (shown.length < trace.length) console.log(`… ${trace.length - shown.length} earlier trace lines`);
  for (const line of shown) console.log(`  ${line}`);
  if (finding === null) {
    console.log(`no finding: target ${target.name}, seed ${formatSeed(seed)}`);
    return 0;
  }
  console.log(describeFinding(finding));
  console.log(finding.stack);
  return 1;
}

function main(argv: readonly string[]): number {
  const flags = parseFlags(argv, FLAGS);
  if (flags.help) {
    console.log(`usage: npm run fuzz -- [options]\n${flagHelp(FLAGS)}`);
    return 0;
  }
  if (flags.list) {
    for (const t of FUZZ_TARGETS) console.log(`${t.name.padEnd(20)} ${t.summary}`);
    return 0;
  }
  const targets = selectTargets(flags.target);
  if (flags.replay !== undefined) {
    if (targets.length !== 1) throw new UsageError("--replay needs exactly one --target");
    return replay(targets[0]!, flags.replay, flags["trace-lines"] ?? 80);
  }
  const baseSeed = flags.seed ?? (Date.now() ^ (process.pid << 16)) >>> 0;
  const minutes = flags.minutes ?? (flags.execs === undefined ? 1 : undefined);
  console.log(
    `fuzzing ${targets.map((t) => t.name).join(", ")} ` +
      `${minutes === undefined ? `for ${flags.execs} executions each` : `for ${minutes} min`}, base seed ${formatSeed(baseSeed)}`,
  );
  const started = performance.now();
  let lastReport = started;
  const result = runFuzz({
    targets,
    baseSeed,
    ...(minutes === undefined ? {} : { durationMs: minutes * 60_000 }),
    ...(flags.execs === undefined ? {} : { execsPerTarget: flags.execs }),
    hangMs: (flags["hang-seconds"] ?? 10) * 1000,
    onSlice: (stats) => {
      const now = performance.now();
      if (now - lastReport < 10_000) return;
      lastReport = now;
      const parts = stats.map((s) => `${s.name} ${s.execs} (${execsPerSecond(s).toFixed(0)}/s)`);
      console.log(`[${((now - started) / 1000).toFixed(0)} s] ${parts.join(", ")}`);
    },
  });
  console.log(table(result.stats));
  if (result.finding !== null) {
    console.log(describeFinding(result.finding));
    return 1;
  }
  console.log(`no findings in ${((performance.now() - started) / 1000).toFixed(1)} s`);
  return 0;
}

try {
  process.exitCode = main(process.argv.slice(2));
} catch (error) {
  if (!(error instanceof UsageError)) throw error;
  console.error(`fuzz: ${error.message}`);
  process.exitCode = 2;
}
