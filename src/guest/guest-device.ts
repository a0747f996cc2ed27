import {
  EndpointType,
  Feature,
  RequestType,
  UsbSpeed as Speed,
  StandardRequest,
  type UsbSpeed,
} from "../usb/constants.ts";
import type { ConfigurationModel } from "../usb/descriptors/model.ts";
import type { ParsedDeviceDescriptor } from "../usb/descriptors/parse.ts";
import { type ControlSetup, encodeSetupPacket } from "./control-request.ts";
import type { DriverContext } from "./driver-context.ts";
import { EndpointQueue, type QueueDevice } from "./endpoint-queue.ts";
import { type InterruptInOptions, InterruptInStream } from "./interrupt-in-stream.ts";
import { IsoStream, type IsoStreamOptions, IsoStreamState } from "./iso-stream.ts";
import { type TransferResult, TransferStatus } from "./transfer-result.ts";
import { TransferKind, type Urb, type UrbCallback } from "./urb.ts";

/** What enumeration learned about a device. */
export interface DeviceInfo {
  readonly descriptor: ParsedDeviceDescriptor;
  /** The 18 bytes of the device descriptor as received. */
  readonly descriptorBytes: Uint8Array;
  /** The first configuration, parsed (string fields hold string indexes). */
  readonly configuration: ConfigurationModel<number>;
  /** All wTotalLength bytes of the first configuration as received. */
  readonly configurationBytes: Uint8Array;
  /** String descriptor 0; empty when the device has no strings. */
  readonly languages: readonly number[];
  readonly manufacturer?: string;
  readonly product?: string;
  readonly serialNumber?: string;
}

/** One endpoint as the driver schedules it. */
export interface EndpointInfo {
  /** bEndpointAddress (bit 7 set for IN). */
  readonly address: number;
  readonly type: EndpointType;
  readonly maxPacketSize: number;
  /** bInterval: frames for interrupt endpoints; a period of 2^(bInterval − 1) frames for isochronous. */
  readonly interval: number;
}

export interface TransferOptions {
  /** Frames to wait before the transfer is cancelled with `timeout`; the driver default otherwise. */
  readonly timeoutMs?: number;
  /** OUT: end a transfer that fills its last packet with a zero-length packet. */
  readonly zeroPacket?: boolean;
}

/** How a device reaches the driver that owns it (kept narrow: no import of the driver). */
export interface DeviceHost {
  readonly ctx: DriverContext;
  /** The device was released: its address can be reused. */
  released(device: GuestDevice): void;
}

/**
 * A device on the bus, as a driver talks to it: control transfers on endpoint 0, bulk and interrupt
 * transfers on the endpoints of its configuration, standing interrupt-IN streams.
 *
 * Synchronous calls (`control`, `bulkIn`, `transfer`…) let machine time pass until the transfer ends or
 * its frame budget runs out; `submit*` calls queue a transfer and return its {@link Urb} at once.
 * A device error is a {@link TransferResult} status; only misuse (unknown endpoint, wrong direction,
 * a released device) throws.
 */
export class GuestDevice implements QueueDevice {
  private busAddress: number;
  private readonly ep0: EndpointQueue;
  private readonly queues = new Map<number, EndpointQueue>();
  private readonly endpointInfo = new Map<number, EndpointInfo>();
  private readonly alternates = new Map<number, number>();
  private readonly streams = new Set<InterruptInStream>();
  /** Open isochronous streams by endpoint address (one per endpoint). */
  private readonly isoStreams = new Map<number, IsoStream>();
  private deviceInfo: DeviceInfo | null = null;
  private configurationValue = 0;
  private isReleased = false;

  constructor(
    private readonly host: DeviceHost,
    /** Root hub port (0-based); for a device behind hubs, the root port the first hub is on. */
    readonly port: number,
    readonly speed: UsbSpeed,
    address: number,
    maxPacketSize0: number,
  ) {
    this.busAddress = address;
    this.ep0 = new EndpointQueue(host.ctx, this, {
      kind: TransferKind.Control,
      endpoint: 0,
      direction: "out",
      maxPacketSize: maxPacketSize0,
    });
  }

  /** The bus address (0 until SET_ADDRESS). */
  get address(): number {
    return this.busAddress;
  }

  get lowSpeed(): boolean {
    return this.speed === Speed.Low;
  }

  get maxPacketSize0(): number {
    return this.ep0.maxPacketSize;
  }

  get released(): boolean {
    return this.isReleased;
  }

