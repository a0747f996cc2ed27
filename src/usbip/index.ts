export { UsbipAttachment, type UsbipAttachmentOptions } from "./attachment.ts";
export {
  DEFAULT_OP_TIMEOUT_MS,
  importUsbipDevice,
  listUsbipDevices,
  UsbipConnection,
  UsbipConnectionStats,
  UsbipError,
} from "./connection.ts";
export { DEFAULT_ISO_STREAM_OPTIONS, type IsoStreamOptions, IsoStreamStats } from "./iso-streams.ts";
export {
  devidOf,
  speedName,
  USBIP_DEFAULT_PORT,
  USBIP_VERSION,
  type UsbipDeviceInfo,
  UsbipSpeed,
} from "./protocol.ts";
export { RoundTripStats } from "./round-trip.ts";
export type { UsbipConnect, UsbipTransport } from "./transport.ts";
export { UsbipDevice, type UsbipDeviceOptions, UsbipDeviceStats } from "./usbip-device.ts";
export {
  connectUsbipWebSocket,
  type WebSocketConstructor,
  type WebSocketLike,
} from "./websocket-transport.ts";
