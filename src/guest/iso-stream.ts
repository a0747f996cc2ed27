import { MAX_ISO_PACKET, Pid } from "../usb/constants.ts";
import type { DriverContext, ScanTarget } from "./driver-context.ts";
import type { QueueDevice } from "./endpoint-queue.ts";
import { IsoFrameCounter } from "./iso-frame-counter.ts";
import {
  ISO_MISSED_CODE,
  ISO_OK_CODE,
  ISO_STATUS_BY_CODE,
  type IsoPacket,
  IsoPacketStatus,
  isoStatusCode,
} from "./iso-packet.ts";
import { IsoPreset } from "./iso-presets.ts";
import { createIsoStats, type IsoStreamStats } from "./iso-stats.ts";
import { type IsoUrbCompletion, IsoUrbSlot, IsoUrbStatus, type IsoUrbSubmission } from "./iso-urb.ts";
import { FRAME_LIST_ENTRIES } from "./schedule.ts";
import {
  decodeLengthField,
  encodeLengthField,
  LINK_TERMINATE,
  TdLayout,
  TdStatus,
  TdToken,
} from "./schedule-encoding.ts";

/**
 * An isochronous stream scheduled the way Linux uhci-hcd schedules one for snd-usb-audio:
 *
 * ```
 * frame:    f+10 f+11 f+12 f+13 f+14 | f+15 … f+19 | f+20 … | f+25 … f+29 |  (4 URBs × 5 packets)
 * URB:      A    A    A    A    A*   | B       B*  | C      | D       D*  |  * = IOC
 * frame list[f+10 & 1023] ─► TD A0 ─► skeleton QH …   (iso TDs first in their frame, UHCI 3.4.1)
 * ```
 *
 * - Each packet is one isochronous TD (IOS, C_ERR 0, UHCI 3.2.2) in one frame; only a URB's last TD
 *   has IOC, so the controller interrupts once per URB (uhci_submit_isochronous).
 * - ASAP scheduling: the first URB starts 10 frames after the current one ("allow a little time to
 *   allocate the TDs"); each later URB starts where the one queued before it ends. If that frame has
 *   already come, the URB starts at the next frame instead (URB_ISO_ASAP) and the gap is counted as a
 *   late restart. Nothing is ever queued 1024 or more frames ahead (the frame list wraps).
 * - On every interrupt the stream looks at its URBs in order (uhci_result_isochronous): a TD whose frame
 *   has passed is unlinked and read; still Active means the controller never ran it (missed, -EXDEV).
 *   A URB is given back once its last frame has passed, and from that completion it is submitted again
 *   at the end of the queue, as snd-usb-audio resubmits from its completion handler.
 *
 * Per packet the caller decides the size (`packetSize`, e.g. 44/45 samples at 44.1 kHz), fills OUT data
 * (`fill`) and receives IN data in order (`onData`). Callbacks run inside the driver's interrupt
 * service; they must not let machine time pass. Steady state allocates nothing: TDs, buffers, result
 * arrays and the records handed to callbacks are made once at open and reused.
 */

/** Frames between "now" and the first URB of a stream (uhci-hcd: frame_number + 10). */
export const ISO_START_DELAY_FRAMES = 10;

/** What to do with a URB whose continuation frame has already passed (uhci-hcd's two behaviours). */
export const IsoLateStart = {
  /** URB_ISO_ASAP, as snd-usb-audio submits: skip to the next frame (same phase); counted as a late restart. */
  Asap: "asap",
  /** Without URB_ISO_ASAP: keep the slots anyway; packets in frames already gone are missed (-EXDEV). */
  KeepSlot: "keep-slot",
} as const;
export type IsoLateStart = (typeof IsoLateStart)[keyof typeof IsoLateStart];

export const IsoStreamState = {
  Running: "running",
  /** The controller halted; everything in flight was given back with `controller-halted`. */
  Halted: "halted",
  Closed: "closed",
} as const;
export type IsoStreamState = (typeof IsoStreamState)[keyof typeof IsoStreamState];

