import type { IsoSource } from "./iso-stream.ts";

/**
 * A test pattern that makes loss, duplication, reordering and misplacement visible: packet n carries
 * n as a little-endian u32 in its first four bytes, then bytes `(n * 31 + i) & 0xff`. A reader can
 * tell from any buffer which packet landed there and whether it is whole ({@link CounterSource.check}).
 */
export class CounterSource implements IsoSource {
  /** The sequence number the next packet will carry. */
  next = 0;

  /** `packetLength`: bytes per packet; the source never writes more than the host asks for. */
  constructor(readonly packetLength: number) {
    if (!Number.isInteger(packetLength) || packetLength < 0) {
      throw new RangeError(`packet length ${packetLength} must be a non-negative integer`);
    }
  }

  fill(buf: Uint8Array, maxLen: number): number {
    const n = Math.min(this.packetLength, maxLen, buf.length);
    CounterSource.write(this.next++, buf, n);
    return n;
  }

  /** Writes packet `seq`'s first `length` bytes into `into`. */
  static write(seq: number, into: Uint8Array, length: number): void {
    for (let i = 0; i < length; i++) into[i] = CounterSource.byteAt(seq, i);
  }

  /** Byte `i` of packet `seq`. */
  static byteAt(seq: number, i: number): number {
    if (i < 4) return (seq >>> (8 * i)) & 0xff;
    return (Math.imul(seq, 31) + i) & 0xff;
  }

  /**
   * The sequence number of the packet whose first `length` bytes are at `bytes[offset..]`, or -1 when
   * they are not a whole packet of the pattern (for packets of at least 4 bytes).
   */
  static check(bytes: Uint8Array, offset: number, length: number): number {
    if (length < 4 || offset + length > bytes.length) return -1;
    const seq =
      (bytes[offset]! |
        (bytes[offset + 1]! << 8) |
        (bytes[offset + 2]! << 16) |
        (bytes[offset + 3]! << 24)) >>>
      0;
    for (let i = 4; i < length; i++) if (bytes[offset + i] !== CounterSource.byteAt(seq, i)) return -1;
    return seq;
  }
}
