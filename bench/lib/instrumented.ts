/** Wrappers that observe the controller's surroundings without changing them (real-time benchmark). */
import type { Clock, GuestMemory, Timer, TimerCallback } from "../../src/machine/index.ts";
import { SampleBuffer } from "./timing.ts";

/** A clock whose timers record how late each wake-up came (fired time − due time, ms). */
export class LatenessClock implements Clock {
  readonly lateness = new SampleBuffer(1 << 14);

  constructor(private readonly inner: Clock) {}

  now(): number {
    return this.inner.now();
  }

  createTimer(callback: TimerCallback): Timer {
    const timer: Timer = this.inner.createTimer(() => {
      this.lateness.push(this.inner.now() - timer.dueMs);
      callback();
    });
    return timer;
  }
}

/** Guest memory that tells an observer about every byte-range write the controller makes (DMA writes). */
export class WatchedMemory implements GuestMemory {
  readonly size: number;

  constructor(
    private readonly inner: GuestMemory,
    private readonly onWrite: (address: number, from: Uint8Array, length: number) => void,
  ) {
    this.size = inner.size;
  }

  read32(address: number): number {
    return this.inner.read32(address);
  }
  write32(address: number, value: number): boolean {
    return this.inner.write32(address, value);
  }
  read(address: number, into: Uint8Array, length: number): boolean {
    return this.inner.read(address, into, length);
  }
  write(address: number, from: Uint8Array, length: number): boolean {
    const ok = this.inner.write(address, from, length);
    if (ok) this.onWrite(address, from, length);
    return ok;
  }
}
