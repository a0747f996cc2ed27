import { type AsyncTicket, type FinalPacketStatus, PacketStatus, type UsbPacket } from "../usb/packet.ts";
import type { Urb, UrbOwner, UsbipConnection } from "./connection.ts";
import { copy } from "./copy.ts";
import { packetStatusOf } from "./status.ts";
import type { UrbReply } from "./urb-decoder.ts";

/** Counters of the read-ahead bulk IN endpoints of a device. */
export class BulkReadAheadStats {
  urbs = 0;
  /** TDs answered at once from data already read. */
  fromBuffer = 0;
  /** TDs that waited for a URB. */
  waited = 0;
  /** Data thrown away (reset, CLEAR_FEATURE(HALT), SET_INTERFACE, Bulk-Only reset). */
  discardedBytes = 0;
}

/**
 * A bulk IN endpoint read ahead of the guest, for USB Mass Storage Bulk-Only Transport endpoints only;
 * and, one server packet per URB, any bulk IN (or wide interrupt IN) endpoint of a high-speed device,
 * whose packets are larger than the full-speed guest's (see UsbipDevice.learnHighSpeedEndpoint).
 *
 * Why: the controller hands a deferred TD's answer to the guest when its walk meets the TD again, so a
 * URB per TD moves one packet per frame (64 KB/s: minutes for a few MiB). Reading `bufferBytes` in one
 * URB and answering the following TDs at once from it moves up to the frame's bandwidth.
 *
 * Why only Bulk-Only Transport: a bulk IN URB ends on a short packet or when its buffer is full. A
 * Bulk-Only device ends every command with a 13-byte CSW (a short packet), so a URB larger than the
 * guest's transfer still returns promptly, with the data and the CSW in the device's own packet
 * boundaries (every `maxPacket` bytes), which the TDs then get one by one exactly as the device sent
 * them. On another class a device may send full packets and then nothing, and the data would wait
 * at the server for a buffer that never fills.
 */
export class BulkInReader implements UrbOwner {
  private readonly buffer: Uint8Array;
  private filled = 0;
  private consumed = 0;
  /** The URB ended with a zero-length packet still to hand out (a multiple of maxPacket, then short). */
  private zeroLengthPending = false;
  /** A status to hand out after the data (a STALL that ended the URB). */
  private endStatus: FinalPacketStatus | null = null;
  private urb: Urb | null = null;
  private waiter: UsbPacket | null = null;
  private waiterTicket = 0 as AsyncTicket;

  /**
   * `maxPacket`: the packet size the guest is given (the endpoint's wMaxPacketSize as the guest read it).
   * `bufferBytes`: the bytes per URB, a multiple of the server device's own packet size (for a
   * high-speed device a multiple of 512 while the guest gets 64: a URB shorter than the device's packet
   * would overflow at the server). `interval`: the URB interval an interrupt endpoint needs (0 for bulk).
   */
  constructor(
    private readonly connection: UsbipConnection,
    private readonly endpoint: number,
    private readonly maxPacket: number,
    bufferBytes: number,
    private readonly stats: BulkReadAheadStats,
    private readonly interval = 0,
  ) {
    this.buffer = new Uint8Array(Math.max(maxPacket, bufferBytes));
  }

  /** Whether this reader gives `maxPacket`-byte packets from URBs of `bufferBytes`. */
  shapedAs(maxPacket: number, bufferBytes: number): boolean {
    return this.maxPacket === maxPacket && this.buffer.length === Math.max(maxPacket, bufferBytes);
  }

  handle(packet: UsbPacket): void {
    if (this.answerNow(packet)) {
      this.stats.fromBuffer++;
      return;
    }
    if (this.urb === null) {
      this.urb = this.connection.submit(
        this,
        0,
        true,
        this.endpoint,
        this.buffer.length,
        this.interval > 0 ? { interval: this.interval } : {},
      );
      if (this.urb === null) {
        packet.status = PacketStatus.IoError;
        return;
      }
      this.stats.urbs++;
    }
    this.stats.waited++;
    this.waiter = packet;
    this.waiterTicket = packet.deferred();
  }

  /** The controller took the waiting TD back; the URB stays out and its data waits for the TD's return. */
  cancel(packet: UsbPacket): boolean {
    if (packet !== this.waiter) return false;
    this.waiter = null;
    return true;
  }

  /** The endpoint starts afresh: what was read and not handed out is dropped, the URB unlinked. */
  discard(): void {
    this.stats.discardedBytes += this.filled - this.consumed;
    this.filled = this.consumed = 0;
    this.zeroLengthPending = false;
    this.endStatus = null;
    if (this.urb !== null) this.connection.unlink(this.urb);
    this.urb = null;
    this.waiter = null;
  }

  /** Answers from what was read, if anything is left; false when the TD must wait for a URB. */
  private answerNow(packet: UsbPacket): boolean {
    if (this.consumed < this.filled) {
      const n = Math.min(this.maxPacket, this.filled - this.consumed);
      const room = Math.min(packet.length, packet.data.length);
      const copied = Math.min(n, room);
      copy(this.buffer, this.consumed, packet.data, 0, copied);
      this.consumed += n;
      packet.actualLength = copied;
      // The device's packet is larger than the TD allows: babble, as on the wire.
      packet.status = n > room ? PacketStatus.Babble : PacketStatus.Ack;
      return true;
    }
    if (this.zeroLengthPending) {
      this.zeroLengthPending = false;
      packet.actualLength = 0;
      packet.status = PacketStatus.Ack;
      return true;
    }
    if (this.endStatus !== null) {
      packet.actualLength = 0;
      packet.status = this.endStatus;
      this.endStatus = null;
      return true;
    }
    return false;
  }

  urbCompleted(urb: Urb, reply: UrbReply): void {
    if (urb !== this.urb) return;
    this.urb = null;
    const n = Math.min(reply.dataLength, this.buffer.length);
    this.buffer.set(reply.data.subarray(reply.dataAt, reply.dataAt + n));
    this.filled = n;
    this.consumed = 0;
    const status = packetStatusOf(reply.status);
    // A transfer that ended short on a packet boundary ended with a zero-length packet (USB 2.0 5.8.3).
    this.zeroLengthPending =
      status === PacketStatus.Ack && n < this.buffer.length && n % this.maxPacket === 0;
    this.endStatus = status === PacketStatus.Ack ? null : status;
    const packet = this.waiter;
    this.waiter = null;
    if (packet === null || !packet.isPending(this.waiterTicket)) return;
    const ticket = this.waiterTicket;
    if (!this.answerNow(packet)) {
      packet.actualLength = 0;
      packet.status = PacketStatus.IoError;
    }
    packet.complete(
      ticket,
      packet.status === PacketStatus.Async ? PacketStatus.IoError : (packet.status as FinalPacketStatus),
      packet.actualLength,
    );
  }
}
