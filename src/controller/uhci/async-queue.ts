import type { UsbDevice } from "../../usb/device.ts";
import { PacketState, type UsbPacket } from "../../usb/packet.ts";

/**
 * Requests that a device will answer later, each paired with the TD that asked for it.
 *
 * A pairing stays valid for {@link ASYNC_VALID_FRAMES} frames and is refreshed each time the frame walk
 * meets its TD again; a pairing whose TD has not been seen for that long has left the schedule and its
 * request is cancelled. 32 rather than QEMU's old 10 because a host that schedules the first isochronous
 * request 10 frames out would otherwise see it cancelled before it could complete (the seed, point 1).
 * Only frames whose walk could have met the TD count (see {@link AsyncQueue.endFrame}).
 */
export const ASYNC_VALID_FRAMES = 32;

export class AsyncPairing {
  inUse = false;
  tdAddress = 0;
  /** The TD token (DW2) when the request was made, as an int32. */
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
  /** Counted frames left before the request is cancelled. */
  valid = 0;
  /** Met (or made) during the frame being run: it does not age at the frame's end. */
  met = false;
  device: UsbDevice | null = null;
  packet: UsbPacket | null = null;
  /**
   * The completion callback the walker gives an iso request's packet, made once per pairing object and
   * kept (pairings are reused), so that a request allocates nothing.
   */
  onIsoComplete: ((packet: UsbPacket) => void) | null = null;
  /** Position in {@link AsyncQueue}'s slot array. */
  slot = 0;
  /** The {@link AsyncQueue.endFrame} call that last looked at it (so none is aged twice in one call). */
  frameStamp = 0;
}

/**
 * Pairings by TD address: an open-addressing hash table (linear probing, deletion by backward shift).
 * A Map would do, but V8 rebuilds a Map's table as it fills with deleted entries and shrinks it as it
 * empties, so one request added and removed per frame (an async iso stream) allocated about 150 bytes
 * a frame; this table allocates only when the pairings held at once reach a new high.
 */
class TdIndex {
  private table: (AsyncPairing | null)[] = new Array<AsyncPairing | null>(16).fill(null);
  private mask = 15;
  private shift = 28;
  private count = 0;

  get(address: number): AsyncPairing | null {
    const table = this.table;
    for (let i = this.home(address); ; i = (i + 1) & this.mask) {
      const p = table[i]!;
      if (p === null || p.tdAddress === address) return p;
    }
  }

  /** Adds a pairing whose TD address is not in the table. */
  add(pairing: AsyncPairing): void {
    if (2 * (this.count + 1) > this.table.length) this.grow();
    this.place(pairing);
    this.count++;
  }

  /** Removes `pairing` if it is the one held for its TD address. */
  remove(pairing: AsyncPairing): void {
    const table = this.table;
    const mask = this.mask;
    let i = this.home(pairing.tdAddress);
    for (;;) {
      const p = table[i]!;
      if (p === null) return;
      if (p === pairing) break;
      i = (i + 1) & mask;
    }
    this.count--;
    // Close the gap: move back each later entry of the run that probing would otherwise no longer
    // reach (its home slot lies cyclically at or before the gap).
    for (let j = (i + 1) & mask; ; j = (j + 1) & mask) {
      const p = table[j]!;
      if (p === null) break;
      const home = this.home(p.tdAddress);
      if (((j - home) & mask) >= ((j - i) & mask)) {
        table[i] = p;
        i = j;
      }
    }
    table[i] = null;
  }

  private home(address: number): number {
    // Fibonacci hashing of the 16-byte-aligned address: its top bits spread neighbouring TDs apart.
    return Math.imul(address >>> 4, 0x9e37_79b1) >>> this.shift;
  }

  private place(pairing: AsyncPairing): void {
    const table = this.table;
    let i = this.home(pairing.tdAddress);
    while (table[i] !== null) i = (i + 1) & this.mask;
    table[i] = pairing;
  }

