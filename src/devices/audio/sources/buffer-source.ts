import { openState, type SavedState } from "../../../machine/snapshot.ts";
import { copyFrames } from "../channels.ts";
import type { StreamFormat } from "../stream-format.ts";
import type { AudioSource } from "./audio-source.ts";

export const BUFFER_SOURCE_STATE = "buffer-source";

export interface BufferSourceOptions {
  /** Start again from the beginning at the end; default false (then silence, counted as underrun). */
  readonly loop?: boolean;
  /** Start from the beginning whenever a stream starts; default false (carry on where it was). */
  readonly restartOnStart?: boolean;
}

/**
 * Plays a buffer of interleaved samples, frame for frame whatever the stream's sampling frequency
 * (no resampling), converting the channel count (channels.ts).
 */
export class BufferSource implements AudioSource {
  readonly samples: Int16Array;
  readonly channels: number;
  readonly frames: number;
  private readonly loop: boolean;
  private readonly restart: boolean;
  private position = 0;

  constructor(samples: Int16Array, channels: number, options: BufferSourceOptions = {}) {
    if (!Number.isInteger(channels) || channels < 1) throw new RangeError(`channels ${channels} must be ≥ 1`);
    if (samples.length % channels !== 0) {
      throw new RangeError(`${samples.length} samples are not whole frames of ${channels} channels`);
    }
    this.samples = samples;
    this.channels = channels;
    this.frames = samples.length / channels;
    this.loop = options.loop ?? false;
    this.restart = options.restartOnStart ?? false;
  }

  /** Frame index of the next frame to play. */
  get positionFrames(): number {
    return this.position;
  }

  /** The whole buffer has been played (never true when looping). */
  get ended(): boolean {
    return !this.loop && this.position >= this.frames;
  }

  rewind(): void {
    this.position = 0;
  }

  /** The play position; the samples are the application's (given again when the source is made). */
  saveState(): SavedState {
    return { kind: BUFFER_SOURCE_STATE, version: 1, positionFrames: this.position, frames: this.frames };
  }

  prepareRestore(state: unknown): () => void {
    const r = openState(state, BUFFER_SOURCE_STATE, 1);
    r.int("frames", this.frames, this.frames);
    const position = r.int("positionFrames", 0, this.frames);
    return () => {
      this.position = position;
    };
  }

  start(_format: StreamFormat): void {
    if (this.restart) this.position = 0;
  }

  read(out: Int16Array, frames: number, format: StreamFormat): number {
    let done = 0;
    while (done < frames && this.frames > 0) {
      if (this.position >= this.frames) {
        if (!this.loop) break;
        this.position = 0;
      }
      const run = Math.min(frames - done, this.frames - this.position);
      copyFrames(this.samples, this.position, this.channels, out, done, format.channels, run);
      this.position += run;
      done += run;
    }
    return done;
  }
}
