/**
 * The USB/IP client's reply parser (src/usbip/urb-decoder.ts through UsbipConnection, and the
 * operation decoders) fed mutated server streams: valid RET_SUBMIT replies for the URBs the client
 * submitted (control IN, bulk OUT, interrupt IN, iso IN with packed data, iso OUT) and a RET_UNLINK,
 * in a random order, bent by the generic mutations and by edge values written big-endian into the
 * seqnum, status, actual_length, number_of_packets and iso length fields, and fed in random chunks.
 *
 * Invariants: nothing throws; every reply delivered answers a URB the client submitted, once, with no
 * more data than its buffer and no more iso packets than it asked for, the iso IN data adding up; a
 * refused stream closes the connection with a message and delivers nothing after; the unmutated
 * stream delivers every reply. The operation decoders (OP_REP_DEVLIST, OP_REP_IMPORT) never throw and
 * never claim more bytes than they were given.
 */
import { type Urb, type UrbOwner, UsbipConnection } from "../../src/usbip/connection.ts";
import { decodeDevlistReply, decodeImportReply, type UsbipDeviceInfo } from "../../src/usbip/protocol.ts";
import type { UsbipTransport } from "../../src/usbip/transport.ts";
import type { UrbReply } from "../../src/usbip/urb-decoder.ts";
import { mutate } from "../lib/mutate.ts";
import type { FuzzRandom } from "../lib/random.ts";
import { FuzzRandom as Rng } from "../lib/random.ts";
import { check, type FuzzTarget, type Trace } from "../lib/target.ts";

const INFO: UsbipDeviceInfo = {
  path: "/sys/fuzz",
  busid: "1-1",
  busnum: 1,
  devnum: 2,
  speed: 2,
  idVendor: 1,
  idProduct: 2,
  bcdDevice: 0,
  deviceClass: 0,
  deviceSubClass: 0,
  deviceProtocol: 0,
  configurationValue: 1,
  numConfigurations: 1,
  numInterfaces: 0,
  interfaces: [],
};

class NullTransport implements UsbipTransport {
  onData: ((chunk: Uint8Array) => void) | null = null;
  onClose: ((error: Error | null) => void) | null = null;
  closed = false;
  send(_bytes: Uint8Array): void {}
  close(): void {
    this.closed = true;
  }
}

interface Planned {
  dirIn: boolean;
  length: number;
  packets: number;
}

function be32(out: number[], n: number): void {
  out.push((n >>> 24) & 0xff, (n >>> 16) & 0xff, (n >>> 8) & 0xff, n & 0xff);
}

/** A valid RET_SUBMIT for a planned URB (iso IN data packed, as Linux's stub sends it). */
function validReply(rng: FuzzRandom, seqnum: number, p: Planned, fields: number[]): number[] {
  const out: number[] = [];
  const base = () => out.length;
  be32(out, 3);
  fields.push(base());
  be32(out, seqnum);
  be32(out, 0);
  be32(out, 0);
  be32(out, 0);
  fields.push(base());
  be32(out, rng.chance(0.8) ? 0 : -rng.pick([32, 75, 84, 71, 18, 104]) >>> 0);
  const perPacket = p.packets > 0 ? Math.floor(p.length / p.packets) : 0;
  const actuals = Array.from({ length: p.packets }, () => rng.below(perPacket + 1));
  const actual = p.packets > 0 ? actuals.reduce((a, b) => a + b, 0) : rng.below(p.length + 1);
  fields.push(base());
  be32(out, p.dirIn || p.packets > 0 ? actual : p.length);
  be32(out, rng.below(1024));
  fields.push(base());
  be32(out, p.packets);
  be32(out, 0);
  for (let i = 0; i < 8; i++) out.push(0);
  if (p.dirIn) for (let i = 0; i < actual; i++) out.push(rng.below(256));
  for (let i = 0; i < p.packets; i++) {
    be32(out, i * perPacket);
    fields.push(base());
    be32(out, perPacket);
    fields.push(base());
    be32(out, actuals[i]!);
    be32(out, 0);
  }
  return out;
}