  private grow(): void {
    const old = this.table;
    this.table = new Array<AsyncPairing | null>(old.length * 2).fill(null);
    this.mask = this.table.length - 1;
    this.shift--;
    for (const p of old) if (p !== null) this.place(p);
  }
}

/**
 * The pairings in flight, indexed by TD address: a TD has at most one request out (the walk cancels a
 * TD's old request before making a new one), and a packet belongs to one request.
 *
 * Lookups are by index, not by scanning: the walk looks a TD up every time it meets one, and a hostile
 * guest can keep up to maxLinkVisitsPerFrame × ASYNC_VALID_FRAMES requests out (a frame list whose
 * every frame leads to a thousand fresh TDs an async device defers; twice that if it also makes frames
 * run late, see {@link replayHoldLimit}); a scan per TD met would then cost that many steps per link
 * and make a frame take hundreds of milliseconds.
 *
 * The per-frame pass (and cancelling everything) runs over one array whose first {@link size} slots
 * are the live pairings and the rest released ones kept for reuse: no Map iterator per frame, and
 * steady-state streaming allocates nothing.
 */
export class AsyncQueue {
  private readonly byTd = new TdIndex();
  /** Live pairings in slots [0, count), released ones after them. */
  private readonly slots: AsyncPairing[] = [];
  private count = 0;
  /** Live pairings with `met` set. */
  private metCount = 0;
  private frameStamp = 0;
  /**
   * Pairings in flight up to which frames run with no host time age none ({@link endFrame}). The
   * controller sets it to maxLinkVisitsPerFrame × ASYNC_VALID_FRAMES, the most ordinary frames let a
   * guest keep out: a hostile guest whose slow schedule makes frames run late (back to back, or
   * replayed) can then keep out at most about twice that (the limit, plus what aging allows beyond).
   */
  replayHoldLimit = 1024 * ASYNC_VALID_FRAMES;

  /** Pairings in flight (for tests and traces). */
  get size(): number {
    return this.count;
  }

  /** Pairings not met so far in the frame being run. */
  get unmet(): number {
    return this.count - this.metCount;
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
    if (old !== null) this.cancel(old);
    if (this.count === this.slots.length) {
      const fresh = new AsyncPairing();
      fresh.slot = this.count;
      this.slots.push(fresh);
    }
    const pairing = this.slots[this.count++]!;
    pairing.inUse = true;
    pairing.tdAddress = tdAddress;
    pairing.token = token | 0;
    pairing.buffer = buffer | 0;
    pairing.isochronous = isochronous;
    pairing.frameEntry = frameEntry;
    pairing.valid = ASYNC_VALID_FRAMES;
    pairing.met = true;
    this.metCount++;
    pairing.device = device;
    pairing.packet = packet;
    pairing.frameStamp = this.frameStamp;
    this.byTd.add(pairing);
    return pairing;
  }

  /**
   * The pairing for a TD the walk has met. Isochronous TDs are matched by buffer address (their tokens
   * repeat from frame to frame, the seed's point 2) and also by TD address and token, so that a recycled
   * TD never takes over a stale request; other TDs by TD address and token.
   */
  find(tdAddress: number, token: number, buffer: number, isochronous: boolean): AsyncPairing | null {
    const p = this.byTd.get(tdAddress);
    if (p === null || p.isochronous !== isochronous || p.token !== (token | 0)) return null;
    return !isochronous || p.buffer === (buffer | 0) ? p : null;
  }

  /** Any pairing for this TD address, whatever its token or buffer (to cancel one the guest rewrote). */
  findByTd(tdAddress: number): AsyncPairing | null {
    return this.byTd.get(tdAddress);
  }

  /** The pairing that holds this packet, if the host still has it in flight (a scan: for tests). */
  findByPacket(packet: UsbPacket): AsyncPairing | null {
    for (let i = 0; i < this.count; i++) {
      const p = this.slots[i]!;
      if (p.packet === packet) return p;
    }
    return null;
  }

