import type { GuestMemory } from "../../machine/guest-memory.ts";
import { Pid, UsbSpeed } from "../../usb/constants.ts";
import type { UsbDevice } from "../../usb/device.ts";
import { PacketState, PacketStatus, type UsbPacket } from "../../usb/packet.ts";
import type { AsyncPairing, AsyncQueue } from "./async-queue.ts";
import { isDepthFirst, isTerminate, linkAddress, pointsToQh } from "./link-pointer.ts";
import { QH_ELEMENT_OFFSET } from "./queue-head.ts";
import { UsbSts } from "./registers.ts";
import {
  ctrlErrorCount,
  decodeLength,
  encodeLength,
  TD_CTRL_OFFSET,
  TdCtrl,
  TdToken,
  tokenAddress,
  tokenEndpoint,
  tokenMaxLenField,
  tokenPid,
} from "./transfer-descriptor.ts";

/** Why USBINT was raised, kept apart because USBINTR gates IOC and short packets separately (UHCI 2.1.3). */
export const UsbIntCause = {
  IOC: 1 << 0,
  SHORT_PACKET: 1 << 1,
} as const;

/** What the walker needs from the controller around it. */
export interface WalkerHost {
  readonly memory: GuestMemory;
  readonly asyncs: AsyncQueue;
  findDevice(address: number): UsbDevice | null;
  /**
   * A device's bus address changed during a control transfer (SET_ADDRESS takes effect at its status
   * stage, USB 2.0 9.4.6): the address table must be rebuilt before the next lookup.
   */
  devicesChanged(): void;
  /** A fresh packet to hand to a device (the previous one went async). */
  acquirePacket(): UsbPacket;
  /** A packet no device holds any more (completed and written back). */
  releasePacket(packet: UsbPacket): void;
  /** Sets USBSTS bits; HSE and HCPE also halt the controller. */
  raiseStatus(bits: number): void;
  /** Software debug mode (USBCMD.SWDBG): stop after each transaction. */
  readonly singleStep: boolean;
}

export interface WalkerLimits {
  /** Bytes moved per frame before the frame ends (QEMU and Bochs: 1280). */
  bandwidthBytesPerFrame: number;
  /** Links followed per frame before the frame ends, whatever the schedule (a hostile loop's bound). */
  maxLinkVisitsPerFrame: number;
}

/**
 * Isochronous completions that arrived for a request still in flight but were not written, by reason
 * (the ticket was live; stale tickets are counted by the packet pool).
 */
export class IsoDropCounters {
  /** The guest had rewritten or deactivated the TD meanwhile (a new transaction lives there now). */
  rewritten = 0;
  /**
   * The TD is no longer reached from the frame that asked for it, within a frame's link budget: the
   * guest retired it (and may resubmit it elsewhere), or hid it deeper than any walk would go.
   */
  unlinked = 0;
}

const Outcome = {
  /** The TD did not complete (inactive, NAK, error, async in flight, short with SPD): next QH. */
  NotAdvanced: 0,
  /** The TD completed: a queue advances its element pointer. */
  Advanced: 1,
  /** The frame ends here (halt, bandwidth, babble, single step). */
  StopFrame: 2,
} as const;
type Outcome = (typeof Outcome)[keyof typeof Outcome];

/** How a {@link FrameWalker.scan} ended. */
const Scan = {
  /** The schedule ended (a terminate link, or a QH met again: everything reachable was seen). */
  End: 0,
  /** The TD looked for was reached. */
  Found: 1,
  /** The budget, the QH table or a DMA fault stopped it first: the rest is unknown. */
  Incomplete: 2,
} as const;
type Scan = (typeof Scan)[keyof typeof Scan];

/** QHs remembered per frame for loop detection; a schedule with more distinct QHs just ends its frame. */
const QH_SEEN_CAPACITY = 128;

/** A `qh` value meaning "not inside a queue". */
const NO_QH = -1;

