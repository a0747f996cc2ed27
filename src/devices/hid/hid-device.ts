import { encodeBase64, openState, type SavedState } from "../../machine/snapshot.ts";
import { DescriptorType, Pid, RequestType, StandardRequest } from "../../usb/constants.ts";
import { type ControlReply, ControlStatus } from "../../usb/control-pipe.ts";
import { hidDescriptor } from "../../usb/descriptors/hid.ts";
import type { EndpointModel } from "../../usb/descriptors/model.ts";
import { UsbDeviceBase } from "../../usb/device-base.ts";
import { PacketStatus, type UsbPacket } from "../../usb/packet.ts";
import type { SetupPacket } from "../../usb/setup-packet.ts";
import {
  HID_INTERFACE_NUMBER,
  type HidDeviceOptions,
  HidEndpoint,
  type HidModelSpec,
  hidDeviceModel,
} from "./device-model.ts";
import { HidProtocol, HidReportType, HidRequest, HidSubclass } from "./hid-constants.ts";
import { DEFAULT_REPORT_QUEUE_LIMIT, ReportQueue } from "./report-queue.ts";

/**
 * What made a queued report, so that later input of the same kind can go into it while it waits
 * ({@link HidDevice.coalescable}). A state change (a key, a button) always gets a report of its own.
 */
export const ReportKind = {
  /** Nothing queued, or a report nothing may be added to (a key or button change, a restored report). */
  State: 0,
  /** Pointer motion: relative dx/dy, or a tablet's absolute position. */
  Motion: 1,
  /** Wheel detents. */
  Wheel: 2,
} as const;
export type ReportKind = (typeof ReportKind)[keyof typeof ReportKind];

/** The kind and version of the HID layer of a saved state ({@link HidDevice.saveState}). */
export const HID_DEVICE_STATE = "hid-device";
export const HID_DEVICE_STATE_VERSION = 1;
/** A saved queue larger than this is refused (a million keyboard reports). */
const MAX_SAVED_REPORT_BYTES = 1 << 23;

/** What a concrete HID device tells the shared base. */
export interface HidDeviceSpec extends HidModelSpec {
  readonly defaultName: string;
  /**
   * Length of the boot-protocol input report, which must be a prefix of the report-protocol one (so a
   * queued report can be sent in either protocol). Boot-subclass devices only.
   */
  readonly bootReportLength?: number;
  /** Length of the output report the host may send; absent when the device takes none. */
  readonly outputReportLength?: number;
  /** The idle duration after reset, in 4 ms units; 0 = report on change only (HID 1.11 7.2.4). */
  readonly defaultIdle: number;
}

/**
 * The behaviour every emulated HID device shares: the HID class requests (HID 1.11 7.2), the report
 * descriptor, and an event queue feeding the interrupt IN endpoint.
 *
 * **A bounded queue that never loses a key or a button below its bound.** Each key or button change
 * appends one report to a FIFO; each interrupt IN poll sends the oldest (NAK when there is none). So key
 * order and every intermediate state reach the host however bursty the input and however slowly the
 * host polls. Pointer motion is coalesced as a real mouse does between polls: a move goes into the
 * newest waiting report when that one is motion too (relative deltas add up to the ±127 a field holds,
 * the rest becomes new reports; a tablet's position is replaced), so moving a mouse while the host is
 * not polling does not grow the queue. The queue holds at most `reportQueueLimit` reports (default
 * {@link DEFAULT_REPORT_QUEUE_LIMIT}; 4096 keyboard reports are ~1,500 typed characters). At the bound
 * an event is merged into the newest report instead (its state replaces the newest report's; relative
 * fields add, clipped to their range), so the host still ends in the device's current state, with no
 * stuck key; each such event is counted in {@link reportsOverflowed}. The FIFO grows as needed and
 * allocates only when an event is queued, never per poll.
 *
 * **Input while not configured is kept**, so events given before the host finished enumerating still
 * arrive. A bus reset discards what is queued (counted in {@link reportsDiscarded}): the host that
 * resets a device starts from its current state, as with real hardware.
 *
 * **Idle rate**: SET_IDLE / GET_IDLE store and return the duration, but reports are sent on change only;
 * repeating the unchanged report every idle period would need a clock. The hosts that matter set idle
 * to 0 (infinite) anyway, and do their own key repeat.
 *
 * **Protocol**: boot-subclass devices start in report protocol (HID 1.11 7.2.6); in boot protocol they
 * send the boot prefix of each report. Devices without the boot subclass STALL GET/SET_PROTOCOL
 * (HID 1.11 7.2.5).
 *
 * **Remote wakeup**: an input event while the bus is suspended signals resume, once per suspend, when
 * the host has enabled remote wakeup (USB 2.0 9.4.1); the event itself is queued either way.
 */
