import {
  type Decoded,
  decodeDevlistReply,
  decodeImportReply,
  devidOf,
  encodeDevlistRequest,
  encodeImportRequest,
  ISO_DESCRIPTOR_LENGTH,
  TransferFlag,
  URB_HEADER_LENGTH,
  type UsbipDeviceInfo,
  writeIsoDescriptor,
  writeSubmitHeader,
  writeUnlink,
} from "./protocol.ts";
import { hostNow, RoundTripStats } from "./round-trip.ts";
import type { UsbipConnect, UsbipTransport } from "./transport.ts";
import { type SubmittedUrb, type UrbLookup, type UrbReply, UrbReplyDecoder } from "./urb-decoder.ts";

/** A USB/IP failure: refused, timed out, a reply that does not parse, the server gone. */
export class UsbipError extends Error {}

/** How long an operation (list, import) may take before it fails; default 5 s. */
export const DEFAULT_OP_TIMEOUT_MS = 5000;

/**
 * Sends one operation request and reads its reply, then hands the transport back (import) or closes
 * it (list). Rejects with a {@link UsbipError}; never throws synchronously.
 */
function operation<T>(
  transport: UsbipTransport,
  request: Uint8Array,
  decode: (bytes: Uint8Array) => Decoded<T>,
  what: string,
  timeoutMs: number,
): Promise<{ value: T; rest: Uint8Array }> {
  return new Promise((resolve, reject) => {
    let received = new Uint8Array(0);
    let done = false;
    const finish = (error: UsbipError | null, value?: { value: T; rest: Uint8Array }): void => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      transport.onData = null;
      transport.onClose = null;
      if (error !== null) {
        transport.close();
        reject(error);
      } else if (value !== undefined) resolve(value);
    };
    const timer = setTimeout(
      () => finish(new UsbipError(`${what}: no complete reply within ${timeoutMs} ms`)),
      timeoutMs,
    );
    transport.onData = (chunk) => {
      const joined = new Uint8Array(received.length + chunk.length);
      joined.set(received);
      joined.set(chunk, received.length);
      received = joined;
      const result = decode(received);
      if (result.kind === "error") finish(new UsbipError(result.error));
      else if (result.kind === "ok") {
        finish(null, { value: result.value, rest: received.subarray(result.consumed) });
      }
    };
    transport.onClose = (error) =>
      finish(
        new UsbipError(
          `${what}: the server closed the connection${error === null ? "" : ` (${error.message})`} before a complete reply`,
        ),
      );
    try {
      transport.send(request);
    } catch (error) {
      finish(new UsbipError(`${what}: ${error instanceof Error ? error.message : String(error)}`));
    }
  });
}

/** OP_REQ_DEVLIST over a fresh connection: the devices the server exports. */
export async function listUsbipDevices(
  connect: UsbipConnect,
  timeoutMs = DEFAULT_OP_TIMEOUT_MS,
): Promise<UsbipDeviceInfo[]> {
  const transport = await connect();
  const { value } = await operation(
    transport,
    encodeDevlistRequest(),
    decodeDevlistReply,
    "device list",
    timeoutMs,
  );
  transport.close();
  return value;
}

/** URBs out at once on one connection (unlinked ones count until answered); beyond it a submit is refused. */
export const MAX_URBS_IN_FLIGHT = 1024;

/** A record of one URB on the wire, reused through the connection's pool. */
export class Urb implements SubmittedUrb {
  seqnum = 0;
  dirIn = false;
  endpoint = 0;
  bufferLength = 0;
  numberOfPackets = 0;
  /** The owner's own word for it (a slot, an index). */
  tag = 0;
  /** CMD_UNLINK sent for it: its reply is still read (to keep the stream in step) but not delivered. */
  unlinked = false;
  /** When it was sent, on the host's clock ({@link UsbipConnection.now}). */
  submittedAt = 0;
  owner: UrbOwner | null = null;
}

export interface UrbOwner {
  /** The server answered `urb` (never after it was unlinked or the connection closed). */
  urbCompleted(urb: Urb, reply: UrbReply): void;
}

/** Counters of one connection, for tests, reports and the bench. */
export class UsbipConnectionStats {
  submitted = 0;
  completed = 0;
  unlinks = 0;
  /** RET_UNLINK with -ECONNRESET: the server took the URB back before it completed. */
  unlinked = 0;
  /** Replies read for URBs already unlinked (the reply crossed the unlink): read, not delivered. */
  crossedUnlink = 0;
  bytesSent = 0;
  bytesReceived = 0;
  /** Submits refused because {@link MAX_URBS_IN_FLIGHT} URBs were already out. */
  refused = 0;
  /** Round trips of control URBs (endpoint 0): the server's and the network's latency. */
  readonly controlRoundTrip = new RoundTripStats();
  /** Bulk and interrupt URBs (an interrupt URB also waits while the device NAKs). */
  readonly dataRoundTrip = new RoundTripStats();
  /** Iso URBs: their frames at the device plus the network. */
  readonly isoRoundTrip = new RoundTripStats();
}