function run(seed: number, trace: Trace): void {
  const rng = new Rng(seed);
  const transport = new NullTransport();
  const connection = new UsbipConnection(transport, INFO);
  const delivered = new Map<number, number>();
  const planned = new Map<number, Planned>();
  let closedAt = -1;
  let deliveriesAfterClose = 0;
  const owner: UrbOwner = {
    urbCompleted(urb: Urb, reply: UrbReply) {
      if (connection.closed) deliveriesAfterClose++;
      const p = planned.get(urb.seqnum);
      check(p !== undefined, () => `delivered seqnum ${urb.seqnum}, never submitted`);
      check(reply.seqnum === urb.seqnum, "reply and URB disagree on the seqnum");
      delivered.set(urb.seqnum, (delivered.get(urb.seqnum) ?? 0) + 1);
      check(
        reply.dataLength <= urb.bufferLength,
        () => `${reply.dataLength} bytes for a ${urb.bufferLength}-byte buffer`,
      );
      check(reply.dataAt + reply.dataLength <= reply.data.length, "data beyond the decoder's buffer");
      check(reply.numberOfPackets <= urb.numberOfPackets, "more iso packets than submitted");
      if (urb.dirIn && reply.numberOfPackets > 0) {
        let sum = 0;
        for (let i = 0; i < reply.numberOfPackets; i++) sum += reply.isoActual[i]!;
        check(sum === reply.dataLength, "iso IN data does not add up");
      }
    },
  };
  connection.onClose = (error) => {
    closedAt = delivered.size;
    check(error === null || error.message.length > 0, "a refusal without a message");
  };
  const count = rng.int(1, 6);
  const kinds: Planned[] = [
    { dirIn: true, length: 18, packets: 0 },
    { dirIn: false, length: 64, packets: 0 },
    { dirIn: true, length: 8, packets: 0 },
    { dirIn: true, length: 8 * 192, packets: 8 },
    { dirIn: false, length: 4 * 192, packets: 4 },
  ];
  const urbs: Urb[] = [];
  for (let i = 0; i < count; i++) {
    const p = rng.pick(kinds);
    const urb = connection.submit(owner, i, p.dirIn, 1, p.length, {
      isoPackets: p.packets,
      isoPacketLength: p.packets > 0 ? new Uint16Array(p.packets).fill(p.length / p.packets) : null,
    });
    check(urb !== null, "submit on an open connection");
    planned.set(urb.seqnum, p);
    urbs.push(urb);
  }
  const fields: number[] = [];
  const stream: number[] = [];
  for (const urb of rng.shuffled(urbs)) {
    const offset = stream.length;
    const local: number[] = [];
    stream.push(...validReply(rng, urb.seqnum, planned.get(urb.seqnum)!, local));
    for (const f of local) fields.push(offset + f);
  }
  const pristine = rng.chance(0.1);
  const valid = Uint8Array.from(stream);
  let bytes: Uint8Array = valid;
  if (!pristine) {
    bytes = mutate(rng, valid, [valid]);
    for (let k = rng.below(3); k > 0 && fields.length > 0; k--) {
      const at = rng.pick(fields);
      const value = rng.pick([
        0,
        1,
        0xffffffff,
        0x7fffffff,
        0x80000000,
        1024,
        1025,
        rng.below(0x10000),
        rng.garbage32(),
      ]);
      for (let i = 0; i < 4 && at + i < bytes.length; i++) bytes[at + i] = (value >>> (24 - 8 * i)) & 0xff;
    }
  }
  trace?.(`${count} URBs, ${bytes.length} reply bytes, ${pristine ? "pristine" : "mutated"}`);
  for (let at = 0; at < bytes.length; ) {
    const n = Math.min(bytes.length - at, rng.chance(0.3) ? rng.int(1, 8) : rng.int(1, 400));
    transport.onData?.(bytes.subarray(at, at + n));
    at += n;
  }
  for (const [seqnum, times] of delivered)
    check(times === 1, () => `seqnum ${seqnum} delivered ${times} times`);
  check(deliveriesAfterClose === 0, "a reply delivered after the connection closed");
  if (pristine) {
    check(!connection.closed, () => `the valid stream was refused: ${connection.closeError?.message}`);
    check(delivered.size === count, () => `${delivered.size} of ${count} replies delivered`);
  }
  if (connection.closed) check(closedAt >= 0 && connection.closeError !== null, "closed without saying why");

  // The operation decoders on mutated replies.
  const op = Uint8Array.from([
    0x01,
    0x11,
    0x00,
    rng.chance(0.5) ? 0x05 : 0x03,
    0,
    0,
    0,
    0,
    0,
    0,
    0,
    rng.below(3),
    ...rng.bytes(rng.below(700)),
  ]);
  const bent = mutate(rng, op, [op]);
  for (const decoded of [decodeDevlistReply(bent), decodeImportReply(bent, "1-1")]) {
    if (decoded.kind === "ok")
      check(decoded.consumed <= bent.length, "an operation reply claimed more bytes than given");
    if (decoded.kind === "error") check(decoded.error.length > 0, "an operation refusal without a message");
  }
}

export const usbipRepliesTarget: FuzzTarget = {
  name: "usbip-replies",
  summary: "the USB/IP client's reply parser: mutated RET_SUBMIT/RET_UNLINK streams and operation replies",
  run,
};
