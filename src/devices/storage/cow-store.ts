import { BLOCK_SIZE, type BlockStore, inRange, type StoreCallback, StoreStatus } from "./block-store.ts";

/**
 * A copy-on-write overlay over a read-only base: the guest sees a writable medium, its writes stay in
 * memory, the base is never written (a browser `File`/`Blob` the page may not modify, a shared image
 * several machines boot from). The host reads the guest's changes back with {@link changedBlocks} /
 * {@link readBlock}, or throws them away with {@link discard}.
 *
 * Memory grows by one 512-byte copy per block the guest writes, and not beyond the medium's size.
 */
export class CowBlockStore implements BlockStore {
  readonly readOnly = false;
  private readonly overlay = new Map<number, Uint8Array>();
  /** The read in flight (the device issues one operation at a time). */
  private pendingLba = 0;
  private pendingBlocks = 0;
  private pendingInto: Uint8Array | null = null;
  private pendingDone: StoreCallback | null = null;
  private readonly afterBaseRead: StoreCallback = (status) => this.patch(status);

  constructor(private readonly base: BlockStore) {}

  get blockCount(): number {
    return this.base.blockCount;
  }

  /** Blocks the guest has written, in ascending order. */
  changedBlocks(): number[] {
    return [...this.overlay.keys()].sort((a, b) => a - b);
  }

  /** The current contents of one block (overlay or base) into `into`; `done` as for a read. */
  readBlock(lba: number, into: Uint8Array, done: StoreCallback): void {
    this.read(lba, 1, into, done);
  }

  /** Forgets every write: the medium reads as the base again. */
  discard(): void {
    this.overlay.clear();
  }

  read(lba: number, blocks: number, into: Uint8Array, done: StoreCallback): void {
    if (!inRange(lba, blocks, this.blockCount) || into.length < blocks * BLOCK_SIZE) {
      done(StoreStatus.OutOfRange);
      return;
    }
    if (this.pendingDone !== null) {
      // A second read while one is out breaks the store contract; refuse it rather than mix them up.
      done(StoreStatus.MediumError);
      return;
    }
    this.pendingLba = lba;
    this.pendingBlocks = blocks;
    this.pendingInto = into;
    this.pendingDone = done;
    this.base.read(lba, blocks, into, this.afterBaseRead);
  }

  write(lba: number, blocks: number, from: Uint8Array, done: StoreCallback): void {
    if (!inRange(lba, blocks, this.blockCount) || from.length < blocks * BLOCK_SIZE) {
      done(StoreStatus.OutOfRange);
      return;
    }
    for (let i = 0; i < blocks; i++) {
      let copy = this.overlay.get(lba + i);
      if (copy === undefined) {
        copy = new Uint8Array(BLOCK_SIZE);
        this.overlay.set(lba + i, copy);
      }
      copy.set(from.subarray(i * BLOCK_SIZE, (i + 1) * BLOCK_SIZE));
    }
    done(StoreStatus.Ok);
  }

  flush(done: StoreCallback): void {
    done(StoreStatus.Ok);
  }

  /** The base answered: lay the overlay's blocks over what it read. */
  private patch(status: StoreStatus): void {
    const done = this.pendingDone;
    const into = this.pendingInto;
    this.pendingDone = null;
    this.pendingInto = null;
    if (done === null || into === null) return;
    if (status === StoreStatus.Ok && this.overlay.size > 0) {
      for (let i = 0; i < this.pendingBlocks; i++) {
        const block = this.overlay.get(this.pendingLba + i);
        if (block !== undefined) into.set(block, i * BLOCK_SIZE);
      }
    }
    done(status);
  }
}