/**
 * Walks one frame of the schedule (UHCI 3.4): the frame list entry, then TDs and QHs, horizontally
 * and (with Vf) vertically, executing active TDs against devices and writing results back.
 *
 * It writes to guest memory only where the schedule points: a TD's control/status word, a QH's element
 * link, and the data buffer of an IN TD.
 *
 * Descriptor words are kept as int32 (`| 0` as they are read): a token whose MaxLen is 0x7FF, or a
 * link above 2 GiB, is a uint32 of 2^31 or more, which V8 keeps as a heap number — 16 bytes allocated
 * each time one is passed around. Every GuestMemory.write32 takes either form (it stores `value >>> 0`).
 * Whether a descriptor lies in RAM is checked once against `memory.size` (GuestMemory: RAM is
 * [0, size), anything else is a DMA fault) instead of comparing each word with DMA_FAULT: those
 * comparisons, with a value V8 cannot fold, cost a tenth of the time of a frame of inactive TDs.
 */
export class FrameWalker {
  /** USBINT causes collected during this frame, raised at its end (UHCI 3.2.2 IOC). */
  pendingInterrupts = 0;
  /** Links followed in the last frame. */
  linkVisits = 0;
  /** Bytes moved in the last frame. */
  frameBytes = 0;
  /** Set when the last frame stopped after one transaction in software debug mode. */
  stepped = false;
  /** Late isochronous completions not written, by reason. */
  readonly isoDropped = new IsoDropCounters();
  /** Set when the walk should stop: the controller halted or single-stepped. */
  private halted = false;
  /** USBCMD.SWDBG as the frame began (no register can change while a frame is walked). */
  private singleStep = false;
  private tdsSinceLoopCheck = 0;
  private readonly qhSeen = new Uint32Array(QH_SEEN_CAPACITY);
  private qhSeenCount = 0;
  /** {@link scan}'s own QH table (a scan can run while a walk is under way). */
  private readonly scanSeen = new Uint32Array(QH_SEEN_CAPACITY);
  /** The QH whose element the TD a {@link scan} found is ({@link NO_QH}: reached horizontally). */
  private scanFoundQh = NO_QH;
  private packet: UsbPacket;
  /** The frame list entry of the frame being walked. */
  private frameEntry = 0;

  constructor(
    private readonly host: WalkerHost,
    readonly limits: WalkerLimits,
  ) {
    this.packet = host.acquirePacket();
  }

  /** Runs the schedule of one frame; `frameListEntryAddress` is FRBASEADD + 4 × (FRNUM mod 1024). */
  walkFrame(frameListEntryAddress: number): void {
    this.linkVisits = 0;
    this.frameBytes = 0;
    this.halted = false;
    this.stepped = false;
    this.tdsSinceLoopCheck = 0;
    this.qhSeenCount = 0;
    this.frameEntry = frameListEntryAddress;
    this.singleStep = this.host.singleStep;
    const memory = this.host.memory;

    const ramSize = memory.size;
    if (frameListEntryAddress + 4 > ramSize) {
      this.fail(UsbSts.HSE);
      return;
    }
    let link = memory.read32(frameListEntryAddress) | 0;
    let qh = NO_QH;
    let qhHead = 0;

    while (!isTerminate(link) && !this.halted) {
      if (this.linkVisits >= this.limits.maxLinkVisitsPerFrame) {
        this.stoppedEarly(link, qh, qhHead);
        return;
      }
      this.linkVisits++;
      const address = linkAddress(link);

      if (pointsToQh(link)) {
        const seen = this.noteQh(address);
        if (seen !== Scan.End) {
          // A QH met again with nothing done since: the walk has been everywhere it can go (End). A
          // table full of distinct QHs: the rest of the schedule was not seen (Incomplete).
          if (seen === Scan.Incomplete) this.stoppedEarly(link, NO_QH, 0);
          return;
        }
        if (address + 8 > ramSize) {
          this.fail(UsbSts.HSE);
          return;
        }
        const head = memory.read32(address) | 0;
        const element = memory.read32(address + QH_ELEMENT_OFFSET) | 0;
        if (isTerminate(element)) {
          link = head;
          qh = NO_QH;
        } else {
          qh = address;
          qhHead = head;
          link = element;
        }
        continue;
      }

      if (address + 16 > ramSize) {
        this.fail(UsbSts.HSE);
        return;
      }
      const tdLink = memory.read32(address) | 0;
      const outcome = this.executeTd(
        address,
        memory.read32(address + 4) | 0,
        memory.read32(address + 8) | 0,
        memory.read32(address + 12) | 0,
      );
      if (outcome === Outcome.StopFrame) {
        if (!this.halted) this.stoppedEarly(link, qh, qhHead);
        return;
      }
      if (outcome === Outcome.Advanced && qh !== NO_QH) {
        // UHCI 3.4.2: a completed TD advances its queue; Vf says whether to stay in this queue.
        if (!memory.write32(qh + QH_ELEMENT_OFFSET, tdLink)) {
          this.fail(UsbSts.HSE);
          return;
        }
        if (isDepthFirst(tdLink) && !isTerminate(tdLink)) {
          link = tdLink;
        } else {
          link = qhHead;
          qh = NO_QH;
        }
      } else if (qh !== NO_QH) {
        link = qhHead;
        qh = NO_QH;
      } else {
        link = tdLink;
      }
    }
  }

