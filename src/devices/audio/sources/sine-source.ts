import { openState, type SavedState } from "../../../machine/snapshot.ts";
import type { StreamFormat } from "../stream-format.ts";
import type { AudioSource } from "./audio-source.ts";

export const SINE_SOURCE_STATE = "sine-source";

export interface SineSourceOptions {
  /** Hz; must be below half of the lowest rate it will play at to be a clean tone. Default 1000. */
  readonly frequency?: number;
  /** Peak as a fraction of full scale (32767), 0..1. Default 0.5. */
  readonly amplitude?: number;
}

/**
 * A continuous sine, the same on every channel. The phase carries over packets, streams and rate
 * changes, so the tone never clicks; each sample is round(amplitude × 32767 × sin(2π·phase)).
 */
export class SineSource implements AudioSource {
  readonly frequency: number;
  readonly amplitude: number;
  /** Phase in cycles, 0..1. */
  private phase = 0;
  private readonly peak: number;

  constructor(options: SineSourceOptions = {}) {
    const frequency = options.frequency ?? 1000;
    const amplitude = options.amplitude ?? 0.5;
    if (!(frequency > 0 && Number.isFinite(frequency)))
      throw new RangeError(`frequency ${frequency} Hz must be > 0`);
    if (!(amplitude >= 0 && amplitude <= 1)) throw new RangeError(`amplitude ${amplitude} must be 0..1`);
    this.frequency = frequency;
    this.amplitude = amplitude;
    this.peak = amplitude * 32767;
  }

  /** The phase (frequency and amplitude are the source's configuration, not state). */
  saveState(): SavedState {
    return { kind: SINE_SOURCE_STATE, version: 1, phase: this.phase };
  }

  prepareRestore(state: unknown): () => void {
    const phase = openState(state, SINE_SOURCE_STATE, 1).number("phase", 0, 1);
    return () => {
      this.phase = phase;
    };
  }

  read(out: Int16Array, frames: number, format: StreamFormat): number {
    const step = this.frequency / format.sampleRate;
    const channels = format.channels;
    let at = 0;
    for (let f = 0; f < frames; f++) {
      const value = Math.round(this.peak * Math.sin(2 * Math.PI * this.phase));
      for (let c = 0; c < channels; c++) out[at++] = value;
      this.phase += step;
      if (this.phase >= 1) this.phase -= Math.floor(this.phase);
    }
    return frames;
  }
}
