/**
 * Saved state as data: named, versioned, plain JSON objects (design guide rule 11: "state is named and
 * versioned, not positional arrays").
 *
 * Every saved state is an object `{ kind, version, ...fields }`. `kind` names what it belongs to
 * ("uhci-controller", "usb-keyboard", …) and `version` the layout of its fields. A reader accepts only
 * its own kind and the versions it knows, and refuses anything else with a {@link SnapshotError} that
 * names both versions. Restoring validates the whole state before it changes anything, so a refused
 * state leaves the object exactly as it was.
 *
 * Formats: numbers are JSON numbers (integers where the field is an integer; doubles round-trip exactly
 * through JSON), flags are booleans, and binary data (report queues, control transfer buffers) is a
 * base64 string (RFC 4648 §4, with padding) — a quarter of the size of a number array in JSON, and still
 * plain text. No NaN or Infinity is ever saved (JSON has neither).
 */

export type JsonValue = null | boolean | number | string | JsonValue[] | { [key: string]: JsonValue };

/** What every saved state carries; the rest of the fields belong to the kind. */
export type SavedState = { kind: string; version: number } & { [key: string]: JsonValue };

/** A state was refused: wrong kind, unknown version, or a field missing, mistyped or out of range. */
export class SnapshotError extends Error {
  override name = "SnapshotError";
}

/**
 * Something whose state can be saved and restored. {@link prepareRestore} validates a state completely
 * and returns the function that applies it: callers that restore several objects together (a
 * controller and its devices) validate all of them before applying any.
 */
export interface Restorable {
  saveState(): SavedState;
  /** Validates `state` (throws {@link SnapshotError}, changing nothing); returns what applies it. */
  prepareRestore(state: unknown): () => void;
  /** `prepareRestore(state)()`: all or nothing. */
  restoreState(state: unknown): void;
}

/**
 * Checks a state's kind and version and returns a reader for its fields. `versions` lists the layouts
 * this build reads (today always one); the version found is {@link StateReader.version}.
 */
export function openState(state: unknown, kind: string, versions: number | readonly number[]): StateReader {
  const known = typeof versions === "number" ? [versions] : versions;
  if (typeof state !== "object" || state === null || Array.isArray(state)) {
    throw new SnapshotError(`cannot restore ${kind}: the saved state is ${describe(state)}, not an object`);
  }
  const record = state as Record<string, unknown>;
  const found = record["kind"];
  if (found !== kind) {
    throw new SnapshotError(
      `cannot restore ${kind} from a state of kind ${typeof found === "string" ? JSON.stringify(found) : describe(found)}`,
    );
  }
  const version = record["version"];
  if (typeof version !== "number" || !known.includes(version)) {
    const shown =
      typeof version === "number" ? `version ${version}` : `a state without a version (${describe(version)})`;
    throw new SnapshotError(
      `cannot restore ${kind} from ${shown}: this build reads ${kind} version ${known.join(" or ")}`,
    );
  }
  return new StateReader(record, kind, version);
}

/** Reads and checks the fields of one saved object; every error names the field's path. */
export class StateReader {
  constructor(
    private readonly record: Record<string, unknown>,
    /** Where this object sits, for messages ("uhci-controller.ports[1]"). */
    readonly path: string,
    /** The version of the enclosing state. */
    readonly version = 0,
  ) {}

  /** True when the field is present (and not null). */
  has(name: string): boolean {
    const value = this.record[name];
    return value !== undefined && value !== null;
  }

  /** An integer in [min, max]. */
  int(name: string, min: number, max: number): number {
    const value = this.record[name];
    if (typeof value !== "number" || !Number.isInteger(value) || value < min || value > max) {
      throw this.error(name, `must be an integer in ${min}..${max}, not ${describe(value)}`);
    }
    return value;
  }

  /** A finite number in [min, max]. */
  number(name: string, min = -Number.MAX_VALUE, max = Number.MAX_VALUE): number {
    const value = this.record[name];
    if (typeof value !== "number" || !Number.isFinite(value) || value < min || value > max) {
      throw this.error(name, `must be a number in ${min}..${max}, not ${describe(value)}`);
    }
    return value;
  }

  bool(name: string): boolean {
    const value = this.record[name];
    if (typeof value !== "boolean") throw this.error(name, `must be true or false, not ${describe(value)}`);
    return value;
  }

  string(name: string, maxLength = 1 << 16): string {
    const value = this.record[name];
    if (typeof value !== "string" || value.length > maxLength) {
      throw this.error(name, `must be a string of at most ${maxLength} characters, not ${describe(value)}`);
    }
    return value;
  }

  /** One of a fixed set of values. */
  oneOf<T extends string | number>(name: string, allowed: readonly T[]): T {
    const value = this.record[name];
    if (!allowed.includes(value as T)) {
      throw this.error(
        name,
        `must be one of ${allowed.map((a) => JSON.stringify(a)).join(", ")}, not ${describe(value)}`,
      );
    }
    return value as T;
  }

