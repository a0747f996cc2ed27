import type { StreamFormat } from "../stream-format.ts";
import { writeTestSignal } from "../test-signal.ts";
import type { AudioSource } from "./audio-source.ts";

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

  start(_format: StreamFormat): void {
    if (this.restart) this.next = 0;
  }

  read(out: Int16Array, frames: number, format: StreamFormat): number {
    writeTestSignal(out, this.next, frames, format.channels);
    this.next += frames;
    return frames;
  }
}
