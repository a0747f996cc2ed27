import { Feature, Pid, RequestType, StandardRequest } from "../../../usb/constants.ts";
import type { UsbDevice } from "../../../usb/device.ts";
import { PacketStatus, UsbPacket } from "../../../usb/packet.ts";
import { SetupPacket } from "../../../usb/setup-packet.ts";
import { HidRequest } from "../hid-constants.ts";

/**
 * A host for device tests: drives a device with packets as a host controller would (SETUP, data and
 * status stages on endpoint 0; IN and OUT on the interrupt endpoints), with no controller or schedule.
 */

export interface Transfer {
  /** ACK, or the status of the first packet that was not ACKed. */
  readonly status: PacketStatus;
  readonly data: number[];
}

const MAX_PACKET_0 = 8;

export class PacketHost {
  private readonly packet = new UsbPacket();

  constructor(readonly device: UsbDevice) {}

  /** Bus reset, SET_ADDRESS and SET_CONFIGURATION(1): the device is ready for interrupt polls. */
  enumerate(address = 1): void {
    this.device.reset();
    this.expectAck(this.control(SetupPacket.of(0x00, StandardRequest.SetAddress, address)));
    this.expectAck(this.control(SetupPacket.of(0x00, StandardRequest.SetConfiguration, 1)));
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
        const status = this.send(Pid.In, 0, Math.min(MAX_PACKET_0, setup.wLength - data.length));
        if (status !== PacketStatus.Ack) return { status, data };
        data.push(...packet.data.subarray(0, packet.actualLength));
        if (packet.actualLength < MAX_PACKET_0) break;
      }
      return { status: this.send(Pid.Out, 0, 0), data };
    }
    for (let at = 0; at < dataOut.length; at += MAX_PACKET_0) {
      const chunk = dataOut.slice(at, at + MAX_PACKET_0);
      packet.init(Pid.Out, this.device.address, 0, chunk.length);
      packet.data.set(chunk);
      this.device.handlePacket(packet);
      if (packet.status !== PacketStatus.Ack) return { status: packet.status, data };
    }
    return { status: this.send(Pid.In, 0, 0), data };
  }

  /** One IN transaction on an interrupt endpoint. */
  poll(endpoint = 1, length = 64): Transfer {
    const status = this.send(Pid.In, endpoint, length);
    return { status, data: Array.from(this.packet.data.subarray(0, this.packet.actualLength)) };
  }

  /** Polls until the device NAKs; returns every report received. */
  drain(endpoint = 1, length = 64): number[][] {
    const reports: number[][] = [];
    for (;;) {
      const result = this.poll(endpoint, length);
      if (result.status !== PacketStatus.Ack) return reports;
      reports.push(result.data);
    }
  }

  /** One OUT transaction on an interrupt endpoint. */
  out(endpoint: number, data: readonly number[]): PacketStatus {
    const packet = this.packet;
    packet.init(Pid.Out, this.device.address, endpoint, data.length);
    packet.data.set(data);
    this.device.handlePacket(packet);
    return packet.status;
  }

  private send(pid: number, endpoint: number, length: number): PacketStatus {
    this.packet.init(pid, this.device.address, endpoint, length);
    this.device.handlePacket(this.packet);
    return this.packet.status;
  }

  private expectAck(transfer: Transfer): void {
    if (transfer.status !== PacketStatus.Ack) throw new Error(`enumeration failed: ${transfer.status}`);
  }
}

// ---- requests, by name --------------------------------------------------------------------------------

const CLASS_IN = RequestType.DirectionIn | RequestType.TypeClass | RequestType.RecipientInterface;
const CLASS_OUT = RequestType.TypeClass | RequestType.RecipientInterface;
const STANDARD_IN_INTERFACE = RequestType.DirectionIn | RequestType.RecipientInterface;

export const hidRequests = {
  getDescriptor: (type: number, index: number, length: number) =>
    SetupPacket.of(RequestType.DirectionIn, StandardRequest.GetDescriptor, (type << 8) | index, 0, length),
  /** GET_DESCRIPTOR addressed to an interface: HID and report descriptors (HID 1.11 7.1.1). */
  getInterfaceDescriptor: (type: number, length: number, iface = 0, index = 0) =>
    SetupPacket.of(STANDARD_IN_INTERFACE, StandardRequest.GetDescriptor, (type << 8) | index, iface, length),
  getReport: (type: number, id: number, length: number, iface = 0) =>
    SetupPacket.of(CLASS_IN, HidRequest.GetReport, (type << 8) | id, iface, length),
  setReport: (type: number, id: number, length: number, iface = 0) =>
    SetupPacket.of(CLASS_OUT, HidRequest.SetReport, (type << 8) | id, iface, length),
  getIdle: (id = 0, iface = 0) => SetupPacket.of(CLASS_IN, HidRequest.GetIdle, id, iface, 1),
  setIdle: (duration: number, id = 0, iface = 0) =>
    SetupPacket.of(CLASS_OUT, HidRequest.SetIdle, (duration << 8) | id, iface, 0),
  getProtocol: (iface = 0) => SetupPacket.of(CLASS_IN, HidRequest.GetProtocol, 0, iface, 1),
  setProtocol: (protocol: number, iface = 0) =>
    SetupPacket.of(CLASS_OUT, HidRequest.SetProtocol, protocol, iface, 0),
  setRemoteWakeup: (on: boolean) =>
    SetupPacket.of(
      0x00,
      on ? StandardRequest.SetFeature : StandardRequest.ClearFeature,
      Feature.DeviceRemoteWakeup,
    ),
} as const;