  /** The current configuration value (0 = unconfigured). */
  get configuration(): number {
    return this.configurationValue;
  }

  /** Descriptors and strings from enumeration; throws for a device opened by hand without them. */
  get info(): DeviceInfo {
    if (this.deviceInfo === null) throw new Error("this device was not enumerated by the driver");
    return this.deviceInfo;
  }

  get enumerated(): boolean {
    return this.deviceInfo !== null;
  }

  // ---- Control --------------------------------------------------------------------------------

  /** Runs a control transfer on endpoint 0 to completion (or timeout). */
  control(setup: ControlSetup, options: TransferOptions = {}): TransferResult {
    const urb = this.submitControl(setup);
    return this.wait(this.ep0, urb, options);
  }

  /** Queues a control transfer on endpoint 0 and returns at once. */
  submitControl(setup: ControlSetup, callback?: UrbCallback): Urb {
    this.checkLive();
    const packet = encodeSetupPacket(setup);
    const isIn = (setup.requestType & RequestType.DirectionIn) !== 0;
    return this.ep0.submitControl(
      packet,
      isIn ? (setup.length ?? 0) : (setup.data ?? new Uint8Array(0)),
      callback,
    );
  }

  /** GET_DESCRIPTOR (USB 2.0 9.4.3). */
  getDescriptor(
    type: number,
    index: number,
    length: number,
    languageId = 0,
    options?: TransferOptions,
  ): TransferResult {
    return this.control(
      {
        requestType: RequestType.DirectionIn | RequestType.TypeStandard | RequestType.RecipientDevice,
        request: StandardRequest.GetDescriptor,
        value: (type << 8) | index,
        index: languageId,
        length,
      },
      options,
    );
  }

  /**
   * SET_CONFIGURATION (USB 2.0 9.4.7). On success the endpoints of the configuration (alternate
   * setting 0 of each interface) become usable and every data toggle starts at DATA0.
   */
  setConfiguration(value: number, options?: TransferOptions): TransferResult {
    const result = this.control(
      { requestType: RequestType.TypeStandard, request: StandardRequest.SetConfiguration, value, index: 0 },
      options,
    );
    if (result.status === TransferStatus.Ok) {
      this.closeQueues(() => true);
      this.closeIsoStreams(() => true);
      this.endpointInfo.clear();
      this.alternates.clear();
      this.configurationValue = value;
      const config = this.deviceInfo?.configuration;
      if (config !== undefined && config.value === value) {
        for (const iface of config.interfaces) this.selectAlternate(iface.number ?? 0, 0);
      }
    }
    return result;
  }

  /** SET_INTERFACE (USB 2.0 9.4.10): switches the endpoints of one interface; toggles restart at DATA0. */
  setInterface(interfaceNumber: number, alternate: number, options?: TransferOptions): TransferResult {
    const result = this.control(
      {
        requestType: RequestType.TypeStandard | RequestType.RecipientInterface,
        request: StandardRequest.SetInterface,
        value: alternate,
        index: interfaceNumber,
      },
      options,
    );
    if (result.status === TransferStatus.Ok) this.selectAlternate(interfaceNumber, alternate);
    return result;
  }

  /** CLEAR_FEATURE(ENDPOINT_HALT) (USB 2.0 9.4.1, 9.4.5): un-stalls an endpoint; its toggle restarts at DATA0. */
  clearHalt(endpointAddress: number, options?: TransferOptions): TransferResult {
    const result = this.control(
      {
        requestType: RequestType.TypeStandard | RequestType.RecipientEndpoint,
        request: StandardRequest.ClearFeature,
        value: Feature.EndpointHalt,
        index: endpointAddress,
      },
      options,
    );
    if (result.status === TransferStatus.Ok) this.queues.get(endpointAddress)?.resetToggle();
    return result;
  }

  // ---- Bulk and interrupt -----------------------------------------------------------------------

  /** Reads up to `length` bytes from a bulk IN endpoint. */
  bulkIn(endpointAddress: number, length: number, options?: TransferOptions): TransferResult {
    return this.transfer(this.expect(endpointAddress, EndpointType.Bulk, "in"), length, options);
  }

  /** Writes `data` to a bulk OUT endpoint. */
  bulkOut(endpointAddress: number, data: Uint8Array, options?: TransferOptions): TransferResult {
    return this.transfer(this.expect(endpointAddress, EndpointType.Bulk, "out"), data, options);
  }

  /** One interrupt-IN transfer (it waits for the device's next report). */
  interruptIn(endpointAddress: number, length: number, options?: TransferOptions): TransferResult {
    return this.transfer(this.expect(endpointAddress, EndpointType.Interrupt, "in"), length, options);
  }

