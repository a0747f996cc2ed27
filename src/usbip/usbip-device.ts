import type { Clock, Timer } from "../machine/clock.ts";
import { Pid, UsbSpeed } from "../usb/constants.ts";
import type { UpstreamPort, UsbDevice } from "../usb/device.ts";
import { type AsyncTicket, type FinalPacketStatus, PacketStatus, type UsbPacket } from "../usb/packet.ts";
import { BulkInReader, BulkReadAheadStats } from "./bulk-in-reader.ts";
import { type Urb, type UrbOwner, type UsbipConnection, UsbipError } from "./connection.ts";

import { copy } from "./copy.ts";
import { IsoInStream, IsoOutStream, type IsoStreamOptions, IsoStreamStats } from "./iso-streams.ts";
import { UsbipSpeed } from "./protocol.ts";
import { packetStatusOf } from "./status.ts";
import type { UrbReply } from "./urb-decoder.ts";

export interface UsbipDeviceOptions {
  /** The controller's clock: iso OUT batches are flushed on it, iso IN streams idle out on it. */
  readonly clock: Clock;
  readonly name?: string;
  /** Iso streaming: packets per URB, URBs in flight, ring size (see docs/usbip.md). */
  readonly iso?: Partial<IsoStreamOptions>;
  /** Non-iso requests held at once; beyond it a request fails at once (a host out of URBs). Default 256. */
  readonly maxRequests?: number;
  /**
   * Bulk IN of USB Mass Storage Bulk-Only endpoints is read this far ahead of the guest's TDs (see
   * {@link BulkInReader}); 0 turns it off (a URB per TD). Default 16384.
   */
  readonly bulkReadAheadBytes?: number;
  /**
   * A server that has sent nothing for this long while control or iso URBs were out has vanished
   * (no FIN: a cable pulled, a machine frozen): the connection is dropped and the device unplugged.
   * On the controller's clock, confirmed at a second check; 0 turns it off. Default 10 000 ms.
   */
  readonly vanishMs?: number;
}

/** Counters for tests, reports and the bench. */
export class UsbipDeviceStats {
  /** Control transfers sent to the server (SET_ADDRESS is answered here and not counted). */
  controlUrbs = 0;
  /** Bulk and interrupt URBs. */
  dataUrbs = 0;
  /** Requests the host took back (cancelPacket) while their URB was out: a CMD_UNLINK each. */
  cancelled = 0;
  /** Completions the host refused (the ticket had gone stale meanwhile). */
  refused = 0;
  /** Requests failed at once because `maxRequests` were out, or the connection was gone. */
  rejected = 0;
  /** Per iso endpoint direction: see {@link IsoStreamStats}. */
  readonly isoIn = new IsoStreamStats();
  readonly isoOut = new IsoStreamStats();
  readonly bulkReadAhead = new BulkReadAheadStats();
  /** Guest port resets forwarded to the server (SET_FEATURE(PORT_RESET), which usbip-host turns into a device reset). */
  portResets = 0;
  /** Of those, the ones the server answered with success. */
  portResetsDone = 0;
  /** Endpoint descriptors of a high-speed device rewritten for the full-speed guest, per descriptor read (docs/usbip.md). */
  endpointsRewritten = 0;
  /** Iso packets refused on endpoints of a high-speed device that a full-speed guest cannot be given. */
  isoRefused = 0;
}

const ControlStage = { Idle: 0, DataIn: 1, DataOut: 2, LocalAddress: 3 } as const;
type ControlStage = (typeof ControlStage)[keyof typeof ControlStage];
/** Draining: a SET_INTERFACE / SET_CONFIGURATION waits for the iso OUT data already acknowledged. */
const ReplyState = { NotAsked: 0, Asked: 1, Ready: 2, Draining: 3 } as const;
type ReplyState = (typeof ReplyState)[keyof typeof ReplyState];

/** URB tags: which part of the device owns a URB. */
const TAG_CONTROL = -1;
const TAG_PORT_RESET = -2;

/**
 * SET_FEATURE(PORT_RESET) to port recipient (bmRequestType 0x23, bRequest 3, wValue 4): Linux's
 * usbip-host (drivers/usb/usbip/stub_rx.c, is_reset_device_cmd) resets its real device when a
 * CMD_SUBMIT on endpoint 0 carries it, and answers status 0 without sending it to the device. It looks
 * at neither wIndex nor the data stage.
 */
