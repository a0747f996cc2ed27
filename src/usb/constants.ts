/** USB 1.1/2.0 constants (USB 2.0 spec chapter 8 and 9), as `as const` objects. */

/** Token PIDs as they appear in a UHCI TD (USB 2.0 table 8-1). */
export const Pid = {
  Setup: 0x2d,
  In: 0x69,
  Out: 0xe1,
} as const;
export type Pid = (typeof Pid)[keyof typeof Pid];

export const UsbSpeed = {
  Low: "low",
  Full: "full",
} as const;
export type UsbSpeed = (typeof UsbSpeed)[keyof typeof UsbSpeed];

/** bRequest values of the standard device requests (USB 2.0 table 9-4). */
export const StandardRequest = {
  GetStatus: 0,
  ClearFeature: 1,
  SetFeature: 3,
  SetAddress: 5,
  GetDescriptor: 6,
  SetDescriptor: 7,
  GetConfiguration: 8,
  SetConfiguration: 9,
  GetInterface: 10,
  SetInterface: 11,
  SynchFrame: 12,
} as const;

/** Descriptor types (USB 2.0 table 9-5; class types from HID 1.11 and UAC 1.0). */
export const DescriptorType = {
  Device: 1,
  Configuration: 2,
  String: 3,
  Interface: 4,
  Endpoint: 5,
  DeviceQualifier: 6,
  Hid: 0x21,
  HidReport: 0x22,
  CsInterface: 0x24,
  CsEndpoint: 0x25,
} as const;

/** Feature selectors (USB 2.0 table 9-6). */
export const Feature = {
  EndpointHalt: 0,
  DeviceRemoteWakeup: 1,
} as const;

/** bmRequestType fields (USB 2.0 table 9-2). */
export const RequestType = {
  DirectionIn: 0x80,
  TypeMask: 0x60,
  TypeStandard: 0x00,
  TypeClass: 0x20,
  TypeVendor: 0x40,
  RecipientMask: 0x1f,
  RecipientDevice: 0,
  RecipientInterface: 1,
  RecipientEndpoint: 2,
  RecipientOther: 3,
} as const;

export const EndpointType = {
  Control: 0,
  Isochronous: 1,
  Bulk: 2,
  Interrupt: 3,
} as const;
export type EndpointType = (typeof EndpointType)[keyof typeof EndpointType];

/** Largest data packet on a full-speed isochronous endpoint (USB 2.0 5.6.3). */
export const MAX_ISO_PACKET = 1023;
/** Largest transfer a UHCI TD can describe: MaxLen 0x4FF + 1 (UHCI 3.2.3). */
export const MAX_TD_LENGTH = 1280;
