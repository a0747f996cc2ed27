import { SampleRing } from "../sample-ring.ts";
import type { StreamFormat } from "../stream-format.ts";
import type { AudioSink } from "./audio-sink.ts";

export interface PullSinkOptions {
  /** Channels of the frames the application reads; converted from the stream's count. Default 2. */
  readonly channels?: number;
  /** Ring capacity in frames; default 48000 (one second at 48 kHz). */
  readonly capacityFrames?: number;
}

/**
 * Live audio for the application: each OUT packet's frames go into a ring the application reads from
 * at its own pace (at the stream's sampling frequency, {@link format}). When the ring is full the new
 * frames are dropped and counted ({@link overrunFrames}); what is already queued is never overwritten,
 * so what the application reads is always a contiguous stretch of the stream.
 */
export class PullSink implements AudioSink {
  private readonly ring: SampleRing;
  private overrun = 0;
  private current: StreamFormat | null = null;

  constructor(options: PullSinkOptions = {}) {
    this.ring = new SampleRing(options.channels ?? 2, options.capacityFrames ?? 48000);
  }

  get channels(): number {
    return this.ring.channels;
  }

  /** The format the host is streaming in, or null while it is not. */
  get format(): StreamFormat | null {
    return this.current;
  }

  get availableFrames(): number {
    return this.ring.availableFrames;
  }

  /** Frames dropped because the application had not read enough. */
  get overrunFrames(): number {
    return this.overrun;
  }

  /**
   * Moves up to `out.length / channels` of the oldest frames into `out` (interleaved, {@link channels}
   * channels); returns the frames read.
   */
  read(out: Int16Array): number {
    return this.ring.read(out, Math.floor(out.length / this.ring.channels), this.ring.channels);
  }

  clear(): void {
    this.ring.clear();
  }

  start(format: StreamFormat): void {
    this.current = format;
  }

  stop(): void {
    this.current = null;
  }

  write(samples: Int16Array, frames: number, format: StreamFormat): number {
    const n = this.ring.write(samples, frames, format.channels);
    this.overrun += frames - n;
    return n;
  }
}
