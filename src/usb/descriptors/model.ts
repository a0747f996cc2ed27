import type { EndpointType } from "../constants.ts";

/**
 * Descriptors as typed data trees (USB 2.0 9.6). A model never holds a length or a count: bLength,
 * wTotalLength, bNumInterfaces, bNumEndpoints and bNumConfigurations are computed by the encoder.
 *
 * String fields are generic. An authored model holds text (`S = string`) and the encoder assigns the
 * string indexes; a parsed model holds the indexes found on the wire (`S = number`, 0 = no string),
 * because a configuration descriptor alone cannot say what its strings read.
 */
export type StringRef = string | number;

/** A descriptor the standard tree does not know (HID, UAC class-specific, IAD…): bLength is computed. */
export interface ExtraDescriptor {
  /** bDescriptorType. */
  readonly type: number;
  /** Everything after bDescriptorType. */
  readonly body: Uint8Array;
}

/** bEndpointAddress bit 7 (USB 2.0 9.6.6). */
export const EndpointDirection = {
  Out: 0x00,
  In: 0x80,
} as const;

/** bmAttributes bits 3:2 of an isochronous endpoint (USB 2.0 table 9-13). */
export const IsoSync = {
  None: 0,
  Asynchronous: 1,
  Adaptive: 2,
  Synchronous: 3,
} as const;
export type IsoSync = (typeof IsoSync)[keyof typeof IsoSync];

/** bmAttributes bits 5:4 of an isochronous endpoint (USB 2.0 table 9-13). */
export const IsoUsage = {
  Data: 0,
  Feedback: 1,
  ImplicitFeedback: 2,
} as const;
export type IsoUsage = (typeof IsoUsage)[keyof typeof IsoUsage];

/** Configuration bmAttributes bits (USB 2.0 table 9-10). */
export const ConfigAttributes = {
  /** Must be set: USB 1.0 called it "bus powered", and USB 1.1/2.0 hosts still check it. */
  Reserved: 0x80,
  SelfPowered: 0x40,
  RemoteWakeup: 0x20,
} as const;

export interface EndpointModel {
  /** bEndpointAddress: number in bits 3:0, {@link EndpointDirection.In} for device-to-host. */
  readonly address: number;
  readonly type: EndpointType;
  /** Isochronous synchronisation type (bits 3:2); 0 for other types. */
  readonly sync?: IsoSync;
  /** Isochronous usage type (bits 5:4); 0 for other types. */
  readonly usage?: IsoUsage;
  /** wMaxPacketSize. */
  readonly maxPacketSize: number;
  /** bInterval, in frames at full/low speed. */
  readonly interval: number;
  /**
   * The 9-byte form that audio-class endpoints use (UAC 1.0 4.6.1.1): bRefresh and bSynchAddress
   * follow bInterval. Absent means the standard 7-byte endpoint descriptor.
   */
  readonly audio?: { readonly refresh: number; readonly synchAddress: number };
  /** Class-specific descriptors that follow this endpoint (e.g. UAC CS_ENDPOINT). */
  readonly extra?: readonly ExtraDescriptor[];
}

/** One alternate setting of an interface: what one interface descriptor says (USB 2.0 9.6.5). */
export interface AlternateSettingModel<S extends StringRef = string> {
  /** bAlternateSetting; defaults to its position in {@link InterfaceModel.alternates}. */
  readonly setting?: number;
  readonly interfaceClass: number;
  readonly interfaceSubClass?: number;
  readonly interfaceProtocol?: number;
  /** iInterface. */
  readonly name?: S;
  /** Class-specific descriptors between the interface descriptor and its endpoints (HID, UAC…). */
  readonly extra?: readonly ExtraDescriptor[];
  /** Endpoints other than endpoint 0. */
  readonly endpoints?: readonly EndpointModel[];
}

export interface InterfaceModel<S extends StringRef = string> {
  /** bInterfaceNumber; defaults to its position in {@link ConfigurationModel.interfaces} (USB 2.0 9.6.5). */
  readonly number?: number;
  /** At least one; alternate setting 0 is the one selected by SET_CONFIGURATION. */
  readonly alternates: readonly AlternateSettingModel<S>[];
}

export interface ConfigurationModel<S extends StringRef = string> {
  /** bConfigurationValue; defaults to position + 1 (0 means "unconfigured", USB 2.0 9.4.7). */
  readonly value?: number;
  /** iConfiguration. */
  readonly name?: S;
  readonly selfPowered?: boolean;
  /** The device can signal remote wakeup; the host may then enable it (USB 2.0 9.4.1). */
  readonly remoteWakeup?: boolean;
  /** Bus power drawn, in mA; encoded as bMaxPower in 2 mA units, rounded up. */
  readonly maxPowerMa: number;
  /** Descriptors between the configuration descriptor and the first interface (e.g. an IAD). */
  readonly extra?: readonly ExtraDescriptor[];
  readonly interfaces: readonly InterfaceModel<S>[];
}

/** The fields of the device descriptor (USB 2.0 9.6.1) that are not computed. */
export interface DeviceDescriptorModel<S extends StringRef = string> {
  /** bcdUSB; defaults to 0x0110 (USB 1.1). */
  readonly usbVersion?: number;
  readonly deviceClass?: number;
  readonly deviceSubClass?: number;
  readonly deviceProtocol?: number;
  /** bMaxPacketSize0: 8, 16, 32 or 64 (USB 2.0 5.5.3). */
  readonly maxPacketSize0: number;
  readonly vendorId: number;
  readonly productId: number;
  /** bcdDevice; defaults to 0x0100. */
  readonly deviceVersion?: number;
  readonly manufacturer?: S;
  readonly product?: S;
  readonly serialNumber?: S;
}

/** A whole device: the device descriptor, its configurations and its strings. */
export interface DeviceModel<S extends StringRef = string> extends DeviceDescriptorModel<S> {
  readonly configurations: readonly ConfigurationModel<S>[];
  /** LANGIDs served in string descriptor 0 (USB 2.0 9.6.7); defaults to [0x0409] (English, US). */
  readonly languages?: readonly number[];
}

/** Outcome of parsing bytes that came from outside: never an exception. */
export type ParseResult<T> =
  | { readonly ok: true; readonly value: T }
  | { readonly ok: false; readonly error: string };

/** bInterfaceNumber of the interface at `position`. */
export function interfaceNumber(iface: InterfaceModel<StringRef>, position: number): number {
  return iface.number ?? position;
}

/** bAlternateSetting of the alternate at `position`. */
export function alternateSetting(alt: AlternateSettingModel<StringRef>, position: number): number {
  return alt.setting ?? position;
}

/** bConfigurationValue of the configuration at `position`. */
export function configurationValue(config: ConfigurationModel<StringRef>, position: number): number {
  return config.value ?? position + 1;
}