const PORT_RESET_SETUP = Uint8Array.of(0x23, 3, 4, 0, 0, 0, 0, 0);

/** The largest packet a full-speed bulk, control or interrupt endpoint may name (USB 2.0 5.7.3, 5.8.3). */
const FULL_SPEED_MAX_PACKET = 64;

/** Notices kept per device (the same one is never repeated). */
const MAX_NOTICES = 16;

/** How often the vanished-server watchdog looks. */
const WATCHDOG_PERIOD_MS = 1000;

/** The longest a SET_INTERFACE / SET_CONFIGURATION waits for iso OUT data still on its way. */
const DRAIN_LIMIT_MS = 250;

/** Largest control data stage: wLength is 16 bits (USB 2.0 9.3.5). */
const CONTROL_BUFFER = 0xffff;

/**
 * A device on a USB/IP server, imported into this machine: a {@link UsbDevice} behind the async seam
 * (src/devices/async-host/README.md). Every request that needs the real device is deferred
 * (`packet.deferred()`) and completed from the connection's reply with the ticket it got, so a reply
 * that comes after the controller cancelled the request (or unplugged the device) changes nothing.
 *
 * - Control transfers go to the server whole (one URB with the SETUP bytes), as Linux's vhci-hcd sends
 *   them: a device-to-host request at its first IN data packet, which waits for the reply; others at
 *   the status stage. SET_ADDRESS is answered here, as vhci-hcd does: the server's device keeps the
 *   address its own host gave it.
 * - Bulk and interrupt: one URB per TD, of the TD's length; an interrupt URB waits at the server
 *   while the real device NAKs, and the controller keeps the pairing alive while the TD stays queued.
 * - Isochronous: streamed ahead of the guest's TDs ({@link IsoInStream}, {@link IsoOutStream}).
 *
 * Not restored in place by a snapshot (it is not a `SnapshotDevice`): a controller restore re-attaches
 * it (a surprise removal and re-attach), and the guest re-enumerates it.
 */
export class UsbipDevice implements UsbDevice, UrbOwner {
  readonly name: string;
  readonly speed: UsbSpeed;
  readonly stats = new UsbipDeviceStats();
  /**
   * What the guest is not shown as the server's device has it, once each (a high-speed device's
   * isochronous endpoint refused, an interrupt endpoint narrowed); also given to {@link onNotice}.
   */
  readonly notices: string[] = [];
  onNotice: ((message: string) => void) | null = null;
  /** The connection ended (the server closed it, a bad reply, or {@link close}); `error` says why. */
  onGone: ((error: UsbipError | null) => void) | null = null;

  private currentAddress = 0;
  private readonly clock: Clock;
  private readonly maxRequests: number;

  // ---- control ----
  private stage: ControlStage = ControlStage.Idle;
  private readonly setup = new Uint8Array(8);
  private wLength = 0;
  private readonly controlData = new Uint8Array(CONTROL_BUFFER);
  private controlFilled = 0;
  private controlSent = 0;
  private dataInDone = false;
  private replyState: ReplyState = ReplyState.NotAsked;
  private controlUrb: Urb | null = null;
  private controlPacket: UsbPacket | null = null;
  private controlTicket = 0 as AsyncTicket;
  private pendingAddress = 0;
  /** bMaxPacketSize0 once a device descriptor has passed by (0: not known, packets are not split). */
  private maxPacket0 = 0;
  /**
   * The URB interval per endpoint slot (number | 16 for IN), from configuration descriptors passing by:
   * bInterval in frames at full speed; 2^(bInterval-1) microframes for a high-speed device, the unit
   * the server's host controller takes it in.
   */
  private readonly intervals = new Uint16Array(32);
  /**
   * Per endpoint slot: the packet size the guest is given from a {@link BulkInReader} (a Bulk-Only
   * mass-storage bulk IN endpoint read ahead, or any bulk IN of a high-speed device), else 0.
   */
  private readonly readAheadPacket = new Uint16Array(32);
  /** Per endpoint slot with a reader: the bytes per URB, a multiple of the server's own packet size. */
  private readonly readerUrbBytes = new Uint32Array(32);
  /** Per endpoint slot: an iso endpoint of a high-speed device, which a full-speed guest is not given. */
  private readonly isoRefusedSlot = new Uint8Array(32);
  /** The server enumerated the device at high speed (or faster): its descriptors are rewritten. */
  readonly highSpeed: boolean;
  private readonly readers: (BulkInReader | null)[] = new Array<BulkInReader | null>(16).fill(null);
  private readonly readAheadBytes: number;