export abstract class HidDevice extends UsbDeviceBase {
  /** The report descriptor served by GET_DESCRIPTOR(Report) (HID 1.11 7.1.1). */
  readonly reportDescriptor: Uint8Array;
  /**
   * The device's current input report in report-protocol layout: what GET_REPORT(Input) answers.
   * Subclasses keep it up to date.
   */
  protected readonly inputState: Uint8Array;

  private readonly queue: ReportQueue;
  private readonly inputLength: number;
  /** 0 when the device has no boot protocol. */
  private readonly bootLength: number;
  private readonly outputLength: number;
  private readonly isBootDevice: boolean;
  private readonly defaultIdle: number;
  private readonly hidDescriptorBytes: Uint8Array;
  private readonly byteReply = new Uint8Array(1);
  private readonly mergeScratch: Uint8Array;
  private protocolNow: HidProtocol = HidProtocol.Report;
  private idle: number;
  /** A resume was signalled during the current suspend; one is enough. */
  private wakeupSent = false;
  private queued = 0;
  private sent = 0;
  private discarded = 0;
  private overflowed = 0;
  private wakeups = 0;
  /** The kind of the newest queued report ({@link ReportKind.State} when the queue is empty). */
  private newestKind: ReportKind = ReportKind.State;

  protected constructor(spec: HidDeviceSpec, options: HidDeviceOptions) {
    super({
      name: options.name ?? spec.defaultName,
      descriptors: hidDeviceModel(spec, options),
      ...(options.speed === undefined ? {} : { speed: options.speed }),
    });
    this.reportDescriptor = spec.reportDescriptor;
    this.inputLength = spec.inputReportLength;
    this.isBootDevice = spec.subclass === HidSubclass.Boot;
    this.bootLength = this.isBootDevice ? (spec.bootReportLength ?? spec.inputReportLength) : 0;
    if (this.bootLength > this.inputLength) {
      throw new RangeError("the boot report must be a prefix of the report-protocol report");
    }
    this.outputLength = spec.outputReportLength ?? 0;
    this.defaultIdle = spec.defaultIdle;
    this.idle = spec.defaultIdle;
    this.inputState = new Uint8Array(this.inputLength);
    this.mergeScratch = new Uint8Array(this.inputLength);
    this.queue = new ReportQueue(this.inputLength, options.reportQueueLimit ?? DEFAULT_REPORT_QUEUE_LIMIT);
    const hid = hidDescriptor({ reportDescriptor: spec.reportDescriptor });
    this.hidDescriptorBytes = Uint8Array.of(2 + hid.body.length, hid.type, ...hid.body);
  }

  // ---- state a UI or a test may read ---------------------------------------------------------------

  /** Boot or report protocol, as the host last set it (HID 1.11 7.2.6). */
  get protocol(): HidProtocol {
    return this.protocolNow;
  }

  /** The idle duration the host set, in 4 ms units; 0 = infinite (HID 1.11 7.2.4). */
  get idleDuration(): number {
    return this.idle;
  }

  /** Reports waiting for an interrupt IN poll. */
  get pendingReports(): number {
    return this.queue.length;
  }

  /** Reports ever queued: always reportsSent + reportsDiscarded + pendingReports. */
  get reportsQueued(): number {
    return this.queued;
  }

  /** Reports delivered to the host on the interrupt IN endpoint. */
  get reportsSent(): number {
    return this.sent;
  }

  /** Reports dropped unsent by a bus reset. */
  get reportsDiscarded(): number {
    return this.discarded;
  }

  /** The most reports that wait for the host; see {@link HidDeviceOptions.reportQueueLimit}. */
  get reportQueueLimit(): number {
    return this.queue.limit;
  }

