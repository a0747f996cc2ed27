import { formatSeed } from "./random.ts";

/** Where a target may report what it is doing, step by step (printed by `--replay`). */
export type Trace = ((line: string) => void) | null;

/**
 * A fuzz target: one execution is a function of its 32-bit seed alone (fresh controller, devices,
 * memory and clock each time), so any finding replays exactly from the seed it printed.
 */
export interface FuzzTarget {
  readonly name: string;
  /** One line: what is fuzzed and what is checked. */
  readonly summary: string;
  /** Runs one execution; throws when an invariant fails (or lets the code under test's exception out). */
  run(seed: number, trace: Trace): void;
}

/** An invariant did not hold (as opposed to an exception escaping the code under test). */
export class InvariantViolation extends Error {
  override readonly name = "InvariantViolation";
}

/**
 * Fails the execution unless `condition` holds. The message may be a function so the hot path builds no
 * strings.
 */
export function check(condition: boolean, message: string | (() => string)): asserts condition {
  if (!condition) throw new InvariantViolation(typeof message === "string" ? message : message());
}

export interface FuzzFinding {
  readonly target: string;
  readonly seed: number;
  /** "invariant" when a check failed; "exception" when the code under test threw. */
  readonly kind: "invariant" | "exception";
  readonly message: string;
  readonly stack: string;
}

/** Runs one execution and turns whatever it throws into a finding. */
export function execute(target: FuzzTarget, seed: number, trace: Trace = null): FuzzFinding | null {
  try {
    target.run(seed, trace);
    return null;
  } catch (error) {
    const invariant = error instanceof InvariantViolation;
    const message = error instanceof Error ? `${error.name}: ${error.message}` : `thrown: ${String(error)}`;
    return {
      target: target.name,
      seed,
      kind: invariant ? "invariant" : "exception",
      message,
      stack: error instanceof Error ? (error.stack ?? message) : message,
    };
  }
}

/** The command that replays one execution. */
export function replayCommand(target: string, seed: number): string {
  return `npm run fuzz -- --target ${target} --replay ${formatSeed(seed)}`;
}

/** A finding as one paragraph: target, seed, what failed, and how to replay it. */
export function describeFinding(finding: FuzzFinding): string {
  return [
    `FINDING in target ${finding.target}, seed ${formatSeed(finding.seed)} (${finding.kind})`,
    `  ${finding.message}`,
    `  replay: ${replayCommand(finding.target, finding.seed)}`,
  ].join("\n");
}