  // ---- bulk / interrupt ----
  private readonly requestPackets: (UsbPacket | null)[] = [];
  private readonly requestTickets: AsyncTicket[] = [];
  private readonly requestUrbs: (Urb | null)[] = [];
  private readonly freeRequests: number[] = [];

  // ---- iso ----
  private readonly isoIn: (IsoInStream | null)[] = new Array<IsoInStream | null>(16).fill(null);
  private readonly isoOut: (IsoOutStream | null)[] = new Array<IsoOutStream | null>(16).fill(null);
  private readonly isoOptions: Partial<IsoStreamOptions>;
  private readonly drainTimer: Timer;
  private readonly watchdog: Timer;
  private readonly vanishMs: number;
  private silentSince = 0;
  private lastBytes = -1;
  private suspect = false;

  constructor(
    readonly connection: UsbipConnection,
    options: UsbipDeviceOptions,
  ) {
    const info = connection.device;
    this.name = options.name ?? `usbip ${info.busid} ${hex4(info.idVendor)}:${hex4(info.idProduct)}`;
    // UHCI has only low and full speed; a high-speed device runs at its own speed on the server and is
    // shown here as full speed, its endpoint descriptors rewritten (learnHighSpeedEndpoint).
    this.speed = info.speed === UsbipSpeed.Low ? UsbSpeed.Low : UsbSpeed.Full;
    this.highSpeed = info.speed >= UsbipSpeed.High;
    this.clock = options.clock;
    this.maxRequests = options.maxRequests ?? 256;
    this.readAheadBytes = Math.max(0, Math.min(options.bulkReadAheadBytes ?? 16384, 1 << 20));
    this.isoOptions = options.iso ?? {};
    connection.onClose = (error) => this.gone(error);
    this.drainTimer = this.clock.createTimer(this.drained);
    this.vanishMs = Math.max(0, options.vanishMs ?? 10_000);
    this.watchdog = this.clock.createTimer(this.watch);
    if (this.vanishMs > 0) this.watchdog.arm(this.clock.now() + WATCHDOG_PERIOD_MS);
  }

  get address(): number {
    return this.currentAddress;
  }

  /** True once the connection has ended; every request then fails at once with an I/O error. */
  get disconnected(): boolean {
    return this.connection.closed;
  }

  /** Ends the connection; the owner (see {@link UsbipAttachment}) unplugs the device. */
  close(): void {
    this.connection.close();
  }

  /** USB/IP carries no remote wakeup from the server's device, so the port is never asked for one. */
  setUpstream(_upstream: UpstreamPort | null): void {}

  /** Suspend is the guest's view of the port; the server's device keeps its own state. */
  setSuspended(_suspended: boolean): void {}

  /**
   * Bus reset: back to address 0; streams stop and their URBs are unlinked; any control transfer ends.
   * A reset of a device the guest had already addressed (usb-storage's error recovery, `usbreset`, a
   * driver's usb_reset_device) goes on to the server's device as SET_FEATURE(PORT_RESET), which
   * usbip-host turns into a real reset: the guest expects the device's state gone (configuration,
   * data toggles, a wedged command). The resets of the first enumeration, at address 0, stay here:
   * the server's host has just enumerated the device, and a reset there would cost the import time.
   * usbip-host runs commands in order, so the guest's requests after the reset reach the device after it.
   */
  reset(): void {
    const addressed = this.currentAddress !== 0;
    this.currentAddress = 0;
    this.abandonControl();
    this.stopStreams();
    this.discardReadAhead();
    if (addressed && !this.connection.closed) {
      const urb = this.connection.submit(this, TAG_PORT_RESET, false, 0, 0, { setup: PORT_RESET_SETUP });
      if (urb !== null) this.stats.portResets++;
    }
  }

  handlePacket(packet: UsbPacket): void {
    packet.actualLength = 0;
    if (this.connection.closed) {
      this.stats.rejected++;
      packet.status = PacketStatus.IoError;
      return;
    }
    if (packet.endpoint === 0) {
      this.handleControl(packet);
      return;
    }
    if (packet.pid !== Pid.In && packet.pid !== Pid.Out) {
      packet.status = PacketStatus.Stall;
      return;
    }
    const dirIn = packet.pid === Pid.In;
    const ep = packet.endpoint & 0x0f;
    if (packet.isochronous) {
      if (this.isoRefusedSlot[ep | (dirIn ? 16 : 0)] === 1) {
        // Not offered to the guest (its descriptor says wMaxPacketSize 0): nothing to stream.
        this.stats.isoRefused++;
        packet.status = PacketStatus.Stall;
        return;
      }
      if (dirIn) this.inStream(ep).handle(packet);
      else this.outStream(ep).handle(packet);
      return;
    }
    this.submitData(packet, dirIn, ep);
  }

