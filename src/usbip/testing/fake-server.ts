import type { Clock, Timer } from "../../machine/clock.ts";
import { Pid } from "../../usb/constants.ts";
import type { UsbDevice } from "../../usb/device.ts";
import { PacketStatus, UsbPacket } from "../../usb/packet.ts";
import {
  BUSID_LENGTH,
  DEVICE_RECORD_LENGTH,
  Errno,
  INTERFACE_RECORD_LENGTH,
  ISO_DESCRIPTOR_LENGTH,
  OP_HEADER_LENGTH,
  OpCode,
  URB_HEADER_LENGTH,
  USBIP_VERSION,
  UsbipCommand,
  UsbipSpeed,
} from "../protocol.ts";
import type { UsbipConnect, UsbipTransport } from "../transport.ts";

/**
 * An in-process USB/IP server for tests, written from usbip_protocol.rst: it speaks the protocol over a
 * socket pair (two {@link UsbipTransport} ends) and answers with one of our own emulated devices, so a
 * test can check control, bulk, interrupt and iso paths bit for bit, with latency on the test's clock.
 *
 * - Operations (list, import) are answered at once (microtasks), so `await` works without a clock.
 * - URBs: each message takes `latencyMs / 2` each way on the clock. A control URB runs SETUP, DATA and
 *   STATUS on the device; bulk/interrupt one packet (a NAK retries every 1 ms, as a host controller
 *   polls, until the URB is unlinked); iso URBs are queued back to back on 1 ms server frames
 *   (URB_ISO_ASAP: after the previous URB of the endpoint, or the next frame if the queue ran dry), their
 *   packets run at the end of their last frame, and start_frame says where they went.
 * - Faults: {@link FakeSession.closeFromServer}, {@link FakeSession.inject}, {@link FakeUsbipServer.mutateReply},
 *   {@link FakeUsbipServer.silent}.
 */
export interface FakeExport {
  readonly busid: string;
  readonly device: UsbDevice;
  readonly idVendor?: number;
  readonly idProduct?: number;
  readonly deviceClass?: number;
  readonly speed?: number;
  readonly busnum?: number;
  readonly devnum?: number;
  readonly interfaces?: readonly [number, number, number][];
}

export class FakeUsbipServer {
  readonly sessions: FakeSession[] = [];
  /** One-way delay is half of this, on the clock. */
  latencyMs = 0;
  /** Rewrites each RET_SUBMIT before it is sent (faults: wrong seqnum, bad lengths…); null sends nothing. */
  mutateReply: ((bytes: Uint8Array) => Uint8Array | null) | null = null;
  /** Read and run commands but never answer (a server that vanished without closing). */
  silent = false;
  /** CMD_SUBMIT headers seen, for tests. */
  readonly submits: {
    seqnum: number;
    ep: number;
    dirIn: boolean;
    length: number;
    packets: number;
    flags: number;
    interval: number;
    /** The 8 SETUP bytes (zeros on other endpoints). */
    setup: number[];
    /** When the server read it (its clock, ms). */
    at: number;
  }[] = [];
  readonly unlinks: number[] = [];
  /** SET_FEATURE(PORT_RESET) requests that reset the device, as Linux's usbip-host does (stub_rx.c). */
  portResets = 0;

  constructor(
    readonly clock: Clock,
    readonly exports: FakeExport[],
  ) {}

  /** The client's way in: a fresh socket pair per call. */
  readonly connect: UsbipConnect = async () => {
    const session = new FakeSession(this);
    this.sessions.push(session);
    return session.clientEnd;
  };
}

/** The client's end of the socket pair. */
class ClientEnd implements UsbipTransport {
  onData: ((chunk: Uint8Array) => void) | null = null;
  onClose: ((error: Error | null) => void) | null = null;
  closed = false;
  constructor(private readonly session: FakeSession) {}
  send(bytes: Uint8Array): void {
    if (this.closed) return;
    this.session.fromClient(bytes.slice());
  }
  close(): void {
    this.closed = true;
    this.session.clientClosed = true;
  }
}

