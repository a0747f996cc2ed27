/**
 * The WAV codec's parser fed mutated real files: what the encoder writes (mono and stereo, several
 * rates, empty to a few hundred frames) and the variants other writers produce (WAVE_FORMAT_EXTENSIBLE,
 * LIST and fact chunks, odd-sized chunks with their pad byte, a streaming writer's unknown data size),
 * bent by the generic mutations and by edge values in every chunk size and in the fmt fields.
 *
 * Invariants: parseWavHeader and decodeWav either return or throw a WavFormatError with a message (the
 * codec's documented way of refusing a file) — never another exception, never a hang; what they accept
 * is consistent (whole frames, inside the file, 16-bit PCM, 1–255 channels, a non-zero rate); decoding
 * returns exactly the samples in the data chunk; and encoding what was decoded decodes to the same.
 */
import {
  decodeWav,
  encodeWav,
  parseWavHeader,
  WAV_UNKNOWN_SIZE,
  WavFormatError,
} from "../../src/devices/audio/wav.ts";
import { type LengthField, mutate } from "../lib/mutate.ts";
import { FuzzRandom } from "../lib/random.ts";
import { check, type FuzzTarget } from "../lib/target.ts";

function u32(bytes: Uint8Array, at: number): number {
  return (bytes[at]! | (bytes[at + 1]! << 8) | (bytes[at + 2]! << 16) | (bytes[at + 3]! << 24)) >>> 0;
}

function chunk(id: string, body: Uint8Array, declared = body.length): Uint8Array {
  const pad = body.length & 1;
  const out = new Uint8Array(8 + body.length + pad);
  for (let i = 0; i < 4; i++) out[i] = id.charCodeAt(i);
  new DataView(out.buffer).setUint32(4, declared >>> 0, true);
  out.set(body, 8);
  return out;
}

function riff(...chunks: Uint8Array[]): Uint8Array {
  const length = 12 + chunks.reduce((n, c) => n + c.length, 0);
  const out = new Uint8Array(length);
  out.set([0x52, 0x49, 0x46, 0x46]);
  new DataView(out.buffer).setUint32(4, length - 8, true);
  out.set([0x57, 0x41, 0x56, 0x45], 8);
  let at = 12;
  for (const c of chunks) {
    out.set(c, at);
    at += c.length;
  }
  return out;
}

/** A WAVE_FORMAT_EXTENSIBLE fmt body (40 bytes) for 16-bit PCM. */
function extensibleFmt(channels: number, rate: number): Uint8Array {
  const body = new Uint8Array(40);
  const v = new DataView(body.buffer);
  v.setUint16(0, 0xfffe, true);
  v.setUint16(2, channels, true);
  v.setUint32(4, rate, true);
  v.setUint32(8, rate * channels * 2, true);
  v.setUint16(12, channels * 2, true);
  v.setUint16(14, 16, true);
  v.setUint16(16, 22, true);
  v.setUint16(18, 16, true);
  v.setUint32(20, channels === 2 ? 3 : 4, true);
  // KSDATAFORMAT_SUBTYPE_PCM: 00000001-0000-0010-8000-00aa00389b71
  body.set(
    [0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x10, 0x00, 0x80, 0x00, 0x00, 0xaa, 0x00, 0x38, 0x9b, 0x71],
    24,
  );
  return body;
}

let corpus: Uint8Array[] | null = null;

function loadCorpus(): Uint8Array[] {
  if (corpus !== null) return corpus;
  const files: Uint8Array[] = [];
  for (const [channels, rate, frames] of [
    [1, 8000, 0],
    [1, 44_100, 7],
    [2, 48_000, 45],
    [2, 22_050, 200],
    [1, 16_000, 1],
  ] as const) {
    const samples = Int16Array.from({ length: frames * channels }, (_, i) => (i * 2731) & 0xffff);
    files.push(encodeWav(samples, { sampleRate: rate, channels }));
  }
  const plain = files[2]!;
  const fmt = plain.subarray(20, 36);
  const data = plain.subarray(44);
  files.push(riff(chunk("fmt ", extensibleFmt(2, 48_000)), chunk("data", data)));
  files.push(
    riff(
      chunk("LIST", new TextEncoder().encode("INFOISFT\u0005\u0000\u0000\u0000uhci\u0000")),
      chunk("fmt ", fmt),
      chunk("data", data),
    ),
  );
  files.push(riff(chunk("fmt ", fmt), chunk("fact", Uint8Array.of(1, 2, 3)), chunk("data", data)));
  files.push(riff(chunk("fmt ", fmt), chunk("data", data, WAV_UNKNOWN_SIZE)));
  corpus = files;
  return files;
}

