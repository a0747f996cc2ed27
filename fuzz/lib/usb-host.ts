import { DescriptorType, Pid, RequestType, StandardRequest } from "../../src/usb/constants.ts";
import type { UsbDevice } from "../../src/usb/device.ts";
import { PacketState, PacketStatus, UsbPacket } from "../../src/usb/packet.ts";
import { SetupPacket } from "../../src/usb/setup-packet.ts";

/**
 * A device-to-host control request done the simple way (SETUP, INs of up to 64 bytes, status OUT),
 * for collecting the descriptors devices serve. Returns null when any stage is not ACKed at once.
 */
export function controlIn(device: UsbDevice, setup: SetupPacket): Uint8Array | null {
  const packet = new UsbPacket();
  const transact = (pid: number, length: number): boolean => {
    packet.init(pid, device.address, 0, length);
    device.handlePacket(packet);
    if (packet.state === PacketState.Async) return false;
    packet.finish();
    return packet.status === PacketStatus.Ack;
  };
  setup.encode(packet.data);
  if (!transact(Pid.Setup, 8)) return null;
  const data: number[] = [];
  while (data.length < setup.wLength) {
    const ask = Math.min(64, setup.wLength - data.length);
    // Each init keeps the buffer, so the SETUP bytes are not resent; the IN overwrites them.
    if (!transact(Pid.In, ask)) return null;
    for (let i = 0; i < packet.actualLength; i++) data.push(packet.data[i]!);
    if (packet.actualLength < ask) break;
  }
  if (!transact(Pid.Out, 0)) return null;
  return Uint8Array.from(data);
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
