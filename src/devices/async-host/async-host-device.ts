import type { Clock, Timer } from "../../machine/clock.ts";
import { SnapshotError } from "../../machine/snapshot.ts";
import { EndpointType, Pid, type UsbSpeed } from "../../usb/constants.ts";
import {
  configurationValue,
  type DeviceModel,
  EndpointDirection,
  type EndpointModel,
  interfaceNumber,
} from "../../usb/descriptors/model.ts";
import { UsbDeviceBase } from "../../usb/device-base.ts";
import { SnapshotMode } from "../../usb/device-snapshot.ts";
import { type AsyncTicket, PacketStatus, type UsbPacket } from "../../usb/packet.ts";
import { CompletionSchedule } from "./completion-schedule.ts";
import { asyncHostModel } from "./default-model.ts";
import type { IsoSink, IsoSource } from "./iso-stream.ts";
import {
  type AsyncHostTiming,
  DEFAULT_ASYNC_HOST_TIMING,
  ENDPOINT_SLOTS,
  RequestTiming,
} from "./request-timing.ts";

export interface AsyncHostDeviceOptions {
  /** The clock completions are timed on (the controller's clock, so that frames and completions agree). */
  readonly clock: Clock;
  readonly name?: string;
  /** The descriptors the guest enumerates; default {@link asyncHostModel}. */
  readonly descriptors?: DeviceModel;
  readonly speed?: UsbSpeed;
  /** Overrides of {@link DEFAULT_ASYNC_HOST_TIMING}. */
  readonly timing?: Partial<AsyncHostTiming>;
  /** Requests held at once; more are refused with an I/O error, like a host out of URBs. Default 256. */
  readonly maxInFlight?: number;
  /** Data for IN endpoints, by endpoint number (1–15). An IN endpoint without one sends zero bytes. */
  readonly sources?: Readonly<Record<number, IsoSource>>;
  /** Where OUT endpoints' data goes, by endpoint number. An OUT endpoint without one discards. */
  readonly sinks?: Readonly<Record<number, IsoSink>>;
}

/** Counters for tests and reports. */
export class AsyncHostStats {
  /** Requests deferred. */
  requests = 0;
  /** Completions the host accepted (`packet.complete` returned true). */
  completed = 0;
  /** Requests the host took back with `cancelPacket`; none of them completes. */
  cancelled = 0;
  /** Requests completed with an I/O error because their endpoint went away (reset, SET_INTERFACE…). */
  aborted = 0;
  /** Requests refused because `maxInFlight` were out. */
  rejected = 0;
  /**
   * Requests whose ticket had gone stale when they came due, so they were not completed (the host had
   * forgotten the packet without telling the device); their source and sink never saw them.
   */
  ignored = 0;
  /** The most requests held at once. */
  maxInFlight = 0;
}

/**
 * A device that answers like real passthrough: every data-endpoint request is deferred
 * (`packet.deferred()`) and completed later from a timer on the injected clock, as USB/IP, WebUSB and
 * libusb answer through promises and callbacks. Control transfers are answered at once from the
 * descriptor model by {@link UsbDeviceBase}, so a guest enumerates it like any device.
 *
 * Timing follows {@link RequestTiming}: an isochronous stream's first request completes ~10 frames
 * out, later ones one frame apart, plus optional seeded jitter; bulk and interrupt requests after a
 * fixed delay. IN data comes from an {@link IsoSource} and OUT data goes to an {@link IsoSink} at the
 * moment of completion, so a source sees exactly the packets the host receives and a sink exactly the
 * ones it acknowledges; a cancelled request reaches neither.
 *
 * This is the seam passthrough backends plug into (see README.md): a backend replaces the timer with
 * its own callbacks and the source/sink with the real device. It keeps the ticket `packet.deferred()`
 * returns with the packet and completes with it; the host refuses (and counts) a completion whose
 * ticket has gone stale — cancelled, already completed, or the packet reused — so a late answer can
 * never land in another request. Before touching a packet's data at completion time it asks
 * `packet.isPending(ticket)`, as {@link deliver} does.
 *
 * Steady-state streaming allocates nothing: requests live in a reusable sorted ring with one timer.
 */
