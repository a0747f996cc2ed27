import { ISO_DESCRIPTOR_LENGTH, MAX_ISO_PACKETS, URB_HEADER_LENGTH, UsbipCommand } from "./protocol.ts";

/** What the decoder must know of a submitted URB to read its reply: nothing the server says is trusted beyond it. */
export interface SubmittedUrb {
  readonly dirIn: boolean;
  /** transfer_buffer_length as submitted: the most data a reply may carry. */
  readonly bufferLength: number;
  /** Iso packets submitted; 0 for other transfers. */
  readonly numberOfPackets: number;
}

/** Where the decoder looks up the seqnums it may be answered for. */
export interface UrbLookup {
  /** The URB submitted with `seqnum` and not yet answered, or null. */
  submitted(seqnum: number): SubmittedUrb | null;
  /** True when `seqnum` names a CMD_UNLINK not yet answered. */
  unlinkPending(seqnum: number): boolean;
}

/**
 * One decoded USBIP_RET_SUBMIT or USBIP_RET_UNLINK. The decoder reuses one of these for every reply;
 * it and the bytes it points into are valid only during the `onReply` call.
 */
export class UrbReply {
  command = 0;
  seqnum = 0;
  status = 0;
  actualLength = 0;
  startFrame = 0;
  numberOfPackets = 0;
  errorCount = 0;
  /** IN data: `dataLength` bytes of `data` from `dataAt` (iso IN: the packets' data packed, no gaps). */
  data: Uint8Array = new Uint8Array(0);
  dataAt = 0;
  dataLength = 0;
  /** Per iso packet, as the server reports it. */
  readonly isoOffset = new Uint32Array(MAX_ISO_PACKETS);
  readonly isoLength = new Uint32Array(MAX_ISO_PACKETS);
  readonly isoActual = new Uint32Array(MAX_ISO_PACKETS);
  readonly isoStatus = new Int32Array(MAX_ISO_PACKETS);
}

/** The largest single message accepted: 1 MiB of data plus every iso descriptor. */
const MAX_MESSAGE = URB_HEADER_LENGTH + (1 << 20) + MAX_ISO_PACKETS * ISO_DESCRIPTOR_LENGTH;

/**
 * Reads the server's side of the URB phase from a byte stream of arbitrary chunks. Never throws: the
 * first reply that does not parse — an unknown command, a seqnum nothing is waiting for, a length
 * beyond the submitted buffer, an absurd number_of_packets, iso lengths that do not add up — sets
 * {@link error} and the decoder reads nothing more (the connection is then dropped by its owner).
 */
export class UrbReplyDecoder {
  /** Why the stream was refused, or null while it is good. */
  error: string | null = null;
  private buffer = new Uint8Array(4096);
  private start = 0;
  private end = 0;
  private readonly reply = new UrbReply();

  constructor(
    private readonly lookup: UrbLookup,
    private readonly onReply: (reply: UrbReply) => void,
  ) {}

  /** Feeds bytes; decodes and delivers every whole reply they complete. */
  feed(chunk: Uint8Array): void {
    if (this.error !== null) return;
    this.append(chunk);
    while (this.error === null && this.decodeOne()) {}
  }

  private append(chunk: Uint8Array): void {
    const pending = this.end - this.start;
    if (this.end + chunk.length > this.buffer.length) {
      const need = pending + chunk.length;
      if (need > this.buffer.length) {
        let size = this.buffer.length;
        while (size < need) size *= 2;
        const grown = new Uint8Array(size);
        grown.set(this.buffer.subarray(this.start, this.end));
        this.buffer = grown;
      } else {
        this.buffer.copyWithin(0, this.start, this.end);
      }
      this.start = 0;
      this.end = pending;
    }
    this.buffer.set(chunk, this.end);
    this.end += chunk.length;
  }

  private refuse(error: string): false {
    this.error = error;
    return false;
  }