  cancelPacket(packet: UsbPacket): void {
    if (packet === this.controlPacket) {
      // The guest gave the transfer up (Linux unlinks a control URB after its 5 s): so does the server,
      // or a device that never answers would hold the URB there for good.
      this.abandonControl();
      return;
    }
    for (let i = 0; i < this.requestPackets.length; i++) {
      if (this.requestPackets[i] !== packet) continue;
      const urb = this.requestUrbs[i];
      if (urb !== null && urb !== undefined) this.connection.unlink(urb);
      this.stats.cancelled++;
      this.freeRequest(i);
      return;
    }
    for (const reader of this.readers) if (reader?.cancel(packet)) return;
    for (const stream of this.isoIn) stream?.cancel(packet);
  }

  // ---- control -----------------------------------------------------------------------------------

  private handleControl(packet: UsbPacket): void {
    switch (packet.pid) {
      case Pid.Setup:
        this.onSetup(packet);
        return;
      case Pid.In:
        this.onControlIn(packet);
        return;
      case Pid.Out:
        this.onControlOut(packet);
        return;
      default:
        packet.status = PacketStatus.Stall;
    }
  }

  /** A URB still out for an abandoned transfer is unlinked: its answer must not reach the next one. */
  private abandonControl(): void {
    this.drainTimer.disarm();
    if (this.controlUrb !== null) this.connection.unlink(this.controlUrb);
    this.controlUrb = null;
    this.controlPacket = null;
    this.stage = ControlStage.Idle;
  }

  private onSetup(packet: UsbPacket): void {
    // A device always accepts a SETUP and abandons what was in progress (USB 2.0 8.5.3).
    this.abandonControl();
    if (packet.length !== 8) {
      packet.status = PacketStatus.Stall;
      return;
    }
    for (let i = 0; i < 8; i++) this.setup[i] = packet.data[i]!;
    packet.status = PacketStatus.Ack;
    packet.actualLength = 8;
    const bmRequestType = this.setup[0]!;
    this.wLength = this.setup[6]! | (this.setup[7]! << 8);
    this.controlFilled = 0;
    this.controlSent = 0;
    this.dataInDone = false;
    this.replyState = ReplyState.NotAsked;
    if (bmRequestType === 0x00 && this.setup[1] === 5) {
      // SET_ADDRESS is the bus's business (vhci-hcd answers it itself too): the address applies after
      // the status stage (USB 2.0 9.4.6).
      this.pendingAddress = this.setup[2]! & 0x7f;
      this.stage = ControlStage.LocalAddress;
      return;
    }
    this.stage =
      (bmRequestType & 0x80) !== 0 && this.wLength > 0 ? ControlStage.DataIn : ControlStage.DataOut;
  }

  private onControlIn(packet: UsbPacket): void {
    if (this.stage === ControlStage.LocalAddress) {
      packet.status = PacketStatus.Ack;
      this.currentAddress = this.pendingAddress;
      this.stage = ControlStage.Idle;
      return;
    }
    if (this.stage === ControlStage.DataOut) {
      // Status stage of a host-to-device request: now the request goes to the server, data and all.
      if (this.replyState === ReplyState.NotAsked && this.endsStreams() && this.outStreamsBusy()) {
        // The iso OUT packets the guest was told had gone are still in batches and URBs: the server
        // would cut them off (usb_set_interface kills the endpoint's URBs), losing the stream's tail.
        // They go first; the request follows once they are answered, or after DRAIN_LIMIT_MS.
        for (const stream of this.isoOut) stream?.flushNow();
        this.replyState = ReplyState.Draining;
        this.drainTimer.arm(this.clock.now() + DRAIN_LIMIT_MS);
      }
      if (this.replyState === ReplyState.Draining) {
        this.controlPacket = packet;
        this.controlTicket = packet.deferred();
        return;
      }
      if (this.replyState === ReplyState.NotAsked) this.submitControl(false);
      if (this.controlUrb === null) {
        packet.status = PacketStatus.IoError;
        return;
      }
      this.controlPacket = packet;
      this.controlTicket = packet.deferred();
      return;
    }
    if (this.stage !== ControlStage.DataIn) {
      packet.status = PacketStatus.Stall;
      return;
    }
    if (this.replyState === ReplyState.Ready) {
      this.sendControlData(packet);
      return;
    }
    if (this.replyState === ReplyState.NotAsked) this.submitControl(true);
    if (this.controlUrb === null) {
      packet.status = PacketStatus.IoError;
      return;
    }
    this.controlPacket = packet;
    this.controlTicket = packet.deferred();
  }