interface Job {
  due: number;
  seqnum: number;
  run: () => Uint8Array | null;
}

export class FakeSession {
  readonly clientEnd: ClientEnd;
  clientClosed = false;
  imported: FakeExport | null = null;
  private inbox = new Uint8Array(0);
  private readonly jobs: Job[] = [];
  private readonly timer: Timer;
  /** Per iso endpoint slot: the server frame after the last queued URB. */
  private readonly isoNext = new Map<number, number>();
  private readonly packet = new UsbPacket(65536);
  private lastDelivery = 0;

  constructor(private readonly server: FakeUsbipServer) {
    this.clientEnd = new ClientEnd(this);
    this.timer = server.clock.createTimer(() => this.runDue());
  }

  /** The server closes the connection (usbipd stopped, the device unbound). */
  closeFromServer(): void {
    if (this.clientEnd.closed) return;
    this.clientEnd.closed = true;
    this.timer.disarm();
    const end = this.clientEnd;
    queueMicrotask(() => end.onClose?.(null));
  }

  /** Raw bytes to the client, now (garbage, forged replies). */
  inject(bytes: Uint8Array): void {
    this.toClient(bytes, true);
  }

  fromClient(bytes: Uint8Array): void {
    const joined = new Uint8Array(this.inbox.length + bytes.length);
    joined.set(this.inbox);
    joined.set(bytes, this.inbox.length);
    this.inbox = joined;
    for (;;) {
      const used = this.imported === null ? this.operation() : this.command();
      if (used === 0) break;
      this.inbox = this.inbox.subarray(used);
    }
  }

  private toClient(bytes: Uint8Array, now = false): void {
    if (this.clientEnd.closed && !now) return;
    const deliver = () => {
      if (!this.clientEnd.closed) this.clientEnd.onData?.(bytes);
    };
    // Operations and injected bytes go at once (microtasks, so `await` needs no clock); URB replies on the
    // clock, in order (a stream never reorders, even when the latency drops).
    if (now) {
      queueMicrotask(deliver);
      return;
    }
    this.lastDelivery = Math.max(this.lastDelivery, this.server.clock.now() + this.server.latencyMs / 2);
    this.later(this.lastDelivery, 0, () => {
      deliver();
      return null;
    });
  }

  private operation(): number {
    const b = this.inbox;
    if (b.length < OP_HEADER_LENGTH) return 0;
    const v = new DataView(b.buffer, b.byteOffset, b.length);
    const code = v.getUint16(2);
    if (code === OpCode.ReqDevlist) {
      this.toClient(this.devlist(), true);
      return OP_HEADER_LENGTH;
    }
    if (code === OpCode.ReqImport) {
      if (b.length < OP_HEADER_LENGTH + BUSID_LENGTH) return 0;
      let busid = "";
      for (let i = 0; i < BUSID_LENGTH && b[OP_HEADER_LENGTH + i] !== 0; i++) {
        busid += String.fromCharCode(b[OP_HEADER_LENGTH + i]!);
      }
      const found = this.server.exports.find((e) => e.busid === busid);
      const out = new Uint8Array(OP_HEADER_LENGTH + (found ? DEVICE_RECORD_LENGTH : 0));
      const o = new DataView(out.buffer);
      o.setUint16(0, USBIP_VERSION);
      o.setUint16(2, OpCode.RepImport);
      o.setUint32(4, found ? 0 : 4);
      if (found) {
        writeRecord(out, OP_HEADER_LENGTH, found);
        this.imported = found;
        // The server's own host has enumerated the device (the client never forwards SET_ADDRESS).
        found.device.reset();
        this.run(Pid.Setup, 0, 8, Uint8Array.of(0, 5, 2, 0, 0, 0, 0, 0));
        this.run(Pid.In, 0, 0, null);
      }
      this.toClient(out, true);
      return OP_HEADER_LENGTH + BUSID_LENGTH;
    }
    return b.length; // unknown: swallowed
  }

