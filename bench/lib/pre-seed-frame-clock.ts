/**
 * The frame timer as QEMU's UHCI had it before commit 8e65b7c0 ("audio streaming from usb devices",
 * the seed, point 4): after each frame the next one is armed at `now + 1 ms`. Every late wake-up (and
 * the time the frame itself took) then pushes all later frames back, so the frame count falls behind
 * elapsed time for good. Exactly one frame runs per wake-up; nothing is ever caught up.
 *
 * This is a benchmark-only comparison: it drives a controller that sits on a VirtualClock by advancing
 * that clock one period per wake-up, so the controller code is the same in both variants and only the
 * pacing differs.
 */
import type { Clock, Timer } from "../../src/machine/index.ts";

export class PreSeedFrameClock {
  private readonly timer: Timer;
  private running = false;
  /** Frames run since start(). */
  frames = 0;

  constructor(
    private readonly clock: Clock,
    private readonly runFrame: () => void,
    private readonly periodMs = 1,
  ) {
    this.timer = clock.createTimer(this.wake);
  }

  start(): void {
    this.running = true;
    this.frames = 0;
    this.timer.arm(this.clock.now() + this.periodMs);
  }

  stop(): void {
    this.running = false;
    this.timer.disarm();
  }

  private readonly wake = (): void => {
    if (!this.running) return;
    this.frames++;
    this.runFrame();
    // Re-armed from "now": the drift the fixed grid removes.
    if (this.running) this.timer.arm(this.clock.now() + this.periodMs);
  };
}