  /** Base64 bytes, at most `maxLength` of them once decoded. */
  bytes(name: string, maxLength: number): Uint8Array {
    const value = this.record[name];
    if (typeof value !== "string") throw this.error(name, `must be a base64 string, not ${describe(value)}`);
    const bytes = decodeBase64(value);
    if (bytes === null) throw this.error(name, "is not valid base64");
    if (bytes.length > maxLength) throw this.error(name, `holds ${bytes.length} bytes; at most ${maxLength}`);
    return bytes;
  }

  /** An array of integers in [min, max], at most `maxLength` long. */
  ints(name: string, min: number, max: number, maxLength: number): number[] {
    return this.array(name, maxLength).map((value, i) => {
      if (typeof value !== "number" || !Number.isInteger(value) || value < min || value > max) {
        throw this.error(`${name}[${i}]`, `must be an integer in ${min}..${max}, not ${describe(value)}`);
      }
      return value;
    });
  }

  /** An array of anything, at most `maxLength` long (check the elements with {@link at}). */
  array(name: string, maxLength: number): unknown[] {
    const value = this.record[name];
    if (!Array.isArray(value)) throw this.error(name, `must be an array, not ${describe(value)}`);
    if (value.length > maxLength) throw this.error(name, `has ${value.length} entries; at most ${maxLength}`);
    return value;
  }

  /** A nested object without a kind of its own. */
  object(name: string): StateReader {
    return StateReader.of(this.record[name], `${this.path}.${name}`, this.version);
  }

  /** The raw value of a field (a nested state with its own kind and version). */
  raw(name: string): unknown {
    return this.record[name];
  }

  /** A reader for an element of an array read from this object. */
  static of(value: unknown, path: string, version = 0): StateReader {
    if (typeof value !== "object" || value === null || Array.isArray(value)) {
      throw new SnapshotError(`${path} must be an object, not ${describe(value)}`);
    }
    return new StateReader(value as Record<string, unknown>, path, version);
  }

  /** An error about one field. */
  error(name: string, problem: string): SnapshotError {
    return new SnapshotError(`${this.path}.${name} ${problem}`);
  }
}

function describe(value: unknown): string {
  if (value === undefined) return "missing";
  if (value === null) return "null";
  if (Array.isArray(value)) return "an array";
  if (typeof value === "string")
    return value.length > 40 ? `a string of ${value.length} characters` : JSON.stringify(value);
  if (typeof value === "object") return "an object";
  return String(value);
}

// ---- base64 (RFC 4648 §4), here because a browser has no Buffer and atob/btoa work on strings ----

const ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
const DECODE = new Int8Array(128).fill(-1);
for (let i = 0; i < ALPHABET.length; i++) DECODE[ALPHABET.charCodeAt(i)] = i;

/** Bytes as base64 text, padded. */
export function encodeBase64(bytes: Uint8Array): string {
  const parts: string[] = [];
  let chunk = "";
  for (let i = 0; i < bytes.length; i += 3) {
    const b0 = bytes[i]!;
    const b1 = bytes[i + 1];
    const b2 = bytes[i + 2];
    const n = (b0 << 16) | ((b1 ?? 0) << 8) | (b2 ?? 0);
    chunk +=
      ALPHABET[n >> 18]! +
      ALPHABET[(n >> 12) & 63]! +
      (b1 === undefined ? "=" : ALPHABET[(n >> 6) & 63]!) +
      (b2 === undefined ? "=" : ALPHABET[n & 63]!);
    // Joining chunks keeps long queues from building one string character by character.
    if (chunk.length >= 4096) {
      parts.push(chunk);
      chunk = "";
    }
  }
  parts.push(chunk);
  return parts.join("");
}

/** Base64 text as bytes; null unless it is canonical padded base64 (no whitespace, no stray bits). */
export function decodeBase64(text: string): Uint8Array | null {
  if (text.length % 4 !== 0) return null;
  const padding = text.endsWith("==") ? 2 : text.endsWith("=") ? 1 : 0;
  const out = new Uint8Array((text.length / 4) * 3 - padding);
  let at = 0;
  for (let i = 0; i < text.length; i += 4) {
    const last = i + 4 === text.length;
    let n = 0;
    for (let j = 0; j < 4; j++) {
      const code = text.charCodeAt(i + j);
      const padded = last && j >= 4 - padding;
      if (padded) {
        if (code !== 61) return null;
        n <<= 6;
        continue;
      }
      const value = code < 128 ? DECODE[code]! : -1;
      if (value < 0) return null;
      n = (n << 6) | value;
    }
    out[at++] = n >> 16;
    if (at < out.length) out[at++] = (n >> 8) & 0xff;
    if (at < out.length) out[at++] = n & 0xff;
    // Canonical form: the bits under the padding are zero.
    if (last && ((padding === 1 && (n & 0xff) !== 0) || (padding === 2 && (n & 0xffff) !== 0))) return null;
  }
  return out;
}