  private onControlOut(packet: UsbPacket): void {
    if (this.stage === ControlStage.DataOut && this.replyState === ReplyState.NotAsked) {
      const length = packet.length;
      if (length > packet.data.length || this.controlFilled + length > this.wLength) {
        packet.status = PacketStatus.Stall;
        this.stage = ControlStage.Idle;
        return;
      }
      copy(packet.data, 0, this.controlData, this.controlFilled, length);
      this.controlFilled += length;
      packet.actualLength = length;
      packet.status = PacketStatus.Ack;
      return;
    }
    if (this.stage === ControlStage.DataIn && packet.length === 0) {
      // The status stage of a device-to-host request; the host may end the data stage early.
      packet.status = PacketStatus.Ack;
      if (this.replyState === ReplyState.Asked) this.abandonControl();
      this.stage = ControlStage.Idle;
      return;
    }
    packet.status = PacketStatus.Stall;
    this.stage = ControlStage.Idle;
  }

  /** SET_CONFIGURATION or SET_INTERFACE (USB 2.0 9.4.7, 9.4.10): the endpoints' streams end. */
  private endsStreams(): boolean {
    const t = this.setup[0]!;
    const r = this.setup[1]!;
    return (t === 0x00 && r === 9) || (t === 0x01 && r === 11);
  }

  private outStreamsBusy(): boolean {
    for (const stream of this.isoOut) if (stream?.busy) return true;
    return false;
  }

  /** The OUT streams drained (or the wait ran out): the waiting request goes to the server now. */
  private readonly drained = (): void => {
    if (this.replyState !== ReplyState.Draining || (this.outStreamsBusy() && this.drainTimer.armed)) return;
    this.drainTimer.disarm();
    this.replyState = ReplyState.NotAsked;
    this.submitControl(false);
    if (this.controlUrb === null) {
      const packet = this.controlPacket;
      this.controlPacket = null;
      if (packet !== null) this.complete(packet, this.controlTicket, PacketStatus.IoError, 0);
    }
  };

  private submitControl(dirIn: boolean): void {
    this.replyState = ReplyState.Asked;
    this.stats.controlUrbs++;
    this.controlUrb = this.connection.submit(
      this,
      TAG_CONTROL,
      dirIn,
      0,
      dirIn ? this.wLength : this.controlFilled,
      {
        setup: this.setup,
        out: this.controlData,
      },
    );
  }

  private sendControlData(packet: UsbPacket): void {
    if (this.dataInDone) {
      packet.status = PacketStatus.Stall;
      this.stage = ControlStage.Idle;
      return;
    }
    const room = Math.min(packet.length, packet.data.length);
    const most = this.maxPacket0 > 0 ? Math.min(room, this.maxPacket0) : room;
    const chunk = Math.min(this.controlFilled - this.controlSent, most);
    copy(this.controlData, this.controlSent, packet.data, 0, chunk);
    this.controlSent += chunk;
    packet.actualLength = chunk;
    packet.status = PacketStatus.Ack;
    // A short packet or wLength reached ends the data stage (USB 2.0 5.5.3).
    if (chunk < most || this.controlSent >= this.wLength) this.dataInDone = true;
  }

