/**
 * The formats the devices stream: 16-bit signed little-endian PCM (Audio Data Formats 1.0 2.2, Type I),
 * one or two channels, interleaved, at a sampling frequency from a discrete list.
 */

/** What a source or a sink is told when a stream starts. Samples are always 16-bit. */
export interface StreamFormat {
  readonly sampleRate: number;
  readonly channels: number;
}

export const BITS_PER_SAMPLE = 16;
/** bSubframeSize: every sample fills two bytes (Audio Data Formats 1.0 2.2.5). */
export const BYTES_PER_SAMPLE = 2;

/** Every rate the devices can offer, the default list. */
export const SAMPLE_RATES = [8000, 16000, 22050, 32000, 44100, 48000] as const;

/** Channel counts a stream may carry: mono or stereo. */
export type ChannelCount = 1 | 2;

/** USB full-speed frames per second: one isochronous packet each (USB 2.0 5.6.4). */
export const FRAMES_PER_SECOND = 1000;

/** The largest rate a 24-bit tSamFreq holds (Audio Data Formats 1.0 2.2.5). */
const MAX_SAMPLE_RATE = 0xffffff;

/**
 * wMaxPacketSize for a stream: the frames of the busiest millisecond at the highest rate, plus one
 * for the fractional remainder that 44.1 kHz-style rates carry into some packets (44.1 kHz sends
 * 44 or 45), times the frame size. 48 kHz stereo: (48 + 1) × 4 = 196 bytes.
 */
export function maxPacketBytes(maxRate: number, channels: number): number {
  return (Math.floor(maxRate / FRAMES_PER_SECOND) + 1) * channels * BYTES_PER_SAMPLE;
}

/** Checks a list of rates given by a device's user; returns them sorted, without duplicates. */
export function checkSampleRates(rates: readonly number[]): readonly number[] {
  if (rates.length === 0 || rates.length > 255) {
    throw new RangeError(`a stream needs 1 to 255 sampling frequencies (bSamFreqType), got ${rates.length}`);
  }
  for (const rate of rates) {
    if (!Number.isInteger(rate) || rate < FRAMES_PER_SECOND || rate > MAX_SAMPLE_RATE) {
      throw new RangeError(
        `sampling frequency ${rate} Hz must be an integer from 1000 to ${MAX_SAMPLE_RATE}`,
      );
    }
  }
  return [...new Set(rates)].sort((a, b) => a - b);
}

/** Checks the channel counts a stream offers (one alternate setting each). */
export function checkChannelCounts(counts: readonly number[]): readonly ChannelCount[] {
  if (counts.length === 0) throw new RangeError("a stream needs at least one channel count");
  const seen = new Set<number>();
  for (const count of counts) {
    if (count !== 1 && count !== 2)
      throw new RangeError(`channel count ${count}: only 1 and 2 are supported`);
    if (seen.has(count)) throw new RangeError(`channel count ${count} is listed twice`);
    seen.add(count);
  }
  return counts as readonly ChannelCount[];
}
