/**
 * Channel layout conversion between interleaved 16-bit buffers, for sources and sinks whose own layout
 * differs from the stream's (a mono WAV file played into a stereo stream, say).
 *
 * - Same count: copied as is (bit-exact).
 * - Many to mono: the rounded mean of the channels.
 * - Otherwise: output channel c takes input channel c mod (input channels), so mono is duplicated
 *   into every channel and stereo into more channels repeats L, R, L, R…
 */
export function copyFrames(
  source: Int16Array,
  sourceFrame: number,
  sourceChannels: number,
  target: Int16Array,
  targetFrame: number,
  targetChannels: number,
  frames: number,
): void {
  let from = sourceFrame * sourceChannels;
  let to = targetFrame * targetChannels;
  if (sourceChannels === targetChannels) {
    const count = frames * sourceChannels;
    for (let i = 0; i < count; i++) target[to + i] = source[from + i]!;
    return;
  }
  if (targetChannels === 1) {
    for (let f = 0; f < frames; f++) {
      let sum = 0;
      for (let c = 0; c < sourceChannels; c++) sum += source[from + c]!;
      target[to++] = Math.round(sum / sourceChannels);
      from += sourceChannels;
    }
    return;
  }
  for (let f = 0; f < frames; f++) {
    for (let c = 0; c < targetChannels; c++) target[to + c] = source[from + (c % sourceChannels)]!;
    from += sourceChannels;
    to += targetChannels;
  }
}
