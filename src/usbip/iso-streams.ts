import type { Clock, Timer } from "../machine/clock.ts";
import { MAX_ISO_PACKET } from "../usb/constants.ts";
import { type AsyncTicket, PacketStatus, type UsbPacket } from "../usb/packet.ts";
import type { Urb, UrbOwner, UsbipConnection } from "./connection.ts";
import { copy } from "./copy.ts";
import { packetStatusOfIso } from "./status.ts";
import type { UrbReply } from "./urb-decoder.ts";

/**
 * How far an iso stream runs ahead of the guest (docs/usbip.md, "Isochronous streaming"). A Linux
 * guest (uhci-hcd) reports an iso TD still Active after its frame as lost (-EXDEV), and a round trip
 * to the server takes milliseconds, so a TD cannot wait for its own URB.
 */
export interface IsoStreamOptions {
  /** Packets (frames) per URB. Default 8. */
  readonly urbPackets: number;
  /** IN: URBs kept in flight at the server. Default 4 (32 frames asked ahead). */
  readonly inUrbs: number;
  /** OUT: URBs allowed in flight; a batch beyond them is dropped and counted. Default 16. */
  readonly outUrbs: number;
  /**
   * OUT: URBs held back and sent together when a stream starts (or restarts after the server's queue
   * ran empty), so the server holds that much more than its own restart lead. Default 3 (24 frames).
   * Measured against Linux's usbip-host: with each URB sent as soon as it filled, the server's queue
   * was only its ~10-frame ASAP restart lead deep and ran dry once or twice a minute (a start_frame
   * gap of 10–15 frames of silence at the device).
   */
  readonly leadUrbs: number;
  /** IN: packets the ring holds; beyond it the oldest is dropped and counted. Default 64. */
  readonly ringPackets: number;
  /** IN: a stream the guest has not asked from for this long stops asking the server. Default 50 ms. */
  readonly idleMs: number;
  /**
   * IN: packets the ring must hold before TDs are answered from it, at the start and after an underrun
   * (a jitter buffer: the added latency in frames). Default `urbPackets` + 4.
   */
  readonly prefillPackets: number;
}

export const DEFAULT_ISO_STREAM_OPTIONS: IsoStreamOptions = {
  urbPackets: 8,
  inUrbs: 4,
  outUrbs: 16,
  leadUrbs: 3,
  ringPackets: 64,
  idleMs: 50,
  prefillPackets: 12,
};

/** Counters of the iso streams of one direction (all endpoints of a device). */
export class IsoStreamStats {
  /** Streams started (the first TD after idle, a SET_INTERFACE or a reset). */
  starts = 0;
  urbs = 0;
  /** Packets moved: IN given to a TD, OUT acknowledged to the guest and sent. */
  packets = 0;
  /** IN: TDs answered at once from the ring. */
  fromRing = 0;
  /** IN: TDs answered with no data while the ring filled (the start, and after an underrun). */
  priming = 0;
  /** IN: TDs that found the ring empty while streaming and waited for the next URB (an underrun). */
  underruns = 0;
  /** IN: waiting TDs whose frame had passed when data came: answered empty, the data kept for later TDs. */
  lateAnswers = 0;
  /** IN: packets dropped because the ring was full (the guest asked for fewer than arrived). */
  overruns = 0;
  /**
   * IN: packets dropped when a stream primed again after an underrun and more than the prefill had
   * arrived meanwhile (the stall's backlog): kept, they would add their age to every later packet.
   */
  trimmed = 0;
  /** OUT: packets dropped because every URB slot was out. */
  dropped = 0;
  /** Packets the server reported with an error status. */
  packetErrors = 0;
  /** RET_SUBMIT start_frame not following the previous URB of the stream (mod 1024): a gap at the device. */
  startFrameGaps = 0;
  /** The last URB's start_frame, for reports. */
  lastStartFrame = -1;
}

