import { DescriptorType } from "../constants.ts";
import {
  type AlternateSettingModel,
  alternateSetting,
  ConfigAttributes,
  type ConfigurationModel,
  configurationValue,
  type DeviceDescriptorModel,
  type DeviceModel,
  type EndpointModel,
  type ExtraDescriptor,
  type InterfaceModel,
  interfaceNumber,
  type StringRef,
} from "./model.ts";
import { encodeLanguageIds, encodeString, LANGID_EN_US } from "./strings.ts";

/**
 * The one descriptor encoder: every bLength, wTotalLength and count is computed here from the model.
 * A model is written by a device author, so a mistake in it throws {@link DescriptorModelError} when the
 * device is built, long before any host can see it.
 */
export class DescriptorModelError extends Error {}

export const DEVICE_DESCRIPTOR_LENGTH = 18;
export const CONFIGURATION_DESCRIPTOR_LENGTH = 9;
export const INTERFACE_DESCRIPTOR_LENGTH = 9;
export const ENDPOINT_DESCRIPTOR_LENGTH = 7;
/** The audio-class endpoint form with bRefresh and bSynchAddress (UAC 1.0 4.6.1.1). */
export const AUDIO_ENDPOINT_DESCRIPTOR_LENGTH = 9;

/** Descriptor types that the tree itself encodes, and which an extra descriptor therefore may not use. */
const STRUCTURAL_TYPES: readonly number[] = [
  DescriptorType.Device,
  DescriptorType.Configuration,
  DescriptorType.String,
  DescriptorType.Interface,
  DescriptorType.Endpoint,
];

/** Appends little-endian fields, checking each against its width so nothing is silently truncated. */
class ByteWriter {
  private readonly bytes: number[] = [];

  get length(): number {
    return this.bytes.length;
  }

  u8(value: number, field: string): void {
    if (!Number.isInteger(value) || value < 0 || value > 0xff) {
      throw new DescriptorModelError(`${field} = ${value} does not fit in 8 bits`);
    }
    this.bytes.push(value);
  }

  u16(value: number, field: string): void {
    if (!Number.isInteger(value) || value < 0 || value > 0xffff) {
      throw new DescriptorModelError(`${field} = ${value} does not fit in 16 bits`);
    }
    this.bytes.push(value & 0xff, value >> 8);
  }

  /** Overwrites a byte written earlier (a length known only once the children are written). */
  patch(at: number, value: number): void {
    this.bytes[at] = value & 0xff;
  }

  raw(body: Uint8Array): void {
    for (const byte of body) this.bytes.push(byte);
  }

  finish(): Uint8Array {
    return Uint8Array.from(this.bytes);
  }
}

function stringIndex(ref: number | undefined, field: string): number {
  const index = ref ?? 0;
  if (!Number.isInteger(index) || index < 0 || index > 0xff) {
    throw new DescriptorModelError(`${field} = ${index} is not a string index`);
  }
  return index;
}

function writeExtras(w: ByteWriter, extras: readonly ExtraDescriptor[] | undefined, where: string): void {
  for (const extra of extras ?? []) {
    if (STRUCTURAL_TYPES.includes(extra.type)) {
      throw new DescriptorModelError(`${where}: descriptor type ${extra.type} is part of the standard tree`);
    }
    if (extra.body.length > 0xff - 2) {
      throw new DescriptorModelError(`${where}: a ${extra.body.length}-byte body does not fit bLength`);
    }
    w.u8(2 + extra.body.length, "bLength");
    w.u8(extra.type, `${where} bDescriptorType`);
    w.raw(extra.body);
  }
}

/** The 18-byte device descriptor (USB 2.0 table 9-8). */
export function encodeDeviceDescriptor(
  device: DeviceDescriptorModel<number>,
  numConfigurations: number,
): Uint8Array {
  if (![8, 16, 32, 64].includes(device.maxPacketSize0)) {
    throw new DescriptorModelError(`bMaxPacketSize0 = ${device.maxPacketSize0}; it must be 8, 16, 32 or 64`);
  }
  const w = new ByteWriter();
  w.u8(DEVICE_DESCRIPTOR_LENGTH, "bLength");
  w.u8(DescriptorType.Device, "bDescriptorType");
  w.u16(device.usbVersion ?? 0x0110, "bcdUSB");
  w.u8(device.deviceClass ?? 0, "bDeviceClass");
  w.u8(device.deviceSubClass ?? 0, "bDeviceSubClass");
  w.u8(device.deviceProtocol ?? 0, "bDeviceProtocol");
  w.u8(device.maxPacketSize0, "bMaxPacketSize0");
  w.u16(device.vendorId, "idVendor");
  w.u16(device.productId, "idProduct");
  w.u16(device.deviceVersion ?? 0x0100, "bcdDevice");
  w.u8(stringIndex(device.manufacturer, "iManufacturer"), "iManufacturer");
  w.u8(stringIndex(device.product, "iProduct"), "iProduct");
  w.u8(stringIndex(device.serialNumber, "iSerialNumber"), "iSerialNumber");
  w.u8(numConfigurations, "bNumConfigurations");
  return w.finish();
}