  /**
   * The frame ended before its schedule did (the bandwidth cap, the link budget, babble, a table full of
   * QHs) at `link` — a TD inside queue `qh` (whose head is `qhHead`), or anything outside one. Async
   * requests whose TDs lie further along were not met, yet are still linked. QEMU ages every request
   * each frame whether or not its walk got that far, so a request behind a busy bulk queue that fills
   * every frame is cancelled after 32 frames and reissued — a passthrough IN's data read from the real
   * device is lost, an OUT sent twice. Here the rest of the schedule is looked through without
   * executing anything (nothing is written, no device is asked), refreshing the requests it still
   * leads to, before the frame ages the others (AsyncQueue.endFrame). The look has a frame's link budget
   * of its own, so a TD up to twice the budget into the schedule keeps its request. Further than that
   * (no driver builds such a schedule; a hostile one can) the frame ages what it did not reach, as
   * before: leaving such requests unaged would let a guest that ends every frame on the budget pile up
   * requests without bound.
   */
  private stoppedEarly(link: number, qh: number, qhHead: number): void {
    if (this.host.asyncs.unmet === 0) return;
    this.scan(link, qh, qhHead, -1);
  }

  /**
   * Follows the schedule from `link` as a walk would if no TD completed — horizontally, into each
   * queue's current element and back out to its head (`qh`, `qhHead`: `link` is inside that queue) —
   * without executing or writing anything. With `target` ≥ 0 it looks for that TD (the QH it is the
   * element of goes to {@link scanFoundQh}); otherwise it refreshes the async requests of the TDs it
   * meets. A QH met twice ends it (its loop has been seen); at most maxLinkVisitsPerFrame links.
   */
  private scan(link: number, qh: number, qhHead: number, target: number): Scan {
    const memory = this.host.memory;
    const ramSize = memory.size;
    const asyncs = this.host.asyncs;
    let seenCount = 0;
    for (let budget = this.limits.maxLinkVisitsPerFrame; !isTerminate(link); budget--) {
      if (budget <= 0) return Scan.Incomplete;
      const address = linkAddress(link);
      if (pointsToQh(link)) {
        for (let i = 0; i < seenCount; i++) if (this.scanSeen[i] === address) return Scan.End;
        if (seenCount >= QH_SEEN_CAPACITY) return Scan.Incomplete;
        this.scanSeen[seenCount++] = address;
        if (address + 8 > ramSize) return Scan.Incomplete;
        const head = memory.read32(address) | 0;
        const element = memory.read32(address + QH_ELEMENT_OFFSET) | 0;
        if (isTerminate(element)) {
          link = head;
          qh = NO_QH;
        } else if (pointsToQh(element)) {
          // As the walk does: a QH as element is entered like any QH, and its own head is where the
          // walk goes on (this queue's head is not come back to).
          link = element;
          qh = NO_QH;
        } else {
          link = element;
          qh = address;
          qhHead = head;
        }
        continue;
      }
      if (address === target) {
        this.scanFoundQh = qh;
        return Scan.Found;
      }
      if (address + 16 > ramSize) return Scan.Incomplete;
      const tdLink = memory.read32(address) | 0;
      if (target < 0) {
        const ctrl = memory.read32(address + 4) | 0;
        const token = memory.read32(address + 8) | 0;
        const buffer = memory.read32(address + 12) | 0;
        if (ctrl & TdCtrl.ACTIVE) {
          const isochronous = (ctrl & TdCtrl.IOS) !== 0;
          const pairing = asyncs.find(address, token, buffer, isochronous);
          // An iso request belongs to the frame that made it; met from another frame it is the walk's
          // to judge (executeTd), not this look's.
          if (pairing !== null && (!isochronous || pairing.frameEntry === this.frameEntry)) {
            asyncs.refresh(pairing);
            if (asyncs.unmet === 0) return Scan.End;
          }
        }
      }
      if (qh !== NO_QH) {
        link = qhHead;
        qh = NO_QH;
      } else {
        link = tdLink;
      }
    }
    return Scan.End;
  }

