import { Pid } from "../usb/constants.ts";
import type { DriverContext, ScanTarget } from "./driver-context.ts";
import type { QueuePlacement } from "./schedule.ts";
import {
  decodeLengthField,
  encodeTdControl,
  encodeTdToken,
  LINK_ADDRESS_MASK,
  LINK_TERMINATE,
  linkToTd,
  MAX_TD_BYTES,
  QhLayout,
  TD_ERROR_BITS,
  TdLayout,
  TdStatus,
  TdToken,
  writeQh,
  writeTd,
} from "./schedule-encoding.ts";
import { ControlStage, type TransferResult, TransferStatus } from "./transfer-result.ts";
import { type Direction, TransferKind, Urb, type UrbCallback, type UrbTd } from "./urb.ts";

/**
 * One endpoint's queue: a QH linked into the skeleton, and the URBs queued on it, each a chain of TDs
 * linked depth-first so a whole transfer can run within one frame (UHCI 3.2.1 Vf, 3.4.2).
 *
 * As in Linux uhci-hcd, the queue always ends in an inactive "dummy" TD. A new URB is written into the
 * dummy and the TDs after it, ending in a fresh dummy, and the old dummy is made active last: the
 * controller never sees a half-built chain and the QH element pointer never has to be touched to queue.
 *
 * Completion follows the UHCI rules (UHCI 3.2.2, 3.3): the controller advances the QH element past
 * each successful TD, but leaves it on a TD that failed or that was short with SPD set. The driver then
 * restarts the queue itself: at the status stage for a short control read, at the next URB otherwise,
 * fixing up the data toggles of the URBs behind a bulk or interrupt transfer that ended early.
 */

/** How the queue's device is reached; the address changes once, at SET_ADDRESS. */
export interface QueueDevice {
  readonly address: number;
  readonly lowSpeed: boolean;
}

export interface EndpointQueueConfig {
  readonly kind: TransferKind;
  /** Endpoint number 0–15. */
  readonly endpoint: number;
  /** Bulk and interrupt queues carry one direction; control queues both. */
  readonly direction: Direction;
  /** wMaxPacketSize (bMaxPacketSize0 for control). */
  readonly maxPacketSize: number;
  /** Interrupt endpoints: bInterval in frames. */
  readonly interval?: number;
}

/** C_ERR for every TD: three strikes, as uhci-hcd and the UHCI design guide suggest (UHCI 3.2.2). */
const ERROR_COUNT = 3;

/** The SETUP packet is 8 bytes; the data stage follows it in the same DMA block, 16-byte aligned. */
const SETUP_BYTES = 8;
const SETUP_SLOT = 16;

interface TdPlan {
  readonly pid: number;
  readonly length: number;
  readonly toggle: 0 | 1;
  readonly buffer: number;
  readonly stage: ControlStage;
  readonly shortPacketDetect: boolean;
  readonly interruptOnComplete: boolean;
}

/** The outcome of looking at a URB's TDs. */
type Evaluation =
  | { readonly state: "pending" }
  | { readonly state: "done"; readonly status: TransferStatus; readonly failedStage?: ControlStage };

const PENDING: Evaluation = { state: "pending" };

export class EndpointQueue implements ScanTarget {
  readonly qh: number;
  private dummy: number;
  private readonly urbs: Urb[] = [];
  private nextToggle: 0 | 1 = 0;
  private maxPacket: number;
  private closed = false;

  constructor(
    private readonly ctx: DriverContext,
    private readonly device: QueueDevice,
    readonly config: EndpointQueueConfig,
  ) {
    this.maxPacket = checkMaxPacket(config.maxPacketSize);
    if (config.kind === TransferKind.Interrupt && !(config.interval !== undefined && config.interval >= 1)) {
      throw new RangeError(`interrupt endpoint ${config.endpoint} needs an interval ≥ 1`);
    }
    this.dummy = this.allocDummy();
    this.qh = ctx.dma.alloc(QhLayout.Size);
    writeQh(ctx.memory, this.qh, LINK_TERMINATE, linkToTd(this.dummy));
    ctx.schedule.linkQh(this.qh, this.placement());
    ctx.addScanTarget(this);
  }

  get maxPacketSize(): number {
    return this.maxPacket;
  }

  /** Endpoint 0's size is learned from the first 8 bytes of the device descriptor (USB 2.0 9.6.1). */
  setMaxPacketSize(size: number): void {
    this.maxPacket = checkMaxPacket(size);
  }

