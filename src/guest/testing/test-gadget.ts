import { EndpointType, RequestType, UsbSpeed } from "../../usb/constants.ts";
import { type ControlReply, ControlStatus } from "../../usb/control-pipe.ts";
import type { EndpointModel } from "../../usb/descriptors/model.ts";
import { UsbDeviceBase } from "../../usb/device-base.ts";
import { PacketStatus, type UsbPacket } from "../../usb/packet.ts";
import type { SetupPacket } from "../../usb/setup-packet.ts";

/**
 * A small vendor-class device for the guest driver's integration tests: one interrupt IN endpoint fed
 * from a report queue, a bulk OUT sink, a bulk IN source, and two vendor control requests. Everything
 * NAKs when it has nothing to say, like real hardware.
 */
export const GadgetEndpoint = {
  InterruptIn: 0x81,
  BulkOut: 0x02,
  BulkIn: 0x83,
} as const;

export const GadgetRequest = {
  /** Vendor IN: returns min(wValue, wLength) bytes counting up from 0. */
  Count: 0x01,
  /** Vendor OUT: stores the data stage in {@link TestGadget.lastVendorData}. */
  Store: 0x02,
} as const;

export interface TestGadgetOptions {
  readonly speed?: UsbSpeed;
  readonly maxPacketSize0?: number;
  readonly interruptInterval?: number;
}

export class TestGadget extends UsbDeviceBase {
  /** Reports the interrupt endpoint will send, oldest first. */
  readonly reports: Uint8Array[] = [];
  /** Bytes the bulk OUT endpoint received. */
  readonly bulkReceived: number[] = [];
  /** Bytes the bulk IN endpoint will send; a short packet ends each {@link queueBulkIn} chunk. */
  private readonly bulkChunks: Uint8Array[] = [];
  lastVendorData: Uint8Array | null = null;
  /** Interrupt IN polls seen (ACK or NAK), with the machine time they came at when known. */
  interruptPolls = 0;
  suspendChanges: boolean[] = [];

  constructor(options: TestGadgetOptions = {}) {
    const speed = options.speed ?? UsbSpeed.Full;
    const bulk = speed === UsbSpeed.Full;
    const endpoints: EndpointModel[] = [
      {
        address: GadgetEndpoint.InterruptIn,
        type: EndpointType.Interrupt,
        maxPacketSize: 8,
        interval: options.interruptInterval ?? 10,
      },
    ];
    // Low-speed devices have no bulk endpoints (USB 2.0 5.8.3).
    if (bulk) {
      endpoints.push(
        { address: GadgetEndpoint.BulkOut, type: EndpointType.Bulk, maxPacketSize: 64, interval: 0 },
        { address: GadgetEndpoint.BulkIn, type: EndpointType.Bulk, maxPacketSize: 64, interval: 0 },
      );
    }
    super({
      name: "test gadget",
      speed,
      descriptors: {
        maxPacketSize0: options.maxPacketSize0 ?? 8,
        vendorId: 0x1234,
        productId: 0x5678,
        manufacturer: "uhci tests",
        product: "Test Gadget",
        serialNumber: "0001",
        configurations: [
          {
            maxPowerMa: 100,
            remoteWakeup: true,
            interfaces: [{ alternates: [{ interfaceClass: 0xff, endpoints }] }],
          },
        ],
      },
    });
  }

  /** Makes the bulk IN endpoint offer `data` (sent in max-packet pieces, ending short or with a ZLP). */
  queueBulkIn(data: Uint8Array): void {
    this.bulkChunks.push(data.slice());
  }

  /** Halts or un-halts an endpoint from the device side (a functional stall). */
  halt(address: number, halted = true): boolean {
    return this.setEndpointHalt(address, halted);
  }

  /** Remote wakeup, when the host enabled it and the bus is suspended. */
  wake(): boolean {
    return this.signalRemoteWakeup();
  }

  protected override handleClassRequest(setup: SetupPacket, dataOut: Uint8Array): ControlReply {
    if ((setup.bmRequestType & RequestType.TypeMask) !== RequestType.TypeVendor) return ControlStatus.Stall;
    if (setup.bRequest === GadgetRequest.Count && setup.isDeviceToHost) {
      return Uint8Array.from({ length: setup.wValue }, (_, i) => i & 0xff);
    }
    if (setup.bRequest === GadgetRequest.Store && !setup.isDeviceToHost) {
      this.lastVendorData = dataOut.slice();
      return ControlStatus.Ack;
    }
    return ControlStatus.Stall;
  }

  protected override handleData(packet: UsbPacket, endpoint: EndpointModel): void {
    switch (endpoint.address) {
      case GadgetEndpoint.InterruptIn: {
        this.interruptPolls++;
        const report = this.reports.shift();
        if (report === undefined) {
          packet.status = PacketStatus.Nak;
          return;
        }
        this.send(packet, report);
        return;
      }
      case GadgetEndpoint.BulkOut:
        for (let i = 0; i < packet.length; i++) this.bulkReceived.push(packet.data[i]!);
        packet.actualLength = packet.length;
        packet.status = PacketStatus.Ack;
        return;
      case GadgetEndpoint.BulkIn: {
        const chunk = this.bulkChunks[0];
        if (chunk === undefined) {
          packet.status = PacketStatus.Nak;
          return;
        }
        const size = Math.min(chunk.length, endpoint.maxPacketSize, packet.length);
        this.send(packet, chunk.subarray(0, size));
        // A full packet keeps the chunk going; a short one (or the ZLP after a full last packet) ends it.
        if (size < endpoint.maxPacketSize) this.bulkChunks.shift();
        else this.bulkChunks[0] = chunk.subarray(size);
        return;
      }
      default:
        packet.status = PacketStatus.Stall;
    }
  }

  protected override onSuspendChanged(suspended: boolean): void {
    this.suspendChanges.push(suspended);
  }

  private send(packet: UsbPacket, bytes: Uint8Array): void {
    if (bytes.length > packet.length) {
      packet.status = PacketStatus.Babble;
      return;
    }
    packet.data.set(bytes, 0);
    packet.actualLength = bytes.length;
    packet.status = PacketStatus.Ack;
  }
}
