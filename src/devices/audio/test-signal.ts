/**
 * The frame-counter test signal, shared by every generator and checker (device side, guest side, CLI)
 * so that they agree exactly. A sine alone cannot reveal a dropped whole period; a counter can.
 *
 * For frame index f = 0, 1, 2, …:
 * - channel 0 = (int16)(f & 0xFFFF): the counter's low 16 bits, as a signed sample;
 * - channel c ≥ 1 = a triangle of period 48 frames, phase-shifted 12 frames per channel:
 *   p = (f + 12·(c − 1)) mod 48, value = p < 24 ? −16384 + 1365·p : 16376 − 1365·(p − 24).
 * A mono stream carries channel 0 only.
 *
 * The triangle never reaches 0, so a stereo frame of the signal is never all-zero: silence and signal
 * cannot be confused there. In mono, frame 0 (and every 65536th) is a zero sample.
 */

/** Period of the triangle channels, in frames. */
export const TRIANGLE_PERIOD = 48;
/** Phase step between successive triangle channels, in frames. */
export const TRIANGLE_CHANNEL_SHIFT = 12;
const HALF_PERIOD = TRIANGLE_PERIOD / 2;
const TRIANGLE_LOW = -16384;
const TRIANGLE_HIGH = 16376;
const TRIANGLE_STEP = 1365;

/** The sample of channel 0 at frame f. */
export function counterSample(frame: number): number {
  return ((frame & 0xffff) << 16) >> 16;
}

/** The triangle sample at phase p (0..47). */
export function triangleSample(phase: number): number {
  return phase < HALF_PERIOD
    ? TRIANGLE_LOW + TRIANGLE_STEP * phase
    : TRIANGLE_HIGH - TRIANGLE_STEP * (phase - HALF_PERIOD);
}

/** The expected sample of `channel` at frame index `frame` (a non-negative integer). */
export function testSignalSample(frame: number, channel: number): number {
  if (channel === 0) return counterSample(frame);
  return triangleSample((frame + TRIANGLE_CHANNEL_SHIFT * (channel - 1)) % TRIANGLE_PERIOD);
}

/**
 * Writes `frames` frames of the signal, starting at frame index `firstFrame`, interleaved with
 * `channels` channels, into `out` from sample `offset`. Allocates nothing.
 */
export function writeTestSignal(
  out: Int16Array,
  firstFrame: number,
  frames: number,
  channels: number,
  offset = 0,
): void {
  let at = offset;
  for (let i = 0; i < frames; i++) {
    const f = firstFrame + i;
    out[at++] = counterSample(f);
    for (let c = 1; c < channels; c++) {
      out[at++] = triangleSample((f + TRIANGLE_CHANNEL_SHIFT * (c - 1)) % TRIANGLE_PERIOD);
    }
  }
}

/** The expected signal as a new interleaved buffer: frames `firstFrame` … `firstFrame + frames − 1`. */
export function generateTestSignal(frames: number, channels: number, firstFrame = 0): Int16Array {
  if (!Number.isInteger(frames) || frames < 0) throw new RangeError(`frames ${frames} must be a count`);
  if (!Number.isInteger(channels) || channels < 1) throw new RangeError(`channels ${channels} must be ≥ 1`);
  if (!Number.isInteger(firstFrame) || firstFrame < 0) {
    throw new RangeError(`first frame ${firstFrame} must be a non-negative integer`);
  }
  const out = new Int16Array(frames * channels);
  writeTestSignal(out, firstFrame, frames, channels);
  return out;
}
