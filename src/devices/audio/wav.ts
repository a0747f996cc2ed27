/**
 * A pure WAV (RIFF/WAVE) codec for 16-bit PCM, shared by the file source and sink and the CLI. It works
 * on bytes only; reading and writing files is the caller's business.
 *
 * Parsing walks the RIFF chunks (Microsoft RIFF: `RIFF` size `WAVE`, then chunks of id + 32-bit
 * little-endian size + data, each padded to an even length), reads `fmt ` (WAVE_FORMAT_PCM, or
 * WAVE_FORMAT_EXTENSIBLE with the PCM sub-format) and finds `data`; other chunks (LIST, fact…) are
 * skipped. Anything malformed or not 16-bit PCM throws a {@link WavFormatError} that says what is wrong.
 * A data size of 0xFFFFFFFF — what a streaming writer leaves before it knows the length, and what
 * {@link WavFileSink} leaves in a file that was never closed — means "to the end of the file".
 */

export class WavFormatError extends Error {
  override readonly name = "WavFormatError";
}

export interface WavFormat {
  readonly sampleRate: number;
  readonly channels: number;
  /** Always 16 for what this codec decodes. */
  readonly bitsPerSample: number;
}

/** Where the samples are in a WAV file. */
export interface WavLayout {
  readonly format: WavFormat;
  /** Byte offset of the first sample. */
  readonly dataOffset: number;
  /** Bytes of samples (whole frames). */
  readonly dataBytes: number;
  readonly frames: number;
}

/** The canonical header this codec writes: RIFF + fmt (16 bytes) + data chunk header. */
export const WAV_HEADER_BYTES = 44;
/** A data or RIFF size not yet known (streaming writers). */
export const WAV_UNKNOWN_SIZE = 0xffffffff;

const WAVE_FORMAT_PCM = 0x0001;
const WAVE_FORMAT_EXTENSIBLE = 0xfffe;
/** Bytes 2..15 of every KSDATAFORMAT_SUBTYPE_* GUID; bytes 0..1 hold the format tag. */
const SUBFORMAT_GUID_TAIL = [
  0x00, 0x00, 0x00, 0x00, 0x10, 0x00, 0x80, 0x00, 0x00, 0xaa, 0x00, 0x38, 0x9b, 0x71,
];
const PCM_FMT_BYTES = 16;
const EXTENSIBLE_FMT_BYTES = 40;
const MAX_CHANNELS = 255;

function fourCC(bytes: Uint8Array, at: number): string {
  return String.fromCharCode(bytes[at]!, bytes[at + 1]!, bytes[at + 2]!, bytes[at + 3]!);
}

function u16(bytes: Uint8Array, at: number): number {
  return bytes[at]! | (bytes[at + 1]! << 8);
}

function u32(bytes: Uint8Array, at: number): number {
  return (bytes[at]! | (bytes[at + 1]! << 8) | (bytes[at + 2]! << 16) | (bytes[at + 3]! << 24)) >>> 0;
}

function put16(bytes: Uint8Array, at: number, value: number): void {
  bytes[at] = value & 0xff;
  bytes[at + 1] = (value >> 8) & 0xff;
}

function put32(bytes: Uint8Array, at: number, value: number): void {
  put16(bytes, at, value & 0xffff);
  put16(bytes, at + 2, (value >>> 16) & 0xffff);
}

function putFourCC(bytes: Uint8Array, at: number, id: string): void {
  for (let i = 0; i < 4; i++) bytes[at + i] = id.charCodeAt(i);
}

function parseFmt(bytes: Uint8Array, at: number, size: number): WavFormat {
  if (size < PCM_FMT_BYTES) throw new WavFormatError(`fmt chunk is ${size} bytes, at least 16 expected`);
  let tag = u16(bytes, at);
  const channels = u16(bytes, at + 2);
  const sampleRate = u32(bytes, at + 4);
  const blockAlign = u16(bytes, at + 12);
  const bitsPerSample = u16(bytes, at + 14);
  if (tag === WAVE_FORMAT_EXTENSIBLE) {
    if (size < EXTENSIBLE_FMT_BYTES) {
      throw new WavFormatError(`WAVE_FORMAT_EXTENSIBLE fmt chunk is ${size} bytes, 40 expected`);
    }
    const guid = at + 24;
    if (SUBFORMAT_GUID_TAIL.some((byte, i) => bytes[guid + 2 + i] !== byte)) {
      throw new WavFormatError(
        "unsupported WAVE_FORMAT_EXTENSIBLE sub-format (not a standard KSDATAFORMAT GUID)",
      );
    }
    tag = u16(bytes, guid);
  }
  if (tag !== WAVE_FORMAT_PCM) {
    throw new WavFormatError(`unsupported format tag 0x${tag.toString(16)}: only PCM (1) is supported`);
  }
  if (bitsPerSample !== 16) {
    throw new WavFormatError(`unsupported sample size: ${bitsPerSample} bits; only 16-bit PCM is supported`);
  }
  if (channels < 1 || channels > MAX_CHANNELS) throw new WavFormatError(`invalid channel count ${channels}`);
  if (sampleRate < 1) throw new WavFormatError("invalid sampling rate 0 Hz");
  if (blockAlign !== channels * 2) {
    throw new WavFormatError(`block align ${blockAlign} does not match ${channels} channels of 16 bits`);
  }
  return { sampleRate, channels, bitsPerSample };
}