  /**
   * Remembers a QH met in this frame. Meeting one twice is a loop: legal when it is bandwidth
   * reclamation with work in it (the walk goes on until the frame's bandwidth or link budget ends),
   * the end of the frame when nothing was executed since the last time round (QEMU does the same).
   * Returns End to go on, Found for an idle loop (the frame ends: everything was seen), Incomplete when
   * the table is full of distinct QHs (the frame ends before the rest of the schedule).
   */
  private noteQh(address: number): Scan {
    for (let i = 0; i < this.qhSeenCount; i++) {
      if (this.qhSeen[i] === address) {
        if (this.tdsSinceLoopCheck === 0) return Scan.Found;
        this.tdsSinceLoopCheck = 0;
        this.qhSeenCount = 0;
        break;
      }
    }
    if (this.qhSeenCount >= QH_SEEN_CAPACITY) {
      if (this.tdsSinceLoopCheck === 0) return Scan.Incomplete;
      this.tdsSinceLoopCheck = 0;
      this.qhSeenCount = 0;
    }
    this.qhSeen[this.qhSeenCount++] = address;
    return Scan.End;
  }

  private fail(bits: number): void {
    this.halted = true;
    this.host.raiseStatus(bits);
  }

  private executeTd(address: number, ctrl: number, token: number, buffer: number): Outcome {
    const asyncs = this.host.asyncs;
    // With no request out (every synchronous device, a stick included) the two lookups below find nothing:
    // skipped, as a 64 KiB frame of an uncapped stick read meets 1024 TDs.
    const anyOut = asyncs.size !== 0;
    if (!(ctrl & TdCtrl.ACTIVE)) {
      // The guest took back a TD whose request is still out: cancel it (Linux unlinking an URB).
      const stale = anyOut ? asyncs.findByTd(address) : null;
      if (stale !== null) asyncs.cancel(stale);
      // UHCI 3.2.2 IOC: even a TD fetched with Active already clear raises IOC at the end of the frame.
      // Linux uhci-hcd relies on it: it sets IOC on its inactive terminating TD to get an interrupt at
      // the next frame boundary when it unlinks a queue (uhci_set_next_interrupt).
      if (ctrl & TdCtrl.IOC) this.pendingInterrupts |= UsbIntCause.IOC;
      return Outcome.NotAdvanced;
    }

    const pid = tokenPid(token);
    const maxLenField = tokenMaxLenField(token);
    // UHCI 3.2.3: a PID other than SETUP/IN/OUT, or MaxLen 0x500..0x7FE, is a consistency error.
    if (
      (pid !== Pid.Setup && pid !== Pid.In && pid !== Pid.Out) ||
      (maxLenField >= TdToken.MAXLEN_FIRST_ILLEGAL && maxLenField !== TdToken.MAXLEN_NULL)
    ) {
      this.fail(UsbSts.HCPE);
      return Outcome.StopFrame;
    }
    if (this.frameBytes >= this.limits.bandwidthBytesPerFrame) return Outcome.StopFrame;

    const isochronous = (ctrl & TdCtrl.IOS) !== 0;
    const maxLen = decodeLength(maxLenField);

    let pairing = anyOut ? asyncs.find(address, token, buffer, isochronous) : null;
    if (
      pairing !== null &&
      isochronous &&
      pairing.frameEntry !== this.frameEntry &&
      !this.frameLeadsTo(pairing.frameEntry, address)
    ) {
      // The iso TD left the frame it was asked in and is back in another one, unchanged: the guest saw
      // it missed, retired it and resubmitted it (Linux uhci-hcd reuses TDs, snd-usb-audio its buffers).
      // A new transaction; the old request is cancelled just below.
      pairing = null;
    }
    if (pairing !== null) {
      asyncs.refresh(pairing);
      const packet = pairing.packet!;
      if (packet.state === PacketState.Async) return Outcome.NotAdvanced;
      const answered = pairing.device;
      if (packet.endpoint === 0 && answered !== null && answered.address !== packet.address) {
        this.host.devicesChanged();
      }
      asyncs.release(pairing);
      const outcome = this.writeBack(address, ctrl, buffer, maxLen, packet);
      this.host.releasePacket(packet);
      return this.afterTransaction(outcome);
    }
    const stale = anyOut ? asyncs.findByTd(address) : null;
    if (stale !== null) asyncs.cancel(stale);

    const packet = this.packet;
    packet.init(pid, tokenAddress(token), tokenEndpoint(token), maxLen, isochronous);
    if (pid !== Pid.In && maxLen > 0 && !this.host.memory.read(buffer >>> 0, packet.data, maxLen)) {
      this.fail(UsbSts.HSE);
      return Outcome.StopFrame;
    }
    const device = this.host.findDevice(packet.address);
    if (device === null || ((ctrl & TdCtrl.LS) !== 0) !== (device.speed === UsbSpeed.Low)) {
      // No device answers: none has the address, or the TD's speed is not the device's (UHCI 3.2.2,
      // LS). A low-speed device behind a hub hears only packets sent at low speed after a PRE, which
      // the controller sends for TDs with LS set (USB 2.0 8.6.5, 11.8.4), and a full-speed device does
      // not decode low-speed signalling; on a root port the port's speed is the device's. Either way
      // the transaction times out.
      packet.status = PacketStatus.IoError;
    } else {
      device.handlePacket(packet);
      if (packet.endpoint === 0 && device.address !== packet.address) this.host.devicesChanged();
    }
    if (packet.state === PacketState.Async) {
      // (Only a device that was handed the packet can have deferred it, so device is not null here.)
      const paired = asyncs.add(address, token, buffer, isochronous, device!, packet, this.frameEntry);
      if (isochronous) packet.onComplete = this.isoCompletionOf(paired);
      this.packet = this.host.acquirePacket();
      return Outcome.NotAdvanced;
    }
    packet.finish();
    return this.afterTransaction(this.writeBack(address, ctrl, buffer, maxLen, packet));
  }