/** The RIFF size, every chunk size, and the fmt fields that are counts. */
function lengthFields(bytes: Uint8Array): LengthField[] {
  const fields: LengthField[] = [{ at: 4, width: 4 }];
  for (let at = 12; at + 8 <= bytes.length && fields.length < 32; ) {
    fields.push({ at: at + 4, width: 4 });
    const size = u32(bytes, at + 4);
    if (String.fromCharCode(...bytes.subarray(at, at + 4)) === "fmt ") {
      for (const off of [0, 2, 12, 14]) fields.push({ at: at + 8 + off, width: 2 });
      fields.push({ at: at + 12, width: 4 });
    }
    if (size > bytes.length) break;
    at += 8 + size + (size & 1);
  }
  return fields;
}

/** Runs a codec call; a WavFormatError is the codec refusing the file, anything else escapes. */
function refusedOr<T>(call: () => T): T | null {
  try {
    return call();
  } catch (error) {
    if (!(error instanceof WavFormatError)) throw error;
    check(error.message.length > 0, "a WavFormatError without a message");
    return null;
  }
}

export const wavParserTarget: FuzzTarget = {
  name: "wav",
  summary:
    "WAV parser and decoder on mutated files: only WavFormatError, consistent layouts, decode/encode round trip",
  run(seed) {
    const rng = new FuzzRandom(seed);
    const files = loadCorpus();
    const base = rng.pick(files);
    const input = mutate(rng, base, files, lengthFields(base));
    const layout = refusedOr(() => parseWavHeader(input));
    const decoded = refusedOr(() => decodeWav(input));
    check((layout === null) === (decoded === null), "parseWavHeader and decodeWav disagree about the file");
    if (layout === null || decoded === null) return;
    const { format, dataOffset, dataBytes, frames } = layout;
    const frameBytes = format.channels * 2;
    check(format.bitsPerSample === 16, () => `${format.bitsPerSample}-bit samples accepted`);
    check(
      Number.isInteger(format.channels) && format.channels >= 1 && format.channels <= 255,
      () => `${format.channels} channels`,
    );
    check(
      Number.isInteger(format.sampleRate) && format.sampleRate >= 1,
      () => `sampling rate ${format.sampleRate}`,
    );
    check(
      dataOffset >= 12 && dataOffset + dataBytes <= input.length,
      () => `data at ${dataOffset} + ${dataBytes} past ${input.length}`,
    );
    check(
      dataBytes % frameBytes === 0 && frames * frameBytes === dataBytes,
      () => `${dataBytes} bytes are not ${frames} frames`,
    );
    check(decoded.samples.length === dataBytes / 2, "decoded sample count differs from the layout");
    for (const i of decoded.samples.length === 0 ? [] : [0, decoded.samples.length - 1]) {
      const at = dataOffset + 2 * i;
      const expected = ((input[at]! | (input[at + 1]! << 8)) << 16) >> 16;
      check(
        decoded.samples[i] === expected,
        () => `sample ${i} decoded as ${decoded.samples[i]}, not ${expected}`,
      );
    }
    const again = decodeWav(encodeWav(decoded.samples, format));
    check(
      again.format.channels === format.channels && again.format.sampleRate === format.sampleRate,
      "the re-encoded file has another format",
    );
    check(
      again.samples.length === decoded.samples.length &&
        again.samples.every((s, i) => s === decoded.samples[i]),
      "the re-encoded file has other samples",
    );
  },
};