  /**
   * Input events that found the queue at its bound and were merged into the newest report instead of
   * getting their own: the intermediate states they made were not seen by the host (its final state is
   * right), and relative motion beyond a field's range was lost.
   */
  get reportsOverflowed(): number {
    return this.overflowed;
  }

  /** Remote wakeup signals that reached the port. */
  get wakeupsSignalled(): number {
    return this.wakeups;
  }

  // ---- snapshots -----------------------------------------------------------------------------------

  override get stateKind(): string {
    return HID_DEVICE_STATE;
  }

  /** The standard state plus protocol, idle, the queued reports, the GET_REPORT state and the counters. */
  override saveState(): SavedState {
    return {
      kind: HID_DEVICE_STATE,
      version: HID_DEVICE_STATE_VERSION,
      usb: super.saveState(),
      protocol: this.protocolNow,
      idle: this.idle,
      wakeupSent: this.wakeupSent,
      reportLength: this.inputLength,
      /** Reports waiting for an interrupt IN poll, oldest first, back to back. */
      reports: encodeBase64(this.queue.contents()),
      inputState: encodeBase64(this.inputState),
      reportsQueued: this.queued,
      reportsSent: this.sent,
      reportsDiscarded: this.discarded,
      reportsOverflowed: this.overflowed,
      newestKind: this.newestKind,
      wakeupsSignalled: this.wakeups,
    };
  }

  override prepareRestore(state: unknown): () => void {
    const r = openState(state, HID_DEVICE_STATE, HID_DEVICE_STATE_VERSION);
    const applyUsb = super.prepareRestore(r.raw("usb"));
    const protocol = this.isBootDevice
      ? r.oneOf("protocol", [HidProtocol.Boot, HidProtocol.Report])
      : r.oneOf("protocol", [HidProtocol.Report]);
    const idle = r.int("idle", 0, 255);
    const wakeupSent = r.bool("wakeupSent");
    r.int("reportLength", this.inputLength, this.inputLength);
    const reports = r.bytes("reports", MAX_SAVED_REPORT_BYTES);
    if (reports.length % this.inputLength !== 0) {
      throw r.error("reports", `holds ${reports.length} bytes, not whole reports of ${this.inputLength}`);
    }
    const inputState = r.bytes("inputState", this.inputLength);
    if (inputState.length !== this.inputLength)
      throw r.error("inputState", `must hold ${this.inputLength} bytes`);
    const max = Number.MAX_SAFE_INTEGER;
    const queued = r.int("reportsQueued", 0, max);
    const sent = r.int("reportsSent", 0, max);
    const discarded = r.int("reportsDiscarded", 0, max);
    const wakeups = r.int("wakeupsSignalled", 0, max);
    // Added without a version change: a state saved before queues had a bound has neither.
    const overflowed = r.has("reportsOverflowed") ? r.int("reportsOverflowed", 0, max) : 0;
    const newestKind = r.has("newestKind")
      ? r.oneOf("newestKind", [ReportKind.State, ReportKind.Motion, ReportKind.Wheel])
      : ReportKind.State;
    if (queued !== sent + discarded + reports.length / this.inputLength) {
      throw r.error("reportsQueued", "must equal reportsSent + reportsDiscarded + the reports waiting");
    }
    return () => {
      applyUsb();
      this.protocolNow = protocol;
      this.idle = idle;
      this.wakeupSent = wakeupSent;
      this.queue.replaceWith(reports);
      this.inputState.set(inputState);
      this.queued = queued;
      this.sent = sent;
      this.discarded = discarded;
      this.overflowed = overflowed;
      this.newestKind = reports.length > 0 ? newestKind : ReportKind.State;
      this.wakeups = wakeups;
    };
  }

  // ---- for subclasses ------------------------------------------------------------------------------