  /**
   * The completion callback of an iso request: one closure per pairing object, made the first time it
   * carries an iso request and kept with it (pairings are reused), so that streaming allocates nothing
   * per request. (Made here, not in executeTd: a closure there would give every call of executeTd a
   * context to allocate.)
   */
  private isoCompletionOf(pairing: AsyncPairing): (packet: UsbPacket) => void {
    let callback = pairing.onIsoComplete;
    if (callback === null) {
      callback = (packet) => this.completeIsochronous(pairing, packet);
      pairing.onIsoComplete = callback;
    }
    return callback;
  }

  private afterTransaction(outcome: Outcome): Outcome {
    this.tdsSinceLoopCheck++;
    if (this.singleStep && !this.halted) {
      this.halted = true;
      this.stepped = true;
      return Outcome.StopFrame;
    }
    return this.halted ? Outcome.StopFrame : outcome;
  }

  /**
   * The seed's point 3: an isochronous TD is completed inside the device's completion call, so its
   * data is in guest memory (and IOC raised) at once rather than when the frame list comes round again.
   *
   * The TD is read back first and written only if it is still the one that asked — active, same token
   * and buffer — and still reached from the frame that asked, wherever the guest linked it there
   * (after any number of TDs and QHs, or as a queue's element, within a frame's link budget). Otherwise
   * the guest has recycled it, or counted it missed and may resubmit it for a later frame: the answer
   * is dropped and counted ({@link isoDropped}). Everything needed from the pairing is read before it
   * is released (the next request reuses it).
   */
  private completeIsochronous(pairing: AsyncPairing, packet: UsbPacket): void {
    // The packet's ticket was live, so its pairing is too; checked anyway, as nothing else may be
    // written for a pairing that has moved on.
    if (!pairing.inUse || pairing.packet !== packet) return;
    const address = pairing.tdAddress;
    const askedToken = pairing.token;
    const askedBuffer = pairing.buffer;
    const frameEntry = pairing.frameEntry;
    this.host.asyncs.release(pairing);

    const memory = this.host.memory;
    const inRam = address + 16 <= memory.size;
    const tdLink = inRam ? memory.read32(address) | 0 : 0;
    const ctrl = inRam ? memory.read32(address + 4) | 0 : 0;
    if (
      !inRam ||
      !(ctrl & TdCtrl.ACTIVE) ||
      !(ctrl & TdCtrl.IOS) ||
      (memory.read32(address + 8) | 0) !== askedToken ||
      (memory.read32(address + 12) | 0) !== askedBuffer
    ) {
      this.isoDropped.rewritten++;
    } else if (!this.frameLeadsTo(frameEntry, address)) {
      this.isoDropped.unlinked++;
    } else {
      const qh = this.scanFoundQh;
      const maxLen = decodeLength(tokenMaxLenField(askedToken));
      const outcome = this.writeBack(address, ctrl, askedBuffer, maxLen, packet);
      // A queue whose element it is advances, as it would have had the TD completed in its walk
      // (UHCI 3.4.2); otherwise the queue would sit behind a TD that is no longer active.
      if (outcome === Outcome.Advanced && qh !== NO_QH && !memory.write32(qh + QH_ELEMENT_OFFSET, tdLink)) {
        this.fail(UsbSts.HSE);
      }
    }
    this.host.releasePacket(packet);
    this.onAsyncCompletion?.();
  }