/** The endpoint a stream runs on, as the device that owns it describes it. */
export interface IsoEndpoint {
  readonly device: QueueDevice;
  /** bEndpointAddress (bit 7 set for IN). */
  readonly address: number;
  /** wMaxPacketSize (1–1023 at full speed, USB 2.0 5.6.3). */
  readonly maxPacketSize: number;
  /** bInterval as the endpoint descriptor gives it. */
  readonly interval: number;
}

export interface IsoStreamOptions {
  /** URBs kept in flight (default 4, the seed's shape; see {@link IsoPreset}). */
  readonly urbs?: number;
  /** Packets (frames) per URB (default 5). */
  readonly packetsPerUrb?: number;
  /**
   * Bytes for packet `index` of the stream, scheduled in `frame`: 0 … wMaxPacketSize. Default:
   * wMaxPacketSize. Called at submission, in packet order.
   */
  readonly packetSize?: (index: number, frame: number) => number;
  /** OUT: fills a packet's data (`buffer` is exactly the packet's size; fill all of it). Default: zeros. */
  readonly fill?: (buffer: Uint8Array, index: number, frame: number) => void;
  /** IN: the bytes of every OK packet, in stream order (a view valid during the call). */
  readonly onData?: (data: Uint8Array, frame: number, index: number) => void;
  /** Every packet of every URB given back, OK or not, in stream order. */
  readonly onPacket?: (packet: IsoPacket) => void;
  readonly onUrbSubmit?: (urb: IsoUrbSubmission) => void;
  /** After the URB's packets were reported and before it is resubmitted. */
  readonly onUrbComplete?: (urb: IsoUrbCompletion) => void;
  /** The controller halted (HSE, HCPE…): the stream stopped. */
  readonly onHalt?: (reason: string) => void;
  /** Default {@link ISO_START_DELAY_FRAMES}. */
  readonly startDelayFrames?: number;
  /** Default {@link IsoLateStart.Asap}. */
  readonly lateStart?: IsoLateStart;
  /** Frames between packets; default from bInterval (2^(bInterval − 1), USB 2.0 9.6.6). */
  readonly periodFrames?: number;
  /** The clock for `submittedAt`/`seenAt` (e.g. `performance.now`); default the driver's elapsed ms. */
  readonly now?: () => number;
}

/** A full-speed isochronous endpoint's period in frames: 2^(bInterval − 1) (USB 2.0 9.6.6). */
export function isoPeriodFrames(bInterval: number): number {
  return 2 ** (Math.min(Math.max(bInterval, 1), 16) - 1);
}

/** The packet record handed to `onPacket` (reused). */
class PacketRecord implements IsoPacket {
  index = 0;
  frame = 0;
  status: IsoPacketStatus = IsoPacketStatus.Ok;
  length = 0;
  actualLength = 0;
  data: Uint8Array = new Uint8Array(0);
  tdAddress = 0;
  bufferAddress = 0;
}

export class IsoStream implements ScanTarget {
  readonly stats: IsoStreamStats = createIsoStats();
  readonly direction: "in" | "out";
  readonly urbCount: number;
  readonly packetsPerUrb: number;
  readonly periodFrames: number;
  private readonly slots: IsoUrbSlot[];
  /** Slot numbers in the order they were submitted: the URB queue, as a ring. */
  private readonly order: Int32Array;
  private head = 0;
  private count = 0;
  private readonly frames: IsoFrameCounter;
  /** Where the next URB continues the stream; null until the first submission or after the queue ran dry. */
  private continueAt: number | null = null;
  private nextPacketIndex = 0;
  private sequence = 0;
  private resubmit = true;
  private currentState: IsoStreamState = IsoStreamState.Running;
  private stopReason: string | null = null;
  private readonly startDelay: number;
  private readonly lateStart: IsoLateStart;
  private readonly clock: () => number;
  /** IN or OUT: the PID of every TD's token (UHCI 3.2.3). */
  private readonly pid: number;
  /** Packet bytes between guest memory and callbacks, and views of it by length (made once each). */
  private readonly staging: Uint8Array;
  private readonly views: (Uint8Array | undefined)[];
  private readonly packet = new PacketRecord();