  /** One interrupt-OUT transfer. */
  interruptOut(endpointAddress: number, data: Uint8Array, options?: TransferOptions): TransferResult {
    return this.transfer(this.expect(endpointAddress, EndpointType.Interrupt, "out"), data, options);
  }

  /** A bulk or interrupt transfer on any endpoint of the current configuration, run to completion. */
  transfer(
    endpointAddress: number,
    data: Uint8Array | number,
    options: TransferOptions = {},
  ): TransferResult {
    const queue = this.queueFor(endpointAddress);
    const urb = queue.submitData(data, undefined, options.zeroPacket ?? false);
    return this.wait(queue, urb, options);
  }

  /** Queues a bulk or interrupt transfer and returns at once; several may be queued on one endpoint. */
  submit(
    endpointAddress: number,
    data: Uint8Array | number,
    callback?: UrbCallback,
    zeroPacket = false,
  ): Urb {
    return this.queueFor(endpointAddress).submitData(data, callback, zeroPacket);
  }

  /** Starts a standing interrupt-IN stream that delivers every report in order (see {@link InterruptInStream}). */
  openInterruptIn(endpointAddress: number, options?: InterruptInOptions): InterruptInStream {
    const queue = this.queueFor(this.expect(endpointAddress, EndpointType.Interrupt, "in"));
    const stream = new InterruptInStream(this.host.ctx, queue, options);
    this.streams.add(stream);
    return stream;
  }

  /**
   * Opens an isochronous stream on an IN or OUT endpoint of the current alternate settings and starts
   * it: `urbs` URBs of `packetsPerUrb` packets go on the schedule at once, the first 10 frames out, and
   * each is resubmitted as it completes (see {@link IsoStream}). An audio streaming interface usually
   * needs `setInterface(iface, 1)` (alternate 0 has no bandwidth) and a sampling frequency
   * (`control(setSamplingFrequency(endpoint, hz))`) first.
   */
  openIsoStream(endpointAddress: number, options?: IsoStreamOptions): IsoStream {
    this.checkLive();
    const info = this.endpoint(endpointAddress);
    if (info.type !== EndpointType.Isochronous) {
      throw new Error(`endpoint 0x${endpointAddress.toString(16)} is not isochronous`);
    }
    if (this.isoStreams.has(endpointAddress)) {
      throw new Error(`endpoint 0x${endpointAddress.toString(16)} already has an open stream`);
    }
    const stream = new IsoStream(
      this.host.ctx,
      { device: this, address: endpointAddress, maxPacketSize: info.maxPacketSize, interval: info.interval },
      options,
      () => {
        if (this.isoStreams.get(endpointAddress)?.state === IsoStreamState.Closed) {
          this.isoStreams.delete(endpointAddress);
        }
      },
    );
    this.isoStreams.set(endpointAddress, stream);
    return stream;
  }

  /** Endpoints usable now (the current configuration and alternate settings, plus declared ones). */
  endpoints(): EndpointInfo[] {
    return [...this.endpointInfo.values()];
  }

  /**
   * Makes an endpoint known without a configuration descriptor, for devices opened by hand
   * ({@link UhciGuestDriver.openDevice}) or endpoints the descriptors do not describe.
   */
  declareEndpoint(endpoint: EndpointInfo): void {
    this.checkLive();
    this.isoStreams.get(endpoint.address)?.close();
    this.queues.get(endpoint.address)?.close();
    this.queues.delete(endpoint.address);
    this.endpointInfo.set(endpoint.address, endpoint);
  }

  /** Cancels everything, takes all its queues off the schedule and frees its address. */
  release(): void {
    if (this.isReleased) return;
    for (const stream of this.streams) stream.close();
    this.closeIsoStreams(() => true);
    this.closeQueues(() => true);
    this.ep0.close();
    this.isReleased = true;
    this.host.released(this);
  }

  // ---- Enumeration hooks (used by the driver's enumeration) --------------------------------------

  /** Records the new address after SET_ADDRESS succeeded (USB 2.0 9.4.6). */
  adoptAddress(address: number): void {
    this.busAddress = address;
  }

  /** Records bMaxPacketSize0 once the first 8 bytes of the device descriptor are in. */
  adoptMaxPacketSize0(size: number): void {
    this.ep0.setMaxPacketSize(size);
  }

  adoptInfo(info: DeviceInfo): void {
    this.deviceInfo = info;
  }

