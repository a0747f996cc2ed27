/**
 * A device that answers isochronous IN at once from a source (as the emulated audio devices do) and
 * acknowledges everything else: the synchronous counterpart of AsyncHostDevice for the long timing
 * runs, where the question is the controller's clock and schedule, not completion latency.
 */
import type { IsoSource } from "../../../src/devices/async-host/iso-stream.ts";
import { Pid, UsbSpeed } from "../../../src/usb/constants.ts";
import type { UpstreamPort, UsbDevice } from "../../../src/usb/device.ts";
import { PacketStatus, type UsbPacket } from "../../../src/usb/packet.ts";

export class SyncIsoDevice implements UsbDevice {
  readonly name = "sync iso";
  readonly speed = UsbSpeed.Full;
  packets = 0;

  constructor(
    readonly address: number,
    private readonly source: IsoSource,
  ) {}

  handlePacket(packet: UsbPacket): void {
    this.packets++;
    packet.status = PacketStatus.Ack;
    packet.actualLength = packet.pid === Pid.In ? this.source.fill(packet.data, packet.length) : 0;
  }
  cancelPacket(_packet: UsbPacket): void {}
  reset(): void {}
  setUpstream(_upstream: UpstreamPort | null): void {}
  setSuspended(_suspended: boolean): void {}
}
