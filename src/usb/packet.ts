import { MAX_TD_LENGTH } from "./constants.ts";

/**
 * A USB transaction between a host controller and a device, with checked state transitions.
 *
 * The core stays synchronous: a device answers in `handlePacket` with a final status, or defers the
 * packet and completes it later (QEMU's USB_RET_ASYNC model). Deferring hands the device an
 * {@link AsyncTicket}; only a completion that presents the ticket of the request still in flight is
 * accepted. A late or duplicate answer — after the host cancelled the request, reset, restored a
 * snapshot, or reused the packet for another request — is refused and counted, never applied, so a
 * backend that holds on to a packet too long cannot complete someone else's request.
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
  /** No answer: a time-out (no device at that address, or it did not respond). */
  IoError: "io-error",
  /**
   * The data arrived with a bad CRC, where the device model knows it (a passthrough backend told
   * -EILSEQ). UHCI reports CRC and time-out in one TD bit (design guide 3.2.2, bit 18).
   */
  Crc: "crc",
  /** A bit-stuffing violation (more than six 1s in a row), where the device model knows it. */
  BitStuff: "bitstuff",
  /** The device will complete the packet later. */
  Async: "async",
} as const;
export type PacketStatus = (typeof PacketStatus)[keyof typeof PacketStatus];
/** The statuses a transaction can end with. */
export type FinalPacketStatus = Exclude<PacketStatus, "async">;

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

declare const asyncTicketBrand: unique symbol;
/**
 * What {@link UsbPacket.deferred} hands the device: the generation of the request it deferred. A
 * device keeps it next to the packet and presents it to {@link UsbPacket.complete}. A plain number at
 * run time (no allocation per request); the brand keeps an arbitrary number from passing for one.
 */
export type AsyncTicket = number & { readonly [asyncTicketBrand]: true };

/**
 * The ticket a packet hands out when it cannot be deferred (it is not being offered to a device): no
 * completion with it is ever accepted.
 */
export const DEAD_TICKET = -1 as AsyncTicket;

/**
 * Generations stay small integers (V8 Smis, so a ticket never allocates): they wrap after 2^30
 * deferrals of one packet, far beyond any request a backend could still be holding.
 */
const GENERATION_MASK = 0x3fff_ffff;

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
  /** Host side: called once when an async packet completes (not when it is cancelled). */
  onComplete: ((packet: UsbPacket) => void) | null = null;
  /** Host bookkeeping: the packet sits in its pool's free list (see {@link UsbPacketPool}). */
  pooled = false;
  /** The request generation: advanced by every {@link deferred}. */
  private generation = 0;

  constructor(
    capacity = MAX_TD_LENGTH,
    /** The pool the packet belongs to; stale completions are counted there. */
    readonly pool: UsbPacketPool | null = null,
  ) {
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

  /**
   * Device side, inside `handlePacket`: the packet will be completed later. Returns the ticket that
   * {@link complete} wants. A packet that is not being offered to the device (deferred already,
   * completed, cancelled) does not change; it returns {@link DEAD_TICKET}, whose completion is refused
   * — so a device that misbehaves here never throws into the host, nor takes over another request.
   */
  deferred(): AsyncTicket {
    if (this.state !== PacketState.Setup) return DEAD_TICKET;
    this.generation = (this.generation + 1) & GENERATION_MASK;
    this.state = PacketState.Async;
    this.status = PacketStatus.Async;
    return this.generation as AsyncTicket;
  }

  /** Host side: the device has answered synchronously with `status`. */
  finish(): void {
    if (this.state !== PacketState.Setup) return;
    this.state = PacketState.Complete;
  }

  /** True while the request `ticket` names is still waiting for its answer. */
  isPending(ticket: AsyncTicket): boolean {
    return this.state === PacketState.Async && ticket === this.generation;
  }

  /**
   * Device side: completes the deferred request `ticket` names (IN: `actualLength` bytes are in
   * `data`). Returns false, changes nothing and counts a stale completion in the packet's pool when
   * the ticket is stale: the host cancelled that request (time-out, unplug, reset, restore, the guest
   * took the TD back), or it was completed already, or the packet now carries another request. Never
   * throws: a length beyond the buffer is clamped to it, a negative or NaN one is 0, an `async` status
   * is taken as a time-out.
   */
  complete(ticket: AsyncTicket, status: FinalPacketStatus, actualLength = 0): boolean {
    if (!this.isPending(ticket)) {
      if (this.pool !== null) this.pool.staleCompletions++;
      return false;
    }
    this.status = (status as PacketStatus) === PacketStatus.Async ? PacketStatus.IoError : status;
    // More than the buffer holds is clamped to it (the host then sees more than it asked for: babble).
    const most = this.data.length;
    this.actualLength = actualLength > most ? most : actualLength >= 0 ? Math.floor(actualLength) : 0;
    this.state = PacketState.Complete;
    this.onComplete?.(this);
    return true;
  }

  /** Host side: forget an in-flight packet; no ticket of it is accepted afterwards. */
  cancel(): void {
    if (this.state === PacketState.Async) this.state = PacketState.Cancelled;
  }
}

/**
 * The packets a host hands to devices, reused so that steady-state traffic allocates nothing, and the
 * count of stale completions devices attempted on them.
 *
 * A packet comes back with {@link release} once the host is done with it. A cancelled packet is never
 * reused: the device that held it may still write into its buffer (a backend racing its own
 * cancellation, libusb's asynchronous `libusb_cancel_transfer` or a USB/IP unlink crossing a reply),
 * and that must land in a buffer nobody reads. Cancelling is rare (the guest unlinked a transfer, a
 * reset, an unplug), so this costs an allocation only then.
 */
export class UsbPacketPool {
  /** Completions refused because their ticket was stale (see {@link UsbPacket.complete}). */
  staleCompletions = 0;
  /** Packets made so far (for tests and reports). */
  created = 0;
  private readonly free: UsbPacket[] = [];

  constructor(readonly capacity = MAX_TD_LENGTH) {}

  /** A packet in the Setup state, ready for {@link UsbPacket.init}. */
  acquire(): UsbPacket {
    const packet = this.free.pop();
    if (packet !== undefined) {
      packet.pooled = false;
      return packet;
    }
    this.created++;
    return new UsbPacket(this.capacity, this);
  }

  /**
   * Gives a packet back. Only a packet of this pool that no device holds is kept (never answered,
   * answered at once, or completed and written back); a cancelled or in-flight one is dropped, and a
   * packet given back twice is kept once.
   */
  release(packet: UsbPacket): void {
    if (packet.pool !== this || packet.pooled) return;
    if (packet.state === PacketState.Async || packet.state === PacketState.Cancelled) return;
    packet.onComplete = null;
    packet.pooled = true;
    this.free.push(packet);
  }
}