function options(given: Partial<IsoStreamOptions>): IsoStreamOptions {
  const o = { ...DEFAULT_ISO_STREAM_OPTIONS, prefillPackets: (given.urbPackets ?? 8) + 4, ...given };
  const clamp = (n: number, lo: number, hi: number) => Math.max(lo, Math.min(hi, Math.floor(n)));
  return {
    urbPackets: clamp(o.urbPackets, 1, 64),
    inUrbs: clamp(o.inUrbs, 1, 32),
    outUrbs: clamp(o.outUrbs, 1, 64),
    leadUrbs: clamp(o.leadUrbs, 1, clamp(o.outUrbs, 1, 64)),
    ringPackets: clamp(o.ringPackets, 1, 1024),
    idleMs: Math.max(1, o.idleMs),
    prefillPackets: clamp(o.prefillPackets, 0, clamp(o.ringPackets, 1, 1024)),
  };
}

/** start_frame continuity (mod 1024, which every frame counter's wrap is a multiple of). */
function trackStartFrame(stats: IsoStreamStats, expected: number, reply: UrbReply): number {
  if (expected >= 0 && ((reply.startFrame - expected) & 0x3ff) !== 0) stats.startFrameGaps++;
  stats.lastStartFrame = reply.startFrame;
  return (reply.startFrame + reply.numberOfPackets) & 0x3ff;
}

/**
 * An iso IN endpoint streamed ahead of the guest: from the guest's first TD on, `inUrbs` URBs of
 * `urbPackets` packets stay in flight at the server; what they bring waits in a ring, so a TD is
 * answered at once from it (the data is there when its frame runs).
 *
 * - Priming: until the ring holds `prefillPackets`, TDs are answered at once with no data (what a
 *   device with nothing to send answers), so the ring starts that far ahead and absorbs the URBs'
 *   arrival in bursts of `urbPackets` plus network jitter.
 * - Underrun (the ring ran dry while streaming): the TD is deferred and completed inside the next URB's
 *   completion (the seed's rules: its ticket, valid while the controller keeps it, 32 frames), and the
 *   stream primes again. A waiting TD whose frame had passed by then is answered empty and the data is
 *   kept for the TDs to come: a late answer would be lost to a Linux-like guest (-EXDEV) and, worse,
 *   would keep every later TD one round trip behind.
 */
export class IsoInStream implements UrbOwner {
  private readonly o: IsoStreamOptions;
  private running = false;
  private priming = true;
  private inFlight = 0;
  private lastAskedMs = 0;
  private packetLength = 0;
  private expectedStart = -1;
  /** The generation URBs belong to; a stopped stream's late answers are unlinked and not delivered. */
  private readonly urbs = new Set<Urb>();
  // The ring: packet i at slot (head + i) % ringPackets.
  private readonly ring: Uint8Array;
  private readonly ringLength: Uint16Array;
  private readonly ringStatus: Int32Array;
  private head = 0;
  private count = 0;
  // TDs waiting for data, in order.
  private readonly waiting: (UsbPacket | null)[];
  private readonly waitingTicket: AsyncTicket[];
  private readonly waitingSince: Float64Array;
  private waitHead = 0;
  private waitCount = 0;
  private readonly lengths: Uint16Array;

  constructor(
    private readonly connection: UsbipConnection,
    private readonly endpoint: number,
    private readonly clock: Clock,
    given: Partial<IsoStreamOptions>,
    private readonly stats: IsoStreamStats,
  ) {
    this.o = options(given);
    this.ring = new Uint8Array(this.o.ringPackets * MAX_ISO_PACKET);
    this.ringLength = new Uint16Array(this.o.ringPackets);
    this.ringStatus = new Int32Array(this.o.ringPackets);
    this.waiting = new Array<UsbPacket | null>(this.o.ringPackets).fill(null);
    this.waitingTicket = new Array<AsyncTicket>(this.o.ringPackets).fill(0 as AsyncTicket);
    this.waitingSince = new Float64Array(this.o.ringPackets);
    this.lengths = new Uint16Array(this.o.urbPackets);
  }