  /** URBs queued and not yet completed. */
  get pending(): readonly Urb[] {
    return this.urbs;
  }

  /** The data toggle the next bulk/interrupt URB starts with. */
  get toggle(): 0 | 1 {
    return this.nextToggle;
  }

  /**
   * Back to DATA0, as after SET_CONFIGURATION, SET_INTERFACE or CLEAR_FEATURE(ENDPOINT_HALT)
   * (USB 2.0 9.4.5). URBs still queued are renumbered from DATA0.
   */
  resetToggle(): void {
    this.retoggle(0, 0);
  }

  /**
   * Queues a control transfer: SETUP (DATA0), data stage (DATA1, DATA0 … with SPD on IN), status stage
   * in the other direction (DATA1, IOC) — USB 2.0 8.5.3, as uhci-hcd builds it.
   */
  submitControl(setup: Uint8Array, data: Uint8Array | number, callback?: UrbCallback): Urb {
    this.checkOpen(TransferKind.Control);
    if (setup.length !== SETUP_BYTES) throw new RangeError(`a SETUP packet is 8 bytes, not ${setup.length}`);
    const direction: Direction = (setup[0]! & 0x80) !== 0 ? "in" : "out";
    const length = typeof data === "number" ? data : data.length;
    const wLength = setup[6]! | (setup[7]! << 8);
    if (direction === "in" && typeof data !== "number")
      throw new TypeError("an IN control transfer takes a length");
    if (length !== wLength) throw new RangeError(`data stage of ${length} bytes but wLength is ${wLength}`);
    const urb = this.newUrb(TransferKind.Control, direction, length, callback);
    if (urb.done) return urb;

    const block = this.ctx.dma.alloc(SETUP_SLOT + length);
    urb.blocks.push(block);
    urb.dataAddress = block + SETUP_SLOT;
    this.ctx.memory.write(block, setup, SETUP_BYTES);
    if (typeof data !== "number") this.ctx.memory.write(urb.dataAddress, data, length);

    const plans: TdPlan[] = [
      {
        pid: Pid.Setup,
        length: SETUP_BYTES,
        toggle: 0,
        buffer: block,
        stage: ControlStage.Setup,
        shortPacketDetect: false,
        interruptOnComplete: false,
      },
    ];
    let toggle: 0 | 1 = 1;
    for (let offset = 0; offset < length; offset += this.maxPacket) {
      plans.push({
        pid: direction === "in" ? Pid.In : Pid.Out,
        length: Math.min(this.maxPacket, length - offset),
        toggle,
        buffer: urb.dataAddress + offset,
        stage: ControlStage.Data,
        shortPacketDetect: direction === "in",
        interruptOnComplete: false,
      });
      toggle = flip(toggle);
    }
    plans.push({
      // The status stage runs opposite to the data stage; with no data stage it is IN (USB 2.0 8.5.3).
      pid: direction === "in" && length > 0 ? Pid.Out : Pid.In,
      length: 0,
      toggle: 1,
      buffer: 0,
      stage: ControlStage.Status,
      shortPacketDetect: false,
      interruptOnComplete: true,
    });
    this.enqueue(urb, plans);
    return urb;
  }

  /**
   * Queues a bulk or interrupt transfer of `data` (OUT) or `data` bytes (IN), split into max-packet TDs
   * with alternating toggles. IN TDs but the last get SPD; the last gets IOC (uhci-hcd does the same).
   * `zeroPacket` ends an OUT transfer that fills its last packet with a zero-length packet.
   */
  submitData(data: Uint8Array | number, callback?: UrbCallback, zeroPacket = false): Urb {
    const kind = this.config.kind;
    this.checkOpen(kind === TransferKind.Control ? TransferKind.Bulk : kind);
    const direction = this.config.direction;
    if (direction === "in" && typeof data !== "number") throw new TypeError("an IN transfer takes a length");
    if (direction === "out" && typeof data === "number") throw new TypeError("an OUT transfer takes data");
    const length = typeof data === "number" ? data : data.length;
    if (!Number.isInteger(length) || length < 0) throw new RangeError(`transfer length ${length}`);
    const urb = this.newUrb(kind, direction, length, callback);
    if (urb.done) return urb;

    const block = this.ctx.dma.alloc(Math.max(length, 1));
    urb.blocks.push(block);
    urb.dataAddress = block;
    if (typeof data !== "number") this.ctx.memory.write(block, data, length);

    const packets = Math.max(1, Math.ceil(length / this.maxPacket));
    const extraZero = zeroPacket && direction === "out" && length > 0 && length % this.maxPacket === 0;
    const count = packets + (extraZero ? 1 : 0);
    const plans: TdPlan[] = [];
    let toggle = this.nextToggle;
    for (let i = 0; i < count; i++) {
      const offset = Math.min(i * this.maxPacket, length);
      plans.push({
        pid: direction === "in" ? Pid.In : Pid.Out,
        length: Math.min(this.maxPacket, length - offset),
        toggle,
        buffer: block + offset,
        stage: ControlStage.Data,
        shortPacketDetect: direction === "in" && i < count - 1,
        interruptOnComplete: i === count - 1,
      });
      toggle = flip(toggle);
    }
    this.nextToggle = toggle;
    this.enqueue(urb, plans);
    return urb;
  }

