import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { WavFileSink } from "../../node/wav-file-sink.ts";
import { WavFileSource } from "../../node/wav-file-source.ts";
import { generateTestSignal } from "./test-signal.ts";
import {
  decodeWav,
  encodeWav,
  encodeWavHeader,
  parseWavHeader,
  WAV_HEADER_BYTES,
  WAV_UNKNOWN_SIZE,
  WavFormatError,
} from "./wav.ts";

const dir = mkdtempSync(join(tmpdir(), "uhci-wav-"));
after(() => rmSync(dir, { recursive: true, force: true }));

/** Builds a RIFF file from chunks, each padded to an even length. */
function riff(chunks: [string, number[] | Uint8Array, number?][], type = "WAVE"): Uint8Array {
  const bytes: number[] = [];
  const ascii = (s: string) => Array.from(s, (c) => c.charCodeAt(0));
  const u32 = (v: number) => [v & 0xff, (v >>> 8) & 0xff, (v >>> 16) & 0xff, v >>> 24];
  for (const [id, body, declared] of chunks) {
    bytes.push(...ascii(id), ...u32(declared ?? body.length), ...body);
    if (body.length % 2 === 1) bytes.push(0);
  }
  return Uint8Array.from([...ascii("RIFF"), ...u32(4 + bytes.length), ...ascii(type), ...bytes]);
}

function fmt(tag: number, channels: number, rate: number, bits: number, extra: number[] = []): number[] {
  const block = (channels * bits) / 8;
  const le = (v: number, n: number) => Array.from({ length: n }, (_, i) => (v >>> (8 * i)) & 0xff);
  return [
    ...le(tag, 2),
    ...le(channels, 2),
    ...le(rate, 4),
    ...le(rate * block, 4),
    ...le(block, 2),
    ...le(bits, 2),
    ...extra,
  ];
}

const SUBFORMAT_PCM = [
  0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x10, 0x00, 0x80, 0x00, 0x00, 0xaa, 0x00, 0x38, 0x9b, 0x71,
];

describe("WAV codec", () => {
  it("round-trips samples through the canonical 44-byte header", () => {
    const samples = generateTestSignal(1000, 2);
    const file = encodeWav(samples, { sampleRate: 44100, channels: 2 });
    assert.equal(file.length, WAV_HEADER_BYTES + 4000);
    assert.equal(String.fromCharCode(...file.subarray(0, 4)), "RIFF");
    const layout = parseWavHeader(file);
    assert.deepEqual(layout, {
      format: { sampleRate: 44100, channels: 2, bitsPerSample: 16 },
      dataOffset: 44,
      dataBytes: 4000,
      frames: 1000,
    });
    assert.deepEqual(decodeWav(file).samples, samples);
  });

  it("skips other chunks (with odd-length padding) and reads WAVE_FORMAT_EXTENSIBLE PCM", () => {
    const data = Uint8Array.of(1, 0, 0xff, 0xff);
    const file = riff([
      ["LIST", [1, 2, 3]],
      ["fmt ", fmt(0xfffe, 1, 8000, 16, [22, 0, 16, 0, 4, 0, 0, 0, ...SUBFORMAT_PCM])],
      ["fact", [0, 0, 0, 0]],
      ["data", data],
    ]);
    const wav = decodeWav(file);
    assert.deepEqual(wav.format, { sampleRate: 8000, channels: 1, bitsPerSample: 16 });
    assert.deepEqual(Array.from(wav.samples), [1, -1]);
  });

  it("reads a data size of 0xFFFFFFFF as 'to the end', in whole frames", () => {
    const file = riff([
      ["fmt ", fmt(1, 2, 48000, 16)],
      ["data", [1, 0, 2, 0, 3, 0, 4, 0, 5, 0], WAV_UNKNOWN_SIZE],
    ]);
    // 10 bytes: two stereo frames and half of a third, which is left out.
    const layout = parseWavHeader(file);
    assert.deepEqual([layout.dataBytes, layout.frames], [8, 2]);
  });

  it("throws a clear WavFormatError for malformed or unsupported files", () => {
    const good = fmt(1, 2, 48000, 16);
    const cases: [Uint8Array, RegExp][] = [
      [Uint8Array.of(1, 2, 3), /too short/],
      [Uint8Array.from(Buffer.from("RIFX\0\0\0\0WAVE")), /big-endian/],
      [Uint8Array.from(Buffer.from("OggS\0\0\0\0WAVE")), /no RIFF header/],
      [riff([["fmt ", good]], "AVI "), /RIFF type is "AVI "/],
      [
        riff([
          ["fmt ", fmt(3, 2, 48000, 32)],
          ["data", []],
        ]),
        /format tag 0x3/,
      ],
      [
        riff([
          ["fmt ", fmt(1, 2, 48000, 24)],
          ["data", []],
        ]),
        /24 bits; only 16-bit PCM/,
      ],
      [
        riff([
          ["fmt ", fmt(1, 2, 48000, 8)],
          ["data", []],
        ]),
        /8 bits/,
      ],
      [
        riff([
          ["fmt ", fmt(1, 0, 48000, 16)],
          ["data", []],
        ]),
        /channel count 0/,
      ],
      [
        riff([
          ["fmt ", good.slice(0, 14)],
          ["data", []],
        ]),
        /fmt chunk is 14 bytes/,
      ],
      [
        riff([
          ["data", [0, 0, 0, 0]],
          ["fmt ", good],
        ]),
        /data chunk comes before the fmt chunk/,
      ],
      [riff([["fmt ", good]]), /no data chunk/],
      [riff([["LIST", [0, 0]]]), /no fmt chunk/],
      [
        riff([
          ["fmt ", good],
          ["data", [0, 0, 0, 0], 400],
        ]),
        /declares 400 bytes but only 4 follow/,
      ],
      [
        riff([
          ["fmt ", good],
          ["data", [0, 0, 0, 0, 0, 0]],
        ]),
        /not whole frames of 4 bytes/,
      ],
      [
        riff([
          ["fmt ", fmt(0xfffe, 1, 8000, 16, [22, 0, 16, 0, 4, 0, 0, 0, ...new Array(16).fill(7)])],
          ["data", []],
        ]),
        /sub-format/,
      ],
      [
        riff([
          ["fmt ", good],
          ["fmt ", good],
          ["data", []],
        ]),
        /two fmt chunks/,
      ],
    ];
    for (const [bytes, message] of cases) {
      assert.throws(
        () => decodeWav(bytes),
        (e: unknown) => e instanceof WavFormatError && message.test(e.message),
        String(message),
      );
    }
  });

  it("writes headers with exact sizes, refuses formats it cannot describe", () => {
    const header = encodeWavHeader({ sampleRate: 16000, channels: 1 }, 3200);
    assert.equal(parseWavHeader(Uint8Array.from([...header, ...new Array(3200).fill(0)])).frames, 1600);
    assert.throws(() => encodeWavHeader({ sampleRate: 16000, channels: 0 }, 0), RangeError);
    assert.throws(() => encodeWav(Int16Array.of(1, 2, 3), { sampleRate: 8000, channels: 2 }), RangeError);
  });
});

