import { DescriptorType, RequestType, StandardRequest } from "../../src/usb/constants.ts";
import type { UsbDevice } from "../../src/usb/device.ts";
import { PacketStatus } from "../../src/usb/packet.ts";
import { SetupPacket } from "../../src/usb/setup-packet.ts";
import { PacketHost } from "../../src/usb/testing/packet-host.ts";

/**
 * A device-to-host control request through the shared test host (data packets of 64 bytes), for
 * collecting the descriptors devices serve. Returns null when any stage is not ACKed at once.
 */
export function controlIn(device: UsbDevice, setup: SetupPacket): Uint8Array | null {
  const transfer = new PacketHost(device, 64).control(setup);
  return transfer.status === PacketStatus.Ack ? Uint8Array.from(transfer.data) : null;
}

/** GET_DESCRIPTOR to the device (or, with `toInterface`, to interface 0: HID class descriptors). */
export function getDescriptor(
  device: UsbDevice,
  type: number,
  index: number,
  length: number,
  toInterface = false,
): Uint8Array | null {
  const recipient = toInterface ? RequestType.RecipientInterface : RequestType.RecipientDevice;
  const langId = type === DescriptorType.String && index > 0 ? 0x0409 : 0;
  return controlIn(
    device,
    SetupPacket.of(
      RequestType.DirectionIn | RequestType.TypeStandard | recipient,
      StandardRequest.GetDescriptor,
      (type << 8) | index,
      langId,
      length,
    ),
  );
}
