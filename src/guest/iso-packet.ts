import { errorStatus } from "./endpoint-queue.ts";
import { TdStatus } from "./schedule-encoding.ts";
import { TransferStatus } from "./transfer-result.ts";

/**
 * The outcome of one isochronous packet (one TD in one frame), as uhci-hcd's uhci_result_isochronous
 * reports it to a class driver in the URB's iso_frame_desc[].status.
 */
export const IsoPacketStatus = {
  /** The TD ran in its frame; ActLen says how much moved (an IN packet may be short, which is fine). */
  Ok: "ok",
  /**
   * The TD was still Active after its frame had passed: the controller never executed it (Linux:
   * -EXDEV, "TD was added too late?"). Nothing moved.
   */
  Missed: "missed",
  /** No answer or a bad CRC (UHCI 3.2.2 CRC/Time Out; Linux -EILSEQ on IN, -EPROTO on OUT). */
  CrcTimeout: TransferStatus.CrcTimeout,
  /** Bit stuffing error (Linux -EPROTO). */
  Bitstuff: TransferStatus.Bitstuff,
  /** The device sent more than MaxLen (Linux -EOVERFLOW). */
  Babble: TransferStatus.Babble,
  /** The controller could not move the data in time (Linux -ENOSR). */
  DataBuffer: TransferStatus.DataBuffer,
  /** Stalled (Linux -EPIPE). */
  Stall: TransferStatus.Stall,
} as const;
export type IsoPacketStatus = (typeof IsoPacketStatus)[keyof typeof IsoPacketStatus];

/** One packet as a stream reports it. The object is reused: read it during the callback only. */
export interface IsoPacket {
  /** Position in the stream: 0 for the first packet ever submitted, counting every packet. */
  readonly index: number;
  /** The frame the TD was scheduled in, as a running count (see {@link IsoFrameCounter}). */
  readonly frame: number;
  readonly status: IsoPacketStatus;
  /** Bytes asked for (IN) or offered (OUT): the TD's MaxLen. */
  readonly length: number;
  /** Bytes moved, from the TD's ActLen (0 for a missed packet). */
  readonly actualLength: number;
  /** IN: the bytes received when `status` is ok (a view valid during the callback); otherwise empty. */
  readonly data: Uint8Array;
  /** Guest addresses of the TD and of the packet's data, for benchmarks that watch guest memory. */
  readonly tdAddress: number;
  readonly bufferAddress: number;
}

/** Statuses as small codes, so per-packet results live in a typed array (no allocation per frame). */
export const ISO_STATUS_BY_CODE: readonly IsoPacketStatus[] = [
  IsoPacketStatus.Ok,
  IsoPacketStatus.Missed,
  IsoPacketStatus.CrcTimeout,
  IsoPacketStatus.Bitstuff,
  IsoPacketStatus.Babble,
  IsoPacketStatus.DataBuffer,
  IsoPacketStatus.Stall,
];
export const ISO_OK_CODE = 0;
export const ISO_MISSED_CODE = 1;

const CODE_OF_ERROR: Readonly<Record<string, number>> = {
  [IsoPacketStatus.CrcTimeout]: 2,
  [IsoPacketStatus.Bitstuff]: 3,
  [IsoPacketStatus.Babble]: 4,
  [IsoPacketStatus.DataBuffer]: 5,
  [IsoPacketStatus.Stall]: 6,
};

/**
 * The status code of an isochronous TD looked at after its frame: still Active means it never ran
 * (missed); otherwise its error bits, mapped with the same priority as every other TD (uhci-hcd uses
 * one mapping, uhci_map_status, for all transfer types).
 */
export function isoStatusCode(controlStatus: number): number {
  if (controlStatus & TdStatus.Active) return ISO_MISSED_CODE;
  const error = errorStatus(controlStatus);
  return error === null ? ISO_OK_CODE : (CODE_OF_ERROR[error] ?? ISO_STATUS_BY_CODE.length - 1);
}
