import { DescriptorType, Pid, RequestType, StandardRequest } from "../../../usb/constants.ts";
import type { UsbDevice } from "../../../usb/device.ts";
import { PacketStatus, UsbPacket } from "../../../usb/packet.ts";
import { SetupPacket } from "../../../usb/setup-packet.ts";
import { AudioRequest, EndpointControl, FeatureControl } from "../uac1.ts";

/**
 * A host for audio device tests: control transfers on endpoint 0 and isochronous IN/OUT packets, driven
 * straight into a device with no controller or schedule, as a UHCI would deliver them.
 */

export interface Transfer {
  /** ACK, or the status of the first packet that was not ACKed. */
  readonly status: PacketStatus;
  readonly data: number[];
}

export class AudioTestHost {
  /** Reused for every packet, like a controller's packet pool. */
  readonly packet = new UsbPacket();

  constructor(
    readonly device: UsbDevice,
    /** bMaxPacketSize0 the host uses for data stages. */
    private readonly maxPacket0 = 64,
  ) {}

  /** Bus reset, SET_ADDRESS and SET_CONFIGURATION(1). */
  enumerate(address = 1): void {
    this.device.reset();
    expectAck(this.control(SetupPacket.of(0x00, StandardRequest.SetAddress, address)));
    expectAck(this.control(SetupPacket.of(0x00, StandardRequest.SetConfiguration, 1)));
  }

  /** The whole configuration descriptor (two GET_DESCRIPTORs, as hosts do). */
  configurationDescriptor(): Uint8Array {
    const head = this.control(
      SetupPacket.of(
        RequestType.DirectionIn,
        StandardRequest.GetDescriptor,
        DescriptorType.Configuration << 8,
        0,
        9,
      ),
    );
    const total = head.data[2]! | (head.data[3]! << 8);
    const full = this.control(
      SetupPacket.of(
        RequestType.DirectionIn,
        StandardRequest.GetDescriptor,
        DescriptorType.Configuration << 8,
        0,
        total,
      ),
    );
    return Uint8Array.from(full.data);
  }

  setInterface(iface: number, alternate: number): PacketStatus {
    return this.control(
      SetupPacket.of(RequestType.RecipientInterface, StandardRequest.SetInterface, alternate, iface),
    ).status;
  }

  /** One control transfer: SETUP, data packets of bMaxPacketSize0, then the status stage. */
  control(setup: SetupPacket, dataOut: readonly number[] = []): Transfer {
    const packet = this.packet;
    packet.init(Pid.Setup, this.device.address, 0, 8);
    setup.encode(packet.data);
    this.device.handlePacket(packet);
    if (packet.status !== PacketStatus.Ack) return { status: packet.status, data: [] };
    const data: number[] = [];
    if (setup.isDeviceToHost && setup.wLength > 0) {
      while (data.length < setup.wLength) {
        const status = this.send(Pid.In, 0, Math.min(this.maxPacket0, setup.wLength - data.length));
        if (status !== PacketStatus.Ack) return { status, data };
        data.push(...packet.data.subarray(0, packet.actualLength));
        if (packet.actualLength < this.maxPacket0) break;
      }
      return { status: this.send(Pid.Out, 0, 0), data };
    }
    for (let at = 0; at < dataOut.length; at += this.maxPacket0) {
      const chunk = dataOut.slice(at, at + this.maxPacket0);
      packet.init(Pid.Out, this.device.address, 0, chunk.length);
      packet.data.set(chunk);
      this.device.handlePacket(packet);
      if (packet.status !== PacketStatus.Ack) return { status: packet.status, data };
    }
    return { status: this.send(Pid.In, 0, 0), data };
  }

  /**
   * One isochronous IN packet offering `length` bytes; the packet (status, actualLength, data) stays
   * readable in {@link packet} until the next call.
   */
  isoIn(endpoint: number, length: number): UsbPacket {
    this.packet.init(Pid.In, this.device.address, endpoint & 0x0f, length, true);
    this.device.handlePacket(this.packet);
    return this.packet;
  }

  /** One isochronous OUT packet carrying `bytes`. */
  isoOut(endpoint: number, bytes: Uint8Array): UsbPacket {
    this.packet.init(Pid.Out, this.device.address, endpoint & 0x0f, bytes.length, true);
    this.packet.data.set(bytes);
    this.device.handlePacket(this.packet);
    return this.packet;
  }

  private send(pid: number, endpoint: number, length: number): PacketStatus {
    this.packet.init(pid, this.device.address, endpoint, length);
    this.device.handlePacket(this.packet);
    return this.packet.status;
  }
}

function expectAck(transfer: Transfer): void {
  if (transfer.status !== PacketStatus.Ack) throw new Error(`enumeration failed: ${transfer.status}`);
}

// ---- audio class requests, by name (UAC1 5.2) -------------------------------------------------------

const CLASS_INTERFACE = RequestType.TypeClass | RequestType.RecipientInterface;
const CLASS_ENDPOINT = RequestType.TypeClass | RequestType.RecipientEndpoint;

function directionOf(request: number): number {
  return (request & 0x80) !== 0 ? RequestType.DirectionIn : 0;
}

export const audioRequests = {
  /** A feature unit request: wValue = control selector << 8 | channel, wIndex = unit << 8 | interface. */
  feature: (request: number, control: number, channel: number, unit: number, length: number, iface = 0) =>
    SetupPacket.of(
      CLASS_INTERFACE | directionOf(request),
      request,
      (control << 8) | channel,
      (unit << 8) | iface,
      length,
    ),
  getVolume: (request: number, unit: number, channel = 0) =>
    audioRequests.feature(request, FeatureControl.Volume, channel, unit, 2),
  setVolume: (unit: number, channel = 0, request: number = AudioRequest.SetCur) =>
    audioRequests.feature(request, FeatureControl.Volume, channel, unit, 2),
  getMute: (unit: number, channel = 0) =>
    audioRequests.feature(AudioRequest.GetCur, FeatureControl.Mute, channel, unit, 1),
  setMute: (unit: number, channel = 0) =>
    audioRequests.feature(AudioRequest.SetCur, FeatureControl.Mute, channel, unit, 1),
  /** Sampling frequency control of an endpoint (UAC1 5.2.3.2.3.1). */
  samplingFrequency: (request: number, endpoint: number) =>
    SetupPacket.of(
      CLASS_ENDPOINT | directionOf(request),
      request,
      EndpointControl.SamplingFrequency << 8,
      endpoint,
      3,
    ),
} as const;

/** A 3-byte little-endian tSampleFreq. */
export function rateBytes(rate: number): number[] {
  return [rate & 0xff, (rate >> 8) & 0xff, (rate >> 16) & 0xff];
}

/** A 2-byte little-endian wVolume in 1/256 dB. */
export function volumeBytes(level: number): number[] {
  return [level & 0xff, (level >> 8) & 0xff];
}

/** Reads a signed 16-bit little-endian value. */
export function signed16(data: readonly number[], at = 0): number {
  return ((data[at]! | (data[at + 1]! << 8)) << 16) >> 16;
}
