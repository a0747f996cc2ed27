import type { IsoSink } from "./iso-stream.ts";

/**
 * A sink for tests: keeps a copy of every packet it is given, in order. It allocates per packet, which
 * is fine for a test and why it is not what a streaming device should use.
 */
export class RecordingSink implements IsoSink {
  readonly packets: Uint8Array[] = [];
  bytes = 0;

  consume(data: Uint8Array, length: number): void {
    this.packets.push(data.slice(0, length));
    this.bytes += length;
  }
}
