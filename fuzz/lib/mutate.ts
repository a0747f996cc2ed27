import type { FuzzRandom } from "./random.ts";

/** Byte values that sit on the edges of length and type fields. */
const INTERESTING_BYTES = [0, 1, 2, 3, 4, 7, 8, 9, 16, 18, 0x20, 0x3f, 0x40, 0x7f, 0x80, 0xfe, 0xff] as const;

/** Where a length field sits in the input, so it can be set to values at its edges. */
export interface LengthField {
  readonly at: number;
  /** 1, 2 or 4 bytes, little-endian. */
  readonly width: 1 | 2 | 4;
}

function put(bytes: Uint8Array, field: LengthField, value: number): void {
  for (let i = 0; i < field.width && field.at + i < bytes.length; i++)
    bytes[field.at + i] = (value >>> (8 * i)) & 0xff;
}

function edgeValue(rng: FuzzRandom, field: LengthField, current: number, size: number): number {
  const max = field.width === 4 ? 0xffff_ffff : (1 << (8 * field.width)) - 1;
  const candidates = [
    0,
    1,
    2,
    current - 1,
    current + 1,
    current + 2,
    size,
    size - field.at,
    max,
    max - 1,
    rng.below(max + 1),
  ];
  return (rng.pick(candidates) & max) >>> 0;
}

/**
 * Mutates a copy of `input` a few times over: bit flips, edge bytes, insertions, deletions, duplicated
 * runs, truncation, growth, a splice from another input, and edge values written into the length fields
 * the caller points out (`fields`, computed from the input).
 */
export function mutate(
  rng: FuzzRandom,
  input: Uint8Array,
  corpus: readonly Uint8Array[],
  fields: readonly LengthField[] = [],
): Uint8Array {
  let bytes: Uint8Array = input.slice();
  const rounds = rng.chance(0.5) ? 1 : rng.int(2, 6);
  for (let r = 0; r < rounds; r++) {
    const n = bytes.length;
    switch (rng.below(fields.length > 0 ? 11 : 10)) {
      case 0:
        if (n > 0) {
          const at = rng.below(n);
          bytes[at] = bytes[at]! ^ (1 << rng.below(8));
        }
        break;
      case 1:
        if (n > 0) bytes[rng.below(n)] = rng.pick(INTERESTING_BYTES);
        break;
      case 2:
        if (n > 0) bytes[rng.below(n)] = rng.below(256);
        break;
      case 3: {
        const at = rng.below(n + 1);
        const extra = rng.bytes(rng.int(1, 8));
        bytes = concat(bytes.subarray(0, at), extra, bytes.subarray(at));
        break;
      }
      case 4: {
        if (n === 0) break;
        const at = rng.below(n);
        const len = rng.int(1, Math.min(16, n - at));
        bytes = concat(bytes.subarray(0, at), bytes.subarray(at + len));
        break;
      }
      case 5: {
        if (n === 0) break;
        const at = rng.below(n);
        const len = rng.int(1, Math.min(32, n - at));
        bytes = concat(bytes.subarray(0, at + len), bytes.subarray(at, at + len), bytes.subarray(at + len));
        break;
      }
      case 6:
        bytes = bytes.slice(0, rng.below(n + 1));
        break;
      case 7:
        bytes = concat(bytes, rng.chance(0.5) ? rng.bytes(rng.int(1, 64)) : new Uint8Array(rng.int(1, 64)));
        break;
      case 8: {
        const other = rng.pick(corpus);
        const from = rng.below(other.length + 1);
        const to = from + rng.below(other.length - from + 1);
        const at = rng.below(n + 1);
        bytes = concat(
          bytes.subarray(0, at),
          other.subarray(from, to),
          bytes.subarray(rng.chance(0.5) ? at : n),
        );
        break;
      }
      case 9:
        if (n >= 4) {
          const at = rng.below(n - 3);
          put(bytes, { at, width: rng.pick([2, 4] as const) }, rng.garbage32());
        }
        break;
      default: {
        const field = rng.pick(fields);
        if (field.at >= bytes.length) break;
        let current = 0;
        for (let i = 0; i < field.width && field.at + i < bytes.length; i++)
          current |= bytes[field.at + i]! << (8 * i);
        put(bytes, field, edgeValue(rng, field, current >>> 0, bytes.length));
      }
    }
  }
  return bytes;
}

function concat(...parts: Uint8Array[]): Uint8Array {
  let length = 0;
  for (const p of parts) length += p.length;
  const out = new Uint8Array(length);
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}