  /** Checks the queued URBs' TDs and completes what finished (called after each interrupt). */
  scan(): void {
    while (this.urbs.length > 0) {
      const urb = this.urbs[0]!;
      const outcome = this.evaluate(urb);
      if (outcome.state === "pending") return;
      this.urbs.shift();
      this.restartAfter(urb, 0);
      this.retire(urb, outcome.status, outcome.failedStage);
    }
  }

  /** Takes `urb` off the queue (timeout or cancel) and completes it with `status`. */
  cancel(urb: Urb, status: TransferStatus): void {
    if (urb.done) return;
    // It may have finished already; then it completes normally. Every transfer ends with an
    // interrupt (IOC on its last TD, SPD, or an error), so one that times out although it finished
    // means the controller never raised it.
    this.scan();
    if (urb.done) {
      if (status === TransferStatus.Timeout) {
        this.ctx.noteAnomaly(`a ${urb.kind} transfer finished without raising an interrupt`);
      }
      return;
    }
    const index = this.urbs.indexOf(urb);
    if (index < 0) return;
    this.measureProgress(urb);
    this.urbs.splice(index, 1);
    if (index > 0) {
      // Unhook it from the URB before it: that URB's last TD now leads to whatever followed this one.
      const before = this.urbs[index - 1]!;
      const last = urb.tds[urb.tds.length - 1]!;
      const beforeLast = before.tds[before.tds.length - 1]!;
      this.ctx.memory.write32(
        beforeLast.address + TdLayout.Link,
        this.ctx.memory.read32(last.address + TdLayout.Link) >>> 0,
      );
    }
    this.restartAfter(urb, index);
    this.retire(urb, status);
  }

  /** The controller halted: everything queued ends with `controller-halted`. */
  controllerHalted(): void {
    while (this.urbs.length > 0) {
      const urb = this.urbs.shift()!;
      this.measureProgress(urb);
      this.retire(urb, TransferStatus.ControllerHalted);
    }
    // Leave the queue pointing at its dummy so a restarted controller finds nothing stale.
    this.ctx.memory.write32(this.qh + QhLayout.Element, linkToTd(this.dummy));
  }

  /** Cancels everything, unlinks the QH and frees it once the controller can no longer see it. */
  close(): void {
    if (this.closed) return;
    for (const urb of [...this.urbs]) this.cancel(urb, TransferStatus.Cancelled);
    this.closed = true;
    this.ctx.schedule.unlinkQh(this.qh);
    this.ctx.removeScanTarget(this);
    this.ctx.releaseAfterFrame(this.qh);
    this.ctx.releaseAfterFrame(this.dummy);
  }

  get isClosed(): boolean {
    return this.closed;
  }

  // ---- Building -------------------------------------------------------------------------------

  private placement(): QueuePlacement {
    switch (this.config.kind) {
      case TransferKind.Control:
        return { kind: "control", lowSpeed: this.device.lowSpeed };
      case TransferKind.Bulk:
        return { kind: "bulk" };
      case TransferKind.Interrupt:
        return { kind: "interrupt", interval: this.config.interval ?? 1 };
    }
  }

  private checkOpen(kind: TransferKind): void {
    if (this.closed) throw new Error(`endpoint ${this.config.endpoint} queue is closed`);
    if (kind !== this.config.kind)
      throw new Error(`a ${this.config.kind} queue cannot carry a ${kind} transfer`);
  }

  private newUrb(kind: TransferKind, direction: Direction, length: number, callback?: UrbCallback): Urb {
    const endpointAddress = this.config.endpoint | (direction === "in" ? 0x80 : 0);
    const urb = new Urb(
      kind,
      endpointAddress,
      direction,
      length,
      this.ctx.elapsedMs,
      (u, status) => this.cancel(u, status),
      callback,
    );
    // A halted controller runs nothing: fail at once rather than wait out a timeout.
    if (this.ctx.haltReason !== null) this.retire(urb, TransferStatus.ControllerHalted);
    return urb;
  }

