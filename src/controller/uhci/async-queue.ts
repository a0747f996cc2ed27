import type { UsbDevice } from "../../usb/device.ts";
import { PacketState, type UsbPacket } from "../../usb/packet.ts";

/**
 * Requests that a device will answer later, each paired with the TD that asked for it.
 *
 * A pairing stays valid for {@link ASYNC_VALID_FRAMES} frames and is refreshed each time the frame walk
 * meets its TD again; a pairing whose TD has not been seen for that long has left the schedule and its
 * request is cancelled. 32 rather than QEMU's old 10 because a host that schedules the first isochronous
 * request 10 frames out would otherwise see it cancelled before it could complete (the seed, point 1).
 */
export const ASYNC_VALID_FRAMES = 32;

export class AsyncPairing {
  inUse = false;
  tdAddress = 0;
  /** The TD token (DW2) when the request was made. */
  token = 0;
  /** The TD buffer pointer (DW3): what identifies an isochronous TD (the seed, point 2). */
  buffer = 0;
  isochronous = false;
  /**
   * The frame list entry whose walk made the request (isochronous only). An iso TD belongs to one frame;
   * once that frame no longer leads to it, the guest has retired it and may resubmit the same TD, token
   * and buffer in another frame (Linux uhci-hcd after -EXDEV), which is then a new transaction.
   */
  frameEntry = 0;
  /** Frames left before the request is cancelled. */
  valid = 0;
  device: UsbDevice | null = null;
  packet: UsbPacket | null = null;
}

/**
 * The pairings in flight, indexed by TD address and by packet: a TD has at most one request out (the
 * walk cancels a TD's old request before making a new one), and a packet belongs to one request.
 *
 * Lookups are by index, not by scanning: the walk looks a TD up every time it meets one, and a hostile
 * guest can keep up to maxLinkVisitsPerFrame × ASYNC_VALID_FRAMES requests out (a frame list whose
 * every frame leads to a thousand fresh TDs an async device defers); a scan per TD met would then cost
 * that many steps per link and make a frame take hundreds of milliseconds.
 */
export class AsyncQueue {
  private readonly byTd = new Map<number, AsyncPairing>();
  private readonly byPacket = new Map<UsbPacket, AsyncPairing>();
  /** Released pairings, reused so that steady-state streaming allocates nothing. */
  private readonly spare: AsyncPairing[] = [];

  /** Pairings in flight (for tests and traces). */
  get size(): number {
    return this.byTd.size;
  }

  add(
    tdAddress: number,
    token: number,
    buffer: number,
    isochronous: boolean,
    device: UsbDevice,
    packet: UsbPacket,
    frameEntry = 0,
  ): AsyncPairing {
    // One request per TD: a pairing still held for this TD is taken back first (the walk does this
    // already; this keeps the index true whatever the caller).
    const old = this.byTd.get(tdAddress);
    if (old !== undefined) this.cancel(old);
    const pairing = this.spare.pop() ?? new AsyncPairing();
    pairing.inUse = true;
    pairing.tdAddress = tdAddress;
    pairing.token = token;
    pairing.buffer = buffer;
    pairing.isochronous = isochronous;
    pairing.frameEntry = frameEntry;
    pairing.valid = ASYNC_VALID_FRAMES;
    pairing.device = device;
    pairing.packet = packet;
    this.byTd.set(tdAddress, pairing);
    this.byPacket.set(packet, pairing);
    return pairing;
  }

  /**
   * The pairing for a TD the walk has met. Isochronous TDs are matched by buffer address (their tokens
   * repeat from frame to frame, the seed's point 2) and also by TD address and token, so that a recycled
   * TD never takes over a stale request; other TDs by TD address and token.
   */
  find(tdAddress: number, token: number, buffer: number, isochronous: boolean): AsyncPairing | null {
    const p = this.byTd.get(tdAddress);
    if (p === undefined || p.isochronous !== isochronous || p.token !== token) return null;
    return !isochronous || p.buffer === buffer ? p : null;
  }

  /** Any pairing for this TD address, whatever its token or buffer (to cancel one the guest rewrote). */
  findByTd(tdAddress: number): AsyncPairing | null {
    return this.byTd.get(tdAddress) ?? null;
  }

  /** The pairing that holds this packet, if it is still in flight from the host's point of view. */
  findByPacket(packet: UsbPacket): AsyncPairing | null {
    return this.byPacket.get(packet) ?? null;
  }

  /** Ends a pairing whose request completed and has been written back. */
  release(pairing: AsyncPairing): void {
    if (!pairing.inUse) return;
    pairing.inUse = false;
    this.byTd.delete(pairing.tdAddress);
    if (pairing.packet !== null) this.byPacket.delete(pairing.packet);
    pairing.device = null;
    pairing.packet = null;
    this.spare.push(pairing);
  }

  /** Takes the request back from the device and ends the pairing; returns the packet for reuse. */
  cancel(pairing: AsyncPairing): UsbPacket | null {
    const packet = pairing.packet;
    if (packet !== null && packet.state === PacketState.Async) {
      packet.cancel();
      pairing.device?.cancelPacket(packet);
    }
    this.release(pairing);
    return packet;
  }

  /**
   * Called at the start of each frame: ages every pairing. The walk that follows refreshes those whose
   * TD it meets; {@link expire} at the end of the frame then cancels the rest that ran out. Aging and
   * expiring on either side of the walk is what makes a TD met in frame n still valid when it is next
   * met in frame n + 32 (expiring before the walk would cut the lifetime to 31 frames).
   */
  age(): void {
    // Every frame calls this; with nothing in flight (every emulated device) it must cost nothing, not
    // even a Map iterator.
    if (this.byTd.size === 0) return;
    for (const p of this.byTd.values()) p.valid--;
  }

  /** Called at the end of each frame: cancels the pairings whose TD was not met for the whole lifetime. */
  expire(onCancelled: (packet: UsbPacket | null) => void): void {
    if (this.byTd.size === 0) return;
    // (Deleting the entry being visited is safe while iterating a Map.)
    for (const p of this.byTd.values()) {
      if (p.valid <= 0) onCancelled(this.cancel(p));
    }
  }

  /** Cancels every pairing (of one device, or all). */
  cancelAll(device: UsbDevice | null, onCancelled: (packet: UsbPacket | null) => void): void {
    if (this.byTd.size === 0) return;
    for (const p of this.byTd.values()) {
      if (device === null || p.device === device) onCancelled(this.cancel(p));
    }
  }
}