  private controlCompleted(reply: UrbReply): void {
    this.controlUrb = null;
    const status = packetStatusOf(reply.status);
    const packet = this.controlPacket;
    const ticket = this.controlTicket;
    this.controlPacket = null;
    if (status !== PacketStatus.Ack) {
      this.stage = ControlStage.Idle;
      if (packet !== null) this.complete(packet, ticket, status, 0);
      return;
    }
    if (this.stage === ControlStage.DataIn) {
      const n = Math.min(reply.dataLength, this.wLength);
      this.controlData.set(reply.data.subarray(reply.dataAt, reply.dataAt + n));
      this.controlFilled = n;
      this.replyState = ReplyState.Ready;
      this.learnFromDescriptors(n);
      if (packet?.isPending(ticket)) {
        this.sendControlDataInto(packet, ticket);
      }
      return;
    }
    // Host-to-device: the status stage completes.
    this.stage = ControlStage.Idle;
    const request = this.setup[1]!;
    if ((this.setup[0]! & 0x60) === 0 && (request === 9 || request === 11)) {
      // SET_CONFIGURATION / SET_INTERFACE replace endpoints (USB 2.0 9.4.7, 9.4.10): streams restart.
      this.stopStreams();
    }
    if (packet !== null) this.complete(packet, ticket, PacketStatus.Ack, 0);
  }

  /** The first data packet of a reply, answered into the packet that waited for it. */
  private sendControlDataInto(packet: UsbPacket, ticket: AsyncTicket): void {
    const room = Math.min(packet.length, packet.data.length);
    const most = this.maxPacket0 > 0 ? Math.min(room, this.maxPacket0) : room;
    const chunk = Math.min(this.controlFilled, most);
    copy(this.controlData, 0, packet.data, 0, chunk);
    this.controlSent = chunk;
    if (chunk < most || this.controlSent >= this.wLength) this.dataInDone = true;
    this.complete(packet, ticket, PacketStatus.Ack, chunk);
  }

  /** Reads bMaxPacketSize0 and the endpoints' bInterval from standard descriptors passing by. */
  private learnFromDescriptors(n: number): void {
    if (this.setup[0] !== 0x80 || this.setup[1] !== 6) return;
    const type = this.setup[3];
    const d = this.controlData;
    if (type === 1 && n >= 8) {
      const size = d[7]!;
      if (size === 8 || size === 16 || size === 32 || size === 64) this.maxPacket0 = size;
    } else if (type === 2) {
      let bulkOnly = false;
      for (let at = 0; at + 2 <= n; ) {
        const length = d[at]!;
        if (length < 2) break;
        if (d[at + 1] === 4 && length >= 9 && at + 9 <= n) {
          // Mass storage (class 08) over Bulk-Only Transport (protocol 0x50).
          bulkOnly = d[at + 5] === 0x08 && d[at + 7] === 0x50;
        }
        if (d[at + 1] === 5 && length >= 7 && at + 7 <= n) {
          const address = d[at + 2]!;
          const slot = (address & 0x0f) | (address & 0x80 ? 16 : 0);
          if (this.highSpeed) {
            this.learnHighSpeedEndpoint(at, slot, bulkOnly);
          } else {
            this.intervals[slot] = d[at + 6]!;
            const maxPacket = (d[at + 4]! | (d[at + 5]! << 8)) & 0x7ff;
            const bulkIn = (d[at + 3]! & 3) === 2 && (address & 0x80) !== 0;
            const readAhead = bulkOnly && bulkIn && maxPacket > 0 && this.readAheadBytes > 0;
            this.readAheadPacket[slot] = readAhead ? maxPacket : 0;
            this.readerUrbBytes[slot] = readAhead
              ? Math.max(maxPacket, this.readAheadBytes - (this.readAheadBytes % maxPacket))
              : 0;
          }
        }
        at += length;
      }
    }
  }

