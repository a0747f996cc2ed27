/**
 * What a transfer ends with. Device and bus errors are values, never exceptions: a test or a device
 * author wants to see a STALL, not catch it.
 */

export const TransferStatus = {
  /** Completed; for IN, possibly short (see {@link TransferResult.short}). */
  Ok: "ok",
  /** The endpoint answered STALL (UHCI 3.2.2 Stalled without another error bit). */
  Stall: "stall",
  /** No handshake or a bad CRC, three times over (UHCI 3.2.2 CRC/Time Out, C_ERR exhausted). */
  CrcTimeout: "crc-timeout",
  /** A bit-stuffing error (UHCI 3.2.2). */
  Bitstuff: "bitstuff",
  /** The device sent more than MaxLen (UHCI 3.2.2 Babble). */
  Babble: "babble",
  /** The controller could not move the data in time (UHCI 3.2.2 Data Buffer Error). */
  DataBuffer: "data-buffer",
  /** The transfer did not finish within its frame budget; the driver took it off the schedule. */
  Timeout: "timeout",
  /** Cancelled by the caller (or because its device was released). */
  Cancelled: "cancelled",
  /** The controller halted (HSE, HCPE, or RS dropped unexpectedly) before the transfer finished. */
  ControllerHalted: "controller-halted",
} as const;
export type TransferStatus = (typeof TransferStatus)[keyof typeof TransferStatus];

/** Which part of a control transfer failed (USB 2.0 8.5.3). */
export const ControlStage = {
  Setup: "setup",
  Data: "data",
  Status: "status",
} as const;
export type ControlStage = (typeof ControlStage)[keyof typeof ControlStage];

export interface TransferResult {
  readonly status: TransferStatus;
  /** IN: the bytes received (also on failure: whatever arrived before it). OUT: empty. */
  readonly data: Uint8Array;
  /** Bytes moved in the data stage (IN or OUT). */
  readonly actualLength: number;
  /** IN: fewer bytes arrived than were asked for (a short packet ended the transfer). */
  readonly short: boolean;
  /** Control transfers: the stage that failed, when one did. */
  readonly failedStage?: ControlStage;
  /** Frames (ms) from submission to completion, as the driver observed them. */
  readonly frames: number;
}