  constructor(
    private readonly ctx: DriverContext,
    private readonly endpoint: IsoEndpoint,
    private readonly options: IsoStreamOptions = {},
    private readonly onClosed?: () => void,
  ) {
    this.direction = (endpoint.address & 0x80) !== 0 ? "in" : "out";
    this.pid = this.direction === "in" ? Pid.In : Pid.Out;
    const max = endpoint.maxPacketSize;
    if (!Number.isInteger(max) || max < 1 || max > MAX_ISO_PACKET) {
      throw new RangeError(
        `endpoint 0x${hex(endpoint.address)} has wMaxPacketSize ${max}: an isochronous stream needs 1–${MAX_ISO_PACKET}` +
          " (select an alternate setting with bandwidth first)",
      );
    }
    if (endpoint.device.lowSpeed) throw new Error("low-speed devices have no isochronous endpoints");
    this.urbCount = positiveInteger("urbs", options.urbs ?? IsoPreset.Seed.urbs);
    this.packetsPerUrb = positiveInteger(
      "packetsPerUrb",
      options.packetsPerUrb ?? IsoPreset.Seed.packetsPerUrb,
    );
    this.periodFrames = positiveInteger(
      "periodFrames",
      options.periodFrames ?? isoPeriodFrames(endpoint.interval),
    );
    this.startDelay = positiveInteger("startDelayFrames", options.startDelayFrames ?? ISO_START_DELAY_FRAMES);
    this.lateStart = options.lateStart ?? IsoLateStart.Asap;
    const span = this.startDelay + this.urbCount * this.packetsPerUrb * this.periodFrames;
    if (span > FRAME_LIST_ENTRIES) {
      // uhci-hcd refuses (-EFBIG) a URB that would reach 1024 frames past the last scan: the frame list
      // would wrap onto TDs that have not run yet.
      throw new RangeError(`${span} frames queued ahead; the frame list holds ${FRAME_LIST_ENTRIES}`);
    }
    this.clock = options.now ?? (() => ctx.elapsedMs);
    this.staging = new Uint8Array(max);
    this.views = new Array<Uint8Array | undefined>(max + 1);
    this.frames = new IsoFrameCounter(() => ctx.frameNumber());
    this.order = new Int32Array(this.urbCount);
    this.slots = Array.from(
      { length: this.urbCount },
      (_, i) => new IsoUrbSlot(ctx, i, this.packetsPerUrb, this.periodFrames, max),
    );
    ctx.addScanTarget(this);
    if (ctx.haltReason !== null) {
      this.currentState = IsoStreamState.Halted;
      this.stopReason = ctx.haltReason;
      return;
    }
    try {
      for (const slot of this.slots) this.submit(slot);
    } catch (error) {
      // A bad packet size from the caller: leave nothing behind on the schedule or in DMA.
      this.close();
      throw error;
    }
  }

  // ---- State ------------------------------------------------------------------------------------

  get state(): IsoStreamState {
    return this.currentState;
  }

  /** Why the stream stopped (`cancelled` after close, the halt reason after a halt); null while running. */
  get error(): string | null {
    return this.stopReason;
  }

  /** bEndpointAddress of the stream's endpoint. */
  get endpointAddress(): number {
    return this.endpoint.address;
  }

  /** URBs on the schedule now. */
  get inFlight(): number {
    return this.count;
  }

  /** The frame the next URB would start at if nothing has passed it (null when none is queued). */
  get nextFrame(): number | null {
    return this.continueAt;
  }

  /** The current frame as the stream counts frames (FRNUM extended past its 11-bit wrap). */
  currentFrame(): number {
    return this.frames.now();
  }

  /** The URBs in flight, oldest first (a snapshot for tests and diagnostics; allocates). */
  scheduled(): {
    readonly urb: number;
    readonly startFrame: number;
    readonly tdAddresses: readonly number[];
  }[] {
    const out: { urb: number; startFrame: number; tdAddresses: readonly number[] }[] = [];
    for (let i = 0; i < this.count; i++) {
      const slot = this.slots[this.order[(this.head + i) % this.urbCount]!]!;
      out.push({ urb: slot.urb, startFrame: slot.startFrame, tdAddresses: slot.tdAddresses });
    }
    return out;
  }

  // ---- Control ----------------------------------------------------------------------------------

