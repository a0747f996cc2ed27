/**
 * A scriptable USB device for controller tests: it answers each transaction with the next scripted
 * reply (or a default), records what it saw, and can hold packets in flight (async) until the test
 * completes them.
 */
import { UsbSpeed } from "../../../src/usb/constants.ts";
import type { UpstreamPort, UsbDevice } from "../../../src/usb/device.ts";
import {
  type AsyncTicket,
  DEAD_TICKET,
  type FinalPacketStatus,
  PacketStatus,
  type UsbPacket,
} from "../../../src/usb/packet.ts";
import { PID } from "./uhci-spec.ts";

export type Reply =
  /** ACK. For IN, `data` is returned (its length is the actual length, even beyond what was asked). */
  | { readonly kind: "ack"; readonly data?: ArrayLike<number> }
  | { readonly kind: "nak" }
  | { readonly kind: "stall" }
  | { readonly kind: "babble" }
  | { readonly kind: "io-error" }
  | { readonly kind: "crc" }
  | { readonly kind: "bitstuff" }
  /** Answer later: the packet stays in `inFlight` until {@link FakeDevice.complete}. */
  | { readonly kind: "defer" };

export const ACK: Reply = { kind: "ack" };
export const NAK: Reply = { kind: "nak" };
export const STALL: Reply = { kind: "stall" };
export const DEFER: Reply = { kind: "defer" };
export const ackIn = (data: ArrayLike<number>): Reply => ({ kind: "ack", data });

/** What the device saw of one transaction (copied: the controller reuses its packets). */
export interface SeenPacket {
  pid: number;
  address: number;
  endpoint: number;
  length: number;
  isochronous: boolean;
  /** OUT/SETUP payload. */
  data: Uint8Array;
}

export class FakeDevice implements UsbDevice {
  readonly name: string;
  readonly speed: UsbSpeed;
  address: number;
  readonly seen: SeenPacket[] = [];
  /** Deferred packets not yet completed or cancelled, oldest first. */
  readonly inFlight: UsbPacket[] = [];
  /** Packets the host took back with cancelPacket. */
  readonly cancelled: UsbPacket[] = [];
  /**
   * The ticket each packet was last deferred with. Kept after completion and cancellation, so a test can
   * play a backend that answers again, or late ({@link complete} on such a packet uses its old ticket).
   */
  readonly tickets = new Map<UsbPacket, AsyncTicket>();
  resets = 0;
  suspended = false;
  /** Every setSuspended call, in order. */
  readonly suspendCalls: boolean[] = [];
  upstream: UpstreamPort | null = null;
  /** Replies used when the script is empty. */
  defaultReply: Reply = ACK;
  /** Called for each packet before replying (to look at the controller mid-frame). */
  onPacket: ((packet: UsbPacket) => void) | null = null;
  /** Chooses a reply (overrides the script and default) — for randomised tests. */
  chooser: ((packet: UsbPacket) => Reply) | null = null;
  private readonly script: Reply[] = [];

  constructor(options: { name?: string; address?: number; speed?: UsbSpeed } = {}) {
    this.name = options.name ?? "fake";
    this.address = options.address ?? 0;
    this.speed = options.speed ?? UsbSpeed.Full;
  }

  /** Queues replies for the next transactions. */
  reply(...replies: Reply[]): this {
    this.script.push(...replies);
    return this;
  }

  handlePacket(packet: UsbPacket): void {
    const data = packet.pid === PID.IN ? new Uint8Array(0) : packet.data.slice(0, packet.length);
    this.seen.push({
      pid: packet.pid,
      address: packet.address,
      endpoint: packet.endpoint,
      length: packet.length,
      isochronous: packet.isochronous,
      data,
    });
    this.onPacket?.(packet);
    const reply = this.chooser?.(packet) ?? this.script.shift() ?? this.defaultReply;
    switch (reply.kind) {
      case "ack":
        packet.status = PacketStatus.Ack;
        if (packet.pid === PID.IN) {
          const bytes = reply.data ?? [];
          const n = Math.min(bytes.length, packet.data.length);
          for (let i = 0; i < n; i++) packet.data[i] = bytes[i]!;
          packet.actualLength = n;
        }
        break;
      case "nak":
        packet.status = PacketStatus.Nak;
        break;
      case "stall":
        packet.status = PacketStatus.Stall;
        break;
      case "babble":
        packet.status = PacketStatus.Babble;
        break;
      case "io-error":
        packet.status = PacketStatus.IoError;
        break;
      case "crc":
        packet.status = PacketStatus.Crc;
        break;
      case "bitstuff":
        packet.status = PacketStatus.BitStuff;
        break;
      case "defer":
        this.tickets.set(packet, packet.deferred());
        this.inFlight.push(packet);
        break;
    }
  }

  /**
   * Completes a deferred packet (default: the oldest) with the ticket it was last deferred with. For
   * IN, `data` becomes the packet's data — only while that request is pending, as a backend must (the
   * buffer of a stale packet may carry another request). Returns what `packet.complete` returned
   * (false when the ticket was stale: cancelled, completed already, or the packet reused).
   */
  complete(
    status: FinalPacketStatus,
    data: ArrayLike<number> = [],
    packet: UsbPacket | undefined = this.inFlight[0],
  ): boolean {
    if (packet === undefined) throw new Error("no packet in flight");
    const index = this.inFlight.indexOf(packet);
    if (index >= 0) this.inFlight.splice(index, 1);
    const ticket = this.tickets.get(packet) ?? DEAD_TICKET;
    const n = Math.min(data.length, packet.data.length);
    if (packet.isPending(ticket)) for (let i = 0; i < n; i++) packet.data[i] = data[i]!;
    return packet.complete(ticket, status, packet.pid === PID.IN ? n : 0);
  }

  cancelPacket(packet: UsbPacket): void {
    const index = this.inFlight.indexOf(packet);
    if (index >= 0) this.inFlight.splice(index, 1);
    this.cancelled.push(packet);
  }

  /** Bus reset. The fake keeps its address so tests need not enumerate it. */
  reset(): void {
    this.resets++;
  }

  setUpstream(upstream: UpstreamPort | null): void {
    this.upstream = upstream;
  }

  setSuspended(suspended: boolean): void {
    this.suspended = suspended;
    this.suspendCalls.push(suspended);
  }
}