  private devlist(): Uint8Array {
    const exports = this.server.exports;
    let size = OP_HEADER_LENGTH + 4;
    for (const e of exports)
      size += DEVICE_RECORD_LENGTH + (e.interfaces?.length ?? 0) * INTERFACE_RECORD_LENGTH;
    const out = new Uint8Array(size);
    const v = new DataView(out.buffer);
    v.setUint16(0, USBIP_VERSION);
    v.setUint16(2, OpCode.RepDevlist);
    v.setUint32(OP_HEADER_LENGTH, exports.length);
    let at = OP_HEADER_LENGTH + 4;
    for (const e of exports) {
      writeRecord(out, at, e);
      at += DEVICE_RECORD_LENGTH;
      for (const [c, s, p] of e.interfaces ?? []) {
        out[at] = c;
        out[at + 1] = s;
        out[at + 2] = p;
        at += INTERFACE_RECORD_LENGTH;
      }
    }
    return out;
  }

  private command(): number {
    const b = this.inbox;
    if (b.length < URB_HEADER_LENGTH) return 0;
    const v = new DataView(b.buffer, b.byteOffset, b.length);
    const command = v.getUint32(0);
    const seqnum = v.getUint32(4);
    if (command === UsbipCommand.CmdUnlink) {
      const target = v.getUint32(20);
      this.server.unlinks.push(target);
      const index = this.jobs.findIndex((j) => j.seqnum === target);
      if (index >= 0) this.jobs.splice(index, 1);
      this.reply(retUnlink(seqnum, index >= 0 ? -Errno.ECONNRESET : 0), false);
      return URB_HEADER_LENGTH;
    }
    const dirIn = v.getUint32(12) === 1;
    const ep = v.getUint32(16);
    const flags = v.getUint32(20);
    const length = v.getInt32(24);
    const packets = v.getInt32(32);
    const interval = v.getInt32(36);
    const iso = packets > 0;
    const outLength = dirIn ? 0 : length;
    const total = URB_HEADER_LENGTH + outLength + (iso ? packets * ISO_DESCRIPTOR_LENGTH : 0);
    if (b.length < total) return 0;
    const setup = b.slice(40, 48);
    this.server.submits.push({
      seqnum,
      ep,
      dirIn,
      length,
      packets,
      flags,
      interval,
      setup: [...setup],
      at: this.server.clock.now(),
    });
    const data = b.slice(URB_HEADER_LENGTH, URB_HEADER_LENGTH + outLength);
    const isoLengths: number[] = [];
    for (let i = 0; i < packets; i++) {
      isoLengths.push(v.getUint32(URB_HEADER_LENGTH + outLength + i * ISO_DESCRIPTOR_LENGTH + 4));
    }
    const arrive = this.server.clock.now() + this.server.latencyMs / 2;
    if (ep === 0) this.later(arrive, seqnum, () => this.control(seqnum, setup, data, dirIn, length));
    else if (iso) {
      const slot = ep | (dirIn ? 16 : 0);
      const frameNow = Math.floor(arrive) + 1;
      const next = this.isoNext.get(slot) ?? 0;
      const start = Math.max(next, frameNow);
      this.isoNext.set(slot, start + packets);
      this.later(start + packets, seqnum, () => this.isoUrb(seqnum, ep, dirIn, start, isoLengths, data));
    } else this.later(arrive, seqnum, () => this.bulk(seqnum, ep, dirIn, length, data));
    return total;
  }

  private later(due: number, seqnum: number, run: () => Uint8Array | null): void {
    let i = this.jobs.length;
    while (i > 0 && this.jobs[i - 1]!.due > due) i--;
    this.jobs.splice(i, 0, { due, seqnum, run });
    this.timer.arm(this.jobs[0]!.due);
  }

  private runDue(): void {
    const now = this.server.clock.now();
    while (this.jobs.length > 0 && this.jobs[0]!.due <= now) {
      const job = this.jobs.shift()!;
      const out = job.run();
      if (out === null) continue;
      this.reply(out, true);
    }
    if (this.jobs.length > 0) this.timer.arm(this.jobs[0]!.due);
  }