function writeEndpoint(w: ByteWriter, ep: EndpointModel, where: string): void {
  const number = ep.address & 0x0f;
  if ((ep.address & 0x70) !== 0 || number === 0) {
    throw new DescriptorModelError(
      `${where}: bEndpointAddress 0x${ep.address.toString(16)} is not endpoint 1-15`,
    );
  }
  const attributes = ep.type | ((ep.sync ?? 0) << 2) | ((ep.usage ?? 0) << 4);
  w.u8(ep.audio === undefined ? ENDPOINT_DESCRIPTOR_LENGTH : AUDIO_ENDPOINT_DESCRIPTOR_LENGTH, "bLength");
  w.u8(DescriptorType.Endpoint, "bDescriptorType");
  w.u8(ep.address, `${where} bEndpointAddress`);
  w.u8(attributes, `${where} bmAttributes`);
  w.u16(ep.maxPacketSize, `${where} wMaxPacketSize`);
  w.u8(ep.interval, `${where} bInterval`);
  if (ep.audio !== undefined) {
    w.u8(ep.audio.refresh, `${where} bRefresh`);
    w.u8(ep.audio.synchAddress, `${where} bSynchAddress`);
  }
  writeExtras(w, ep.extra, where);
}

function writeAlternate(
  w: ByteWriter,
  number: number,
  alt: AlternateSettingModel<number>,
  setting: number,
): void {
  const where = `interface ${number} alt ${setting}`;
  const endpoints = alt.endpoints ?? [];
  const seen = new Set<number>();
  for (const ep of endpoints) {
    if (seen.has(ep.address))
      throw new DescriptorModelError(`${where}: endpoint 0x${ep.address.toString(16)} twice`);
    seen.add(ep.address);
  }
  w.u8(INTERFACE_DESCRIPTOR_LENGTH, "bLength");
  w.u8(DescriptorType.Interface, "bDescriptorType");
  w.u8(number, `${where} bInterfaceNumber`);
  w.u8(setting, `${where} bAlternateSetting`);
  w.u8(endpoints.length, `${where} bNumEndpoints`);
  w.u8(alt.interfaceClass, `${where} bInterfaceClass`);
  w.u8(alt.interfaceSubClass ?? 0, `${where} bInterfaceSubClass`);
  w.u8(alt.interfaceProtocol ?? 0, `${where} bInterfaceProtocol`);
  w.u8(stringIndex(alt.name, "iInterface"), `${where} iInterface`);
  writeExtras(w, alt.extra, where);
  endpoints.forEach((ep, i) => {
    writeEndpoint(w, ep, `${where} endpoint #${i}`);
  });
}

/** Endpoint addresses an interface may use in any of its alternate settings. */
function addressesOf(iface: InterfaceModel<StringRef>): Set<number> {
  const addresses = new Set<number>();
  for (const alt of iface.alternates) for (const ep of alt.endpoints ?? []) addresses.add(ep.address);
  return addresses;
}

/**
 * A configuration descriptor with everything that follows it (USB 2.0 9.4.3: interfaces, their
 * alternate settings, class-specific descriptors and endpoints, in that order). `position` is the
 * configuration's index, which supplies the default bConfigurationValue.
 */
export function encodeConfiguration(config: ConfigurationModel<number>, position = 0): Uint8Array {
  const value = configurationValue(config, position);
  if (value === 0) throw new DescriptorModelError("bConfigurationValue 0 means unconfigured (USB 2.0 9.4.7)");
  const where = `configuration ${value}`;
  checkInterfaces(config, where);
  const w = new ByteWriter();
  w.u8(CONFIGURATION_DESCRIPTOR_LENGTH, "bLength");
  w.u8(DescriptorType.Configuration, "bDescriptorType");
  const totalAt = w.length;
  w.u16(0, "wTotalLength");
  w.u8(config.interfaces.length, `${where} bNumInterfaces`);
  w.u8(value, `${where} bConfigurationValue`);
  w.u8(stringIndex(config.name, "iConfiguration"), `${where} iConfiguration`);
  w.u8(
    ConfigAttributes.Reserved |
      (config.selfPowered ? ConfigAttributes.SelfPowered : 0) |
      (config.remoteWakeup ? ConfigAttributes.RemoteWakeup : 0),
    `${where} bmAttributes`,
  );
  if (!(config.maxPowerMa >= 0)) throw new DescriptorModelError(`${where}: maxPowerMa ${config.maxPowerMa}`);
  w.u8(Math.ceil(config.maxPowerMa / 2), `${where} bMaxPower (mA / 2)`);
  writeExtras(w, config.extra, where);
  config.interfaces.forEach((iface, position) => {
    const number = interfaceNumber(iface, position);
    iface.alternates.forEach((alt, altPosition) => {
      writeAlternate(w, number, alt, alternateSetting(alt, altPosition));
    });
  });
  if (w.length > 0xffff) throw new DescriptorModelError(`${where}: wTotalLength ${w.length} exceeds 65535`);
  w.patch(totalAt, w.length);
  w.patch(totalAt + 1, w.length >> 8);
  return w.finish();
}

