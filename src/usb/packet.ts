import { MAX_TD_LENGTH } from "./constants.ts";

/**
 * A USB transaction between a host controller and a device, with checked state transitions.
 *
 * The core stays synchronous: a device answers in `handlePacket` with a final status, or marks the
 * packet `Async` and completes it later through {@link UsbPacket.complete} (QEMU's USB_RET_ASYNC model).
 */
export const PacketStatus = {
  /** Transferred (IN: `actualLength` bytes in `data`; OUT/SETUP: accepted). */
  Ack: "ack",
  /** Not ready; the host retries in a later frame. */
  Nak: "nak",
  /** The endpoint is halted or the request is not supported. */
  Stall: "stall",
  /** The device sent more than the host asked for. */
  Babble: "babble",
  /** No answer (timeout, CRC, no device at that address). */
  IoError: "io-error",
  /** The device will complete the packet later. */
  Async: "async",
} as const;
export type PacketStatus = (typeof PacketStatus)[keyof typeof PacketStatus];

export const PacketState = {
  /** Being filled in by the host. */
  Setup: "setup",
  /** Handed to the device, which answered later (`Async`). */
  Async: "async",
  /** Finished with a final status. */
  Complete: "complete",
  /** Taken back by the host before the device completed it. */
  Cancelled: "cancelled",
} as const;
export type PacketState = (typeof PacketState)[keyof typeof PacketState];

export class PacketStateError extends Error {}

export class UsbPacket {
  pid = 0;
  /** Device address (0–127). */
  address = 0;
  /** Endpoint number (0–15). */
  endpoint = 0;
  /** True for an isochronous transaction (no handshake, no retry). */
  isochronous = false;
  /** OUT/SETUP: bytes offered in `data`. IN: the most bytes the host accepts. */
  length = 0;
  /** Bytes actually moved (IN: written into `data` by the device). */
  actualLength = 0;
  status: PacketStatus = PacketStatus.Ack;
  state: PacketState = PacketState.Setup;
  /** The data stage buffer; its capacity bounds every transfer. */
  readonly data: Uint8Array;
  /** Called once when an async packet completes (not when it is cancelled). */
  onComplete: ((packet: UsbPacket) => void) | null = null;

  constructor(capacity = MAX_TD_LENGTH) {
    this.data = new Uint8Array(capacity);
  }

  /** Prepares the packet for a new transaction (host side). */
  init(pid: number, address: number, endpoint: number, length: number, isochronous = false): void {
    if (this.state === PacketState.Async) throw new PacketStateError("packet is still in flight");
    if (length < 0 || length > this.data.length)
      throw new PacketStateError(`length ${length} exceeds capacity`);
    this.pid = pid;
    this.address = address;
    this.endpoint = endpoint;
    this.isochronous = isochronous;
    this.length = length;
    this.actualLength = 0;
    this.status = PacketStatus.Ack;
    this.state = PacketState.Setup;
    this.onComplete = null;
  }

  /** Device side: the packet will be completed later. */
  deferred(): void {
    if (this.state !== PacketState.Setup) throw new PacketStateError(`cannot defer a ${this.state} packet`);
    this.state = PacketState.Async;
    this.status = PacketStatus.Async;
  }

  /** Host side: the device has answered synchronously with `status`. */
  finish(): void {
    if (this.state !== PacketState.Setup) return;
    this.state = PacketState.Complete;
  }

  /**
   * Device side: completes an async packet. A packet cancelled meanwhile ignores the completion
   * (the host has forgotten it; writing its result to guest memory would corrupt a recycled TD).
   * Returns false when the completion was ignored.
   */
  complete(status: Exclude<PacketStatus, "async">, actualLength = 0): boolean {
    if (this.state === PacketState.Cancelled) return false;
    if (this.state !== PacketState.Async)
      throw new PacketStateError(`cannot complete a ${this.state} packet`);
    if (actualLength < 0 || actualLength > this.data.length) {
      throw new PacketStateError(`actual length ${actualLength} exceeds capacity`);
    }
    this.status = status;
    this.actualLength = actualLength;
    this.state = PacketState.Complete;
    this.onComplete?.(this);
    return true;
  }

  /** Host side: forget an in-flight packet. */
  cancel(): void {
    if (this.state === PacketState.Async) this.state = PacketState.Cancelled;
  }
}