  /**
   * Whether the schedule from frame list entry `entry` still reaches the TD at `td` (see {@link scan};
   * the QH it is the element of, if any, is left in {@link scanFoundQh}). Asked only about an iso TD with
   * a request out: when it completes, or when a walk meets it from a frame other than the one that asked.
   */
  private frameLeadsTo(entry: number, td: number): boolean {
    const memory = this.host.memory;
    if (entry + 4 > memory.size) return false;
    return this.scan(memory.read32(entry) | 0, NO_QH, 0, td) === Scan.Found;
  }

  /** Told after an async completion wrote to guest memory (the controller raises interrupts then). */
  onAsyncCompletion: (() => void) | null = null;

  /**
   * Writes a finished transaction back into its TD (UHCI 3.2.2) and, for IN, its data into the buffer.
   * Returns whether a queue may advance past it.
   */
  private writeBack(
    address: number,
    ctrl: number,
    buffer: number,
    maxLen: number,
    packet: UsbPacket,
  ): Outcome {
    const memory = this.host.memory;
    const isochronous = (ctrl & TdCtrl.IOS) !== 0;
    let status = ctrl & ~(TdCtrl.STATUS_MASK | TdCtrl.ACTLEN_MASK);
    let outcome: Outcome = Outcome.NotAdvanced;
    let moved = 0;

    switch (packet.status) {
      case PacketStatus.Ack: {
        moved = packet.pid === Pid.In ? packet.actualLength : maxLen;
        if (moved > maxLen) {
          status |= TdCtrl.BABBLE | TdCtrl.STALLED;
          status &= ~TdCtrl.ACTIVE;
          this.host.raiseStatus(UsbSts.USBERRINT);
          moved = maxLen;
          // UHCI 3.2.2 Babble Detected: babble terminates the current frame; no further TDs run in it.
          outcome = Outcome.StopFrame;
          break;
        }
        if (packet.pid === Pid.In && moved > 0 && !memory.write(buffer >>> 0, packet.data, moved)) {
          this.fail(UsbSts.HSE);
          return Outcome.StopFrame;
        }
        status &= ~TdCtrl.ACTIVE;
        outcome = Outcome.Advanced;
        // UHCI 3.2.2 SPD: a short IN on a TD with SPD set stops the queue and raises a short packet
        // interrupt; isochronous TDs have no queue and no short packet detection.
        if (packet.pid === Pid.In && moved < maxLen && ctrl & TdCtrl.SPD && !isochronous) {
          this.pendingInterrupts |= UsbIntCause.SHORT_PACKET;
          outcome = Outcome.NotAdvanced;
        }
        break;
      }
      case PacketStatus.Nak:
        if (packet.pid === Pid.Setup && !isochronous) {
          // UHCI 3.2.2 NAK Received: a NAK to a SETUP is also reported as a time-out error (and
          // counted in C_ERR like one).
          status = this.countError(status | TdCtrl.NAK | TdCtrl.CRC_TIMEOUT, ctrl);
        } else if (isochronous) {
          // No handshake on isochronous: a device with nothing to say timed out (UHCI 3.2.2).
          status = (status | TdCtrl.CRC_TIMEOUT) & ~TdCtrl.ACTIVE;
          this.host.raiseStatus(UsbSts.USBERRINT);
        } else {
          // Retried in a later frame; the TD stays active and the queue does not advance.
          status |= TdCtrl.NAK;
        }
        break;
      case PacketStatus.Stall:
        status = (status | TdCtrl.STALLED) & ~TdCtrl.ACTIVE;
        // UHCI 3.2.2 Stalled: a STALL to a SETUP is also reported as a time-out error.
        if (packet.pid === Pid.Setup) status |= TdCtrl.CRC_TIMEOUT;
        this.host.raiseStatus(UsbSts.USBERRINT);
        break;
      case PacketStatus.Babble:
        status = (status | TdCtrl.BABBLE | TdCtrl.STALLED) & ~TdCtrl.ACTIVE;
        this.host.raiseStatus(UsbSts.USBERRINT);
        outcome = Outcome.StopFrame; // as above: babble ends the frame
        break;
      default: {
        // UHCI 3.2.2: a bit-stuffing error has its own bit (17); a bad CRC and a time-out (no device,
        // no answer, an I/O error) share bit 18. Both count down C_ERR (design guide 4, transaction
        // errors); isochronous TDs are never retried, so for them the error is final at once.
        const error = packet.status === PacketStatus.BitStuff ? TdCtrl.BITSTUFF : TdCtrl.CRC_TIMEOUT;
        if (isochronous) {
          status = (status | error) & ~TdCtrl.ACTIVE;
          this.host.raiseStatus(UsbSts.USBERRINT);
        } else {
          status = this.countError(status | error, ctrl);
        }
      }
    }

    status |= encodeLength(moved);
    if (!(status & TdCtrl.ACTIVE)) {
      this.frameBytes += moved;
      if (ctrl & TdCtrl.IOC) this.pendingInterrupts |= UsbIntCause.IOC;
    }
    if (!memory.write32(address + TD_CTRL_OFFSET, status)) {
      this.fail(UsbSts.HSE);
      return Outcome.StopFrame;
    }
    return outcome;
  }

  /**
   * UHCI 3.2.2 C_ERR: a failed transaction counts the error down; reaching 0 makes it final (Stalled,
   * inactive, USBERRINT), keeping the bit of the error that did it. A count of 0 means "no limit".
   * STALL, babble and NAK are not counted.
   */
  private countError(status: number, ctrl: number): number {
    let errors = ctrlErrorCount(ctrl);
    if (errors === 0) return status;
    errors--;
    status = (status & ~TdCtrl.CERR_MASK) | (errors << TdCtrl.CERR_SHIFT);
    if (errors === 0) {
      status = (status | TdCtrl.STALLED) & ~TdCtrl.ACTIVE;
      this.host.raiseStatus(UsbSts.USBERRINT);
    }
    return status;
  }
}