export class AsyncHostDevice extends UsbDeviceBase {
  readonly stats = new AsyncHostStats();
  /**
   * Called right after each completion, while the packet is still valid; `accepted` is what
   * `packet.complete` returned. Lets a test look at guest memory at the moment a completion returns.
   */
  onCompleted: ((packet: UsbPacket, accepted: boolean) => void) | null = null;

  private readonly clock: Clock;
  private readonly completionTimer: Timer;
  /** The time the timer is armed for, to avoid re-arming it for every request. */
  private armedForMs = Number.NaN;
  private readonly schedule: CompletionSchedule;
  private readonly timing: RequestTiming;
  private readonly deviceModel: DeviceModel;
  private readonly sources: (IsoSource | null)[] = new Array<IsoSource | null>(16).fill(null);
  private readonly sinks: (IsoSink | null)[] = new Array<IsoSink | null>(16).fill(null);

  constructor(options: AsyncHostDeviceOptions) {
    const model = options.descriptors ?? asyncHostModel();
    super({
      name: options.name ?? "async host device",
      descriptors: model,
      ...(options.speed === undefined ? {} : { speed: options.speed }),
    });
    this.deviceModel = model;
    this.clock = options.clock;
    this.timing = new RequestTiming({ ...DEFAULT_ASYNC_HOST_TIMING, ...options.timing });
    this.schedule = new CompletionSchedule(16, options.maxInFlight ?? 256);
    this.completionTimer = this.clock.createTimer(this.onTimer);
    for (const [n, source] of Object.entries(options.sources ?? {})) this.setSource(Number(n), source);
    for (const [n, sink] of Object.entries(options.sinks ?? {})) this.setSink(Number(n), sink);
  }

  /** Puts `source` behind IN endpoint `endpointNumber` (1–15); null detaches it. */
  setSource(endpointNumber: number, source: IsoSource | null): void {
    this.sources[checkEndpointNumber(endpointNumber)] = source;
  }

  /** Puts `sink` behind OUT endpoint `endpointNumber` (1–15); null detaches it. */
  setSink(endpointNumber: number, sink: IsoSink | null): void {
    this.sinks[checkEndpointNumber(endpointNumber)] = sink;
  }

  /** Requests held now. */
  get inFlight(): number {
    return this.schedule.size;
  }

  /** Isochronous streams started so far, counting restarts after a gap (each costs the first delay). */
  get streamStarts(): number {
    return this.timing.streamStarts;
  }

  /**
   * Passthrough is never restored in place (design guide rule 11): its requests in flight live in the
   * backend and cannot be saved, and the real device has moved on. A controller restore treats it as a
   * surprise removal and re-attach instead (the guest sees the disconnect and re-enumerates).
   */
  override get snapshotMode(): SnapshotMode {
    return SnapshotMode.Reattach;
  }

  /** Refused: see {@link snapshotMode}. */
  override prepareRestore(_state: unknown): () => void {
    throw new SnapshotError(
      `${this.name} is an async (passthrough) device: it is not restored in place; restoring the controller re-attaches it`,
    );
  }

  /** The host takes a request back: it is forgotten and will never complete (UsbDevice contract). */
  override cancelPacket(packet: UsbPacket): void {
    if (!this.schedule.remove(packet)) return;
    this.stats.cancelled++;
    this.rearm();
  }

  protected override handleData(packet: UsbPacket, endpoint: EndpointModel): void {
    if (this.schedule.size >= this.schedule.maxEntries) {
      this.stats.rejected++;
      packet.actualLength = 0;
      packet.status = PacketStatus.IoError;
      return;
    }
    const slot = slotOf(packet.endpoint, packet.pid === Pid.In);
    const isochronous = endpoint.type === EndpointType.Isochronous;
    this.schedule.addTimed(packet, packet.deferred(), slot, this.timing, isochronous, this.clock);
    this.stats.requests++;
    if (this.schedule.size > this.stats.maxInFlight) this.stats.maxInFlight = this.schedule.size;
    this.rearm();
  }