  // ---- Internals ----------------------------------------------------------------------------------

  private wait(queue: EndpointQueue, urb: Urb, options: TransferOptions): TransferResult {
    const ctx = this.host.ctx;
    ctx.runUntil(() => urb.done, options.timeoutMs ?? ctx.defaultTimeoutMs);
    if (!urb.done) queue.cancel(urb, TransferStatus.Timeout);
    return urb.result!;
  }

  private selectAlternate(interfaceNumber: number, alternate: number): void {
    const config = this.deviceInfo?.configuration;
    const iface = config?.interfaces.find((i) => (i.number ?? 0) === interfaceNumber);
    const previous = iface?.alternates.find((a) => (a.setting ?? 0) === this.alternates.get(interfaceNumber));
    const selected = iface?.alternates.find((a) => (a.setting ?? 0) === alternate);
    // Like usb_set_interface: the endpoints of the old setting are disabled, killing their URBs.
    this.closeIsoStreams(
      (address) =>
        previous?.endpoints?.some((e) => e.address === address) === true ||
        selected?.endpoints?.some((e) => e.address === address) === true,
    );
    for (const endpoint of previous?.endpoints ?? []) {
      this.queues.get(endpoint.address)?.close();
      this.queues.delete(endpoint.address);
      this.endpointInfo.delete(endpoint.address);
    }
    this.alternates.set(interfaceNumber, alternate);
    for (const endpoint of selected?.endpoints ?? []) {
      this.queues.get(endpoint.address)?.close();
      this.queues.delete(endpoint.address);
      this.endpointInfo.set(endpoint.address, {
        address: endpoint.address,
        type: endpoint.type,
        // Bits 12:11 are for high-speed extra transactions; a full-speed packet size is bits 10:0.
        maxPacketSize: endpoint.maxPacketSize & 0x7ff,
        interval: endpoint.interval,
      });
    }
  }

  private closeIsoStreams(which: (address: number) => boolean): void {
    for (const [address, stream] of [...this.isoStreams]) if (which(address)) stream.close();
  }

  private closeQueues(which: (address: number) => boolean): void {
    for (const [address, queue] of [...this.queues]) {
      if (!which(address)) continue;
      queue.close();
      this.queues.delete(address);
    }
  }

  private expect(endpointAddress: number, type: EndpointType, direction: "in" | "out"): number {
    const info = this.endpoint(endpointAddress);
    if (info.type !== type)
      throw new Error(`endpoint 0x${endpointAddress.toString(16)} is not ${typeName(type)}`);
    if (((endpointAddress & 0x80) !== 0) !== (direction === "in")) {
      throw new Error(`endpoint 0x${endpointAddress.toString(16)} is not ${direction.toUpperCase()}`);
    }
    return endpointAddress;
  }

  private endpoint(endpointAddress: number): EndpointInfo {
    const info = this.endpointInfo.get(endpointAddress);
    if (info === undefined) {
      throw new Error(`endpoint 0x${endpointAddress.toString(16)} is not part of the current configuration`);
    }
    return info;
  }

  private queueFor(endpointAddress: number): EndpointQueue {
    this.checkLive();
    const existing = this.queues.get(endpointAddress);
    if (existing !== undefined) return existing;
    const info = this.endpoint(endpointAddress);
    let kind: TransferKind;
    if (info.type === EndpointType.Bulk) kind = TransferKind.Bulk;
    else if (info.type === EndpointType.Interrupt) kind = TransferKind.Interrupt;
    else
      throw new Error(
        `endpoint 0x${endpointAddress.toString(16)} is ${typeName(info.type)}: not supported here` +
          (info.type === EndpointType.Isochronous ? " (use openIsoStream)" : ""),
      );
    const queue = new EndpointQueue(this.host.ctx, this, {
      kind,
      endpoint: endpointAddress & 0x0f,
      direction: (endpointAddress & 0x80) !== 0 ? "in" : "out",
      maxPacketSize: info.maxPacketSize,
      interval: Math.max(1, info.interval),
    });
    this.queues.set(endpointAddress, queue);
    return queue;
  }

  private checkLive(): void {
    if (this.isReleased) throw new Error(`device at address ${this.busAddress} was released`);
  }
}

function typeName(type: EndpointType): string {
  switch (type) {
    case EndpointType.Control:
      return "control";
    case EndpointType.Isochronous:
      return "isochronous";
    case EndpointType.Bulk:
      return "bulk";
    case EndpointType.Interrupt:
      return "interrupt";
  }
}
