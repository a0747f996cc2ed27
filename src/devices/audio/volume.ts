import { VOLUME_SILENCE, VOLUME_UNITS_PER_DB } from "./uac1.ts";

/**
 * The volume law of the feature units. Levels are UAC1 volume values: signed 8.8 fixed point, 1/256 dB
 * per step (UAC1 5.2.2.4.3.2), with 0x8000 meaning −∞ dB.
 *
 * A level L becomes an amplitude factor G = round(65536 × 10^(L / 256 / 20)) in 16.16 fixed point, and
 * each sample s becomes clamp(round(s × G / 65536)) — an ordinary amplitude (20·log10) dB law with
 * round-to-nearest. **0 dB is G = 65536 and takes a bypass path**, so it passes samples bit-exact
 * (the lossless test signals rely on that); −∞ dB and mute give zeros.
 */

/** The range a volume control reports through GET_MIN / GET_MAX / GET_RES, in 1/256 dB. */
export interface VolumeRange {
  readonly min: number;
  readonly max: number;
  readonly res: number;
}

/** The same range in dB, as a device's user gives it. */
export interface VolumeRangeDb {
  readonly minDb: number;
  readonly maxDb: number;
  readonly resolutionDb: number;
}

/** −60 dB to 0 dB in 1 dB steps: 0 dB (the default level) is the top, so 100 % in a mixer is lossless. */
export const DEFAULT_VOLUME_RANGE: VolumeRangeDb = { minDb: -60, maxDb: 0, resolutionDb: 1 };

/** Largest and smallest settable levels: 0x7FFF and 0x8001 (UAC1 5.2.2.4.3.2). */
const MAX_LEVEL = 0x7fff;
const MIN_LEVEL = -0x7fff;

/** Unity amplitude in 16.16 fixed point. */
export const UNITY_GAIN = 65536;

/** Converts and checks a range given in dB; throws RangeError for one a host could not use. */
export function volumeRange(range: VolumeRangeDb): VolumeRange {
  const min = Math.round(range.minDb * VOLUME_UNITS_PER_DB);
  const max = Math.round(range.maxDb * VOLUME_UNITS_PER_DB);
  const res = Math.round(range.resolutionDb * VOLUME_UNITS_PER_DB);
  if (!(min >= MIN_LEVEL && max <= MAX_LEVEL && min < max)) {
    throw new RangeError(`volume range ${range.minDb}..${range.maxDb} dB must lie in ±127.99 dB, min < max`);
  }
  if (!(res >= 1 && res <= max - min)) {
    throw new RangeError(`volume resolution ${range.resolutionDb} dB must be 1/256 dB to the whole range`);
  }
  return { min, max, res };
}

/** The 16.16 amplitude factor of a level in 1/256 dB; 0 for {@link VOLUME_SILENCE}. */
export function gainOfLevel(level: number): number {
  if (level === VOLUME_SILENCE) return 0;
  if (level === 0) return UNITY_GAIN;
  return Math.round(UNITY_GAIN * 10 ** (level / VOLUME_UNITS_PER_DB / 20));
}

/**
 * Scales `count` samples of `samples` in place, sample i by `gains[i % stride]` (one factor per
 * interleaved channel). Unity factors leave their channel untouched; zero factors write zeros.
 */
export function applyGains(samples: Int16Array, count: number, gains: Float64Array, stride: number): void {
  for (let c = 0; c < stride; c++) {
    const gain = gains[c]!;
    if (gain === UNITY_GAIN) continue;
    for (let i = c; i < count; i += stride) {
      const scaled = Math.round((samples[i]! * gain) / UNITY_GAIN);
      samples[i] = Math.min(32767, Math.max(-32768, scaled));
    }
  }
}