  private reply(bytes: Uint8Array, isSubmit: boolean): void {
    if (this.server.silent) return;
    const mutated = isSubmit && this.server.mutateReply !== null ? this.server.mutateReply(bytes) : bytes;
    if (mutated !== null) this.toClient(mutated);
  }

  private device(): UsbDevice {
    return this.imported!.device;
  }

  private run(pid: number, ep: number, length: number, data: Uint8Array | null, iso = false): UsbPacket {
    const p = this.packet;
    p.init(pid, this.device().address, ep, length, iso);
    if (data !== null) p.data.set(data.subarray(0, length));
    this.device().handlePacket(p);
    p.finish();
    return p;
  }

  private control(
    seqnum: number,
    setup: Uint8Array,
    data: Uint8Array,
    dirIn: boolean,
    length: number,
  ): Uint8Array {
    if (setup[0] === 0x23 && setup[1] === 3 && setup[2] === 4 && setup[3] === 0) {
      // usbip-host resets its device for SET_FEATURE(PORT_RESET) and answers 0 without sending the
      // request to it; the server's host then addresses the device again (usb_reset_device).
      this.server.portResets++;
      this.device().reset();
      this.run(Pid.Setup, 0, 8, Uint8Array.of(0, 5, 2, 0, 0, 0, 0, 0));
      this.run(Pid.In, 0, 0, null);
      return retSubmit(seqnum, 0, 0, null);
    }
    const s = this.run(Pid.Setup, 0, 8, setup);
    if (s.status !== PacketStatus.Ack) return retSubmit(seqnum, -Errno.EPIPE, 0, null);
    const got: number[] = [];
    if (dirIn) {
      while (got.length < length) {
        // Packets of 8: every full-speed control endpoint handles them (USB 2.0 5.5.3).
        const ask = Math.min(8, length - got.length);
        const p = this.run(Pid.In, 0, ask, null);
        if (p.status !== PacketStatus.Ack) return retSubmit(seqnum, -Errno.EPIPE, 0, null);
        for (let i = 0; i < p.actualLength; i++) got.push(p.data[i]!);
        if (p.actualLength < ask) break;
      }
      const st = this.run(Pid.Out, 0, 0, null);
      if (st.status !== PacketStatus.Ack) return retSubmit(seqnum, -Errno.EPIPE, 0, null);
      return retSubmit(seqnum, 0, got.length, Uint8Array.from(got));
    }
    for (let at = 0; at < length; at += 8) {
      const n = Math.min(8, length - at);
      const p = this.run(Pid.Out, 0, n, data.subarray(at, at + n));
      if (p.status !== PacketStatus.Ack) return retSubmit(seqnum, -Errno.EPIPE, 0, null);
    }
    const st = this.run(Pid.In, 0, 0, null);
    if (st.status !== PacketStatus.Ack) return retSubmit(seqnum, -Errno.EPIPE, 0, null);
    return retSubmit(seqnum, 0, length, null);
  }

  /**
   * A bulk or interrupt URB as a host controller runs it: IN packets of up to 64 bytes until a short
   * packet or the buffer is full (USB 2.0 5.8.3), each NAK retried a frame later; OUT as one packet.
   */
  private bulk(
    seqnum: number,
    ep: number,
    dirIn: boolean,
    length: number,
    data: Uint8Array,
    got: number[] = [],
  ): Uint8Array | null {
    if (!dirIn) {
      const p = this.run(Pid.Out, ep, length, data);
      if (p.status === PacketStatus.Nak) {
        this.later(this.server.clock.now() + 1, seqnum, () =>
          this.bulk(seqnum, ep, dirIn, length, data, got),
        );
        return null;
      }
      return retSubmit(seqnum, statusOf(p.status), length, null);
    }
    for (;;) {
      const ask = Math.min(64, length - got.length);
      const p = this.run(Pid.In, ep, ask, null);
      if (p.status === PacketStatus.Nak) {
        // Polled again next frame, as a host controller retries a NAKed TD.
        this.later(this.server.clock.now() + 1, seqnum, () =>
          this.bulk(seqnum, ep, dirIn, length, data, got),
        );
        return null;
      }
      for (let i = 0; i < p.actualLength; i++) got.push(p.data[i]!);
      if (p.status !== PacketStatus.Ack || p.actualLength < ask || got.length >= length) {
        return retSubmit(seqnum, statusOf(p.status), got.length, Uint8Array.from(got));
      }
    }
  }