/**
 * The URB phase of one imported device: CMD_SUBMIT / CMD_UNLINK out, RET_SUBMIT / RET_UNLINK in,
 * sequence numbers, and the URBs in flight. A reply that does not parse drops the connection with a
 * clear error ({@link closeError}); so does the server closing it. Nothing here throws at its caller.
 */
export class UsbipConnection implements UrbLookup {
  readonly stats = new UsbipConnectionStats();
  readonly devid: number;
  /** Called once when the connection ends: `error` says why (null: closed from this side). */
  onClose: ((error: UsbipError | null) => void) | null = null;
  /** Why the connection ended, once it has. */
  closeError: UsbipError | null = null;
  private closedNow = false;
  private nextSeqnum = 1;
  private readonly inFlight = new Map<number, Urb>();
  /** CMD_UNLINK seqnum → the URB it unlinks. */
  private readonly unlinks = new Map<number, Urb>();
  private readonly free: Urb[] = [];
  private readonly decoder: UrbReplyDecoder;
  /** Control and iso URBs out: a live server answers them within seconds (see {@link answersSoon}). */
  private answerable = 0;

  constructor(
    private readonly transport: UsbipTransport,
    readonly device: UsbipDeviceInfo,
    pending: Uint8Array = new Uint8Array(0),
    /** The host's clock for round-trip times (tests may pass a virtual one). */
    readonly now: () => number = hostNow,
  ) {
    this.devid = devidOf(device);
    this.decoder = new UrbReplyDecoder(this, this.onReply);
    transport.onData = (chunk) => {
      this.stats.bytesReceived += chunk.length;
      this.decoder.feed(chunk);
      if (this.decoder.error !== null) this.drop(new UsbipError(this.decoder.error));
    };
    transport.onClose = (error) =>
      this.drop(
        new UsbipError(`the server closed the connection${error === null ? "" : ` (${error.message})`}`),
      );
    if (pending.length > 0) transport.onData(pending);
  }

  get closed(): boolean {
    return this.closedNow;
  }

  /**
   * Control and iso URBs out. A server answers these within seconds whatever its device does (an iso
   * URB completes after its frames; Linux gives a control transfer 5 s), unlike a bulk or interrupt
   * IN that waits for the device's data: while any is out, silence means the server is gone.
   */
  get urbsExpectingAnswer(): number {
    return this.answerable;
  }

  /** URBs submitted and not yet answered (unlinked ones included until their answer). */
  get urbsInFlight(): number {
    return this.inFlight.size;
  }

  submitted(seqnum: number): SubmittedUrb | null {
    return this.inFlight.get(seqnum) ?? null;
  }

  unlinkPending(seqnum: number): boolean {
    return this.unlinks.has(seqnum);
  }

  /**
   * Sends a CMD_SUBMIT. `out` (OUT data, `outLength` bytes) and `isoLengths` (one length per packet,
   * laid out back to back) are copied at once. Returns the URB, or null when the connection is closed.
   */
  submit(
    owner: UrbOwner,
    tag: number,
    dirIn: boolean,
    endpoint: number,
    bufferLength: number,
    options: {
      setup?: Uint8Array | null;
      out?: Uint8Array | null;
      outAt?: number;
      isoPackets?: number;
      isoPacketLength?: Uint16Array | null;
      interval?: number;
      flags?: number;
    } = {},
  ): Urb | null {
    if (this.closedNow) return null;
    if (this.inFlight.size >= MAX_URBS_IN_FLIGHT) {
      // A guest that keeps abandoning requests to a server that never answers cannot grow this table.
      this.stats.refused++;
      return null;
    }
    const packets = options.isoPackets ?? 0;
    const outLength = dirIn ? 0 : bufferLength;
    const message = new Uint8Array(URB_HEADER_LENGTH + outLength + packets * ISO_DESCRIPTOR_LENGTH);
    const v = new DataView(message.buffer);
    const urb = this.free.pop() ?? new Urb();
    urb.seqnum = this.takeSeqnum();
    urb.dirIn = dirIn;
    urb.endpoint = endpoint;
    urb.bufferLength = bufferLength;
    urb.numberOfPackets = packets;
    urb.tag = tag;
    urb.unlinked = false;
    urb.owner = owner;
    urb.submittedAt = this.now();
    writeSubmitHeader(
      v,
      0,
      {
        seqnum: urb.seqnum,
        devid: this.devid,
        dirIn,
        endpoint,
        transferFlags:
          (options.flags ?? 0) | (dirIn ? TransferFlag.DirIn : 0) | (packets > 0 ? TransferFlag.IsoAsap : 0),
        transferBufferLength: bufferLength,
        startFrame: 0,
        numberOfPackets: packets,
        interval: options.interval ?? (packets > 0 ? 1 : 0),
      },
      options.setup ?? null,
    );
    const out = options.out;
    if (outLength > 0 && out)
      message.set(out.subarray(options.outAt ?? 0, (options.outAt ?? 0) + outLength), URB_HEADER_LENGTH);
    let offset = 0;
    for (let i = 0; i < packets; i++) {
      const length = options.isoPacketLength?.[i] ?? 0;
      writeIsoDescriptor(v, URB_HEADER_LENGTH + outLength + i * ISO_DESCRIPTOR_LENGTH, offset, length);
      offset += length;
    }
    this.inFlight.set(urb.seqnum, urb);
    if (answersSoon(urb)) this.answerable++;
    this.stats.submitted++;
    this.send(message);
    return urb;
  }