  /** The walk met the pairing's TD (or, past the point where its frame stopped, found it linked). */
  refresh(pairing: AsyncPairing): void {
    pairing.valid = ASYNC_VALID_FRAMES;
    if (!pairing.met) {
      pairing.met = true;
      this.metCount++;
    }
  }

  /**
   * Ends a pairing whose request completed and has been written back (or dropped). Read what you need
   * from it first: it is reused by the next {@link add}.
   */
  release(pairing: AsyncPairing): void {
    if (!pairing.inUse) return;
    pairing.inUse = false;
    if (pairing.met) {
      pairing.met = false;
      this.metCount--;
    }
    this.byTd.remove(pairing);
    pairing.device = null;
    pairing.packet = null;
    // Swap it with the last live pairing, so live ones stay in [0, count).
    const last = this.slots[--this.count]!;
    const slot = pairing.slot;
    this.slots[slot] = last;
    last.slot = slot;
    this.slots[this.count] = pairing;
    pairing.slot = this.count;
  }

  /**
   * Takes the request back from the device and ends the pairing. The packet is not reused: its ticket
   * is dead (a late completion is refused and counted), and its pool never hands it out again.
   */
  cancel(pairing: AsyncPairing): void {
    if (!pairing.inUse) return;
    const packet = pairing.packet;
    const device = pairing.device;
    this.release(pairing);
    if (packet === null) return;
    // (Cancelled already: marked by cancelAll before any device was told.)
    if (packet.state === PacketState.Async) packet.cancel();
    if (packet.state === PacketState.Cancelled) device?.cancelPacket(packet);
  }

  /**
   * Called at the end of each frame. Pairings the walk met — or, in a frame that stopped early, found
   * still linked past the point where it stopped (FrameWalker.stoppedEarly) — keep their full lifetime;
   * the others age by one frame and are cancelled when they run out. Aging after the walk rather than
   * before it is what makes a TD met in frame n still valid when it is next met in frame n + 32.
   */
  endFrame(noHostTime = false): void {
    // Every frame calls this; with nothing in flight (every emulated device) it must cost nothing.
    if (this.count === 0) return;
    // A frame run with no host time since the one before (FrameClock.hostTimePassed: replayed after a
    // host pause, or one of several overdue frames run back to back) ages nothing: a device that
    // answers later (passthrough, AsyncIsoWrapper) could not have answered in it. Otherwise the 512
    // frames of a replay, or the 100 of a stall just under the pause threshold, cancel every request
    // the guest's queued TDs made in them before the device can answer, and those TDs stay active
    // with no IOC: a guest that looks at its schedule on interrupts (the software guest; uhci-hcd)
    // hears nothing until the frame list comes round 1024 frames later. The requests out stay bounded:
    // beyond replayHoldLimit every frame ages them.
    const age = !noHostTime || this.count > this.replayHoldLimit;
    const stamp = ++this.frameStamp;
    // Backwards, so that releasing slot i (which swaps in the last live pairing, already looked at)
    // leaves the rest to visit in place; the bound is re-read because a device told to cancel may
    // complete other requests, which releases them.
    for (let i = this.count - 1; i >= 0; i = Math.min(i, this.count) - 1) {
      const p = this.slots[i]!;
      if (p.frameStamp === stamp) continue;
      p.frameStamp = stamp;
      if (p.met) {
        p.met = false;
        this.metCount--;
      } else if (age && --p.valid <= 0) {
        this.cancel(p);
      }
    }
  }

  /**
   * Cancels every pairing (of one device, or all). Every packet is marked cancelled before any device
   * is told, so that nothing a device does while being told — completing its other requests from inside
   * cancelPacket, against the backend rules — can land: those answers meet dead tickets.
   */
  cancelAll(device: UsbDevice | null): void {
    for (let i = 0; i < this.count; i++) {
      const p = this.slots[i]!;
      if (device === null || p.device === device) p.packet?.cancel();
    }
    for (let i = this.count - 1; i >= 0; i = Math.min(i, this.count) - 1) {
      const p = this.slots[i]!;
      if (device === null || p.device === device) this.cancel(p);
    }
  }
}