  /**
   * One endpoint descriptor of a high-speed device, rewritten in place in the reply the guest reads.
   * A real high-speed device on a full-speed port runs at full speed with full-speed descriptors; this
   * one was enumerated at high speed by the server and stays so, and its descriptors name what a
   * full-speed guest driver refuses (bulk wMaxPacketSize 512, bInterval in microframes). So:
   * - bulk: wMaxPacketSize 64. Bulk data is a byte stream, so the size of the packets carries nothing but
   *   the end of a transfer (a short packet): bulk IN is read in URBs of whole server packets and given
   *   to the guest in 64-byte packets ({@link BulkInReader}), a short packet where the server's ended;
   * - interrupt: bInterval from 2^(b-1) microframes to frames (at least 1); a packet above 64 bytes
   *   (or several per microframe) narrowed to 64, and IN read as for bulk, so a larger report arrives
   *   in 64-byte pieces (as a full-speed device sends one), later than the device meant;
   * - isochronous: wMaxPacketSize 0, refused. Its packets are per microframe interval at the server and
   *   a full-speed guest schedules one per frame: no mapping keeps the data rate, so it is not offered.
   */
  private learnHighSpeedEndpoint(at: number, slot: number, bulkOnly: boolean): void {
    const d = this.controlData;
    const address = d[at + 2]!;
    const type = d[at + 3]! & 3;
    const raw = d[at + 4]! | (d[at + 5]! << 8);
    const serverPacket = (raw & 0x7ff) * (((raw >> 11) & 3) + 1);
    const dirIn = (address & 0x80) !== 0;
    const name = `endpoint 0x${address.toString(16).padStart(2, "0")}`;
    const setMaxPacket = (size: number): void => {
      if (raw === size) return;
      d[at + 4] = size & 0xff;
      d[at + 5] = size >> 8;
      this.stats.endpointsRewritten++;
    };
    this.readAheadPacket[slot] = 0;
    this.isoRefusedSlot[slot] = 0;
    if (type === 1) {
      setMaxPacket(0);
      this.isoRefusedSlot[slot] = 1;
      this.notice(
        `${name}: isochronous, ${serverPacket} bytes per ${1 << (Math.min(Math.max(d[at + 6]!, 1), 16) - 1)} microframe(s) at high speed: not offered to the full-speed guest (wMaxPacketSize 0)`,
      );
      return;
    }
    if (type === 2) {
      if (serverPacket > FULL_SPEED_MAX_PACKET) setMaxPacket(FULL_SPEED_MAX_PACKET);
      if (dirIn && serverPacket > 0) {
        this.readAheadPacket[slot] = Math.min(serverPacket, FULL_SPEED_MAX_PACKET);
        // Bulk-Only read-ahead in whole server packets; any other bulk IN one server packet per URB,
        // which returns as soon as the device sends anything.
        const ahead = bulkOnly ? this.readAheadBytes - (this.readAheadBytes % serverPacket) : 0;
        this.readerUrbBytes[slot] = Math.max(serverPacket, ahead);
      }
      return;
    }
    if (type === 3) {
      const micro = 1 << (Math.min(Math.max(d[at + 6]!, 1), 16) - 1);
      this.intervals[slot] = micro;
      const frames = Math.min(Math.max(micro >> 3, 1), 255);
      const narrow = serverPacket > FULL_SPEED_MAX_PACKET;
      if (d[at + 6] !== frames) {
        d[at + 6] = frames;
        if (!narrow) this.stats.endpointsRewritten++;
      }
      if (narrow) {
        setMaxPacket(FULL_SPEED_MAX_PACKET);
        this.notice(
          `${name}: interrupt, ${serverPacket}-byte packets at high speed: shown as 64, larger reports arrive in pieces`,
        );
        if (dirIn) {
          this.readAheadPacket[slot] = FULL_SPEED_MAX_PACKET;
          this.readerUrbBytes[slot] = serverPacket;
        }
      }
    }
  }

  private notice(message: string): void {
    if (this.notices.includes(message) || this.notices.length >= MAX_NOTICES) return;
    this.notices.push(message);
    this.onNotice?.(message);
  }

  // ---- bulk / interrupt ----------------------------------------------------------------------------

  private submitData(packet: UsbPacket, dirIn: boolean, ep: number): void {
    const readAhead = dirIn ? this.readAheadPacket[ep | 16]! : 0;
    const urbBytes = this.readerUrbBytes[ep | 16]!;
    if (readAhead > 0 && urbBytes > 0) {
      let reader = this.readers[ep];
      if (reader === null || reader === undefined || !reader.shapedAs(readAhead, urbBytes)) {
        // A new configuration may give the endpoint other sizes: the old reader's data is dropped.
        reader?.discard();
        reader = new BulkInReader(
          this.connection,
          ep,
          readAhead,
          urbBytes,
          this.stats.bulkReadAhead,
          this.highSpeed ? this.intervals[ep | 16]! : 0,
        );
        this.readers[ep] = reader;
      }
      reader.handle(packet);
      return;
    }
    let index = this.freeRequests.pop();
    if (index === undefined) {
      if (this.requestPackets.length >= this.maxRequests) {
        this.stats.rejected++;
        packet.status = PacketStatus.IoError;
        return;
      }
      index = this.requestPackets.length;
      this.requestPackets.push(null);
      this.requestTickets.push(0 as AsyncTicket);
      this.requestUrbs.push(null);
    }
    const interval = this.intervals[ep | (dirIn ? 16 : 0)]! || 1;
    const urb = this.connection.submit(this, index, dirIn, ep, packet.length, {
      out: packet.data,
      interval,
    });
    if (urb === null) {
      this.freeRequests.push(index);
      this.stats.rejected++;
      packet.status = PacketStatus.IoError;
      return;
    }
    this.stats.dataUrbs++;
    this.requestPackets[index] = packet;
    this.requestTickets[index] = packet.deferred();
    this.requestUrbs[index] = urb;
  }

