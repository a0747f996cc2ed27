import type { SavedState } from "../../../machine/snapshot.ts";
import type { StreamFormat } from "../stream-format.ts";

/**
 * Where a playback stream (a speaker) puts the samples the host sends. The device calls {@link write}
 * once per isochronous OUT packet, every 1 ms while the host streams, so an implementation must not
 * allocate or block there, and must not throw — the device runs inside the emulator's USB path.
 */
export interface AudioSink {
  /**
   * The host selected a streaming alternate setting, or changed the sampling frequency while streaming.
   * Called again (without {@link stop}) for each such change.
   */
  start?(format: StreamFormat): void;
  /** The host returned to the zero-bandwidth setting, or the device was reset or deconfigured. */
  stop?(): void;
  /**
   * Takes `frames` frames, interleaved with `format.channels` channels, from `samples` (a buffer the
   * device reuses: copy what you keep). Returns how many frames it kept; the rest count as overrun.
   */
  write(samples: Int16Array, frames: number, format: StreamFormat): number;
  /**
   * Optional, as for {@link AudioSource.saveState}: a sink whose state is part of the machine. The
   * sinks here keep what they received for the application, which is not machine state, and have none.
   */
  saveState?(): SavedState;
  /** Validates a {@link saveState} state (throwing SnapshotError) and returns what applies it. */
  prepareRestore?(state: unknown): () => void;
}

/** Accepts and discards everything. The speaker's default sink. */
export class NullSink implements AudioSink {
  write(_samples: Int16Array, frames: number, _format: StreamFormat): number {
    return frames;
  }
}