  /** Packets held in the ring now: the latency the stream adds, in frames. */
  get buffered(): number {
    return this.count;
  }

  handle(packet: UsbPacket): void {
    this.lastAskedMs = this.clock.now();
    if (packet.length > this.packetLength) this.packetLength = Math.min(packet.length, MAX_ISO_PACKET);
    if (!this.running) this.start();
    if (this.priming) {
      if (this.count < this.o.prefillPackets || this.count === 0) {
        this.stats.priming++;
        packet.actualLength = 0;
        packet.status = PacketStatus.Ack;
        return;
      }
      this.priming = false;
      // Back to the prefill's depth: a backlog that came in a burst after a stall would otherwise stay
      // in the ring as added latency for the rest of the stream.
      const excess = this.count - this.o.prefillPackets;
      if (excess > 0) {
        this.head = (this.head + excess) % this.ringLength.length;
        this.count -= excess;
        this.stats.trimmed += excess;
      }
    }
    if (this.count > 0) {
      this.stats.fromRing++;
      this.give(packet, null);
      return;
    }
    if (this.waitCount >= this.waiting.length) {
      packet.status = PacketStatus.IoError;
      return;
    }
    this.stats.underruns++;
    this.priming = true;
    const at = (this.waitHead + this.waitCount) % this.waiting.length;
    this.waiting[at] = packet;
    this.waitingTicket[at] = packet.deferred();
    this.waitingSince[at] = this.lastAskedMs;
    this.waitCount++;
  }

  /** The controller took a waiting TD back: it is skipped when data comes. */
  cancel(packet: UsbPacket): void {
    for (let i = 0; i < this.waitCount; i++) {
      const at = (this.waitHead + i) % this.waiting.length;
      if (this.waiting[at] === packet) this.waiting[at] = null;
    }
  }

  /** Stops asking the server: URBs out are unlinked, the ring is emptied, waiting TDs are left to time out. */
  stop(): void {
    this.running = false;
    for (const urb of this.urbs) this.connection.unlink(urb);
    this.urbs.clear();
    this.inFlight = 0;
    this.count = 0;
    this.head = 0;
    this.expectedStart = -1;
  }

  private start(): void {
    this.running = true;
    this.priming = true;
    this.stats.starts++;
    this.count = 0;
    this.head = 0;
    this.expectedStart = -1;
    while (this.inFlight < this.o.inUrbs && this.submit()) {}
  }

  private submit(): boolean {
    const n = this.o.urbPackets;
    const length = this.packetLength;
    for (let i = 0; i < n; i++) this.lengths[i] = length;
    const urb = this.connection.submit(this, 0, true, this.endpoint, length * n, {
      isoPackets: n,
      isoPacketLength: this.lengths,
    });
    if (urb === null) return false;
    this.urbs.add(urb);
    this.inFlight++;
    this.stats.urbs++;
    return true;
  }

  urbCompleted(urb: Urb, reply: UrbReply): void {
    if (!this.urbs.delete(urb)) return;
    this.inFlight--;
    this.expectedStart = trackStartFrame(this.stats, this.expectedStart, reply);
    let at = reply.dataAt;
    for (let i = 0; i < reply.numberOfPackets; i++) {
      const actual = reply.isoActual[i]!;
      const status = reply.isoStatus[i]!;
      if (status !== 0) this.stats.packetErrors++;
      this.put(reply.data, at, Math.min(actual, MAX_ISO_PACKET), status);
      at += actual;
    }
    this.drainWaiting();
    // Keep the server ahead while the guest still asks; a stream the guest left alone stops.
    if (this.running && this.clock.now() - this.lastAskedMs <= this.o.idleMs) {
      while (this.inFlight < this.o.inUrbs && this.submit()) {}
    } else if (this.inFlight === 0) {
      this.running = false;
    }
  }