  private freeRequest(index: number): void {
    this.requestPackets[index] = null;
    this.requestUrbs[index] = null;
    this.freeRequests.push(index);
  }

  private dataCompleted(urb: Urb, reply: UrbReply): void {
    const index = urb.tag;
    const packet = this.requestPackets[index];
    if (packet === null || packet === undefined || this.requestUrbs[index] !== urb) return;
    const ticket = this.requestTickets[index]!;
    this.freeRequest(index);
    const status = packetStatusOf(reply.status);
    let length = 0;
    if (urb.dirIn) {
      // Only while the request is still the one that asked (README rule 2).
      if (!packet.isPending(ticket)) {
        this.stats.refused++;
        return;
      }
      length = Math.min(reply.dataLength, packet.length);
      packet.data.set(reply.data.subarray(reply.dataAt, reply.dataAt + length));
    }
    this.complete(packet, ticket, status, length);
  }

  private complete(packet: UsbPacket, ticket: AsyncTicket, status: FinalPacketStatus, length: number): void {
    if (!packet.complete(ticket, status, length)) this.stats.refused++;
  }

  // ---- iso ---------------------------------------------------------------------------------------

  private inStream(ep: number): IsoInStream {
    let stream = this.isoIn[ep];
    if (stream === null || stream === undefined) {
      stream = new IsoInStream(this.connection, ep, this.clock, this.isoOptions, this.stats.isoIn);
      this.isoIn[ep] = stream;
    }
    return stream;
  }

  private outStream(ep: number): IsoOutStream {
    let stream = this.isoOut[ep];
    if (stream === null || stream === undefined) {
      stream = new IsoOutStream(this.connection, ep, this.clock, this.isoOptions, this.stats.isoOut);
      stream.onIdle = this.drained;
      this.isoOut[ep] = stream;
    }
    return stream;
  }

  private discardReadAhead(): void {
    for (const reader of this.readers) reader?.discard();
  }

  private stopStreams(): void {
    for (const stream of this.isoIn) stream?.stop();
    for (const stream of this.isoOut) stream?.stop();
  }

  urbCompleted(urb: Urb, reply: UrbReply): void {
    if (urb.tag === TAG_PORT_RESET) {
      if (reply.status === 0) this.stats.portResetsDone++;
      else this.notice(`the server refused a port reset (status ${reply.status}); its device was not reset`);
      return;
    }
    if (urb.tag === TAG_CONTROL) {
      if (urb === this.controlUrb) this.controlCompleted(reply);
      return;
    }
    this.dataCompleted(urb, reply);
  }

  /**
   * Once a second: has the server said anything while answers were due? A first silent check past
   * `vanishMs` only raises suspicion; the connection is dropped if the next check, a second later,
   * finds it still silent. In between the event loop has read whatever arrived, so a host that was
   * stalled itself (its replies waiting unread in the socket) is not taken for a vanished server.
   */
  private readonly watch = (): void => {
    const now = this.clock.now();
    const bytes = this.connection.stats.bytesReceived;
    if (this.connection.urbsExpectingAnswer === 0 || bytes !== this.lastBytes) {
      this.silentSince = now;
      this.lastBytes = bytes;
      this.suspect = false;
    } else if (now - this.silentSince >= this.vanishMs) {
      if (this.suspect) {
        this.connection.drop(
          new UsbipError(
            `no answer from the server for ${Math.round((now - this.silentSince) / 1000)} s with requests out: it is gone`,
          ),
        );
        return;
      }
      this.suspect = true;
    }
    this.watchdog.arm(now + WATCHDOG_PERIOD_MS);
  };

  private gone(error: UsbipError | null): void {
    this.watchdog.dispose();
    this.drainTimer.dispose();
    this.stopStreams();
    for (const stream of this.isoOut) stream?.dispose();
    this.discardReadAhead();
    this.controlUrb = null;
    this.onGone?.(error);
  }
}

function hex4(n: number): string {
  return n.toString(16).padStart(4, "0");
}
