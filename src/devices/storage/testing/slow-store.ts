import type { Clock, Timer } from "../../../machine/clock.ts";
import type { BlockStore, StoreCallback, StoreStatus } from "../block-store.ts";

/**
 * A store that answers `delayMs` after each request, on the machine's clock: a network or IndexedDB
 * store as the device sees it. `answers` can also be held back entirely (`hold = true`) and released,
 * answered twice (`duplicate`), or overridden (`failNext`), to test what the device does with late,
 * repeated and failed answers.
 */
export class SlowStore implements BlockStore {
  hold = false;
  /** Answer each completed operation twice (a store that breaks the once-only contract). */
  duplicate = false;
  /** The status the next operation ends with instead of the base's. */
  failNext: StoreStatus | null = null;
  readonly calls: string[] = [];
  private readonly timer: Timer;
  private pending: (() => void) | null = null;

  constructor(
    private readonly base: BlockStore,
    clock: Clock,
    private readonly delayMs = 3,
  ) {
    this.timer = clock.createTimer(() => this.fire());
    this.now = () => clock.now();
  }
  private readonly now: () => number;

  get blockCount(): number {
    return this.base.blockCount;
  }
  get readOnly(): boolean {
    return this.base.readOnly;
  }
  /** An operation is waiting for its answer. */
  get busy(): boolean {
    return this.pending !== null;
  }

  read(lba: number, blocks: number, into: Uint8Array, done: StoreCallback): void {
    this.calls.push(`read ${lba}+${blocks}`);
    this.later(done, (cb) => this.base.read(lba, blocks, into, cb));
  }
  write(lba: number, blocks: number, from: Uint8Array, done: StoreCallback): void {
    this.calls.push(`write ${lba}+${blocks}`);
    // The data is taken now (the contract lets the device reuse its buffer only after done).
    const copy = from.slice(0, blocks * 512);
    this.later(done, (cb) => this.base.write(lba, blocks, copy, cb));
  }
  flush(done: StoreCallback): void {
    this.calls.push("flush");
    this.later(done, (cb) => this.base.flush(cb));
  }

  /** Answers the held operation now. */
  release(): void {
    this.hold = false;
    this.fire();
  }

  private later(done: StoreCallback, run: (cb: StoreCallback) => void): void {
    this.pending = () => {
      const override = this.failNext;
      this.failNext = null;
      run((status) => {
        const final = override ?? status;
        done(final);
        if (this.duplicate) done(final);
      });
    };
    this.timer.arm(this.now() + this.delayMs);
  }

  private fire(): void {
    if (this.hold) return;
    const pending = this.pending;
    this.pending = null;
    pending?.();
  }
}
