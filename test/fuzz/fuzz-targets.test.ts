/**
 * A CI-sized run of every fuzz target (fuzz/targets), with fixed seeds so a failure here is a finding
 * anyone can replay: the message carries the target, the seed and the replay command. The long runs are
 * `npm run fuzz -- --minutes N`.
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { describe, it } from "node:test";
import { formatSeed } from "../../fuzz/lib/random.ts";
import { executionSeed, runFuzz } from "../../fuzz/lib/runner.ts";
import { check, describeFinding, execute, type FuzzTarget, replayCommand } from "../../fuzz/lib/target.ts";
import { FUZZ_TARGETS } from "../../fuzz/targets/index.ts";

const CI_SEED = 0x5eed_f022;
/** Executions per target: a second or two for the slow targets, a blink for the parsers. */
const CI_EXECUTIONS: Readonly<Record<string, number>> = {
  "frame-walker": 1200,
  "control-pipes": 700,
  descriptors: 10_000,
  "hid-report": 10_000,
  wav: 10_000,
  "usbip-replies": 5000,
  "mass-storage": 1500,
};

/**
 * Seeds of past findings, replayed every run. 0xdf2c9e8e: a pooled packet deferred by one device, then
 * completed and reused by another, looked as if the first still held it (a harness fix, not a
 * controller bug).
 */
const REGRESSIONS: readonly (readonly [string, number])[] = [["frame-walker", 0xdf2c9e8e]];

describe("fuzz targets, CI-sized", () => {
  for (const [name, seed] of REGRESSIONS) {
    it(`${name}: the past finding ${seed.toString(16)} replays clean`, () => {
      const target = FUZZ_TARGETS.find((t) => t.name === name);
      assert.ok(target !== undefined);
      const result = execute(target, seed);
      if (result !== null) assert.fail(`${describeFinding(result)}\n${result.stack}`);
    });
  }

  for (const target of FUZZ_TARGETS) {
    const executions = CI_EXECUTIONS[target.name] ?? 1000;
    it(`${target.name}: ${executions} seeded executions without a finding`, (t) => {
      const result = runFuzz({ targets: [target], baseSeed: CI_SEED, execsPerTarget: executions });
      const stats = result.stats[0]!;
      t.diagnostic(`${stats.execs} executions in ${stats.ms.toFixed(0)} ms`);
      if (result.finding !== null) assert.fail(`${describeFinding(result.finding)}\n${result.finding.stack}`);
      assert.equal(stats.execs, executions);
    });
  }
});

describe("fuzz runner", () => {
  // A target that fails on one seed in 50 and hangs on none.
  const flaky: FuzzTarget = {
    name: "flaky",
    summary: "fails when the seed is a multiple of 50",
    run(seed) {
      check(seed % 50 !== 0, () => `seed ${formatSeed(seed)} is a multiple of 50`);
    },
  };

  it("reports the target and the seed of the first finding, and the seed replays it", () => {
    const result = runFuzz({ targets: [flaky], baseSeed: 1, execsPerTarget: 100_000 });
    const finding = result.finding;
    assert.ok(finding !== null);
    assert.equal(finding.target, "flaky");
    assert.equal(finding.kind, "invariant");
    assert.equal(finding.seed % 50, 0);
    const index = result.stats[0]!.execs - 1;
    assert.equal(executionSeed(1, "flaky", index), finding.seed, "the seed is the one the runner derived");
    const replayed = execute(flaky, finding.seed);
    assert.deepEqual(
      { ...replayed, stack: "" },
      { ...finding, stack: "" },
      "replaying the seed gives the same finding",
    );
    assert.match(
      describeFinding(finding),
      new RegExp(replayCommand("flaky", finding.seed).replace(/[-]/g, "\\-")),
    );
  });

  it("turns an exception from the code under test into a finding", () => {
    const throwing: FuzzTarget = {
      name: "throwing",
      summary: "",
      run() {
        throw new RangeError("boom");
      },
    };
    const finding = execute(throwing, 7);
    assert.equal(finding?.kind, "exception");
    assert.equal(finding?.message, "RangeError: boom");
  });

  it("reports an execution that never returns as a hang, with its seed", () => {
    const hanging: FuzzTarget = {
      name: "hanging",
      summary: "",
      run(seed) {
        if (seed % 3 === 0) for (;;);
      },
    };
    const result = runFuzz({ targets: [hanging], baseSeed: 2, execsPerTarget: 1000, hangMs: 100 });
    assert.ok(result.finding !== null);
    assert.match(result.finding.message, /^hang/);
    assert.equal(result.finding.seed % 3, 0);
  });

  it("npm run fuzz: runs targets for a number of executions, replays a seed, refuses unknown targets", () => {
    const fuzz = (...args: string[]) =>
      spawnSync(process.execPath, ["--import", "tsx", "fuzz/run.ts", ...args], { encoding: "utf8" });
    const run = fuzz("--target", "wav,hid-report", "--execs", "200", "--seed", "3");
    assert.equal(run.status, 0, run.stdout + run.stderr);
    assert.match(run.stdout, /wav\s+200 execs\s+\d+ exec\/s/);
    assert.match(run.stdout, /no findings/);
    const replay = fuzz("--target", "frame-walker", "--replay", "0x1234", "--trace-lines", "3");
    assert.equal(replay.status, 0, replay.stdout + replay.stderr);
    assert.match(replay.stdout, /no finding: target frame-walker, seed 0x00001234/);
    const unknown = fuzz("--target", "nope");
    assert.equal(unknown.status, 2);
    assert.match(unknown.stderr, /no target 'nope'/);
  });
});
