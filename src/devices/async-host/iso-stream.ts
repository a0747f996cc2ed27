/**
 * Where an isochronous (or bulk/interrupt) endpoint's data comes from and goes to. The async host
 * device calls these when a request completes; the audio sources and sinks in `devices/audio/` and
 * passthrough backends implement the same two methods, so either can stand behind an endpoint.
 *
 * Both take the packet's own buffer plus a length rather than a fresh view, so that streaming one
 * packet per frame allocates nothing (architecture: no per-frame allocation on the hot path).
 */

/** Produces the data of IN packets (device to host). */
export interface IsoSource {
  /**
   * Writes at most `maxLen` bytes of the next packet into `buf` from index 0 and returns how many it
   * wrote (0 is a zero-length packet). `buf` is valid only during the call.
   */
  fill(buf: Uint8Array, maxLen: number): number;
}

/** Takes the data of OUT packets (host to device). */
export interface IsoSink {
  /** Receives the first `length` bytes of `data`, which is valid only during the call. */
  consume(data: Uint8Array, length: number): void;
}
