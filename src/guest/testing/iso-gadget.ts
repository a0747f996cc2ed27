import {
  AudioRequest,
  EndpointControl,
  readSampleFrequency,
  SAMPLE_FREQUENCY_BYTES,
  writeSampleFrequency,
} from "../../devices/audio/uac1.ts";
import { EndpointType, RequestType } from "../../usb/constants.ts";
import { type ControlReply, ControlStatus } from "../../usb/control-pipe.ts";
import { type EndpointModel, IsoSync } from "../../usb/descriptors/model.ts";
import { UsbDeviceBase } from "../../usb/device-base.ts";
import { type AsyncTicket, PacketStatus, type UsbPacket } from "../../usb/packet.ts";
import type { SetupPacket } from "../../usb/setup-packet.ts";

/**
 * A small isochronous device for the guest driver's stream tests (not an audio device: those live in
 * devices/audio). Interface 0 has a zero-bandwidth alternate 0 and an alternate 1 with an isochronous
 * IN and an isochronous OUT endpoint, like a UAC streaming interface.
 *
 * - IN: every packet starts with a 32-bit little-endian sequence number, then bytes (seq + j) & 0xff,
 *   so a test can tell a lost, repeated or reordered packet.
 * - IN packets may be answered late (asynchronously, as a passthrough device would): {@link inDeferral}.
 * - OUT: every packet is recorded as it arrives.
 * - SET_CUR / GET_CUR sampling frequency on either endpoint (UAC 1.0 5.2.3.2.3.1).
 */
export const IsoGadgetEndpoint = {
  In: 0x81,
  Out: 0x02,
} as const;

export interface IsoGadgetOptions {
  readonly inMaxPacket?: number;
  readonly outMaxPacket?: number;
  /** bInterval of both endpoints (default 1: every frame). */
  readonly interval?: number;
}

export class IsoGadget extends UsbDeviceBase {
  /** IN packets answered so far (the next sequence number). */
  inSequence = 0;
  /** Bytes the IN endpoint sends for packet `seq` given MaxLen; default all of MaxLen. */
  inLength: (seq: number, maxLength: number) => number = (_seq, maxLength) => maxLength;
  /** A failure to answer IN packet `seq` with instead of data (null: answer normally). */
  inFailure: (seq: number) => PacketStatus | null = () => null;
  /**
   * How many further IN packets must be asked for before packet `seq` is answered (0: answer at once).
   * A deferred packet is completed through {@link UsbPacket.complete} when its turn comes.
   */
  inDeferral: (seq: number) => number = () => 0;
  /** Deferred IN packets, in the order they will be answered. */
  private readonly held: { packet: UsbPacket; ticket: AsyncTicket; seq: number; dueAt: number }[] = [];
  /** Every OUT packet received, in order (copies). */
  readonly outPackets: Uint8Array[] = [];
  /** Sampling frequency set per endpoint address. */
  readonly samplingFrequency = new Map<number, number>();

  constructor(options: IsoGadgetOptions = {}) {
    const endpoints: EndpointModel[] = [
      {
        address: IsoGadgetEndpoint.In,
        type: EndpointType.Isochronous,
        sync: IsoSync.Asynchronous,
        maxPacketSize: options.inMaxPacket ?? 192,
        interval: options.interval ?? 1,
      },
      {
        address: IsoGadgetEndpoint.Out,
        type: EndpointType.Isochronous,
        sync: IsoSync.Adaptive,
        maxPacketSize: options.outMaxPacket ?? 192,
        interval: options.interval ?? 1,
      },
    ];
    super({
      name: "iso gadget",
      descriptors: {
        maxPacketSize0: 64,
        vendorId: 0x1234,
        productId: 0x1503,
        product: "Iso Gadget",
        configurations: [
          {
            maxPowerMa: 100,
            interfaces: [
              {
                alternates: [
                  { setting: 0, interfaceClass: 0xff },
                  { setting: 1, interfaceClass: 0xff, endpoints },
                ],
              },
            ],
          },
        ],
      },
    });
  }

  protected override handleClassRequest(setup: SetupPacket, dataOut: Uint8Array): ControlReply {
    const recipient = setup.bmRequestType & RequestType.RecipientMask;
    const type = setup.bmRequestType & RequestType.TypeMask;
    if (type !== RequestType.TypeClass || recipient !== RequestType.RecipientEndpoint)
      return ControlStatus.Stall;
    if (setup.wValue >> 8 !== EndpointControl.SamplingFrequency) return ControlStatus.Stall;
    const endpoint = setup.wIndex & 0xff;
    if (
      setup.bRequest === AudioRequest.SetCur &&
      !setup.isDeviceToHost &&
      dataOut.length === SAMPLE_FREQUENCY_BYTES
    ) {
      this.samplingFrequency.set(endpoint, readSampleFrequency(dataOut));
      return ControlStatus.Ack;
    }
    if (setup.bRequest === AudioRequest.GetCur && setup.isDeviceToHost) {
      const hz = this.samplingFrequency.get(endpoint);
      if (hz === undefined) return ControlStatus.Stall;
      return writeSampleFrequency(hz, new Uint8Array(SAMPLE_FREQUENCY_BYTES));
    }
    return ControlStatus.Stall;
  }

  protected override handleData(packet: UsbPacket, endpoint: EndpointModel): void {
    if (endpoint.address === IsoGadgetEndpoint.Out) {
      this.outPackets.push(packet.data.slice(0, packet.length));
      packet.status = PacketStatus.Ack;
      return;
    }
    const seq = this.inSequence++;
    while (this.held.length > 0 && this.held[0]!.dueAt <= seq) {
      const { packet: late, ticket, seq: lateSeq } = this.held.shift()!;
      if (!late.isPending(ticket)) continue;
      this.answerIn(late, lateSeq);
      late.complete(
        ticket,
        late.status === PacketStatus.Async ? PacketStatus.IoError : late.status,
        late.actualLength,
      );
    }
    const deferral = this.inDeferral(seq);
    if (deferral > 0) {
      this.held.push({ packet, ticket: packet.deferred(), seq, dueAt: seq + deferral });
      return;
    }
    this.answerIn(packet, seq);
  }

  override cancelPacket(packet: UsbPacket): void {
    const index = this.held.findIndex((h) => h.packet === packet);
    if (index >= 0) this.held.splice(index, 1);
  }

  private answerIn(packet: UsbPacket, seq: number): void {
    const failure = this.inFailure(seq);
    if (failure !== null) {
      packet.actualLength = 0;
      packet.status = failure;
      return;
    }
    const length = Math.min(this.inLength(seq, packet.length), packet.length);
    for (let j = 0; j < length; j++) packet.data[j] = j < 4 ? (seq >>> (8 * j)) & 0xff : (seq + j) & 0xff;
    packet.actualLength = length;
    packet.status = PacketStatus.Ack;
  }
}

/** The sequence number an IN packet of {@link IsoGadget} starts with. */
export function isoGadgetSequence(data: Uint8Array): number {
  return (data[0]! | (data[1]! << 8) | (data[2]! << 16) | (data[3]! << 24)) >>> 0;
}

/** True when bytes 4… of an IN packet follow the gadget's pattern for its sequence number. */
export function isoGadgetPayloadOk(data: Uint8Array): boolean {
  const seq = isoGadgetSequence(data);
  for (let j = 4; j < data.length; j++) if (data[j] !== ((seq + j) & 0xff)) return false;
  return true;
}
