import type { DriverContext } from "./driver-context.ts";
import type { EndpointQueue } from "./endpoint-queue.ts";
import { type TransferResult, TransferStatus } from "./transfer-result.ts";
import type { Urb } from "./urb.ts";

export interface InterruptInOptions {
  /** Bytes per URB; defaults to the endpoint's wMaxPacketSize (one report per poll, like usbhid). */
  readonly length?: number;
  /** Called for every report, in arrival order, from inside the driver's interrupt service. */
  readonly onReport?: (report: Uint8Array, atMs: number) => void;
}

/**
 * A standing interrupt-IN transfer, the way a HID driver keeps one: a URB is always queued on the
 * endpoint's periodic QH, and each time one completes its report is delivered and the URB is submitted
 * again at once (from the completion, as usbhid does), so no poll interval is lost.
 *
 * An error (STALL, no response…) stops the stream and is kept in {@link error}; the owner decides what
 * to do (for a STALL: clear the halt, then {@link restart}).
 */
export class InterruptInStream {
  private readonly queued: Uint8Array[] = [];
  private current: Urb | null = null;
  private stopReason: TransferStatus | null = null;
  private closed = false;
  private count = 0;

  constructor(
    private readonly ctx: DriverContext,
    private readonly queue: EndpointQueue,
    private readonly options: InterruptInOptions = {},
  ) {
    this.arm();
  }

  /** Reports received so far (including those already taken). */
  get received(): number {
    return this.count;
  }

  /** Why the stream stopped (null while it runs). `cancelled` after {@link close}. */
  get error(): TransferStatus | null {
    return this.stopReason;
  }

  get running(): boolean {
    return this.current !== null;
  }

  /** Removes and returns the reports received since the last call, oldest first. */
  take(): Uint8Array[] {
    return this.queued.splice(0, this.queued.length);
  }

  /** Reports waiting to be taken. */
  get available(): number {
    return this.queued.length;
  }

  /**
   * Lets time pass until at least `count` reports wait (or the stream stops, or `timeoutMs` passes),
   * then takes them all.
   */
  waitForReports(count: number, timeoutMs = this.ctx.defaultTimeoutMs): Uint8Array[] {
    this.ctx.runUntil(() => this.queued.length >= count || this.current === null, timeoutMs);
    return this.take();
  }

  /** Re-arms a stopped stream (after the owner cleared a halt, for instance). */
  restart(): void {
    if (this.closed) throw new Error("the interrupt stream is closed");
    if (this.current !== null) return;
    this.stopReason = null;
    this.arm();
  }

  /** Cancels the queued URB; the endpoint's queue stays for other users. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.current?.cancel();
    this.current = null;
    this.stopReason ??= TransferStatus.Cancelled;
  }

  private arm(): void {
    if (this.queue.isClosed) {
      this.stopReason = TransferStatus.Cancelled;
      return;
    }
    const length = this.options.length ?? this.queue.maxPacketSize;
    const urb = this.queue.submitData(length, (result) => this.completed(result));
    // A halted controller completes the URB inside submitData; then there is nothing in flight.
    this.current = urb.done ? null : urb;
  }

  private completed(result: TransferResult): void {
    this.current = null;
    if (result.status !== TransferStatus.Ok) {
      this.stopReason ??= result.status;
      return;
    }
    this.count++;
    this.queued.push(result.data);
    this.options.onReport?.(result.data, this.ctx.elapsedMs);
    if (!this.closed) this.arm();
  }
}