describe("WAV files", () => {
  it("WavFileSink streams, finalises the header on close, and WavFileSource plays the file back", () => {
    const path = join(dir, "out.wav");
    const sink = new WavFileSink(path, { bufferBytes: 1000 });
    const format = { sampleRate: 22050, channels: 2 };
    sink.start(format);
    const signal = generateTestSignal(2205, 2);
    for (let f = 0; f < 2205; f += 22) {
      const n = Math.min(22, 2205 - f);
      assert.equal(sink.write(signal.subarray(f * 2, (f + n) * 2), n, format), n);
    }
    assert.equal(sink.frames, 2205);
    // Before close, the header says "unknown" and the file still decodes to what was flushed.
    const partial = parseWavHeader(readFileSync(path));
    assert.equal(partial.format.sampleRate, 22050);
    sink.close();
    sink.close();
    const file = readFileSync(path);
    const u32 = (at: number) => file.readUInt32LE(at);
    assert.deepEqual([u32(4), u32(40)], [36 + 8820, 8820]);
    assert.deepEqual(decodeWav(file).samples, signal);

    const source = WavFileSource.fromFile(path);
    assert.deepEqual(source.format, { sampleRate: 22050, channels: 2, bitsPerSample: 16 });
    const out = new Int16Array(4000);
    assert.equal(source.read(out, 2000, format), 2000);
    assert.deepEqual(out, signal.subarray(0, 4000));
    assert.equal(source.read(out, 2000, format), 205, "then the end: the device pads with silence");
    assert.equal(source.ended, true);
  });

  it("converts a later stream's channel count to the file's, and counts a rate that differs", () => {
    const path = join(dir, "mixed.wav");
    const sink = new WavFileSink(path);
    sink.start({ sampleRate: 8000, channels: 1 });
    sink.write(Int16Array.of(5, 6), 2, { sampleRate: 8000, channels: 1 });
    sink.start({ sampleRate: 16000, channels: 2 });
    sink.write(Int16Array.of(10, 20), 1, { sampleRate: 16000, channels: 2 });
    sink.close();
    assert.equal(sink.rateMismatches, 1);
    const wav = decodeWav(readFileSync(path));
    assert.deepEqual(
      [wav.format.channels, wav.format.sampleRate, Array.from(wav.samples)],
      [1, 8000, [5, 6, 15]],
    );
  });

  it("WavFileSource throws at construction for a missing or malformed file, naming it", () => {
    assert.throws(
      () => WavFileSource.fromFile(join(dir, "missing.wav")),
      /cannot read WAV file .*missing\.wav/,
    );
    const bad = join(dir, "bad.wav");
    writeFileSync(
      bad,
      riff([
        ["fmt ", fmt(1, 2, 44100, 24)],
        ["data", []],
      ]),
    );
    assert.throws(
      () => WavFileSource.fromFile(bad),
      (e: unknown) => e instanceof WavFormatError && /bad\.wav: .*24 bits/.test(e.message),
    );
  });

  it("a mono file loops into a stereo stream, each sample duplicated", () => {
    const source = new WavFileSource(encodeWav(Int16Array.of(1, 2, 3), { sampleRate: 8000, channels: 1 }), {
      loop: true,
    });
    const out = new Int16Array(10);
    assert.equal(source.read(out, 5, { sampleRate: 8000, channels: 2 }), 5);
    assert.deepEqual(Array.from(out), [1, 1, 2, 2, 3, 3, 1, 1, 2, 2]);
  });
});
