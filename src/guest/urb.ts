import type { ControlStage, TransferResult, TransferStatus } from "./transfer-result.ts";

/**
 * A USB request block: one transfer queued on an endpoint, from submission until its result.
 * Named after Linux's URB because it plays the same part: the unit that is queued, completed,
 * cancelled and handed back to whoever submitted it.
 */

export const TransferKind = {
  Control: "control",
  Bulk: "bulk",
  Interrupt: "interrupt",
} as const;
export type TransferKind = (typeof TransferKind)[keyof typeof TransferKind];

export type Direction = "in" | "out";

/** One TD of a URB, as the driver built it. */
export interface UrbTd {
  readonly address: number;
  readonly pid: number;
  readonly maxLength: number;
  toggle: 0 | 1;
  /** Control: which stage the TD belongs to; bulk and interrupt TDs are all `data`. */
  readonly stage: ControlStage;
}

export type UrbCallback = (result: TransferResult, urb: Urb) => void;

export class Urb {
  /** The TDs in execution order (the first is the queue's previous dummy TD). */
  readonly tds: UrbTd[] = [];
  /** Index of the first TD whose outcome has not been accounted for yet. */
  cursor = 0;
  /** Data-stage bytes moved so far. */
  actual = 0;
  /** A short packet ended the data stage. */
  short = false;
  /** DMA blocks owned by this URB (buffers), released with it. */
  readonly blocks: number[] = [];
  /** Guest address of the data stage buffer (0 when there is none). */
  dataAddress = 0;
  private finished: TransferResult | null = null;

  constructor(
    readonly kind: TransferKind,
    /** bEndpointAddress: number in bits 3:0, 0x80 for IN (for control, the data-stage direction). */
    readonly endpointAddress: number,
    readonly direction: Direction,
    /** Data-stage bytes asked for (IN) or offered (OUT). */
    readonly length: number,
    /** Milliseconds of driver time at submission. */
    readonly submittedAt: number,
    private readonly canceller: (urb: Urb, status: TransferStatus) => void,
    private readonly callback: UrbCallback | undefined,
  ) {}

  get done(): boolean {
    return this.finished !== null;
  }

  /** The outcome, or null while the transfer is in flight. */
  get result(): TransferResult | null {
    return this.finished;
  }

  /** Takes the URB off the schedule; it completes with `cancelled` (no effect once done). */
  cancel(): void {
    if (!this.done) this.canceller(this, "cancelled");
  }

  /** Driver side: records the outcome and tells the submitter. Called exactly once. */
  complete(result: TransferResult): void {
    if (this.finished !== null) throw new Error("URB completed twice");
    this.finished = result;
    this.callback?.(result, this);
  }
}
