import { closeSync, constants, fstatSync, fsyncSync, openSync, readSync, writeSync } from "node:fs";
import {
  BLOCK_SIZE,
  type BlockStore,
  inRange,
  type StoreCallback,
  StoreStatus,
} from "../devices/storage/block-store.ts";

/** Why an image file cannot back a stick: each a sentence a user can act on. */
export type ImageFileProblem =
  | "missing"
  | "not-a-file"
  | "unreadable"
  | "read-only"
  | "empty"
  | "not-whole-blocks";

/** Thrown by {@link FileBlockStore.open} (on the host, before any emulation): never by a store operation. */
export class ImageFileError extends Error {
  constructor(
    readonly problem: ImageFileProblem,
    readonly path: string,
    message: string,
  ) {
    super(message);
    this.name = "ImageFileError";
  }
}

export interface FileBlockStoreOptions {
  /**
   * Give the guest a write-protected stick (MODE SENSE WP, writes refused with DATA PROTECT) and open
   * the file read-only. Without it the file must be writable: a read-only file is refused rather
   * than quietly turned into a write-protected stick, so a user who expects the guest's writes to
   * land in the file learns at once that they would not.
   */
  readonly readOnly?: boolean;
}

/**
 * A raw disk image in a file (`dd`/`mkfs.vfat`/`mtools` images) as a stick's medium.
 *
 * Reads and writes go to the file synchronously (`readSync`/`writeSync`), so when the device
 * acknowledges a WRITE with its CSW the data is in the operating system's page cache: it survives
 * the emulator process being killed (SIGKILL) even before any flush. {@link flush} — the guest's
 * SYNCHRONIZE CACHE, the stick being unplugged — and {@link close} call `fsync`, so it also survives
 * the host machine losing power.
 *
 * The file's size must stay what it was at open: a host file that shrinks under the device makes
 * reads and writes past its new end fail with MEDIUM ERROR (the guest sees an I/O error), never an
 * exception and never a silent growth of the file.
 */
export class FileBlockStore implements BlockStore {
  readonly blockCount: number;
  readonly readOnly: boolean;
  /** The last operating-system error an operation met (for the host's logs); the guest saw MEDIUM ERROR. */
  lastError: Error | null = null;
  private fd: number | null;

  private constructor(
    readonly path: string,
    fd: number,
    blockCount: number,
    readOnly: boolean,
  ) {
    this.fd = fd;
    this.blockCount = blockCount;
    this.readOnly = readOnly;
  }

  /**
   * Opens `path` as a medium. Throws {@link ImageFileError} for a missing file, a directory or device,
   * a file that cannot be read (or written, unless `readOnly`), an empty file, or a size that is not
   * a whole number of 512-byte blocks.
   */
  static open(path: string, options: FileBlockStoreOptions = {}): FileBlockStore {
    const readOnly = options.readOnly === true;
    let fd: number;
    try {
      fd = openSync(path, readOnly ? constants.O_RDONLY : constants.O_RDWR);
    } catch (error) {
      throw describeOpenError(path, error, readOnly);
    }
    try {
      const stat = fstatSync(fd);
      if (!stat.isFile())
        throw new ImageFileError(
          "not-a-file",
          path,
          `${path} is not a regular file (a stick image is a file)`,
        );
      if (stat.size === 0)
        throw new ImageFileError(
          "empty",
          path,
          `${path} is empty: a stick image holds at least one 512-byte block`,
        );
      if (stat.size % BLOCK_SIZE !== 0) {
        throw new ImageFileError(
          "not-whole-blocks",
          path,
          `${path} is ${stat.size} bytes, not a whole number of 512-byte blocks (${stat.size % BLOCK_SIZE} bytes too many); ` +
            `pad it, e.g. truncate -s ${Math.ceil(stat.size / BLOCK_SIZE) * BLOCK_SIZE} ${path}`,
        );
      }
      return new FileBlockStore(path, fd, stat.size / BLOCK_SIZE, readOnly);
    } catch (error) {
      closeSync(fd);
      throw error;
    }
  }

  get closed(): boolean {
    return this.fd === null;
  }

