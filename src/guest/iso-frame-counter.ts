import { FRNUM_MASK } from "./registers.ts";

/**
 * A frame number that never wraps, built from the 11-bit FRNUM register (UHCI 2.1.4).
 *
 * Isochronous scheduling compares frames ("has this TD's frame passed?", "is the next free frame still
 * ahead?"), which wrapped 11-bit values cannot do across a wrap. Linux uhci-hcd keeps the same kind of
 * running count (uhci_get_current_frame_number adds the FRNUM delta to its own frame_number). The
 * count is right as long as it is read at least once every 2048 frames: a running stream is scanned
 * at every interrupt, i.e. every few frames.
 */
export class IsoFrameCounter {
  private lastRaw: number;
  private count: number;

  /** @param readFrnum reads FRNUM (only bits 10:0 are used). */
  constructor(private readonly readFrnum: () => number) {
    this.lastRaw = readFrnum() & FRNUM_MASK;
    this.count = this.lastRaw;
  }

  /** Reads FRNUM and returns the running frame count; `count & 0x3ff` is the frame list index. */
  now(): number {
    const raw = this.readFrnum() & FRNUM_MASK;
    this.count += (raw - this.lastRaw) & FRNUM_MASK;
    this.lastRaw = raw;
    return this.count;
  }

  /** The count as of the last {@link now}, without touching the controller. */
  get last(): number {
    return this.count;
  }
}