  /** Decodes one reply if all of it is here; false when more bytes are needed or the stream is refused. */
  private decodeOne(): boolean {
    const available = this.end - this.start;
    if (available < URB_HEADER_LENGTH) return false;
    const b = this.buffer;
    const v = new DataView(b.buffer, b.byteOffset + this.start, available);
    const command = v.getUint32(0);
    const seqnum = v.getUint32(4);
    const r = this.reply;
    if (command === UsbipCommand.RetUnlink) {
      if (!this.lookup.unlinkPending(seqnum))
        return this.refuse(`RET_UNLINK for seqnum ${seqnum}, which no unlink is waiting for`);
      r.command = command;
      r.seqnum = seqnum;
      r.status = v.getInt32(20);
      r.actualLength = 0;
      r.numberOfPackets = 0;
      r.dataLength = 0;
      this.start += URB_HEADER_LENGTH;
      this.onReply(r);
      return true;
    }
    if (command !== UsbipCommand.RetSubmit) {
      return this.refuse(`unexpected command ${command} from the server (seqnum ${seqnum})`);
    }
    const urb = this.lookup.submitted(seqnum);
    if (urb === null) return this.refuse(`RET_SUBMIT for seqnum ${seqnum}, which no request is waiting for`);
    const status = v.getInt32(20);
    const actualLength = v.getInt32(24);
    const startFrame = v.getInt32(28);
    const numberOfPackets = v.getInt32(32);
    const errorCount = v.getInt32(36);
    // A failed non-iso transfer may report more than its buffer: Linux's usbip-host answered a control
    // read QEMU's usb-audio STALLed with actual_length 3 for a 2-byte buffer (and sends those bytes).
    // Its data means nothing then, so the bytes are read past and none delivered; on success the same
    // length is a protocol error.
    const failedOverlong = status !== 0 && urb.numberOfPackets === 0 && actualLength > urb.bufferLength;
    if (actualLength < 0 || (actualLength > urb.bufferLength && !failedOverlong)) {
      return this.refuse(
        `RET_SUBMIT seqnum ${seqnum}: actual_length ${actualLength} beyond the ${urb.bufferLength}-byte buffer`,
      );
    }
    let packets = 0;
    if (urb.numberOfPackets > 0) {
      if (numberOfPackets < 0 || numberOfPackets > urb.numberOfPackets) {
        return this.refuse(
          `RET_SUBMIT seqnum ${seqnum}: number_of_packets ${numberOfPackets} for ${urb.numberOfPackets} submitted`,
        );
      }
      packets = numberOfPackets;
    } else if (numberOfPackets !== 0 && numberOfPackets !== -1) {
      // Linux sends 0 for other transfers, the protocol text 0xffffffff; anything else would make the
      // server's next bytes iso descriptors we cannot place.
      return this.refuse(
        `RET_SUBMIT seqnum ${seqnum}: number_of_packets ${numberOfPackets} on a non-iso transfer`,
      );
    }
    const wireDataLength = urb.dirIn ? actualLength : 0;
    const dataLength = failedOverlong ? 0 : wireDataLength;
    const total = URB_HEADER_LENGTH + wireDataLength + packets * ISO_DESCRIPTOR_LENGTH;
    if (total > MAX_MESSAGE) return this.refuse(`RET_SUBMIT seqnum ${seqnum}: ${total} bytes is too long`);
    if (available < total) return false;
    r.command = command;
    r.seqnum = seqnum;
    r.status = status;
    r.actualLength = failedOverlong ? 0 : actualLength;
    r.startFrame = startFrame;
    r.numberOfPackets = packets;
    r.errorCount = errorCount;
    r.data = b;
    r.dataAt = this.start + URB_HEADER_LENGTH;
    r.dataLength = dataLength;
    let at = URB_HEADER_LENGTH + wireDataLength;
    let sum = 0;
    for (let i = 0; i < packets; i++, at += ISO_DESCRIPTOR_LENGTH) {
      const offset = v.getUint32(at);
      const length = v.getUint32(at + 4);
      const actual = v.getUint32(at + 8);
      if (actual > length || offset + length > urb.bufferLength) {
        return this.refuse(
          `RET_SUBMIT seqnum ${seqnum}: iso packet ${i} (offset ${offset}, length ${length}, actual ${actual}) beyond the buffer`,
        );
      }
      r.isoOffset[i] = offset;
      r.isoLength[i] = length;
      r.isoActual[i] = actual;
      r.isoStatus[i] = v.getInt32(at + 12);
      sum += actual;
    }
    if (packets > 0 && urb.dirIn && sum !== actualLength) {
      return this.refuse(
        `RET_SUBMIT seqnum ${seqnum}: iso packets hold ${sum} bytes, actual_length says ${actualLength}`,
      );
    }
    this.start += total;
    if (this.start === this.end) this.start = this.end = 0;
    this.onReply(r);
    return true;
  }
}
