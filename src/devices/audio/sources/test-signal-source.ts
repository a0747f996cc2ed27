import { openState, type SavedState } from "../../../machine/snapshot.ts";
import type { StreamFormat } from "../stream-format.ts";
import { writeTestSignal } from "../test-signal.ts";
import type { AudioSource } from "./audio-source.ts";

export const TEST_SIGNAL_SOURCE_STATE = "test-signal-source";

export interface TestSignalSourceOptions {
  /**
   * Start again from frame 0 whenever a stream starts (the default), so each recording begins at f = 0
   * and its head loss is simply its first frame index. False keeps counting across streams.
   */
  readonly restartOnStart?: boolean;
}

/** The frame-counter test signal (test-signal.ts), never underrunning. */
export class TestSignalSource implements AudioSource {
  private readonly restart: boolean;
  private next = 0;

  constructor(options: TestSignalSourceOptions = {}) {
    this.restart = options.restartOnStart ?? true;
  }

  /** Index of the next frame to be produced = frames produced since the last restart. */
  get nextFrame(): number {
    return this.next;
  }

  /** The frame index: what the signal's next frame will be. */
  saveState(): SavedState {
    return { kind: TEST_SIGNAL_SOURCE_STATE, version: 1, nextFrame: this.next };
  }

  prepareRestore(state: unknown): () => void {
    const next = openState(state, TEST_SIGNAL_SOURCE_STATE, 1).int("nextFrame", 0, Number.MAX_SAFE_INTEGER);
    return () => {
      this.next = next;
    };
  }

  start(_format: StreamFormat): void {
    if (this.restart) this.next = 0;
  }

  read(out: Int16Array, frames: number, format: StreamFormat): number {
    writeTestSignal(out, this.next, frames, format.channels);
    this.next += frames;
    return frames;
  }
}
