import { DescriptorType } from "../constants.ts";
import type { ParseResult } from "./model.ts";

/** LANGID for English (United States), what nearly every host asks for first (USB LANGID table). */
export const LANGID_EN_US = 0x0409;

/** bLength is one byte, so a string descriptor holds at most (255 - 2) / 2 UTF-16 code units. */
export const MAX_STRING_UNITS = 126;

/** String descriptor zero: the LANGIDs the device supports (USB 2.0 table 9-15). */
export function encodeLanguageIds(languages: readonly number[]): Uint8Array {
  if (languages.length === 0 || languages.length > MAX_STRING_UNITS) {
    throw new RangeError(`a device needs 1 to ${MAX_STRING_UNITS} LANGIDs, got ${languages.length}`);
  }
  const out = new Uint8Array(2 + 2 * languages.length);
  out[0] = out.length;
  out[1] = DescriptorType.String;
  languages.forEach((id, i) => {
    if (!Number.isInteger(id) || id < 0 || id > 0xffff) throw new RangeError(`LANGID ${id} is not 16-bit`);
    out[2 + 2 * i] = id & 0xff;
    out[3 + 2 * i] = id >> 8;
  });
  return out;
}

/** A UNICODE string descriptor: UTF-16LE, no terminator (USB 2.0 table 9-16). */
export function encodeString(text: string): Uint8Array {
  // JS strings are already UTF-16 code units, which is what the descriptor carries.
  if (text.length > MAX_STRING_UNITS) {
    throw new RangeError(
      `string "${text.slice(0, 20)}…" has ${text.length} UTF-16 units, at most ${MAX_STRING_UNITS}`,
    );
  }
  const out = new Uint8Array(2 + 2 * text.length);
  out[0] = out.length;
  out[1] = DescriptorType.String;
  for (let i = 0; i < text.length; i++) {
    const unit = text.charCodeAt(i);
    out[2 + 2 * i] = unit & 0xff;
    out[3 + 2 * i] = unit >> 8;
  }
  return out;
}

/** The bytes of a string descriptor that bLength covers, after checking its header. */
function stringBody(bytes: Uint8Array): ParseResult<Uint8Array> {
  if (bytes.length < 2) return { ok: false, error: `string descriptor truncated: ${bytes.length} bytes` };
  const length = bytes[0]!;
  if (bytes[1] !== DescriptorType.String) {
    return { ok: false, error: `descriptor type ${bytes[1]} is not a string descriptor` };
  }
  if (length < 2) return { ok: false, error: `string descriptor bLength ${length} is below 2` };
  if (length > bytes.length) {
    return {
      ok: false,
      error: `string descriptor bLength ${length} exceeds the ${bytes.length} bytes given`,
    };
  }
  // An odd bLength leaves half a code unit; it is ignored rather than rejected, as hosts do.
  return { ok: true, value: bytes.subarray(2, 2 + ((length - 2) & ~1)) };
}

/** Decodes a UNICODE string descriptor; unpaired surrogates are kept as they are. */
export function parseString(bytes: Uint8Array): ParseResult<string> {
  const body = stringBody(bytes);
  if (!body.ok) return body;
  let text = "";
  for (let i = 0; i + 1 < body.value.length; i += 2) {
    text += String.fromCharCode(body.value[i]! | (body.value[i + 1]! << 8));
  }
  return { ok: true, value: text };
}

/** Decodes string descriptor zero into its LANGIDs. */
export function parseLanguageIds(bytes: Uint8Array): ParseResult<number[]> {
  const body = stringBody(bytes);
  if (!body.ok) return body;
  const ids: number[] = [];
  for (let i = 0; i + 1 < body.value.length; i += 2) ids.push(body.value[i]! | (body.value[i + 1]! << 8));
  return { ok: true, value: ids };
}
