import { DescriptorType, Pid, RequestType, StandardRequest } from "../constants.ts";
import type { UsbDevice } from "../device.ts";
import { PacketStatus, UsbPacket } from "../packet.ts";
import { SetupPacket } from "../setup-packet.ts";

/**
 * A host for device tests: drives one device with packets as a host controller would deliver them —
 * SETUP, data and status stages on endpoint 0 (USB 2.0 8.5.3), interrupt/bulk IN and OUT, isochronous
 * IN and OUT — with no controller, schedule or clock. Every device family's tests (HID, audio, the
 * standard requests of `UsbDeviceBase`, snapshots) use this one host; their class-specific requests
 * live beside them (`devices/<family>/testing/requests.ts`).
 */

export interface Transfer {
  /** ACK, or the status of the first packet that was not ACKed. */
  readonly status: PacketStatus;
  readonly data: number[];
}

const NO_DATA: readonly number[] = [];

export class PacketHost {
  /** Reused for every transaction, like a controller's packet pool; the last one stays readable here. */
  readonly packet = new UsbPacket();

  constructor(
    readonly device: UsbDevice,
    /**
     * The packet size of the host's endpoint 0 data stages. 8 by default: what a host uses before it has
     * read bMaxPacketSize0 (USB 2.0 9.1.2), and a size every full-speed control endpoint handles, since
     * the device sends at most what the host's packet asks for.
     */
    readonly maxPacket0 = 8,
  ) {}

  /** Bus reset, SET_ADDRESS and SET_CONFIGURATION(1): the device is ready for its data endpoints. */
  enumerate(address = 1): void {
    this.device.reset();
    expectAck(this.control(SetupPacket.of(0x00, StandardRequest.SetAddress, address)));
    expectAck(this.control(SetupPacket.of(0x00, StandardRequest.SetConfiguration, 1)));
  }

  /** One control transfer: SETUP, data packets of {@link maxPacket0}, then the status stage. */
  control(setup: SetupPacket, dataOut: readonly number[] = NO_DATA): Transfer {
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
        // A short packet ends the data stage (USB 2.0 5.5.3).
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

  /** The whole configuration descriptor: its 9-byte header, then wTotalLength bytes, as hosts read it. */
  configurationDescriptor(index = 0): Uint8Array {
    const get = (length: number) =>
      this.control(
        SetupPacket.of(
          RequestType.DirectionIn,
          StandardRequest.GetDescriptor,
          (DescriptorType.Configuration << 8) | index,
          0,
          length,
        ),
      );
    const head = get(9);
    const total = (head.data[2] ?? 0) | ((head.data[3] ?? 0) << 8);
    return Uint8Array.from(get(total).data);
  }

  /** SET_INTERFACE (USB 2.0 9.4.10): selects `alternate` of interface `iface`. */
  setInterface(iface: number, alternate: number): PacketStatus {
    return this.control(
      SetupPacket.of(RequestType.RecipientInterface, StandardRequest.SetInterface, alternate, iface),
    ).status;
  }

  /** One IN transaction on an interrupt or bulk endpoint. */
  poll(endpoint = 1, length = 64): Transfer {
    const status = this.send(Pid.In, endpoint, length);
    return { status, data: Array.from(this.packet.data.subarray(0, this.packet.actualLength)) };
  }

  /** Polls until the device stops ACKing (a NAK when its queue is empty); returns every report received. */
  drain(endpoint = 1, length = 64): number[][] {
    const reports: number[][] = [];
    for (;;) {
      const result = this.poll(endpoint, length);
      if (result.status !== PacketStatus.Ack) return reports;
      reports.push(result.data);
    }
  }

  /** One OUT transaction on an interrupt or bulk endpoint. */
  out(endpoint: number, data: readonly number[]): PacketStatus {
    return this.transact(Pid.Out, endpoint, data.length, data).status;
  }

  /**
   * One isochronous IN packet offering `length` bytes; the packet (status, actualLength, data) stays
   * readable in {@link packet} until the next call. `endpoint` may be the endpoint address (0x81).
   */
  isoIn(endpoint: number, length: number): UsbPacket {
    return this.transact(Pid.In, endpoint & 0x0f, length, NO_DATA, true);
  }

  /** One isochronous OUT packet carrying `bytes`. */
  isoOut(endpoint: number, bytes: ArrayLike<number>): UsbPacket {
    return this.transact(Pid.Out, endpoint & 0x0f, bytes.length, bytes, true);
  }

  /**
   * One transaction of any kind at the device's current address: `data` goes into the packet first
   * (SETUP and OUT). Returns the packet, readable until the next call.
   */
  transact(
    pid: number,
    endpoint: number,
    length: number,
    data: ArrayLike<number> = NO_DATA,
    isochronous = false,
  ): UsbPacket {
    const packet = this.packet;
    packet.init(pid, this.device.address, endpoint, length, isochronous);
    packet.data.set(data);
    this.device.handlePacket(packet);
    return packet;
  }

  private send(pid: number, endpoint: number, length: number): PacketStatus {
    return this.transact(pid, endpoint, length).status;
  }
}

function expectAck(transfer: Transfer): void {
  if (transfer.status !== PacketStatus.Ack) throw new Error(`enumeration failed: ${transfer.status}`);
}
