/**
 * A small, strict command-line parser: every flag is declared; an unknown flag, a missing value or a
 * malformed number is a {@link UsageError} (the CLI prints it on one line and exits with code 2).
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
  const out: Record<string, boolean | number | string | undefined> = {};
  for (const [name, spec] of Object.entries(specs)) {
    out[name] = spec.kind === "boolean" ? false : spec.default;
  }
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (!arg.startsWith("--")) throw new UsageError(`unexpected argument '${arg}'`);
    const eq = arg.indexOf("=");
    const name = arg.slice(2, eq < 0 ? undefined : eq);
    const spec = specs[name];
    if (spec === undefined) throw new UsageError(`unknown option '--${name}'`);
    if (spec.kind === "boolean") {
      if (eq >= 0) throw new UsageError(`option '--${name}' takes no value`);
      out[name] = true;
      continue;
    }
    let value: string | undefined;
    if (eq >= 0) value = arg.slice(eq + 1);
    else {
      value = argv[i + 1];
      i++;
    }
    if (value === undefined || (eq < 0 && value.startsWith("--"))) {
      throw new UsageError(`option '--${name}' needs a value`);
    }
    if (spec.kind === "string") {
      if (spec.choices !== undefined && !spec.choices.includes(value)) {
        throw new UsageError(`option '--${name}' must be one of ${spec.choices.join(", ")}; got '${value}'`);
      }
      out[name] = value;
    } else {
      const n = Number(value);
      if (value.trim() === "" || !Number.isFinite(n))
        throw new UsageError(`option '--${name}' needs a number; got '${value}'`);
      if (spec.integer && !Number.isInteger(n))
        throw new UsageError(`option '--${name}' needs a whole number; got '${value}'`);
      if (spec.min !== undefined && n < spec.min)
        throw new UsageError(`option '--${name}' must be at least ${spec.min}`);
      if (spec.max !== undefined && n > spec.max)
        throw new UsageError(`option '--${name}' must be at most ${spec.max}`);
      out[name] = n;
    }
  }
  return out as ParsedFlags<S>;
}

export function flagHelp(specs: FlagSpecs): string {
  return Object.entries(specs)
    .map(([name, spec]) => {
      const value = spec.kind === "boolean" ? "" : spec.kind === "number" ? " <n>" : " <text>";
      const def = spec.kind !== "boolean" && spec.default !== undefined ? ` (default ${spec.default})` : "";
      return `  --${name}${value}`.padEnd(26) + spec.help + def;
    })
    .join("\n");
}
