import { type ParseArgsConfig, parseArgs } from "node:util";

/**
 * The CLI's flag parser: `node:util`'s `parseArgs` in strict mode splits the words (`--name value`,
 * `--name=value`, `--`), and this module checks them against declared flags: an unknown flag, a
 * missing value, a value on a switch, a stray word, a number out of range or a choice not offered is a
 * {@link UsageError} (the CLI prints it as one line, `uhci: …`, and exits with code 2). A flag given
 * twice takes its last value, so a wrapper script's defaults can be overridden by appending flags.
 */
export class UsageError extends Error {}

export type FlagSpec =
  | { readonly kind: "boolean"; readonly help: string }
  | {
      readonly kind: "string";
      readonly help: string;
      readonly default?: string;
      readonly choices?: readonly string[];
    }
  | {
      readonly kind: "number";
      readonly help: string;
      readonly default?: number;
      readonly min?: number;
      readonly max?: number;
      readonly integer?: boolean;
    };

export type FlagSpecs = Readonly<Record<string, FlagSpec>>;

type ValueOf<S extends FlagSpec> = S extends { kind: "boolean" }
  ? boolean
  : S extends { kind: "number" }
    ? number | undefined
    : string | undefined;

export type ParsedFlags<S extends FlagSpecs> = { -readonly [K in keyof S]: ValueOf<S[K]> };

export function parseFlags<S extends FlagSpecs>(argv: readonly string[], specs: S): ParsedFlags<S> {
  const options: NonNullable<ParseArgsConfig["options"]> = {};
  for (const [name, spec] of Object.entries(specs)) {
    options[name] = { type: spec.kind === "boolean" ? "boolean" : "string" };
  }
  let values: Record<string, string | boolean | (string | boolean)[] | undefined>;
  try {
    ({ values } = parseArgs({ args: [...argv], options, strict: true, allowPositionals: false }));
  } catch (error) {
    throw usageErrorFrom(error, specs);
  }
  const out: Record<string, boolean | number | string | undefined> = {};
  for (const [name, spec] of Object.entries(specs)) {
    const given = values[name];
    if (spec.kind === "boolean") {
      out[name] = given === true;
    } else if (typeof given !== "string") {
      out[name] = spec.default;
    } else if (spec.kind === "string") {
      if (spec.choices !== undefined && !spec.choices.includes(given)) {
        throw new UsageError(`option '--${name}' must be one of ${spec.choices.join(", ")}; got '${given}'`);
      }
      out[name] = given;
    } else {
      out[name] = parseNumber(name, given, spec);
    }
  }
  return out as ParsedFlags<S>;
}

function parseNumber(name: string, value: string, spec: Extract<FlagSpec, { kind: "number" }>): number {
  const n = Number(value);
  if (value.trim() === "" || !Number.isFinite(n)) {
    throw new UsageError(`option '--${name}' needs a number; got '${value}'`);
  }
  if (spec.integer && !Number.isInteger(n)) {
    throw new UsageError(`option '--${name}' needs a whole number; got '${value}'`);
  }
  if (spec.min !== undefined && n < spec.min)
    throw new UsageError(`option '--${name}' must be at least ${spec.min}`);
  if (spec.max !== undefined && n > spec.max)
    throw new UsageError(`option '--${name}' must be at most ${spec.max}`);
  return n;
}

/**
 * parseArgs's errors, said in this CLI's words on one line. Their codes are Node's documented API; the
 * word they are about is the first quoted one in the message (some messages span three lines).
 */
function usageErrorFrom(error: unknown, specs: FlagSpecs): Error {
  if (!(error instanceof Error) || !("code" in error))
    return error instanceof Error ? error : new Error(String(error));
  const word = /'([^']*)'/.exec(error.message)?.[1]?.split(" ")[0] ?? "";
  switch (error.code) {
    case "ERR_PARSE_ARGS_UNKNOWN_OPTION":
      return new UsageError(`unknown option '${word}'`);
    case "ERR_PARSE_ARGS_UNEXPECTED_POSITIONAL":
      return new UsageError(`unexpected argument '${word}'`);
    case "ERR_PARSE_ARGS_INVALID_OPTION_VALUE": {
      const spec = specs[word.replace(/^--/, "")];
      if (spec?.kind === "boolean") return new UsageError(`option '${word}' takes no value`);
      // Missing, or the next word is another flag: a value that starts with '-' goes after '='.
      return new UsageError(`option '${word}' needs a value (one starting with '-' goes as ${word}=-…)`);
    }
    default:
      return new UsageError(error.message.split("\n")[0] ?? error.message);
  }
}

export function flagHelp(specs: FlagSpecs): string {
  return Object.entries(specs)
    .map(([name, spec]) => {
      const value = spec.kind === "boolean" ? "" : spec.kind === "number" ? " <n>" : " <text>";
      const def =
        spec.kind !== "boolean" && spec.default !== undefined
          ? ` (default ${shownDefault(spec.default)})`
          : "";
      return `  --${name}${value}`.padEnd(26) + spec.help + def;
    })
    .join("\n");
}

/**
 * A default as the help shows it: quoted with its escapes when printing it bare would hide or break
 * something (`uhci start --text` defaults to a line ending in a newline, which split its help line).
 */
function shownDefault(value: string | number): string {
  if (typeof value !== "string") return String(value);
  const quoted = JSON.stringify(value); // escapes a control character, a quote or a backslash
  return quoted.slice(1, -1) !== value || value.trim() !== value || value === "" ? quoted : value;
}