  /** Stops resubmitting: the URBs in flight run out and complete normally. */
  stop(): void {
    this.resubmit = false;
  }

  /**
   * Resubmits every idle URB. With URBs still in flight the stream continues after them; once the queue
   * ran dry it starts afresh 10 frames out (uhci-hcd released the endpoint's bandwidth by then).
   */
  start(): void {
    if (this.currentState !== IsoStreamState.Running) throw new Error(`the stream is ${this.currentState}`);
    this.resubmit = true;
    for (const slot of this.slots) if (!slot.inFlight) this.submit(slot);
  }

  /**
   * Stops resubmitting and lets time pass until every URB in flight was given back (all data delivered).
   * True when the stream drained within `timeoutMs`.
   */
  drain(timeoutMs = this.ctx.defaultTimeoutMs): boolean {
    this.stop();
    return this.ctx.runUntil(
      () => this.count === 0 || this.currentState !== IsoStreamState.Running,
      timeoutMs,
    );
  }

  /**
   * Takes every TD off the frame list, gives the URBs in flight back as `cancelled` (their packets are
   * not reported, as a class driver ignores a killed URB) and frees the TDs and buffers once a frame
   * boundary has passed: the controller may have fetched a link to them in the current frame (uhci-hcd
   * waits for the frame number to change before it reuses an unlinked TD).
   */
  close(): void {
    if (this.currentState === IsoStreamState.Closed) return;
    const wasRunning = this.currentState === IsoStreamState.Running;
    this.currentState = IsoStreamState.Closed;
    this.stopReason ??= "cancelled";
    if (wasRunning) this.cancelAll(IsoUrbStatus.Cancelled);
    this.ctx.removeScanTarget(this);
    for (const slot of this.slots) slot.release();
    this.onClosed?.();
  }

  // ---- ScanTarget -------------------------------------------------------------------------------

  /** After every interrupt: gives back, in order, each URB whose last frame has passed, and resubmits it. */
  scan(): void {
    if (this.currentState !== IsoStreamState.Running || this.count === 0) return;
    // uhci-hcd compares against the frame read once at the start of the scan (cur_iso_frame).
    const now = this.frames.now();
    while (this.count > 0 && this.currentState === IsoStreamState.Running) {
      const slot = this.slots[this.order[this.head]!]!;
      if (!this.collect(slot, now)) return;
      this.head = (this.head + 1) % this.urbCount;
      this.count--;
      slot.inFlight = false;
      this.giveBack(slot, IsoUrbStatus.Ok, now);
      if (this.currentState !== IsoStreamState.Running) return;
      if (this.resubmit) this.submit(slot);
      else if (this.count === 0) this.continueAt = null;
    }
  }

  /** The controller halted: everything in flight is given back and the stream stops. */
  controllerHalted(): void {
    if (this.currentState !== IsoStreamState.Running) return;
    this.currentState = IsoStreamState.Halted;
    const reason = this.ctx.haltReason ?? "controller halted";
    this.stopReason = reason;
    this.stats.halts++;
    this.cancelAll(IsoUrbStatus.ControllerHalted);
    this.options.onHalt?.(reason);
  }

  // ---- Submission -------------------------------------------------------------------------------

