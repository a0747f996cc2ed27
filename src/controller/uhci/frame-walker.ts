import { DMA_FAULT, type GuestMemory } from "../../machine/guest-memory.ts";
import { Pid } from "../../usb/constants.ts";
import type { UsbDevice } from "../../usb/device.ts";
import { PacketState, PacketStatus, type UsbPacket } from "../../usb/packet.ts";
import { ASYNC_VALID_FRAMES, type AsyncQueue } from "./async-queue.ts";
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
  /** A fresh packet to hand to a device (the previous one went async). */
  acquirePacket(): UsbPacket;
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

const Outcome = {
  /** The TD did not complete (inactive, NAK, error, async in flight, short with SPD): next QH. */
  NotAdvanced: 0,
  /** The TD completed: a queue advances its element pointer. */
  Advanced: 1,
  /** The frame ends here (halt, bandwidth, single step). */
  StopFrame: 2,
} as const;
type Outcome = (typeof Outcome)[keyof typeof Outcome];

/** QHs remembered per frame for loop detection; a schedule with more distinct QHs just ends its frame. */
const QH_SEEN_CAPACITY = 128;

/**
 * Links followed from a frame list entry when checking that it still leads to an iso TD. Iso TDs come
 * first in a frame, ahead of the queues (UHCI design guide 1.3), so a few links suffice; the bound keeps
 * a looping schedule harmless.
 */
const ISO_FRAME_SEARCH_LINKS = 64;

