/**
 * Block stores: where a mass-storage device's medium lives. An interface in the core (no Node, no DOM),
 * so a browser `File`/`Blob`, a network store or a file in Node (`uhci/node`: `FileBlockStore`) fit
 * the same device.
 *
 * Every operation answers through a callback, synchronously or later: a memory store answers at once,
 * a slow store (network, IndexedDB, a worker) answers when it can. While an operation is out, the
 * device NAKs the bulk endpoint that waits for it, as a real stick does while its flash is busy, so
 * the guest's controller simply retries in the next frame (src/devices/async-host/README.md has the
 * general seam; a store needs none of its tickets because the device never defers a USB packet).
 */

/** Every store uses 512-byte logical blocks: what SeaBIOS, GRUB and Linux's sd all expect of a stick. */
export const BLOCK_SIZE = 512;

/** How a store operation ended. Anything but `ok` becomes sense data, never an exception. */
export const StoreStatus = {
  Ok: "ok",
  /** The data could not be read or written (a host file that shrank, an I/O error). */
  MediumError: "medium-error",
  /** A write to a read-only medium. */
  WriteProtected: "write-protected",
  /** Past the end of the medium (the device checks ranges first; a store reports it as a backstop). */
  OutOfRange: "out-of-range",
} as const;
export type StoreStatus = (typeof StoreStatus)[keyof typeof StoreStatus];

/** Called exactly once per operation, synchronously or later. */
export type StoreCallback = (status: StoreStatus) => void;

/**
 * A medium of `blockCount` blocks of {@link BLOCK_SIZE} bytes.
 *
 * Rules for an implementation: call `done` exactly once per operation (from inside the call or later);
 * never throw (report `medium-error`); `read` writes `blocks × 512` bytes at the start of `into`
 * before calling `done`; `write` reads `from` only until it calls `done` (copy it if you keep it).
 * The device issues one operation at a time and never touches the buffer while it is out.
 */
export interface BlockStore {
  /** Blocks of {@link BLOCK_SIZE} bytes; fixed for the store's life. */
  readonly blockCount: number;
  /** A write-protected medium: the device reports WP in MODE SENSE and refuses writes (DATA PROTECT). */
  readonly readOnly: boolean;
  read(lba: number, blocks: number, into: Uint8Array, done: StoreCallback): void;
  write(lba: number, blocks: number, from: Uint8Array, done: StoreCallback): void;
  /** Makes every completed write durable (SYNCHRONIZE CACHE; the device's unplug). */
  flush(done: StoreCallback): void;
}

/** Whether `blocks` blocks from `lba` lie inside a medium of `blockCount` blocks. */
export function inRange(lba: number, blocks: number, blockCount: number): boolean {
  return (
    Number.isInteger(lba) && Number.isInteger(blocks) && lba >= 0 && blocks >= 0 && lba + blocks <= blockCount
  );
}

/** A medium in memory: a browser tab's scratch stick, tests. */
export class MemoryBlockStore implements BlockStore {
  readonly readOnly = false;
  readonly blockCount: number;
  /** The medium's bytes (blockCount × 512), readable and writable by the host at any time. */
  readonly bytes: Uint8Array;

  /**
   * A blank medium of `blocks` blocks, or one holding `contents` (used in place, not copied; its
   * length must be a whole number of blocks).
   */
  constructor(blocksOrContents: number | Uint8Array) {
    if (typeof blocksOrContents === "number") {
      if (!Number.isInteger(blocksOrContents) || blocksOrContents < 1)
        throw new RangeError(`a medium needs a whole number of blocks ≥ 1, not ${blocksOrContents}`);
      this.bytes = new Uint8Array(blocksOrContents * BLOCK_SIZE);
    } else {
      if (blocksOrContents.length === 0 || blocksOrContents.length % BLOCK_SIZE !== 0)
        throw new RangeError(
          `a medium is a whole number of ${BLOCK_SIZE}-byte blocks; ${blocksOrContents.length} bytes is not`,
        );
      this.bytes = blocksOrContents;
    }
    this.blockCount = this.bytes.length / BLOCK_SIZE;
  }

  read(lba: number, blocks: number, into: Uint8Array, done: StoreCallback): void {
    if (!inRange(lba, blocks, this.blockCount) || into.length < blocks * BLOCK_SIZE) {
      done(StoreStatus.OutOfRange);
      return;
    }
    into.set(this.bytes.subarray(lba * BLOCK_SIZE, (lba + blocks) * BLOCK_SIZE));
    done(StoreStatus.Ok);
  }

  write(lba: number, blocks: number, from: Uint8Array, done: StoreCallback): void {
    if (!inRange(lba, blocks, this.blockCount) || from.length < blocks * BLOCK_SIZE) {
      done(StoreStatus.OutOfRange);
      return;
    }
    this.bytes.set(from.subarray(0, blocks * BLOCK_SIZE), lba * BLOCK_SIZE);
    done(StoreStatus.Ok);
  }

  flush(done: StoreCallback): void {
    done(StoreStatus.Ok);
  }
}

/**
 * A write-protected view of another store: the medium a stick with its lock switch on shows. The
 * device then sets WP in MODE SENSE (Linux mounts it read-only: "Write Protect is on") and answers a
 * WRITE with DATA PROTECT / WRITE PROTECTED (27/00).
 */
export class ReadOnlyBlockStore implements BlockStore {
  readonly readOnly = true;

  constructor(private readonly base: BlockStore) {}

  get blockCount(): number {
    return this.base.blockCount;
  }

  read(lba: number, blocks: number, into: Uint8Array, done: StoreCallback): void {
    this.base.read(lba, blocks, into, done);
  }

  write(_lba: number, _blocks: number, _from: Uint8Array, done: StoreCallback): void {
    done(StoreStatus.WriteProtected);
  }

  flush(done: StoreCallback): void {
    done(StoreStatus.Ok);
  }
}