  /** uhci_submit_isochronous for one URB: pick its start frame, write its TDs, link them into the frames. */
  private submit(slot: IsoUrbSlot): void {
    const now = this.frames.now();
    const period = this.periodFrames;
    const packets = this.packetsPerUrb;
    let start: number;
    let late = false;
    if (this.continueAt === null) {
      start = now + this.startDelay;
    } else {
      start = this.continueAt;
      // The frame now under way may already be past its iso TDs: only frames after it are safe.
      if (start <= now && this.lateStart === IsoLateStart.Asap) {
        late = true;
        start += Math.ceil((now + 1 - start) / period) * period;
      }
    }
    const end = start + packets * period;
    if (end - now > FRAME_LIST_ENTRIES) {
      throw new Error(
        `isochronous URB would end ${end - now} frames ahead (frame list: ${FRAME_LIST_ENTRIES})`,
      );
    }

    // Sizes first, so a bad size from the caller throws before anything is on the schedule.
    const sizeOf = this.options.packetSize;
    const max = this.endpoint.maxPacketSize;
    let offset = 0;
    for (let i = 0; i < packets; i++) {
      const size = sizeOf === undefined ? max : sizeOf(this.nextPacketIndex + i, start + i * period);
      if (!Number.isInteger(size) || size < 0 || size > max) {
        throw new RangeError(`packet size ${size} is not 0–${max} (wMaxPacketSize)`);
      }
      slot.lengths[i] = size;
      slot.offsets[i] = offset;
      offset += size;
    }

    slot.sequence = this.sequence++;
    slot.startFrame = start;
    slot.firstPacketIndex = this.nextPacketIndex;
    slot.lateRestart = late;
    slot.submittedAtFrame = now;
    slot.submittedAt = this.clock();
    slot.cursor = 0;
    this.nextPacketIndex += packets;

    const memory = this.ctx.memory;
    const token =
      (this.endpoint.device.address << TdToken.DeviceAddressShift) |
      ((this.endpoint.address & 0x0f) << TdToken.EndpointShift) |
      this.pid;
    for (let i = 0; i < packets; i++) {
      const size = slot.lengths[i]!;
      const buffer = slot.bufferAddress + slot.offsets[i]!;
      if (this.direction === "out") {
        const view = this.view(size);
        if (this.options.fill === undefined) view.fill(0);
        else this.options.fill(view, slot.firstPacketIndex + i, slot.frameOf(i));
        memory.write(buffer, this.staging, size);
      }
      // UHCI 3.2.2: Active + IOS, C_ERR 0 (no retries for isochronous), ActLen "nothing"; IOC only on the
      // last TD. Written without allocating; control/status last so the TD is whole before it is Active.
      const td = slot.tdAddresses[i]!;
      memory.write32(td + TdLayout.Link, LINK_TERMINATE);
      memory.write32(
        td + TdLayout.Token,
        (token | (encodeLengthField(size) << TdToken.MaxLengthShift)) >>> 0,
      );
      memory.write32(td + TdLayout.Buffer, buffer);
      memory.write32(
        td + TdLayout.ControlStatus,
        (TdStatus.Active |
          TdStatus.Isochronous |
          (i === packets - 1 ? TdStatus.InterruptOnComplete : 0) |
          TdStatus.ActualLengthMask) >>>
          0,
      );
    }
    // Linked only once every TD is written, first packet first (uhci_insert_td_in_frame_list).
    for (let i = 0; i < packets; i++) this.ctx.schedule.linkIsoTd(slot.frameOf(i), slot.tdAddresses[i]!);

    slot.inFlight = true;
    slot.status = IsoUrbStatus.Ok;
    this.order[(this.head + this.count) % this.urbCount] = slot.urb;
    this.count++;
    this.continueAt = end;
    this.stats.urbsSubmitted++;
    if (late) this.stats.lateRestarts++;
    this.options.onUrbSubmit?.(slot);
  }

  // ---- Completion -------------------------------------------------------------------------------

  /**
   * uhci_result_isochronous: looks at the TDs whose frame has passed (before `now`), in order, unlinking
   * each. True when the whole URB has been looked at.
   */
  private collect(slot: IsoUrbSlot, now: number): boolean {
    const memory = this.ctx.memory;
    while (slot.cursor < slot.packets) {
      const i = slot.cursor;
      const frame = slot.frameOf(i);
      if (frame >= now) return false;
      const td = slot.tdAddresses[i]!;
      this.ctx.schedule.unlinkIsoTd(frame, td);
      const status = memory.read32(td + TdLayout.ControlStatus) >>> 0;
      const code = isoStatusCode(status);
      let moved = 0;
      if (code !== ISO_MISSED_CODE) {
        moved = decodeLengthField(status & TdStatus.ActualLengthMask);
        const length = slot.lengths[i]!;
        if (moved > length) {
          this.ctx.noteAnomaly(`isochronous TD 0x${hex(td)} reports ${moved} bytes moved, MaxLen ${length}`);
          moved = length;
        }
      }
      slot.codes[i] = code;
      slot.actual[i] = moved;
      slot.cursor++;
    }
    return true;
  }