  /**
   * Queues one input report (report-protocol layout, {@link HidDeviceSpec.inputReportLength} bytes) made
   * by an event of `kind`, and wakes a suspended host if it allowed that. At the queue's bound the
   * report is merged into the newest one instead ({@link mergeOnOverflow}) and counted.
   */
  protected queueReport(report: Uint8Array, kind: ReportKind = ReportKind.State): void {
    if (this.queue.push(report)) {
      this.queued++;
      this.newestKind = kind;
    } else {
      this.queue.copyNewest(this.mergeScratch);
      this.mergeOnOverflow(this.mergeScratch, report);
      this.queue.replaceNewest(this.mergeScratch);
      this.overflowed++;
      // The newest report now carries this event: more of the same kind may go into it.
      this.newestKind = kind;
    }
    this.inputEvent();
  }

  /**
   * Whether the newest queued report was made by an event of `kind` and still waits for the host, so
   * that the next event of that kind may go into it ({@link readNewest}, {@link rewriteNewest}).
   */
  protected coalescable(kind: ReportKind): boolean {
    return kind !== ReportKind.State && this.newestKind === kind && this.queue.length > 0;
  }

  /** Copies the newest queued report into `into`; false when nothing is queued. */
  protected readNewest(into: Uint8Array): boolean {
    return this.queue.copyNewest(into);
  }

  /** Overwrites the newest queued report (an event coalesced into it) and wakes a suspended host. */
  protected rewriteNewest(report: Uint8Array): void {
    if (this.queue.replaceNewest(report)) this.inputEvent();
  }

  /**
   * The queue is at its bound: fold `incoming` into `newest` (both in report-protocol layout), in place.
   * By default the incoming report replaces it (a keyboard report is the whole key state); pointer
   * devices add their relative fields.
   */
  protected mergeOnOverflow(newest: Uint8Array, incoming: Uint8Array): void {
    newest.set(incoming.subarray(0, this.inputLength));
  }

  /**
   * An output report from the host, by SET_REPORT(Output) or the interrupt OUT endpoint. Return false to
   * refuse it (STALL). Only called with exactly {@link HidDeviceSpec.outputReportLength} bytes.
   */
  protected receiveOutputReport(_report: Uint8Array): boolean {
    return false;
  }

  /** The current output report for GET_REPORT(Output), or null when the device has none. */
  protected currentOutputReport(): Uint8Array | null {
    return null;
  }

  /** After a bus reset, once the queue is cleared and protocol and idle are back to their defaults. */
  protected onHidReset(): void {}

  // ---- UsbDeviceBase hooks -------------------------------------------------------------------------

  protected override onReset(): void {
    this.discarded += this.queue.clear();
    this.newestKind = ReportKind.State;
    this.protocolNow = HidProtocol.Report;
    this.idle = this.defaultIdle;
    this.onHidReset();
  }

  protected override onSuspendChanged(_suspended: boolean): void {
    this.wakeupSent = false;
  }

  protected override handleData(packet: UsbPacket, endpoint: EndpointModel): void {
    if (packet.pid === Pid.In && endpoint.address === HidEndpoint.In) {
      this.sendReport(packet);
    } else if (packet.pid === Pid.Out && endpoint.address === HidEndpoint.Out) {
      this.receiveOutPacket(packet);
    } else {
      packet.actualLength = 0;
      packet.status = PacketStatus.Stall;
    }
  }

  protected override handleClassRequest(setup: SetupPacket, dataOut: Uint8Array): ControlReply {
    // Every HID request names our interface in wIndex (HID 1.11 7.1, 7.2).
    if (
      (setup.bmRequestType & RequestType.RecipientMask) !== RequestType.RecipientInterface ||
      setup.wIndex !== HID_INTERFACE_NUMBER
    ) {
      return ControlStatus.Stall;
    }
    switch (setup.bmRequestType & RequestType.TypeMask) {
      case RequestType.TypeStandard:
        return setup.bRequest === StandardRequest.GetDescriptor && setup.isDeviceToHost
          ? this.classDescriptor(setup)
          : ControlStatus.Stall;
      case RequestType.TypeClass:
        return this.classRequest(setup, dataOut);
      default:
        return ControlStatus.Stall;
    }
  }

  // ---- internals -----------------------------------------------------------------------------------

  /** The input report length in the current protocol. */
  private get reportLength(): number {
    return this.protocolNow === HidProtocol.Boot && this.bootLength > 0 ? this.bootLength : this.inputLength;
  }

