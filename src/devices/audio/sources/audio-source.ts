import type { SavedState } from "../../../machine/snapshot.ts";
import type { StreamFormat } from "../stream-format.ts";

/**
 * Where a capture stream (a microphone) gets its samples. The device calls {@link read} once per
 * isochronous IN packet, every 1 ms while the host streams, so an implementation must not allocate or
 * block there; and it must not throw — the device runs inside the emulator's USB path.
 */
export interface AudioSource {
  /**
   * The host selected a streaming alternate setting, or changed the sampling frequency while streaming.
   * Called again (without {@link stop}) for each such change.
   */
  start?(format: StreamFormat): void;
  /** The host returned to the zero-bandwidth setting, or the device was reset or deconfigured. */
  stop?(): void;
  /**
   * Writes up to `frames` frames, interleaved with `format.channels` channels, into `out` from index 0,
   * and returns how many it wrote. The device fills the rest of the packet with silence and counts it
   * as an underrun.
   */
  read(out: Int16Array, frames: number, format: StreamFormat): number;
  /**
   * Optional: the source's position as a saved state, for a source whose output is determined by it
   * (the test signal's frame index, a sine's phase, a buffer's position). It is saved with the
   * microphone and restored when the microphone is, so a restored stream carries on seamlessly.
   * Live sources (samples pushed by the application) have no such state and are left alone.
   */
  saveState?(): SavedState;
  /** Validates a {@link saveState} state (throwing SnapshotError) and returns what applies it. */
  prepareRestore?(state: unknown): () => void;
}

/** Digital silence, always available (never an underrun). The microphone's default source. */
export class SilenceSource implements AudioSource {
  read(out: Int16Array, frames: number, format: StreamFormat): number {
    out.fill(0, 0, frames * format.channels);
    return frames;
  }
}