  private put(data: Uint8Array, at: number, length: number, status: number): void {
    const size = this.ringLength.length;
    if (this.count === size) {
      // Full: the oldest packet goes (the guest asked for fewer than the device sent).
      this.head = (this.head + 1) % size;
      this.count--;
      this.stats.overruns++;
    }
    const slot = (this.head + this.count) % size;
    copy(data, at, this.ring, slot * MAX_ISO_PACKET, length);
    this.ringLength[slot] = length;
    this.ringStatus[slot] = status;
    this.count++;
  }

  private drainWaiting(): void {
    const now = this.clock.now();
    while (this.waitCount > 0) {
      const at = this.waitHead;
      const packet = this.waiting[at]!;
      const ticket = this.waitingTicket[at]!;
      const late = now - this.waitingSince[at]! >= 1;
      if (!late && this.count === 0) break;
      this.waiting[at] = null;
      this.waitHead = (this.waitHead + 1) % this.waiting.length;
      this.waitCount--;
      if (packet === null || !packet.isPending(ticket)) continue;
      if (late) {
        // Its frame has passed: answered empty, the data stays for the TDs still to come.
        this.stats.lateAnswers++;
        packet.complete(ticket, PacketStatus.Ack, 0);
      } else this.give(packet, ticket);
    }
  }

  /** Answers `packet` with the oldest ring packet: at once (ticket null) or by completing its ticket. */
  private give(packet: UsbPacket, ticket: AsyncTicket | null): void {
    const slot = this.head;
    this.head = (this.head + 1) % this.ringLength.length;
    this.count--;
    const length = this.ringLength[slot]!;
    const room = Math.min(packet.length, packet.data.length);
    const n = Math.min(length, room);
    const from = slot * MAX_ISO_PACKET;
    copy(this.ring, from, packet.data, 0, n);
    const status = length > room ? PacketStatus.Babble : packetStatusOfIso(this.ringStatus[slot]!);
    this.stats.packets++;
    if (ticket === null) {
      packet.actualLength = n;
      packet.status = status;
    } else {
      packet.complete(ticket, status, n);
    }
  }
}

/**
 * An iso OUT endpoint: each TD is acknowledged at once (its data is copied into a batch), and every
 * `urbPackets` packets go to the server as one URB, at most `outUrbs` in flight. The first `leadUrbs`
 * URBs of a stream are held and sent together, so the server's queue starts that deep. A batch that
 * has not filled within `urbPackets` + 2 frames' time is sent as it is, with anything held (the guest
 * stopped or paused).
 */
export class IsoOutStream implements UrbOwner {
  private readonly o: IsoStreamOptions;
  private readonly batch: Uint8Array;
  private readonly lengths: Uint16Array;
  private count = 0;
  private bytes = 0;
  private inFlight = 0;
  private expectedStart = -1;
  private readonly urbs = new Set<Urb>();
  private readonly flushTimer: Timer;
  private started = false;
  /** The batches held at the start of a stream: `leadUrbs` batches' room, their lengths and sizes. */
  private readonly held: Uint8Array;
  private readonly heldLengths: Uint16Array;
  private readonly heldPackets: Int32Array;
  private readonly heldBytes: Int32Array;
  private heldBatches = 0;
  /** True until the held batches go out; again after a stop or once the server's queue ran empty. */
  private leading = true;

  constructor(
    private readonly connection: UsbipConnection,
    private readonly endpoint: number,
    private readonly clock: Clock,
    given: Partial<IsoStreamOptions>,
    private readonly stats: IsoStreamStats,
  ) {
    this.o = options(given);
    this.batch = new Uint8Array(this.o.urbPackets * MAX_ISO_PACKET);
    this.lengths = new Uint16Array(this.o.urbPackets);
    this.held = new Uint8Array(this.o.leadUrbs * this.batch.length);
    this.heldLengths = new Uint16Array(this.o.leadUrbs * this.o.urbPackets);
    this.heldPackets = new Int32Array(this.o.leadUrbs);
    this.heldBytes = new Int32Array(this.o.leadUrbs);
    this.flushTimer = clock.createTimer(() => this.flushNow());
  }

