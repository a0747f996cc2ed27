import { type FinalPacketStatus, PacketStatus } from "../usb/packet.ts";
import { Errno } from "./protocol.ts";

/**
 * A URB's `status` (a negated Linux errno) as the status the controller writes into the TD
 * (src/devices/async-host/README.md, rule 4: CRC and bit stuffing where the device model knows them).
 */
export function packetStatusOf(status: number): FinalPacketStatus {
  switch (-status) {
    case 0:
    case Errno.EREMOTEIO: // a short packet under URB_SHORT_NOT_OK: the data moved
      return PacketStatus.Ack;
    case Errno.EPIPE:
      return PacketStatus.Stall;
    case Errno.EOVERFLOW:
      return PacketStatus.Babble;
    case Errno.EILSEQ:
      return PacketStatus.Crc;
    case Errno.EPROTO:
      return PacketStatus.BitStuff;
    default:
      return PacketStatus.IoError;
  }
}

/**
 * An iso packet's status: -EXDEV (only part of the packet, or none, was moved in its frame) still
 * delivers what came, as a real device's short or empty iso packet would; others as {@link packetStatusOf}.
 */
export function packetStatusOfIso(status: number): FinalPacketStatus {
  return -status === Errno.EXDEV ? PacketStatus.Ack : packetStatusOf(status);
}
