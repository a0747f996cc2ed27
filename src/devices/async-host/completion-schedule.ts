import type { Clock } from "../../machine/clock.ts";
import { type AsyncTicket, DEAD_TICKET, type UsbPacket } from "../../usb/packet.ts";
import type { RequestTiming } from "./request-timing.ts";

/** One request a device holds: the packet and its ticket, when it completes, and for which endpoint. */
export class PendingRequest {
  packet: UsbPacket | null = null;
  /** What `packet.deferred()` returned: the completion presents it. */
  ticket: AsyncTicket = DEAD_TICKET;
  dueMs = 0;
  /** Endpoint slot: number (0–15), plus 16 for IN. */
  slot = 0;
  /** Completes with an I/O error instead of data (the endpoint went away under it). */
  aborted = false;
}

/**
 * The requests a device has in flight, kept in completion order (due time, then arrival) in one ring
 * of reusable entries. A device needs a single timer armed at {@link headDueMs}, however many requests
 * are out, and allocates only when the number in flight reaches a new high-water mark (the ring then
 * doubles, up to `maxEntries`). Real hosts complete the URBs of an endpoint in order; keeping the ring
 * sorted makes that order a property of the data structure rather than of timer luck.
 */
export class CompletionSchedule {
  private ring: PendingRequest[];
  private head = 0;
  private count = 0;

  constructor(
    initialCapacity = 16,
    /** The most requests held at once; beyond this {@link add} refuses (like a host out of URBs). */
    readonly maxEntries = 256,
  ) {
    if (!Number.isInteger(maxEntries) || maxEntries < 1) throw new RangeError(`maxEntries ${maxEntries}`);
    const capacity = Math.max(1, Math.min(initialCapacity, maxEntries));
    this.ring = Array.from({ length: capacity }, () => new PendingRequest());
  }

  get size(): number {
    return this.count;
  }

  /** When the earliest request is due; +Infinity when none is held. */
  get headDueMs(): number {
    return this.count === 0 ? Number.POSITIVE_INFINITY : this.ring[this.head]!.dueMs;
  }

  /** The earliest request (its `dueMs` is when the timer should fire); null when none is held. */
  get first(): PendingRequest | null {
    return this.count === 0 ? null : this.ring[this.head]!;
  }

  /**
   * Holds `packet` (deferred with `ticket`) until `dueMs`. Returns false (and holds nothing) when
   * `maxEntries` are out.
   */
  add(packet: UsbPacket, ticket: AsyncTicket, dueMs: number, slot: number): boolean {
    const entry = this.reserve();
    if (entry === null) return false;
    entry.dueMs = dueMs;
    this.insert(entry, packet, ticket, slot);
    return true;
  }

  /**
   * As {@link add}, due when `timing` says a request on `slot` made now on `clock` completes. The time
   * goes straight into the entry (RequestTiming.place), so a request allocates nothing.
   */
  addTimed(
    packet: UsbPacket,
    ticket: AsyncTicket,
    slot: number,
    timing: RequestTiming,
    isochronous: boolean,
    clock: Clock,
  ): boolean {
    const entry = this.reserve();
    if (entry === null) return false;
    timing.place(entry, slot, isochronous, clock);
    this.insert(entry, packet, ticket, slot);
    return true;
  }

  /** The entry the next request goes into (at the tail), or null when `maxEntries` are out. */
  private reserve(): PendingRequest | null {
    if (this.count === this.ring.length && !this.grow()) return null;
    return this.at(this.count);
  }

  /** Fills the reserved tail entry (its `dueMs` set) and sorts it into place. */
  private insert(entry: PendingRequest, packet: UsbPacket, ticket: AsyncTicket, slot: number): void {
    const capacity = this.ring.length;
    let i = this.count++;
    const dueMs = entry.dueMs;
    entry.packet = packet;
    entry.ticket = ticket;
    entry.slot = slot;
    entry.aborted = false;
    // Insertion from the tail: requests mostly arrive in due order, so this is O(1) in steady state.
    while (i > 0) {
      const before = (this.head + i - 1) % capacity;
      const here = (this.head + i) % capacity;
      if (this.ring[before]!.dueMs <= dueMs) break;
      this.swap(before, here);
      i--;
    }
  }

  /**
   * Removes and returns the earliest request if it is due at `nowMs`, else null. The entry is reused
   * by the next {@link add}: read its fields before doing anything that could add a request.
   */
  takeDue(nowMs: number): PendingRequest | null {
    if (this.count === 0) return null;
    const entry = this.ring[this.head]!;
    if (entry.dueMs > nowMs) return null;
    this.head = (this.head + 1) % this.ring.length;
    this.count--;
    return entry;
  }

  /** Forgets the request holding `packet`; returns whether it was held. */
  remove(packet: UsbPacket): boolean {
    const capacity = this.ring.length;
    for (let i = 0; i < this.count; i++) {
      if (this.at(i).packet !== packet) continue;
      // Close the gap by moving the later entries one place towards the head (order is kept).
      for (let j = i; j < this.count - 1; j++) {
        this.swap((this.head + j) % capacity, (this.head + j + 1) % capacity);
      }
      this.count--;
      this.at(this.count).packet = null;
      return true;
    }
    return false;
  }

  /**
   * Marks every request whose endpoint slot passes `matches` as aborted and due at `nowMs`, so it
   * completes (with an error) at the next wake-up. Returns how many were marked.
   */
  abortWhere(matches: (slot: number) => boolean, nowMs: number): number {
    let marked = 0;
    for (let i = 0; i < this.count; i++) {
      const entry = this.at(i);
      if (!matches(entry.slot)) continue;
      entry.aborted = true;
      entry.dueMs = Math.min(entry.dueMs, nowMs);
      marked++;
    }
    if (marked > 0) this.resort();
    return marked;
  }

  private at(i: number): PendingRequest {
    return this.ring[(this.head + i) % this.ring.length]!;
  }

  private swap(a: number, b: number): void {
    const t = this.ring[a]!;
    this.ring[a] = this.ring[b]!;
    this.ring[b] = t;
  }

  /** Stable insertion sort by due time, after {@link abortWhere} moved some entries earlier. */
  private resort(): void {
    const capacity = this.ring.length;
    for (let i = 1; i < this.count; i++) {
      for (let j = i; j > 0; j--) {
        const before = (this.head + j - 1) % capacity;
        const here = (this.head + j) % capacity;
        if (this.ring[before]!.dueMs <= this.ring[here]!.dueMs) break;
        this.swap(before, here);
      }
    }
  }

  private grow(): boolean {
    const capacity = this.ring.length;
    if (capacity >= this.maxEntries) return false;
    const next = Math.min(capacity * 2, this.maxEntries);
    const ring: PendingRequest[] = [];
    for (let i = 0; i < this.count; i++) ring.push(this.at(i));
    while (ring.length < next) ring.push(new PendingRequest());
    this.ring = ring;
    this.head = 0;
    return true;
  }
}