  /** Called when the last URB out was answered and no batch waits (a drain is over). */
  onIdle: (() => void) | null = null;

  /** Packets batched or URBs out: data the guest was told had gone that the device has not had yet. */
  get busy(): boolean {
    return this.count > 0 || this.inFlight > 0 || this.heldBatches > 0;
  }

  /** Sends the batch as it is, and anything held (before a request that ends the stream). */
  flushNow(): void {
    this.flush();
    this.releaseHeld();
  }

  handle(packet: UsbPacket): void {
    const length = Math.min(packet.length, packet.data.length, MAX_ISO_PACKET);
    if (!this.started) {
      this.started = true;
      this.stats.starts++;
    }
    if (this.count === 0) this.flushTimer.arm(this.clock.now() + this.o.urbPackets + 2);
    copy(packet.data, 0, this.batch, this.bytes, length);
    this.lengths[this.count] = length;
    this.bytes += length;
    this.count++;
    packet.actualLength = length;
    packet.status = PacketStatus.Ack;
    if (this.count === this.o.urbPackets) this.flush();
  }

  /** The device is gone: the timer goes back to the clock. */
  dispose(): void {
    this.stop();
    this.flushTimer.dispose();
  }

  stop(): void {
    this.flushTimer.disarm();
    this.count = 0;
    this.bytes = 0;
    for (const urb of this.urbs) this.connection.unlink(urb);
    this.urbs.clear();
    this.inFlight = 0;
    this.expectedStart = -1;
    this.started = false;
    this.heldBatches = 0;
    this.leading = true;
  }

  private flush(): void {
    this.flushTimer.disarm();
    if (this.count === 0) return;
    const n = this.count;
    this.count = 0;
    const bytes = this.bytes;
    this.bytes = 0;
    if (this.leading) {
      const slot = this.heldBatches++;
      copy(this.batch, 0, this.held, slot * this.batch.length, bytes);
      for (let i = 0; i < n; i++) this.heldLengths[slot * this.o.urbPackets + i] = this.lengths[i]!;
      this.heldPackets[slot] = n;
      this.heldBytes[slot] = bytes;
      if (this.heldBatches === this.o.leadUrbs) this.releaseHeld();
      return;
    }
    this.send(this.batch, 0, n, bytes);
  }

  /** Sends the held batches in order; the stream then sends each batch as it fills. */
  private releaseHeld(): void {
    const batches = this.heldBatches;
    this.heldBatches = 0;
    this.leading = false;
    for (let slot = 0; slot < batches; slot++) {
      const n = this.heldPackets[slot]!;
      for (let i = 0; i < n; i++) this.lengths[i] = this.heldLengths[slot * this.o.urbPackets + i]!;
      this.send(this.held, slot * this.batch.length, n, this.heldBytes[slot]!);
    }
  }

  private send(data: Uint8Array, at: number, n: number, bytes: number): void {
    if (this.inFlight >= this.o.outUrbs) {
      this.stats.dropped += n;
      return;
    }
    const urb = this.connection.submit(this, 0, false, this.endpoint, bytes, {
      out: data,
      outAt: at,
      isoPackets: n,
      isoPacketLength: this.lengths,
    });
    if (urb === null) {
      this.stats.dropped += n;
      return;
    }
    this.urbs.add(urb);
    this.inFlight++;
    this.stats.urbs++;
    this.stats.packets += n;
  }

  urbCompleted(urb: Urb, reply: UrbReply): void {
    if (!this.urbs.delete(urb)) return;
    this.inFlight--;
    this.expectedStart = trackStartFrame(this.stats, this.expectedStart, reply);
    for (let i = 0; i < reply.numberOfPackets; i++) if (reply.isoStatus[i] !== 0) this.stats.packetErrors++;
    // The server's queue ran empty: the next data starts a new lead rather than trickling in one URB
    // deep.
    if (this.inFlight === 0) this.leading = true;
    if (!this.busy) this.onIdle?.();
  }
}