  /**
   * Bus reset: streams end. The host has cancelled what it had out before resetting (the controller's
   * port reset and HCRESET do); anything left completes with an error at the next wake-up, never
   * inside the reset, so the host is not re-entered from its own register write.
   */
  protected override onReset(): void {
    this.abortSlots(() => true);
    this.timing.endAll();
  }

  /** SET_CONFIGURATION replaces every endpoint: what was in flight fails, streams start afresh. */
  protected override onConfigured(_value: number): void {
    this.abortSlots(() => true);
    this.timing.endAll();
  }

  /** SET_INTERFACE: the interface's endpoints start afresh (USB 2.0 9.4.10); their requests fail. */
  protected override onInterfaceChanged(interfaceNum: number, _alternate: number): void {
    const slots = new Uint8Array(ENDPOINT_SLOTS);
    const config = this.deviceModel.configurations.find(
      (c, i) => configurationValue(c, i) === this.configuration,
    );
    const iface = config?.interfaces.find((f, i) => interfaceNumber(f, i) === interfaceNum);
    for (const alt of iface?.alternates ?? []) {
      for (const ep of alt.endpoints ?? []) {
        const slot = slotOf(ep.address & 0x0f, (ep.address & EndpointDirection.In) !== 0);
        slots[slot] = 1;
        this.timing.endStream(slot);
      }
    }
    this.abortSlots((slot) => slots[slot] === 1);
  }

  private abortSlots(matches: (slot: number) => boolean): void {
    if (this.schedule.abortWhere(matches, this.clock.now()) > 0) this.rearm();
  }

  private readonly onTimer = (): void => {
    this.armedForMs = Number.NaN;
    const now = this.clock.now();
    for (;;) {
      const entry = this.schedule.takeDue(now);
      if (entry === null) break;
      // Copy out first: the entry is reused if the completion leads to a new request.
      const packet = entry.packet!;
      const ticket = entry.ticket;
      const slot = entry.slot;
      const aborted = entry.aborted;
      entry.packet = null;
      this.deliver(packet, ticket, slot, aborted);
    }
    this.rearm();
  };

  private deliver(packet: UsbPacket, ticket: AsyncTicket, slot: number, aborted: boolean): void {
    if (!packet.isPending(ticket)) {
      // The host dropped it without cancelPacket; a source or sink must not see it, and its buffer may
      // belong to another request by now.
      this.stats.ignored++;
      return;
    }
    let accepted: boolean;
    if (aborted) {
      this.stats.aborted++;
      accepted = packet.complete(ticket, PacketStatus.IoError, 0);
    } else if (slot >= 16) {
      const source = this.sources[slot - 16];
      const wrote = source === null || source === undefined ? 0 : source.fill(packet.data, packet.length);
      // A source's answer is trusted only as far as the packet goes.
      const length = Number.isInteger(wrote) ? Math.max(0, Math.min(wrote, packet.length)) : 0;
      accepted = packet.complete(ticket, PacketStatus.Ack, length);
    } else {
      this.sinks[slot]?.consume(packet.data, packet.length);
      accepted = packet.complete(ticket, PacketStatus.Ack, 0);
    }
    if (accepted) this.stats.completed++;
    else this.stats.ignored++;
    this.onCompleted?.(packet, accepted);
  }

  /** Keeps the one timer armed for the earliest request, re-arming only when that changes. */
  private rearm(): void {
    const due = this.schedule.headDueMs;
    if (due === Number.POSITIVE_INFINITY) {
      if (this.completionTimer.armed) this.completionTimer.disarm();
      this.armedForMs = Number.NaN;
      return;
    }
    if (this.completionTimer.armed && this.armedForMs === due) return;
    this.completionTimer.arm(due);
    this.armedForMs = due;
  }
}

function slotOf(endpointNumber: number, isIn: boolean): number {
  return (endpointNumber & 0x0f) | (isIn ? 16 : 0);
}

function checkEndpointNumber(n: number): number {
  if (!Number.isInteger(n) || n < 1 || n > 15) throw new RangeError(`endpoint number ${n} must be 1–15`);
  return n;
}
