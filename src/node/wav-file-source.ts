import { readFileSync } from "node:fs";
import { BufferSource, type BufferSourceOptions } from "../devices/audio/sources/buffer-source.ts";
import { decodeWav, type WavFormat } from "../devices/audio/wav.ts";

/**
 * Plays a 16-bit PCM WAV file, loaded and decoded whole when constructed: a missing, malformed or
 * unsupported file throws there (a {@link WavFormatError} for the content), never later in the USB path.
 * Samples go out frame for frame with no resampling, so play a file recorded at the rate the host
 * streams at ({@link format} says what the file holds); the channel count is converted (channels.ts).
 * At the end: silence (counted as underrun), or the beginning again with `loop`.
 */
export class WavFileSource extends BufferSource {
  readonly format: WavFormat;

  constructor(bytes: Uint8Array, options: BufferSourceOptions = {}) {
    const wav = decodeWav(bytes);
    super(wav.samples, wav.format.channels, options);
    this.format = wav.format;
  }

  /** Loads a file; throws with the path in the message when it cannot be read or decoded. */
  static fromFile(path: string, options: BufferSourceOptions = {}): WavFileSource {
    let bytes: Uint8Array;
    try {
      bytes = readFileSync(path);
    } catch (error) {
      throw new Error(`cannot read WAV file ${path}: ${(error as Error).message}`, { cause: error });
    }
    try {
      return new WavFileSource(bytes, options);
    } catch (error) {
      if (error instanceof Error) error.message = `${path}: ${error.message}`;
      throw error;
    }
  }
}