  private allocDummy(): number {
    const td = this.ctx.dma.alloc(TdLayout.Size);
    writeTd(this.ctx.memory, td, {
      link: LINK_TERMINATE,
      controlStatus: 0,
      token: encodeTdToken({ pid: Pid.Out, deviceAddress: 0, endpoint: 0, toggle: 0, maxLength: 0 }),
      buffer: 0,
    });
    return td;
  }

  /** Writes the TDs into the dummy and fresh TDs, activating the old dummy last (see the file comment). */
  private enqueue(urb: Urb, plans: readonly TdPlan[]): void {
    const addresses = plans.map((_, i) => (i === 0 ? this.dummy : this.ctx.dma.alloc(TdLayout.Size)));
    const nextDummy = this.allocDummy();
    for (let i = plans.length - 1; i >= 0; i--) {
      const plan = plans[i]!;
      const address = addresses[i]!;
      writeTd(this.ctx.memory, address, {
        link: linkToTd(addresses[i + 1] ?? nextDummy, true),
        controlStatus: encodeTdControl({
          active: true,
          errorCount: ERROR_COUNT,
          lowSpeed: this.device.lowSpeed,
          interruptOnComplete: plan.interruptOnComplete,
          shortPacketDetect: plan.shortPacketDetect,
        }),
        token: encodeTdToken({
          pid: plan.pid,
          deviceAddress: this.device.address,
          endpoint: this.config.endpoint,
          toggle: plan.toggle,
          maxLength: plan.length,
        }),
        buffer: plan.buffer,
      });
    }
    plans.forEach((plan, i) => {
      urb.tds.push({
        address: addresses[i]!,
        pid: plan.pid,
        maxLength: plan.length,
        toggle: plan.toggle,
        stage: plan.stage,
      });
    });
    this.dummy = nextDummy;
    this.urbs.push(urb);
  }

  // ---- Completion -----------------------------------------------------------------------------

  /** Accounts for the TDs from the URB's cursor on; restarts a short control read at its status stage. */
  private evaluate(urb: Urb): Evaluation {
    const memory = this.ctx.memory;
    while (urb.cursor < urb.tds.length) {
      const td = urb.tds[urb.cursor]!;
      const status = memory.read32(td.address + TdLayout.ControlStatus) >>> 0;
      if (status & TdStatus.Active) return PENDING;
      const error = errorStatus(status);
      if (error !== null) return { state: "done", status: error, failedStage: failedStage(urb, td) };
      let moved = decodeLengthField(status & TdStatus.ActualLengthMask);
      if (moved > td.maxLength) {
        this.ctx.noteAnomaly(`TD 0x${hex(td.address)} reports ${moved} bytes moved, MaxLen ${td.maxLength}`);
        moved = td.maxLength;
      }
      urb.cursor++;
      if (td.stage !== ControlStage.Data) continue;
      urb.actual += moved;
      if (moved >= td.maxLength || td.pid !== Pid.In) continue;
      urb.short = true;
      if (urb.kind !== TransferKind.Control) return { state: "done", status: TransferStatus.Ok };
      this.restartAtStatusStage(urb, td);
    }
    return { state: "done", status: TransferStatus.Ok };
  }

  /** A short control read: the queue resumes at the status stage, skipping the unused data TDs. */
  private restartAtStatusStage(urb: Urb, shortTd: UrbTd): void {
    const statusIndex = urb.tds.length - 1;
    const statusTd = urb.tds[statusIndex]!;
    const element = this.element();
    // UHCI 3.2.2 SPD: after a short packet the controller must leave the element pointer on that TD.
    if (element !== shortTd.address && element !== statusTd.address) {
      this.ctx.noteAnomaly(
        `short packet with SPD in TD 0x${hex(shortTd.address)} but the QH element moved to 0x${hex(element)}`,
      );
    }
    urb.cursor = statusIndex;
    const statusActive =
      (this.ctx.memory.read32(statusTd.address + TdLayout.ControlStatus) & TdStatus.Active) !== 0;
    if (statusActive && urb.tds.some((t) => t.address === element)) {
      this.ctx.memory.write32(this.qh + QhLayout.Element, linkToTd(statusTd.address));
    }
  }

