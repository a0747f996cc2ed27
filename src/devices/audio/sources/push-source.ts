import { SampleRing } from "../sample-ring.ts";
import type { StreamFormat } from "../stream-format.ts";
import type { AudioSource } from "./audio-source.ts";

export interface PushSourceOptions {
  /** Channels of the frames the application pushes; converted to the stream's count. Default 2. */
  readonly channels?: number;
  /** Ring capacity in frames; default 48000 (one second at 48 kHz). */
  readonly capacityFrames?: number;
}

/**
 * Live audio from the application: it pushes interleaved frames into a ring, and each IN packet takes
 * the oldest. The application paces itself (at the stream's sampling frequency, as reported in
 * {@link format}); when the ring runs dry the packet is completed with silence and the missing frames
 * are counted ({@link underrunFrames}). A push into a full ring keeps what fits and counts the rest
 * ({@link overflowFrames}). No resampling happens: pushed frames are sent one for one.
 */
export class PushSource implements AudioSource {
  private readonly ring: SampleRing;
  private underrun = 0;
  private overflow = 0;
  private current: StreamFormat | null = null;

  constructor(options: PushSourceOptions = {}) {
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

  get freeFrames(): number {
    return this.ring.freeFrames;
  }

  /** Frames of silence sent because the ring was empty. */
  get underrunFrames(): number {
    return this.underrun;
  }

  /** Frames refused because the ring was full. */
  get overflowFrames(): number {
    return this.overflow;
  }

  /**
   * Queues interleaved samples (a whole number of frames of {@link channels} channels); returns the
   * frames accepted.
   */
  push(samples: Int16Array): number {
    const channels = this.ring.channels;
    if (samples.length % channels !== 0) {
      throw new RangeError(`${samples.length} samples are not whole frames of ${channels} channels`);
    }
    const frames = samples.length / channels;
    const accepted = this.ring.write(samples, frames, channels);
    this.overflow += frames - accepted;
    return accepted;
  }

  /** Drops everything queued. */
  clear(): void {
    this.ring.clear();
  }

  start(format: StreamFormat): void {
    this.current = format;
  }

  stop(): void {
    this.current = null;
  }

  read(out: Int16Array, frames: number, format: StreamFormat): number {
    const n = this.ring.read(out, frames, format.channels);
    this.underrun += frames - n;
    return n;
  }
}
