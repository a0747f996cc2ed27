import { closeSync, openSync, writeSync } from "node:fs";
import { copyFrames } from "../devices/audio/channels.ts";
import type { AudioSink } from "../devices/audio/sinks/audio-sink.ts";
import type { StreamFormat } from "../devices/audio/stream-format.ts";
import { encodeSamples, encodeWavHeader, WAV_HEADER_BYTES, WAV_UNKNOWN_SIZE } from "../devices/audio/wav.ts";

export interface WavFileSinkOptions {
  /** Channels in the file; default: those of the first stream (later streams are converted). */
  readonly channels?: number;
  /** Rate in the header; default: that of the first stream. */
  readonly sampleRate?: number;
  /** Bytes gathered before each write to the file; default 64 KiB. */
  readonly bufferBytes?: number;
}

/** Used in the header when the file is closed before any stream said what it carries. */
const FALLBACK_FORMAT: StreamFormat = { sampleRate: 48000, channels: 2 };

/**
 * Streams what the host plays into a 16-bit PCM WAV file. The file is created (truncated) when the sink
 * is constructed, with a header whose sizes say "unknown" (0xFFFFFFFF, which wav.ts reads as "to the
 * end"), so even a file that is never closed stays readable; {@link close} writes the real sizes.
 *
 * The header's format is fixed by the options or by the first stream. A later stream at another rate is
 * still written sample for sample (counted in {@link rateMismatches}); another channel count is
 * converted (channels.ts). An I/O error while streaming is kept in {@link error} and stops the writing;
 * it never reaches the USB path. {@link close} throws I/O errors: it is the application's call.
 */
export class WavFileSink implements AudioSink {
  readonly path: string;
  private fd: number | null;
  private format: { sampleRate: number; channels: number } | null;
  private readonly fixedChannels: number | undefined;
  private readonly fixedRate: number | undefined;
  private readonly buffer: Uint8Array;
  private used = 0;
  private staging = new Int16Array(0);
  private dataBytes = 0;
  private mismatches = 0;
  private failure: Error | null = null;

  constructor(path: string, options: WavFileSinkOptions = {}) {
    this.path = path;
    this.fixedChannels = options.channels;
    this.fixedRate = options.sampleRate;
    this.format =
      options.channels !== undefined && options.sampleRate !== undefined
        ? { sampleRate: options.sampleRate, channels: options.channels }
        : null;
    this.buffer = new Uint8Array(options.bufferBytes ?? 65536);
    if (this.buffer.length < 8) throw new RangeError("bufferBytes must be at least 8");
    const header = encodeWavHeader(this.format ?? this.headerFormat(), WAV_UNKNOWN_SIZE);
    this.fd = openSync(path, "w");
    this.writeAt(header, 0);
  }

  /** Frames written (or waiting in the buffer). */
  get frames(): number {
    return this.dataBytes / (2 * (this.format?.channels ?? 1));
  }

  /** Streams whose rate differed from the file's. */
  get rateMismatches(): number {
    return this.mismatches;
  }

  /** The I/O error that stopped the writing, if any. */
  get error(): Error | null {
    return this.failure;
  }

  get closed(): boolean {
    return this.fd === null;
  }

  start(format: StreamFormat): void {
    if (this.format === null) {
      this.format = {
        sampleRate: this.fixedRate ?? format.sampleRate,
        channels: this.fixedChannels ?? format.channels,
      };
      this.guard(() => this.writeAt(encodeWavHeader(this.format!, WAV_UNKNOWN_SIZE), 0));
    }
    if (format.sampleRate !== this.format.sampleRate) this.mismatches++;
  }

  write(samples: Int16Array, frames: number, format: StreamFormat): number {
    if (this.fd === null || this.failure !== null) return 0;
    if (this.format === null) this.start(format);
    const layout = this.format!.channels;
    let source = samples;
    if (format.channels !== layout) {
      if (this.staging.length < frames * layout) this.staging = new Int16Array(frames * layout);
      copyFrames(samples, 0, format.channels, this.staging, 0, layout, frames);
      source = this.staging;
    }
    const count = frames * layout;
    if (this.used + count * 2 > this.buffer.length && !this.guard(() => this.flush())) return 0;
    if (count * 2 > this.buffer.length) {
      // Larger than the whole buffer (a tiny bufferBytes): write it straight through.
      const direct = new Uint8Array(count * 2);
      encodeSamples(source, count, direct);
      if (!this.guard(() => this.writeAll(direct))) return 0;
    } else {
      encodeSamples(source, count, this.buffer, this.used);
      this.used += count * 2;
    }
    this.dataBytes += count * 2;
    return frames;
  }

  /** Writes what is buffered and the final header, and closes the file. Safe to call twice. */
  close(): void {
    if (this.fd === null) return;
    try {
      if (this.failure === null) {
        this.flush();
        this.writeAt(encodeWavHeader(this.format ?? this.headerFormat(), this.dataBytes), 0);
      }
    } finally {
      closeSync(this.fd);
      this.fd = null;
    }
    if (this.failure !== null) throw this.failure;
  }

  private headerFormat(): { sampleRate: number; channels: number } {
    return {
      sampleRate: this.fixedRate ?? FALLBACK_FORMAT.sampleRate,
      channels: this.fixedChannels ?? FALLBACK_FORMAT.channels,
    };
  }

  /** Runs file I/O from the streaming path: an error is kept, not thrown. */
  private guard(action: () => void): boolean {
    try {
      action();
      return true;
    } catch (error) {
      this.failure = error instanceof Error ? error : new Error(String(error));
      return false;
    }
  }

  private flush(): void {
    if (this.used === 0) return;
    this.writeAll(this.buffer.subarray(0, this.used));
    this.used = 0;
  }

  /** Appends at the end of the data written so far. */
  private writeAll(bytes: Uint8Array): void {
    const position = WAV_HEADER_BYTES + this.dataBytes - this.used;
    this.writeAt(bytes, position);
  }

  private writeAt(bytes: Uint8Array, position: number): void {
    if (this.fd === null) return;
    let done = 0;
    while (done < bytes.length) done += writeSync(this.fd, bytes, done, bytes.length - done, position + done);
  }
}