/**
 * Walks one frame of the schedule (UHCI 3.4): the frame list entry, then TDs and QHs, horizontally
 * and (with Vf) vertically, executing active TDs against devices and writing results back.
 *
 * It writes to guest memory only where the schedule points: a TD's control/status word, a QH's element
 * link, and the data buffer of an IN TD.
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
  /** Set when the walk should stop: the controller halted or single-stepped. */
  private halted = false;
  private tdsSinceLoopCheck = 0;
  private readonly qhSeen = new Uint32Array(QH_SEEN_CAPACITY);
  private qhSeenCount = 0;
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
    const memory = this.host.memory;

    let link = memory.read32(frameListEntryAddress);
    if (link === DMA_FAULT) {
      this.fail(UsbSts.HSE);
      return;
    }
    let qh = -1;
    let qhHead = 0;

    while (!isTerminate(link) && !this.halted) {
      if (this.linkVisits >= this.limits.maxLinkVisitsPerFrame) return;
      this.linkVisits++;
      const address = linkAddress(link);

      if (pointsToQh(link)) {
        if (!this.noteQh(address)) return;
        const head = memory.read32(address);
        const element = memory.read32(address + QH_ELEMENT_OFFSET);
        if (head === DMA_FAULT || element === DMA_FAULT) {
          this.fail(UsbSts.HSE);
          return;
        }
        if (isTerminate(element)) {
          link = head;
          qh = -1;
        } else {
          qh = address;
          qhHead = head;
          link = element;
        }
        continue;
      }

      const tdLink = memory.read32(address);
      const ctrl = memory.read32(address + 4);
      const token = memory.read32(address + 8);
      const buffer = memory.read32(address + 12);
      if (tdLink === DMA_FAULT || ctrl === DMA_FAULT || token === DMA_FAULT || buffer === DMA_FAULT) {
        this.fail(UsbSts.HSE);
        return;
      }
      const outcome = this.executeTd(address, ctrl, token, buffer);
      if (outcome === Outcome.StopFrame) return;
      if (outcome === Outcome.Advanced && qh >= 0) {
        // UHCI 3.4.2: a completed TD advances its queue; Vf says whether to stay in this queue.
        if (!memory.write32(qh + QH_ELEMENT_OFFSET, tdLink)) {
          this.fail(UsbSts.HSE);
          return;
        }
        if (isDepthFirst(tdLink) && !isTerminate(tdLink)) {
          link = tdLink;
        } else {
          link = qhHead;
          qh = -1;
        }
      } else if (qh >= 0) {
        link = qhHead;
        qh = -1;
      } else {
        link = tdLink;
      }
    }
  }

  /**
   * Remembers a QH met in this frame. Meeting one twice is a loop: legal when it is bandwidth
   * reclamation with work in it (the walk goes on until the frame's bandwidth or link budget ends),
   * the end of the frame when nothing was executed since the last time round (QEMU does the same).
   */
  private noteQh(address: number): boolean {
    for (let i = 0; i < this.qhSeenCount; i++) {
      if (this.qhSeen[i] === address) {
        if (this.tdsSinceLoopCheck === 0) return false;
        this.tdsSinceLoopCheck = 0;
        this.qhSeenCount = 0;
        break;
      }
    }
    if (this.qhSeenCount >= QH_SEEN_CAPACITY) {
      if (this.tdsSinceLoopCheck === 0) return false;
      this.tdsSinceLoopCheck = 0;
      this.qhSeenCount = 0;
    }
    this.qhSeen[this.qhSeenCount++] = address;
    return true;
  }

  private fail(bits: number): void {
    this.halted = true;
    this.host.raiseStatus(bits);
  }

  private executeTd(address: number, ctrl: number, token: number, buffer: number): Outcome {
    const asyncs = this.host.asyncs;
    if (!(ctrl & TdCtrl.ACTIVE)) {
      // The guest took back a TD whose request is still out: cancel it (Linux unlinking an URB).
      const stale = asyncs.findByTd(address);
      if (stale !== null) this.recycle(asyncs.cancel(stale));
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

    let pairing = asyncs.find(address, token, buffer, isochronous);
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
      pairing.valid = ASYNC_VALID_FRAMES;
      const packet = pairing.packet!;
      if (packet.state === PacketState.Async) return Outcome.NotAdvanced;
      asyncs.release(pairing);
      const outcome = this.writeBack(address, ctrl, buffer, maxLen, packet);
      this.recycle(packet);
      return this.afterTransaction(outcome);
    }
    const stale = asyncs.findByTd(address);
    if (stale !== null) this.recycle(asyncs.cancel(stale));

    const packet = this.packet;
    packet.init(pid, tokenAddress(token), tokenEndpoint(token), maxLen, isochronous);
    if (pid !== Pid.In && maxLen > 0 && !this.host.memory.read(buffer, packet.data, maxLen)) {
      this.fail(UsbSts.HSE);
      return Outcome.StopFrame;
    }
    const device = this.host.findDevice(packet.address);
    if (device === null) {
      packet.status = PacketStatus.IoError;
    } else {
      device.handlePacket(packet);
    }
    if (packet.state === PacketState.Async) {
      asyncs.add(address, token, buffer, isochronous, device!, packet, this.frameEntry);
      if (isochronous) packet.onComplete = this.completeIsochronous;
      this.packet = this.host.acquirePacket();
      return Outcome.NotAdvanced;
    }
    packet.finish();
    return this.afterTransaction(this.writeBack(address, ctrl, buffer, maxLen, packet));
  }

  private afterTransaction(outcome: Outcome): Outcome {
    this.tdsSinceLoopCheck++;
    if (this.host.singleStep && !this.halted) {
      this.halted = true;
      this.stepped = true;
      return Outcome.StopFrame;
    }
    return this.halted ? Outcome.StopFrame : outcome;
  }

  private recycle(packet: UsbPacket | null): void {
    if (packet !== null && packet !== this.packet) this.host.releasePacket(packet);
  }

  /**
   * The seed's point 3: an isochronous TD is completed inside the device's completion call, so its
   * data is in guest memory (and IOC raised) at once rather than when the frame list comes round again.
   * The TD is read back first: if the guest recycled it meanwhile, the stale completion is dropped —
   * also when only its frame changed (same TD, token and buffer no longer reached from the frame that
   * asked: the guest already counted it missed and may have resubmitted it for a later frame).
   */
  private readonly completeIsochronous = (packet: UsbPacket): void => {
    const asyncs = this.host.asyncs;
    const pairing = asyncs.findByPacket(packet);
    if (pairing === null) return;
    const memory = this.host.memory;
    const address = pairing.tdAddress;
    const ctrl = memory.read32(address + 4);
    const token = memory.read32(address + 8);
    const buffer = memory.read32(address + 12);
    asyncs.release(pairing);
    if (
      ctrl !== DMA_FAULT &&
      ctrl & TdCtrl.ACTIVE &&
      ctrl & TdCtrl.IOS &&
      token === pairing.token &&
      buffer === pairing.buffer &&
      this.frameLeadsTo(pairing.frameEntry, address)
    ) {
      this.writeBack(address, ctrl, buffer, decodeLength(tokenMaxLenField(token)), packet);
    }
    this.host.releasePacket(packet);
    this.onAsyncCompletion?.();
  };

  /**
   * Whether the schedule from frame list entry `entry` still reaches the TD at `td`, following horizontal
   * links only (TD link, QH head). Asked only about an iso TD with a request out: when it completes, or
   * when a walk meets it from a frame other than the one that asked.
   */
  private frameLeadsTo(entry: number, td: number): boolean {
    const memory = this.host.memory;
    let link = memory.read32(entry);
    for (let i = 0; i < ISO_FRAME_SEARCH_LINKS && link !== DMA_FAULT && !isTerminate(link); i++) {
      const address = linkAddress(link);
      if (address === td && !pointsToQh(link)) return true;
      link = memory.read32(address);
    }
    return false;
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
        if (packet.pid === Pid.In && moved > 0 && !memory.write(buffer, packet.data, moved)) {
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
      default:
        // Timeout/CRC (no device, or an I/O error). Isochronous TDs are never retried.
        if (isochronous) {
          status = (status | TdCtrl.CRC_TIMEOUT) & ~TdCtrl.ACTIVE;
          this.host.raiseStatus(UsbSts.USBERRINT);
        } else {
          status = this.countError(status | TdCtrl.CRC_TIMEOUT, ctrl);
        }
    }

    status |= encodeLength(moved);
    if (!(status & TdCtrl.ACTIVE)) {
      this.frameBytes += moved;
      if (ctrl & TdCtrl.IOC) this.pendingInterrupts |= UsbIntCause.IOC;
    }
    if (!memory.write32(address + TD_CTRL_OFFSET, status >>> 0)) {
      this.fail(UsbSts.HSE);
      return Outcome.StopFrame;
    }
    return outcome;
  }

  /**
   * UHCI 3.2.2 C_ERR: a failed transaction counts the error down; reaching 0 makes it final (Stalled,
   * inactive, USBERRINT). A count of 0 means "no limit". STALL, babble and NAK are not counted.
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