/** The structural rules a host relies on when it walks the tree (USB 2.0 9.6.3, 9.6.5). */
function checkInterfaces(config: ConfigurationModel<StringRef>, where: string): void {
  const numbers = new Set<number>();
  const claimed = new Map<number, number>();
  config.interfaces.forEach((iface, position) => {
    const number = interfaceNumber(iface, position);
    if (numbers.has(number)) throw new DescriptorModelError(`${where}: interface ${number} twice`);
    numbers.add(number);
    if (iface.alternates.length === 0)
      throw new DescriptorModelError(`${where}: interface ${number} has no settings`);
    const settings = new Set(iface.alternates.map(alternateSetting));
    if (settings.size !== iface.alternates.length) {
      throw new DescriptorModelError(`${where}: interface ${number} repeats an alternate setting`);
    }
    if (!settings.has(0))
      throw new DescriptorModelError(`${where}: interface ${number} has no alternate setting 0`);
    // Alternate settings of one interface may reuse an endpoint; two interfaces may not, since both are
    // active at once and the device routes data packets by endpoint address alone.
    for (const address of addressesOf(iface)) {
      const owner = claimed.get(address);
      if (owner !== undefined) {
        throw new DescriptorModelError(
          `${where}: endpoint 0x${address.toString(16)} in interfaces ${owner} and ${number}`,
        );
      }
      claimed.set(address, number);
    }
  });
}

/** A device model with its strings replaced by indexes, and the strings in index order (index 1 first). */
export interface IndexedStrings {
  readonly model: DeviceModel<number>;
  readonly strings: readonly string[];
}

/**
 * Assigns string indexes from 1 in the order the strings first appear (device, then each configuration
 * and its interfaces); a text used twice gets one index.
 */
export function assignStringIndexes(model: DeviceModel<string>): IndexedStrings {
  const strings: string[] = [];
  const indexOf = (text: string | undefined): number | undefined => {
    if (text === undefined) return undefined;
    let at = strings.indexOf(text);
    if (at < 0) at = strings.push(text) - 1;
    if (at >= 0xff) throw new DescriptorModelError("more than 255 strings");
    return at + 1;
  };
  const indexed: DeviceModel<number> = {
    ...model,
    manufacturer: indexOf(model.manufacturer),
    product: indexOf(model.product),
    serialNumber: indexOf(model.serialNumber),
    configurations: model.configurations.map((config) => ({
      ...config,
      name: indexOf(config.name),
      interfaces: config.interfaces.map((iface) => ({
        ...iface,
        alternates: iface.alternates.map((alt) => ({ ...alt, name: indexOf(alt.name) })),
      })),
    })),
  };
  return { model: indexed, strings };
}

/** Everything a device serves through GET_DESCRIPTOR, encoded once. */
export interface EncodedDescriptors {
  readonly device: Uint8Array;
  /** By configuration index (the low byte of wValue in GET_DESCRIPTOR, USB 2.0 9.4.3). */
  readonly configurations: readonly Uint8Array[];
  /** By string index; entry 0 is the LANGID list. */
  readonly strings: readonly Uint8Array[];
  /** The model as the host sees it, with string indexes. */
  readonly indexed: DeviceModel<number>;
}

/** Encodes a whole authored device model. Throws {@link DescriptorModelError} on a malformed model. */
export function encodeDescriptors(model: DeviceModel<string>): EncodedDescriptors {
  if (model.configurations.length === 0) throw new DescriptorModelError("a device needs a configuration");
  const values = new Set(model.configurations.map(configurationValue));
  if (values.size !== model.configurations.length) {
    throw new DescriptorModelError("two configurations share a bConfigurationValue");
  }
  const { model: indexed, strings } = assignStringIndexes(model);
  return {
    device: encodeDeviceDescriptor(indexed, indexed.configurations.length),
    configurations: indexed.configurations.map(encodeConfiguration),
    strings: [encodeLanguageIds(model.languages ?? [LANGID_EN_US]), ...strings.map(encodeString)],
    indexed,
  };
}