  /**
   * After `urb` (which stood at `index` in the queue) left it: if the controller stopped inside the URB
   * (an error, or a short packet with SPD), point the QH at what follows, and give the URBs behind a
   * bulk or interrupt transfer the toggles the device now expects.
   */
  private restartAfter(urb: Urb, index: number): void {
    const memory = this.ctx.memory;
    const element = this.element();
    const following = this.urbs[index]?.tds[0]?.address ?? this.dummy;
    if (urb.tds.some((t) => t.address === element)) {
      memory.write32(this.qh + QhLayout.Element, linkToTd(following));
    }
    if (this.config.kind === TransferKind.Control || urb.cursor >= urb.tds.length) return;
    // The first TD that did not transfer sets the toggle: its own value (uhci-hcd: initial_toggle).
    const stoppedAt = urb.tds[urb.cursor];
    if (stoppedAt !== undefined) this.retoggle(index, stoppedAt.toggle);
  }

  /** Renumbers the toggles of the URBs from queue index `from` on, starting at `toggle`. */
  private retoggle(from: number, toggle: 0 | 1): void {
    let next = toggle;
    for (const urb of this.urbs.slice(from)) {
      for (const td of urb.tds) {
        if (td.toggle !== next) {
          const token = this.ctx.memory.read32(td.address + TdLayout.Token) >>> 0;
          this.ctx.memory.write32(td.address + TdLayout.Token, (token ^ TdToken.Toggle) >>> 0);
          td.toggle = next;
        }
        next = flip(next);
      }
    }
    this.nextToggle = next;
  }

  /** Counts the bytes of the TDs that finished before a cancel, so the caller gets partial data. */
  private measureProgress(urb: Urb): void {
    const memory = this.ctx.memory;
    while (urb.cursor < urb.tds.length) {
      const td = urb.tds[urb.cursor]!;
      const status = memory.read32(td.address + TdLayout.ControlStatus) >>> 0;
      if (status & (TdStatus.Active | TD_ERROR_BITS)) break;
      const moved = Math.min(decodeLengthField(status & TdStatus.ActualLengthMask), td.maxLength);
      urb.cursor++;
      if (td.stage === ControlStage.Data) {
        urb.actual += moved;
        if (moved < td.maxLength) break;
      }
    }
  }

  /** Completes a URB that is off the queue: copies IN data out, frees its TDs and buffers. */
  private retire(urb: Urb, status: TransferStatus, stage?: ControlStage): void {
    const data = new Uint8Array(urb.direction === "in" ? urb.actual : 0);
    if (data.length > 0) this.ctx.memory.read(urb.dataAddress, data, data.length);
    for (const td of urb.tds) this.ctx.releaseAfterFrame(td.address);
    for (const block of urb.blocks) this.ctx.releaseAfterFrame(block);
    const result: TransferResult = {
      status,
      data,
      actualLength: urb.actual,
      short: urb.short || (urb.direction === "in" && status === TransferStatus.Ok && urb.actual < urb.length),
      frames: this.ctx.elapsedMs - urb.submittedAt,
      ...(stage !== undefined && urb.kind === TransferKind.Control ? { failedStage: stage } : {}),
    };
    urb.complete(result);
  }

  private element(): number {
    return (this.ctx.memory.read32(this.qh + QhLayout.Element) & LINK_ADDRESS_MASK) >>> 0;
  }
}

/** Maps a finished TD's status to a result; null when it succeeded. Priority as uhci-hcd's mapping. */
export function errorStatus(status: number): TransferStatus | null {
  if ((status & TD_ERROR_BITS) === 0) return null;
  if (status & TdStatus.Bitstuff) return TransferStatus.Bitstuff;
  if (status & TdStatus.CrcTimeout) return TransferStatus.CrcTimeout;
  if (status & TdStatus.Babble) return TransferStatus.Babble;
  if (status & TdStatus.DataBufferError) return TransferStatus.DataBuffer;
  return TransferStatus.Stall;
}

function failedStage(urb: Urb, td: UrbTd): ControlStage | undefined {
  return urb.kind === TransferKind.Control ? td.stage : undefined;
}

function checkMaxPacket(size: number): number {
  if (!Number.isInteger(size) || size < 1 || size > MAX_TD_BYTES) {
    throw new RangeError(`max packet size ${size} is not 1–${MAX_TD_BYTES}`);
  }
  return size;
}

function flip(toggle: 0 | 1): 0 | 1 {
  return toggle === 0 ? 1 : 0;
}

function hex(value: number): string {
  return value.toString(16);
}