  private isoUrb(
    seqnum: number,
    ep: number,
    dirIn: boolean,
    start: number,
    lengths: number[],
    data: Uint8Array,
  ): Uint8Array {
    const actual: number[] = [];
    const chunks: number[] = [];
    let offset = 0;
    for (const length of lengths) {
      const p = this.run(
        dirIn ? Pid.In : Pid.Out,
        ep,
        length,
        dirIn ? null : data.subarray(offset, offset + length),
        true,
      );
      const n = dirIn ? p.actualLength : length;
      actual.push(n);
      if (dirIn) for (let i = 0; i < n; i++) chunks.push(p.data[i]!);
      offset += length;
    }
    const sum = actual.reduce((a, b) => a + b, 0);
    const out = new Uint8Array(URB_HEADER_LENGTH + chunks.length + lengths.length * ISO_DESCRIPTOR_LENGTH);
    const v = new DataView(out.buffer);
    header(v, UsbipCommand.RetSubmit, seqnum);
    v.setInt32(24, sum);
    v.setInt32(28, start);
    v.setInt32(32, lengths.length);
    out.set(chunks, URB_HEADER_LENGTH);
    let at = URB_HEADER_LENGTH + chunks.length;
    let off = 0;
    for (let i = 0; i < lengths.length; i++, at += ISO_DESCRIPTOR_LENGTH) {
      v.setUint32(at, off);
      v.setUint32(at + 4, lengths[i]!);
      v.setUint32(at + 8, actual[i]!);
      off += lengths[i]!;
    }
    return out;
  }
}

function statusOf(status: PacketStatus): number {
  return status === PacketStatus.Ack ? 0 : status === PacketStatus.Stall ? -Errno.EPIPE : -Errno.EPROTO;
}

function header(v: DataView, command: number, seqnum: number): void {
  v.setUint32(0, command);
  v.setUint32(4, seqnum);
}

/** A RET_SUBMIT for a non-iso URB (number_of_packets 0, as Linux's stub sends). */
export function retSubmit(
  seqnum: number,
  status: number,
  actualLength: number,
  data: Uint8Array | null,
): Uint8Array {
  const out = new Uint8Array(URB_HEADER_LENGTH + (data?.length ?? 0));
  const v = new DataView(out.buffer);
  header(v, UsbipCommand.RetSubmit, seqnum);
  v.setInt32(20, status);
  v.setInt32(24, actualLength);
  if (data !== null) out.set(data, URB_HEADER_LENGTH);
  return out;
}

export function retUnlink(seqnum: number, status: number): Uint8Array {
  const out = new Uint8Array(URB_HEADER_LENGTH);
  const v = new DataView(out.buffer);
  header(v, UsbipCommand.RetUnlink, seqnum);
  v.setInt32(20, status);
  return out;
}

function writeRecord(out: Uint8Array, at: number, e: FakeExport): void {
  const v = new DataView(out.buffer, out.byteOffset);
  const path = `/sys/devices/fake/${e.busid}`;
  for (let i = 0; i < path.length; i++) out[at + i] = path.charCodeAt(i);
  for (let i = 0; i < e.busid.length; i++) out[at + 256 + i] = e.busid.charCodeAt(i);
  const f = at + 256 + BUSID_LENGTH;
  v.setUint32(f, e.busnum ?? 1);
  v.setUint32(f + 4, e.devnum ?? 2);
  v.setUint32(f + 8, e.speed ?? UsbipSpeed.Full);
  v.setUint16(f + 12, e.idVendor ?? 0x1234);
  v.setUint16(f + 14, e.idProduct ?? 0x5678);
  v.setUint16(f + 16, 0x0100);
  out[f + 18] = e.deviceClass ?? 0;
  out[f + 21] = 1;
  out[f + 22] = 1;
  out[f + 23] = e.interfaces?.length ?? 0;
}
