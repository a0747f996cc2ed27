/**
 * Records the URB phase between our client and the real server without changing a byte: each
 * CMD_SUBMIT's header as sent, each RET_SUBMIT's header as received (usbip_protocol.rst field
 * offsets), so a test can judge the server's side of a stream — RET_SUBMIT start_frame continuity —
 * and say what was on the wire when something fails. Wraps a {@link UsbipConnect}.
 */
import type { UsbipConnect, UsbipTransport } from "../../../src/usbip/index.ts";

export interface WireSubmit {
  seqnum: number;
  dirIn: boolean;
  ep: number;
  bufferLength: number;
  /** number_of_packets as sent (0 or -1 for non-iso). */
  packets: number;
  setup: string;
}

export interface WireReply {
  seqnum: number;
  status: number;
  actualLength: number;
  startFrame: number;
  packets: number;
  errorCount: number;
  /** ms since the log began. */
  at: number;
}

export class WireLog {
  readonly submits = new Map<number, WireSubmit>();
  readonly replies: WireReply[] = [];
  private readonly t0 = performance.now();

  wrap(connect: UsbipConnect): UsbipConnect {
    return async () => {
      const transport = await connect();
      return this.tap(transport);
    };
  }

  /** Iso replies of OUT URBs to `ep`, in arrival order. */
  isoOutReplies(ep: number): WireReply[] {
    return this.replies.filter((r) => {
      const s = this.submits.get(r.seqnum);
      return s !== undefined && !s.dirIn && s.ep === ep && s.packets > 0;
    });
  }

  private tap(transport: UsbipTransport): UsbipTransport {
    let urbPhase = false;
    let pending = new Uint8Array(0);
    const log = this;
    const read = (chunk: Uint8Array) => {
      if (!urbPhase) return;
      const joined = new Uint8Array(pending.length + chunk.length);
      joined.set(pending);
      joined.set(chunk, pending.length);
      let at = 0;
      while (joined.length - at >= 48) {
        const v = new DataView(joined.buffer, joined.byteOffset + at);
        const command = v.getUint32(0);
        const seqnum = v.getUint32(4);
        let length = 48;
        if (command === 3) {
          const s = log.submits.get(seqnum);
          const actual = v.getInt32(24);
          const packets = v.getInt32(32);
          if (s?.dirIn === true) length += Math.max(0, actual);
          if (s !== undefined && s.packets > 0 && packets > 0) length += 16 * packets;
          if (joined.length - at < length) break;
          log.replies.push({
            seqnum,
            status: v.getInt32(20),
            actualLength: actual,
            startFrame: v.getInt32(28),
            packets,
            errorCount: v.getInt32(36),
            at: performance.now() - log.t0,
          });
        }
        at += length;
      }
      pending = joined.slice(at);
    };
    let clientOnData: ((chunk: Uint8Array) => void) | null = null;
    const tapped: UsbipTransport = {
      send(bytes) {
        if (bytes.length >= 48) {
          const v = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
          if (v.getUint32(0) === 1) {
            urbPhase = true;
            log.submits.set(v.getUint32(4), {
              seqnum: v.getUint32(4),
              dirIn: v.getUint32(12) === 1,
              ep: v.getUint32(16),
              bufferLength: v.getUint32(24),
              packets: v.getInt32(32),
              setup: Buffer.from(bytes.subarray(40, 48)).toString("hex"),
            });
          }
        }
        transport.send(bytes);
      },
      get onData() {
        return clientOnData;
      },
      set onData(fn) {
        clientOnData = fn;
        transport.onData =
          fn === null
            ? null
            : (chunk) => {
                read(chunk);
                fn(chunk);
              };
      },
      get onClose() {
        return transport.onClose;
      },
      set onClose(fn) {
        transport.onClose = fn;
      },
      close() {
        transport.close();
      },
    };
    return tapped;
  }
}

/**
 * start_frame continuity of a stream's replies (mod 1024, the frame counter's wrap in USB/IP replies
 * from a full-speed host): each URB should start where the previous one ended. Returns the gaps, as
 * [index of the reply, frames missing].
 */
export function startFrameGaps(replies: readonly WireReply[]): [number, number][] {
  const gaps: [number, number][] = [];
  for (let i = 1; i < replies.length; i++) {
    const prev = replies[i - 1];
    const cur = replies[i];
    if (prev === undefined || cur === undefined) continue;
    const missing = (cur.startFrame - (prev.startFrame + prev.packets)) & 0x3ff;
    if (missing !== 0) gaps.push([i, missing]);
  }
  return gaps;
}
