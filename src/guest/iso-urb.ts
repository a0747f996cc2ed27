import type { DriverContext } from "./driver-context.ts";
import { TdLayout } from "./schedule-encoding.ts";

/** How an isochronous URB ended (per-packet outcomes are separate: see IsoPacketStatus). */
export const IsoUrbStatus = {
  /** All its frames passed and every packet was looked at (some may still have failed or been missed). */
  Ok: "ok",
  /** Taken back by close() before all its frames passed; its packets are not reported. */
  Cancelled: "cancelled",
  /** The controller halted with the URB in flight. */
  ControllerHalted: "controller-halted",
} as const;
export type IsoUrbStatus = (typeof IsoUrbStatus)[keyof typeof IsoUrbStatus];

/** A URB as it goes onto the schedule. The object is reused: read it during the callback only. */
export interface IsoUrbSubmission {
  /** Which of the stream's URBs (0 … urbs − 1); each reuses its TDs and buffer, as snd-usb-audio does. */
  readonly urb: number;
  /** Submissions on this stream before this one. */
  readonly sequence: number;
  /** Frame of the first packet (running count). */
  readonly startFrame: number;
  readonly packets: number;
  /** Stream index of the first packet. */
  readonly firstPacketIndex: number;
  /** The frame the stream should have continued at had passed; the URB starts later (a gap). */
  readonly lateRestart: boolean;
  /** The frame counter when the URB was submitted. */
  readonly submittedAtFrame: number;
  /** The stream's clock when the URB was submitted. */
  readonly submittedAt: number;
  /** Guest addresses of the URB's TDs, in frame order (the last one has IOC) and of its data. */
  readonly tdAddresses: readonly number[];
  readonly bufferAddress: number;
}

/** A URB given back. The object is reused: read it during the callback only. */
export interface IsoUrbCompletion {
  readonly urb: number;
  readonly sequence: number;
  readonly status: IsoUrbStatus;
  readonly startFrame: number;
  readonly packets: number;
  readonly firstPacketIndex: number;
  /** The frame of its last TD, the one with IOC. */
  readonly lastFrame: number;
  /** The frame counter when the driver gave it back (while servicing the interrupt). */
  readonly seenAtFrame: number;
  /**
   * Frames between the end of `lastFrame` and `seenAtFrame`: 0 when the driver saw the URB at the first
   * frame boundary after its last TD ran.
   */
  readonly lagFrames: number;
  /** The stream's clock when the driver gave the URB back, and when it was submitted. */
  readonly seenAt: number;
  readonly submittedAt: number;
  readonly packetsOk: number;
  readonly packetsMissed: number;
  readonly packetsError: number;
  /** Bytes moved by its OK packets. */
  readonly bytes: number;
  readonly lastTdAddress: number;
  readonly bufferAddress: number;
}

/**
 * One of a stream's URBs: a block of TDs (one per packet, UHCI 3.2) and a data buffer with the packets
 * back to back, both allocated once and reused for every submission; per-packet results in typed arrays.
 */
export class IsoUrbSlot implements IsoUrbSubmission, IsoUrbCompletion {
  readonly tdAddresses: number[];
  readonly bufferAddress: number;
  private readonly tdBlock: number;
  /** Per packet: MaxLen, offset in the buffer, status code, bytes moved. */
  readonly lengths: Uint16Array;
  readonly offsets: Uint32Array;
  readonly codes: Uint8Array;
  readonly actual: Uint16Array;
  /** Packets whose TD has been unlinked and looked at; TDs from here on are still in the frame list. */
  cursor = 0;
  inFlight = false;
  // Submission and completion facts (see the interfaces).
  sequence = 0;
  startFrame = 0;
  firstPacketIndex = 0;
  lateRestart = false;
  submittedAtFrame = 0;
  submittedAt = 0;
  status: IsoUrbStatus = IsoUrbStatus.Ok;
  seenAtFrame = 0;
  seenAt = 0;
  packetsOk = 0;
  packetsMissed = 0;
  packetsError = 0;
  bytes = 0;

  constructor(
    private readonly ctx: DriverContext,
    readonly urb: number,
    readonly packets: number,
    /** Frames between packets (1 for every frame). */
    readonly period: number,
    maxPacketSize: number,
  ) {
    this.tdBlock = ctx.dma.alloc(TdLayout.Size * packets);
    this.tdAddresses = Array.from({ length: packets }, (_, i) => this.tdBlock + i * TdLayout.Size);
    this.bufferAddress = ctx.dma.alloc(Math.max(1, maxPacketSize * packets));
    this.lengths = new Uint16Array(packets);
    this.offsets = new Uint32Array(packets);
    this.codes = new Uint8Array(packets);
    this.actual = new Uint16Array(packets);
  }

  frameOf(packet: number): number {
    return this.startFrame + packet * this.period;
  }

  get lastFrame(): number {
    return this.frameOf(this.packets - 1);
  }

  get lastTdAddress(): number {
    return this.tdAddresses[this.packets - 1]!;
  }

  get lagFrames(): number {
    return this.seenAtFrame - this.lastFrame - 1;
  }

  /** Frees the TDs and the buffer once the controller can no longer be looking at them. */
  release(): void {
    this.ctx.releaseAfterFrame(this.tdBlock);
    this.ctx.releaseAfterFrame(this.bufferAddress);
  }
}