  private sendReport(packet: UsbPacket): void {
    const length = this.reportLength;
    if (!this.queue.copyOldest(packet.data, Math.min(length, packet.length))) {
      packet.actualLength = 0;
      packet.status = PacketStatus.Nak;
      return;
    }
    if (packet.length < length) {
      // The report does not fit what the host asked for: on the wire that is babble, the host does not
      // acknowledge, so the data toggle stays and the device sends the same report again (USB 2.0 8.6).
      packet.actualLength = packet.length;
      packet.status = PacketStatus.Babble;
      return;
    }
    this.queue.shift();
    if (this.queue.length === 0) this.newestKind = ReportKind.State;
    this.sent++;
    packet.actualLength = length;
    packet.status = PacketStatus.Ack;
  }

  /** An input event happened (queued or folded into a waiting report): wake a suspended host once. */
  private inputEvent(): void {
    if (this.suspended && !this.wakeupSent && this.signalRemoteWakeup()) {
      this.wakeupSent = true;
      this.wakeups++;
    }
  }

  private receiveOutPacket(packet: UsbPacket): void {
    const report = packet.data.subarray(0, packet.length);
    if (packet.length !== this.outputLength || !this.receiveOutputReport(report)) {
      packet.actualLength = 0;
      packet.status = PacketStatus.Stall;
      return;
    }
    packet.actualLength = packet.length;
    packet.status = PacketStatus.Ack;
  }

  /** GET_DESCRIPTOR to the interface: the HID or the report descriptor (HID 1.11 7.1.1). */
  private classDescriptor(setup: SetupPacket): ControlReply {
    if (setup.descriptorIndex !== 0) return ControlStatus.Stall;
    switch (setup.descriptorType) {
      case DescriptorType.Hid:
        return this.hidDescriptorBytes;
      case DescriptorType.HidReport:
        return this.reportDescriptor;
      default:
        // No physical descriptors (HID 1.11 6.2.3).
        return ControlStatus.Stall;
    }
  }

  private classRequest(setup: SetupPacket, dataOut: Uint8Array): ControlReply {
    const reportId = setup.wValue & 0xff;
    const reportType = setup.wValue >> 8;
    const deviceToHost = setup.isDeviceToHost;
    switch (setup.bRequest) {
      case HidRequest.GetReport:
        // No report IDs in these descriptors, so only ID 0 exists (HID 1.11 7.2.1).
        if (!deviceToHost || reportId !== 0) return ControlStatus.Stall;
        if (reportType === HidReportType.Input) return this.inputState.subarray(0, this.reportLength);
        if (reportType === HidReportType.Output) return this.currentOutputReport() ?? ControlStatus.Stall;
        return ControlStatus.Stall;
      case HidRequest.SetReport:
        if (deviceToHost || reportId !== 0 || reportType !== HidReportType.Output) return ControlStatus.Stall;
        if (this.outputLength === 0 || dataOut.length !== this.outputLength) return ControlStatus.Stall;
        return this.receiveOutputReport(dataOut) ? ControlStatus.Ack : ControlStatus.Stall;
      case HidRequest.GetIdle:
        // wValue low byte: report ID, high byte 0 (HID 1.11 7.2.3).
        if (!deviceToHost || setup.wValue !== 0) return ControlStatus.Stall;
        this.byteReply[0] = this.idle;
        return this.byteReply;
      case HidRequest.SetIdle:
        // wValue high byte: duration in 4 ms units; low byte: report ID, 0 = all (HID 1.11 7.2.4).
        if (deviceToHost || reportId !== 0) return ControlStatus.Stall;
        this.idle = reportType;
        return ControlStatus.Ack;
      case HidRequest.GetProtocol:
        if (!this.isBootDevice || !deviceToHost || setup.wValue !== 0) return ControlStatus.Stall;
        this.byteReply[0] = this.protocolNow;
        return this.byteReply;
      case HidRequest.SetProtocol:
        if (!this.isBootDevice || deviceToHost) return ControlStatus.Stall;
        if (setup.wValue !== HidProtocol.Boot && setup.wValue !== HidProtocol.Report)
          return ControlStatus.Stall;
        this.protocolNow = setup.wValue === HidProtocol.Boot ? HidProtocol.Boot : HidProtocol.Report;
        return ControlStatus.Ack;
      default:
        return ControlStatus.Stall;
    }
  }
}