  /**
   * Asks the server to take `urb` back (the guest cancelled it). From now on its answer is not
   * delivered, whether it is RET_UNLINK or a RET_SUBMIT that crossed the unlink.
   */
  unlink(urb: Urb): void {
    if (this.closedNow || urb.unlinked || this.inFlight.get(urb.seqnum) !== urb) return;
    urb.unlinked = true;
    const seqnum = this.takeSeqnum();
    const message = new Uint8Array(URB_HEADER_LENGTH);
    writeUnlink(new DataView(message.buffer), 0, seqnum, this.devid, urb.dirIn, urb.endpoint, urb.seqnum);
    this.unlinks.set(seqnum, urb);
    this.stats.unlinks++;
    this.send(message);
  }

  /** Ends the connection from this side; URBs in flight are forgotten (their owners' tickets die with the device). */
  close(): void {
    this.finish(null);
  }

  private finish(error: UsbipError | null): void {
    if (this.closedNow) return;
    this.closedNow = true;
    this.closeError = error;
    this.transport.onData = null;
    this.transport.onClose = null;
    this.transport.close();
    this.inFlight.clear();
    this.answerable = 0;
    this.unlinks.clear();
    this.onClose?.(error);
  }

  /** Drops the connection because of `error` (a bad reply, the server gone). */
  drop(error: UsbipError): void {
    this.finish(error);
  }

  private send(message: Uint8Array): void {
    this.stats.bytesSent += message.length;
    try {
      this.transport.send(message);
    } catch (error) {
      this.drop(new UsbipError(`send failed: ${error instanceof Error ? error.message : String(error)}`));
    }
  }

  private takeSeqnum(): number {
    const seqnum = this.nextSeqnum;
    this.nextSeqnum = (this.nextSeqnum + 1) >>> 0 || 1;
    return seqnum;
  }

  private readonly onReply = (reply: UrbReply): void => {
    if (reply.command === 4) {
      const urb = this.unlinks.get(reply.seqnum);
      this.unlinks.delete(reply.seqnum);
      if (urb !== undefined && this.inFlight.get(urb.seqnum) === urb) {
        // Taken back before it completed: no RET_SUBMIT will follow (usbip_protocol.rst, RET_UNLINK).
        this.inFlight.delete(urb.seqnum);
        if (answersSoon(urb)) this.answerable--;
        this.stats.unlinked++;
        this.release(urb);
      }
      return;
    }
    const urb = this.inFlight.get(reply.seqnum);
    if (urb === undefined) return;
    this.inFlight.delete(reply.seqnum);
    if (answersSoon(urb)) this.answerable--;
    if (urb.unlinked) {
      this.stats.crossedUnlink++;
      // The unlink's own answer may still come; it finds the URB gone and is taken as read.
      for (const [seq, u] of this.unlinks) if (u === urb) this.unlinks.set(seq, PLACEHOLDER);
      return;
    }
    this.stats.completed++;
    const rtt = this.now() - urb.submittedAt;
    if (urb.endpoint === 0) this.stats.controlRoundTrip.record(rtt);
    else if (urb.numberOfPackets > 0) this.stats.isoRoundTrip.record(rtt);
    else this.stats.dataRoundTrip.record(rtt);
    const owner = urb.owner;
    owner?.urbCompleted(urb, reply);
    this.release(urb);
  };

  private release(urb: Urb): void {
    urb.owner = null;
    if (this.free.length < 256) this.free.push(urb);
  }
}

/** Control and iso URBs: answered within seconds by a server that is there. */
function answersSoon(urb: Urb): boolean {
  return urb.endpoint === 0 || urb.numberOfPackets > 0;
}

/** Stands in for a URB whose reply crossed its unlink, so that the unlink's own answer is still expected. */
const PLACEHOLDER = new Urb();

/** OP_REQ_IMPORT `busid` over a fresh connection; on success the connection carries its URBs. */
export async function importUsbipDevice(
  connect: UsbipConnect,
  busid: string,
  timeoutMs = DEFAULT_OP_TIMEOUT_MS,
): Promise<UsbipConnection> {
  const request = encodeImportRequest(busid);
  if (typeof request === "string") throw new UsbipError(request);
  const transport = await connect();
  const { value, rest } = await operation(
    transport,
    request,
    (bytes) => decodeImportReply(bytes, busid),
    `import of ${busid}`,
    timeoutMs,
  );
  return new UsbipConnection(transport, value, rest);
}