  /** Reports a URB's packets (when it completed) and the URB itself, and updates the statistics. */
  private giveBack(slot: IsoUrbSlot, status: IsoUrbStatus, now: number): void {
    slot.status = status;
    slot.seenAtFrame = now;
    slot.seenAt = this.clock();
    slot.packetsOk = 0;
    slot.packetsMissed = 0;
    slot.packetsError = 0;
    slot.bytes = 0;
    const stats = this.stats;
    if (status !== IsoUrbStatus.Ok) {
      stats.urbsCancelled++;
      stats.packetsCancelled += slot.packets;
      this.options.onUrbComplete?.(slot);
      return;
    }
    for (let i = 0; i < slot.packets; i++) this.reportPacket(slot, i);
    stats.urbsCompleted++;
    const lag = slot.lagFrames;
    stats.lagFramesTotal += lag;
    if (lag > stats.lagFramesMax) stats.lagFramesMax = lag;
    this.options.onUrbComplete?.(slot);
  }

  private reportPacket(slot: IsoUrbSlot, i: number): void {
    const stats = this.stats;
    const code = slot.codes[i]!;
    const moved = slot.actual[i]!;
    const length = slot.lengths[i]!;
    const record = this.packet;
    record.index = slot.firstPacketIndex + i;
    record.frame = slot.frameOf(i);
    record.status = ISO_STATUS_BY_CODE[code]!;
    record.length = length;
    record.actualLength = moved;
    record.tdAddress = slot.tdAddresses[i]!;
    record.bufferAddress = slot.bufferAddress + slot.offsets[i]!;
    record.data = this.view(0);
    if (code === ISO_OK_CODE) {
      stats.packetsOk++;
      slot.packetsOk++;
      stats.bytes += moved;
      slot.bytes += moved;
      if (this.direction === "in") {
        if (moved < length) stats.packetsShort++;
        this.ctx.memory.read(record.bufferAddress, this.staging, moved);
        record.data = this.view(moved);
      }
    } else if (code === ISO_MISSED_CODE) {
      stats.packetsMissed++;
      slot.packetsMissed++;
    } else {
      stats.packetsError++;
      slot.packetsError++;
      countError(stats, record.status);
    }
    this.options.onPacket?.(record);
    if (code === ISO_OK_CODE && this.direction === "in")
      this.options.onData?.(record.data, record.frame, record.index);
  }

  /** Unlinks the TDs of every URB in flight and gives them back with `status`. */
  private cancelAll(status: IsoUrbStatus): void {
    const now = this.frames.now();
    while (this.count > 0) {
      const slot = this.slots[this.order[this.head]!]!;
      this.head = (this.head + 1) % this.urbCount;
      this.count--;
      for (let i = slot.cursor; i < slot.packets; i++) {
        this.ctx.schedule.unlinkIsoTd(slot.frameOf(i), slot.tdAddresses[i]!);
      }
      slot.cursor = slot.packets;
      slot.inFlight = false;
      this.giveBack(slot, status, now);
    }
    this.continueAt = null;
  }

  /** A view of the first `length` bytes of the staging buffer, made once per length. */
  private view(length: number): Uint8Array {
    let view = this.views[length];
    if (view === undefined) {
      view = this.staging.subarray(0, length);
      this.views[length] = view;
    }
    return view;
  }
}

function countError(stats: IsoStreamStats, status: IsoPacketStatus): void {
  switch (status) {
    case IsoPacketStatus.CrcTimeout:
      stats.errors.crcTimeout++;
      break;
    case IsoPacketStatus.Bitstuff:
      stats.errors.bitstuff++;
      break;
    case IsoPacketStatus.Babble:
      stats.errors.babble++;
      break;
    case IsoPacketStatus.DataBuffer:
      stats.errors.dataBuffer++;
      break;
    case IsoPacketStatus.Stall:
      stats.errors.stall++;
      break;
    default:
      break;
  }
}

function positiveInteger(name: string, value: number): number {
  if (!Number.isInteger(value) || value < 1)
    throw new RangeError(`${name} must be a positive integer, not ${value}`);
  return value;
}

function hex(value: number): string {
  return value.toString(16);
}
