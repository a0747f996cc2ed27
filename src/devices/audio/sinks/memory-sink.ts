import { copyFrames } from "../channels.ts";
import type { StreamFormat } from "../stream-format.ts";
import type { AudioSink } from "./audio-sink.ts";

export interface MemorySinkOptions {
  /** Channel layout of what is kept; default: that of the first stream (later streams are converted). */
  readonly channels?: number;
  /** Stop keeping after this many frames (the rest count as overrun); default unlimited. */
  readonly maxFrames?: number;
}

/**
 * Keeps every frame the host sends, in one growing buffer (it doubles when full, so the allocations
 * are rare, not per packet). For tests and for checking received audio with signal-check.ts.
 */
export class MemorySink implements AudioSink {
  private buffer = new Int16Array(0);
  private count = 0;
  private layout: number;
  private readonly maxFrames: number;
  private formats: StreamFormat[] = [];

  constructor(options: MemorySinkOptions = {}) {
    this.layout = options.channels ?? 0;
    this.maxFrames = options.maxFrames ?? Number.POSITIVE_INFINITY;
  }

  /** Channels of {@link samples}; 0 until the first stream starts when none was given. */
  get channels(): number {
    return this.layout;
  }

  /** Frames kept. */
  get frames(): number {
    return this.count;
  }

  /** Every format a stream started with, in order. */
  get streamFormats(): readonly StreamFormat[] {
    return this.formats;
  }

  /** The frames kept, interleaved ({@link channels} channels): a view, valid until the next write. */
  get samples(): Int16Array {
    return this.buffer.subarray(0, this.count * this.layout);
  }

  /** Forgets everything kept (the layout stays). */
  clear(): void {
    this.count = 0;
  }

  start(format: StreamFormat): void {
    if (this.layout === 0) this.layout = format.channels;
    this.formats.push(format);
  }

  write(samples: Int16Array, frames: number, format: StreamFormat): number {
    if (this.layout === 0) this.layout = format.channels;
    const n = Math.min(frames, this.maxFrames - this.count);
    if (n <= 0) return 0;
    this.reserve((this.count + n) * this.layout);
    copyFrames(samples, 0, format.channels, this.buffer, this.count, this.layout, n);
    this.count += n;
    return n;
  }

  private reserve(samples: number): void {
    if (samples <= this.buffer.length) return;
    const grown = new Int16Array(Math.max(samples, this.buffer.length * 2, 4096));
    grown.set(this.buffer.subarray(0, this.count * this.layout));
    this.buffer = grown;
  }
}
