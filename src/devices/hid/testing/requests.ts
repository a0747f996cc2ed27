import { Feature, RequestType, StandardRequest } from "../../../usb/constants.ts";
import { SetupPacket } from "../../../usb/setup-packet.ts";
import { HidRequest } from "../hid-constants.ts";

/**
 * HID class requests (HID 1.11 7.2) and the standard requests HID tests send, by name, for
 * `PacketHost.control` (the shared test host in usb/testing).
 */

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