  read(lba: number, blocks: number, into: Uint8Array, done: StoreCallback): void {
    if (!inRange(lba, blocks, this.blockCount) || into.length < blocks * BLOCK_SIZE) {
      done(StoreStatus.OutOfRange);
      return;
    }
    const fd = this.fd;
    const length = blocks * BLOCK_SIZE;
    if (fd === null) {
      done(StoreStatus.MediumError);
      return;
    }
    let got = 0;
    try {
      while (got < length) {
        const n = readSync(fd, into, got, length - got, lba * BLOCK_SIZE + got);
        if (n <= 0) break; // the file ends early: it shrank under the device
        got += n;
      }
    } catch (error) {
      this.lastError = error as Error;
    }
    if (got < length) {
      into.fill(0, got, length);
      this.lastError ??= new Error(
        `${this.path}: read past the file's end at block ${lba + Math.floor(got / BLOCK_SIZE)} (the file shrank)`,
      );
      done(StoreStatus.MediumError);
      return;
    }
    done(StoreStatus.Ok);
  }

  write(lba: number, blocks: number, from: Uint8Array, done: StoreCallback): void {
    if (this.readOnly) {
      done(StoreStatus.WriteProtected);
      return;
    }
    if (!inRange(lba, blocks, this.blockCount) || from.length < blocks * BLOCK_SIZE) {
      done(StoreStatus.OutOfRange);
      return;
    }
    const fd = this.fd;
    if (fd === null) {
      done(StoreStatus.MediumError);
      return;
    }
    const length = blocks * BLOCK_SIZE;
    const position = lba * BLOCK_SIZE;
    try {
      // A file that shrank is not grown back behind the host's back: the write fails instead.
      if (fstatSync(fd).size < position + length) {
        this.lastError = new Error(
          `${this.path}: write past the file's end at block ${lba} (the file shrank)`,
        );
        done(StoreStatus.MediumError);
        return;
      }
      let put = 0;
      while (put < length) put += writeSync(fd, from, put, length - put, position + put);
    } catch (error) {
      this.lastError = error as Error;
      done(StoreStatus.MediumError);
      return;
    }
    done(StoreStatus.Ok);
  }

  /** fsync: every write acknowledged so far reaches stable storage. */
  flush(done: StoreCallback): void {
    const fd = this.fd;
    if (fd === null) {
      done(StoreStatus.Ok);
      return;
    }
    if (this.readOnly) {
      done(StoreStatus.Ok);
      return;
    }
    try {
      fsyncSync(fd);
    } catch (error) {
      this.lastError = error as Error;
      done(StoreStatus.MediumError);
      return;
    }
    done(StoreStatus.Ok);
  }

  /** fsync and close the file; later operations fail with MEDIUM ERROR. Closing twice is fine. */
  close(): void {
    const fd = this.fd;
    if (fd === null) return;
    this.fd = null;
    try {
      if (!this.readOnly) fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
  }
}

/** Whether the file opens for reading (it was refused for writing). */
function readableOnly(path: string): boolean {
  try {
    closeSync(openSync(path, constants.O_RDONLY));
    return true;
  } catch {
    return false;
  }
}

function describeOpenError(path: string, error: unknown, readOnly: boolean): ImageFileError {
  const code = (error as NodeJS.ErrnoException).code;
  switch (code) {
    case "ENOENT":
      return new ImageFileError("missing", path, `stick image ${path} does not exist`);
    case "EISDIR":
      return new ImageFileError("not-a-file", path, `${path} is a directory, not a stick image file`);
    case "EACCES":
    case "EPERM":
    case "EROFS":
      if (!readOnly && readableOnly(path)) {
        return new ImageFileError(
          "read-only",
          path,
          `stick image ${path} cannot be opened for writing (${code}); give it write permission, ` +
            "or open it read-only to give the guest a write-protected stick",
        );
      }
      return new ImageFileError("unreadable", path, `stick image ${path} cannot be read (${code})`);
    default:
      return new ImageFileError(
        "unreadable",
        path,
        `stick image ${path} cannot be opened: ${(error as Error).message}`,
      );
  }
}