/** Reads the header of a WAV file (the whole file, or at least up to its data chunk's header). */
export function parseWavHeader(bytes: Uint8Array): WavLayout {
  if (bytes.length < 12) throw new WavFormatError(`not a WAV file: ${bytes.length} bytes is too short`);
  const riff = fourCC(bytes, 0);
  if (riff === "RIFX") throw new WavFormatError("big-endian WAV (RIFX) is not supported");
  if (riff === "RF64") throw new WavFormatError("64-bit WAV (RF64) is not supported");
  if (riff !== "RIFF") throw new WavFormatError("not a WAV file: no RIFF header");
  if (fourCC(bytes, 8) !== "WAVE")
    throw new WavFormatError(`not a WAV file: RIFF type is "${fourCC(bytes, 8)}"`);
  let format: WavFormat | null = null;
  let at = 12;
  while (at + 8 <= bytes.length) {
    const id = fourCC(bytes, at);
    const size = u32(bytes, at + 4);
    const body = at + 8;
    const remaining = bytes.length - body;
    if (id === "data") {
      if (format === null) throw new WavFormatError("data chunk comes before the fmt chunk");
      const frameBytes = format.channels * 2;
      let dataBytes: number;
      if (size === WAV_UNKNOWN_SIZE) {
        dataBytes = remaining - (remaining % frameBytes);
      } else {
        if (size > remaining) {
          throw new WavFormatError(
            `data chunk declares ${size} bytes but only ${remaining} follow (truncated file)`,
          );
        }
        if (size % frameBytes !== 0) {
          throw new WavFormatError(`data chunk of ${size} bytes is not whole frames of ${frameBytes} bytes`);
        }
        dataBytes = size;
      }
      return { format, dataOffset: body, dataBytes, frames: dataBytes / frameBytes };
    }
    if (size > remaining) throw new WavFormatError(`"${id}" chunk runs past the end of the file`);
    if (id === "fmt ") {
      if (format !== null) throw new WavFormatError("two fmt chunks");
      format = parseFmt(bytes, body, size);
    }
    // Chunks are padded to an even length (RIFF).
    at = body + size + (size & 1);
  }
  throw new WavFormatError(format === null ? "no fmt chunk" : "no data chunk");
}

/** The canonical 44-byte header of a 16-bit PCM file with `dataBytes` of samples. */
export function encodeWavHeader(
  format: { sampleRate: number; channels: number },
  dataBytes: number,
): Uint8Array {
  const { sampleRate, channels } = format;
  if (!Number.isInteger(channels) || channels < 1 || channels > MAX_CHANNELS) {
    throw new RangeError(`channel count ${channels} must be 1..${MAX_CHANNELS}`);
  }
  if (!Number.isInteger(sampleRate) || sampleRate < 1 || sampleRate > 0xffffffff) {
    throw new RangeError(`sampling rate ${sampleRate} is not a 32-bit count of Hz`);
  }
  const unknown = dataBytes === WAV_UNKNOWN_SIZE;
  if (!unknown && (!Number.isInteger(dataBytes) || dataBytes < 0 || dataBytes > WAV_UNKNOWN_SIZE - 36)) {
    throw new RangeError(`${dataBytes} bytes of samples do not fit a WAV file`);
  }
  const header = new Uint8Array(WAV_HEADER_BYTES);
  putFourCC(header, 0, "RIFF");
  put32(header, 4, unknown ? WAV_UNKNOWN_SIZE : 36 + dataBytes);
  putFourCC(header, 8, "WAVE");
  putFourCC(header, 12, "fmt ");
  put32(header, 16, PCM_FMT_BYTES);
  put16(header, 20, WAVE_FORMAT_PCM);
  put16(header, 22, channels);
  put32(header, 24, sampleRate);
  put32(header, 28, sampleRate * channels * 2);
  put16(header, 32, channels * 2);
  put16(header, 34, 16);
  putFourCC(header, 36, "data");
  put32(header, 40, dataBytes);
  return header;
}

/** A whole WAV file's format and samples (interleaved). */
export interface DecodedWav {
  readonly format: WavFormat;
  readonly samples: Int16Array;
}

/** Decodes a 16-bit PCM WAV file. */
export function decodeWav(bytes: Uint8Array): DecodedWav {
  const layout = parseWavHeader(bytes);
  const count = layout.dataBytes / 2;
  const samples = new Int16Array(count);
  let at = layout.dataOffset;
  for (let i = 0; i < count; i++, at += 2) samples[i] = ((bytes[at]! | (bytes[at + 1]! << 8)) << 16) >> 16;
  return { format: layout.format, samples };
}

/** Writes interleaved samples as little-endian bytes into `out` from byte `offset`. */
export function encodeSamples(samples: Int16Array, count: number, out: Uint8Array, offset = 0): void {
  let at = offset;
  for (let i = 0; i < count; i++) {
    const s = samples[i]!;
    out[at++] = s & 0xff;
    out[at++] = (s >> 8) & 0xff;
  }
}

/** Encodes interleaved samples as a complete 16-bit PCM WAV file. */
export function encodeWav(samples: Int16Array, format: { sampleRate: number; channels: number }): Uint8Array {
  if (samples.length % format.channels !== 0) {
    throw new RangeError(`${samples.length} samples are not whole frames of ${format.channels} channels`);
  }
  const dataBytes = samples.length * 2;
  const file = new Uint8Array(WAV_HEADER_BYTES + dataBytes);
  file.set(encodeWavHeader(format, dataBytes));
  encodeSamples(samples, samples.length, file, WAV_HEADER_BYTES);
  return file;
}
