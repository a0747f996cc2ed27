import { DescriptorType, type EndpointType } from "../constants.ts";
import {
  AUDIO_ENDPOINT_DESCRIPTOR_LENGTH,
  CONFIGURATION_DESCRIPTOR_LENGTH,
  DEVICE_DESCRIPTOR_LENGTH,
  ENDPOINT_DESCRIPTOR_LENGTH,
  INTERFACE_DESCRIPTOR_LENGTH,
} from "./encode.ts";
import {
  type AlternateSettingModel,
  ConfigAttributes,
  type ConfigurationModel,
  type DeviceDescriptorModel,
  type EndpointModel,
  type ExtraDescriptor,
  type InterfaceModel,
  type IsoSync,
  type IsoUsage,
  type ParseResult,
} from "./model.ts";

/**
 * Parses descriptors that came from outside (a real device, a test dump). Nothing here throws: every
 * malformation is reported as `{ ok: false, error }`. A parsed model fills in every optional field, so
 * encoding it again gives back the same bytes.
 */

export interface ParsedDeviceDescriptor extends DeviceDescriptorModel<number> {
  readonly numConfigurations: number;
}

function u16(bytes: Uint8Array, at: number): number {
  return bytes[at]! | (bytes[at + 1]! << 8);
}

function fail(error: string): { ok: false; error: string } {
  return { ok: false, error };
}

/** The 18-byte device descriptor (USB 2.0 table 9-8). */
export function parseDeviceDescriptor(bytes: Uint8Array): ParseResult<ParsedDeviceDescriptor> {
  if (bytes.length < DEVICE_DESCRIPTOR_LENGTH) {
    return fail(`device descriptor truncated: ${bytes.length} of ${DEVICE_DESCRIPTOR_LENGTH} bytes`);
  }
  // USB 2.0 9.5: a descriptor shorter than the spec defines is invalid; bytes beyond it are ignored.
  if (bytes[0]! < DEVICE_DESCRIPTOR_LENGTH) return fail(`device descriptor bLength ${bytes[0]} is below 18`);
  if (bytes[1] !== DescriptorType.Device)
    return fail(`descriptor type ${bytes[1]} is not a device descriptor`);
  return {
    ok: true,
    value: {
      usbVersion: u16(bytes, 2),
      deviceClass: bytes[4]!,
      deviceSubClass: bytes[5]!,
      deviceProtocol: bytes[6]!,
      maxPacketSize0: bytes[7]!,
      vendorId: u16(bytes, 8),
      productId: u16(bytes, 10),
      deviceVersion: u16(bytes, 12),
      manufacturer: bytes[14]!,
      product: bytes[15]!,
      serialNumber: bytes[16]!,
      numConfigurations: bytes[17]!,
    },
  };
}

interface AlternateInProgress {
  readonly where: string;
  readonly declaredEndpoints: number;
  readonly endpoints: EndpointModel[];
  readonly extra: ExtraDescriptor[];
}

/**
 * A configuration descriptor with everything wTotalLength covers (USB 2.0 9.4.3). Descriptors that
 * are not interfaces or endpoints become `extra` of the item they follow. Counts that disagree with
 * what follows (bNumInterfaces, bNumEndpoints) are errors: the parser exists to catch them.
 */
export function parseConfiguration(bytes: Uint8Array): ParseResult<ConfigurationModel<number>> {
  if (bytes.length < CONFIGURATION_DESCRIPTOR_LENGTH) {
    return fail(
      `configuration descriptor truncated: ${bytes.length} of ${CONFIGURATION_DESCRIPTOR_LENGTH} bytes`,
    );
  }
  const headerLength = bytes[0]!;
  if (bytes[1] !== DescriptorType.Configuration) {
    return fail(`descriptor type ${bytes[1]} is not a configuration descriptor`);
  }
  if (headerLength < CONFIGURATION_DESCRIPTOR_LENGTH) {
    return fail(`configuration descriptor bLength ${headerLength} is below 9`);
  }
  const total = u16(bytes, 2);
  if (total < headerLength) return fail(`wTotalLength ${total} is shorter than the configuration descriptor`);
  if (total > bytes.length) return fail(`wTotalLength ${total} exceeds the ${bytes.length} bytes given`);
  const attributes = bytes[7]!;
  const configExtra: ExtraDescriptor[] = [];
  const interfaces: InterfaceModel<number>[] = [];
  const alternatesOf = new Map<number, AlternateSettingModel<number>[]>();
  const checks: AlternateInProgress[] = [];
  let currentAlt: AlternateInProgress | null = null;
  let currentEndpointExtra: ExtraDescriptor[] | null = null;

  for (let at = headerLength; at < total; ) {
    if (total - at < 2) return fail(`${total - at} stray byte at offset ${at}`);
    const length = bytes[at]!;
    const type = bytes[at + 1]!;
    // bLength 0 or 1 would make the walk stand still or split a header: stop rather than loop.
    if (length < 2) return fail(`descriptor at offset ${at} has bLength ${length}`);
    if (at + length > total) {
      return fail(`descriptor at offset ${at} (bLength ${length}) runs past wTotalLength ${total}`);
    }
    const d = bytes.subarray(at, at + length);
    if (type === DescriptorType.Interface) {
      if (length < INTERFACE_DESCRIPTOR_LENGTH)
        return fail(`interface descriptor at offset ${at} has bLength ${length}`);
      const number = d[2]!;
      const setting = d[3]!;
      const endpoints: EndpointModel[] = [];
      const extra: ExtraDescriptor[] = [];
      let alternates = alternatesOf.get(number);
      if (alternates === undefined) {
        alternates = [];
        alternatesOf.set(number, alternates);
        interfaces.push({ number, alternates });
      } else if (alternates.some((alt) => alt.setting === setting)) {
        return fail(`interface ${number} alternate setting ${setting} appears twice`);
      }
      alternates.push({
        setting,
        interfaceClass: d[5]!,
        interfaceSubClass: d[6]!,
        interfaceProtocol: d[7]!,
        name: d[8]!,
        extra,
        endpoints,
      });
      currentAlt = {
        where: `interface ${number} alt ${setting}`,
        declaredEndpoints: d[4]!,
        endpoints,
        extra,
      };
      checks.push(currentAlt);
      currentEndpointExtra = null;
    } else if (type === DescriptorType.Endpoint) {
      if (currentAlt === null) return fail(`endpoint descriptor at offset ${at} precedes every interface`);
      if (length < ENDPOINT_DESCRIPTOR_LENGTH)
        return fail(`endpoint descriptor at offset ${at} has bLength ${length}`);
      const endpointAttributes = d[3]!;
      const extra: ExtraDescriptor[] = [];
      const audio =
        length >= AUDIO_ENDPOINT_DESCRIPTOR_LENGTH ? { audio: { refresh: d[7]!, synchAddress: d[8]! } } : {};
      currentAlt.endpoints.push({
        address: d[2]!,
        type: (endpointAttributes & 0x03) as EndpointType,
        sync: ((endpointAttributes >> 2) & 0x03) as IsoSync,
        usage: ((endpointAttributes >> 4) & 0x03) as IsoUsage,
        maxPacketSize: u16(d, 4),
        interval: d[6]!,
        ...audio,
        extra,
      });
      currentEndpointExtra = extra;
    } else if (
      type === DescriptorType.Device ||
      type === DescriptorType.Configuration ||
      type === DescriptorType.String
    ) {
      return fail(`descriptor type ${type} at offset ${at} cannot appear inside a configuration`);
    } else {
      const extra: ExtraDescriptor = { type, body: d.slice(2) };
      (currentEndpointExtra ?? currentAlt?.extra ?? configExtra).push(extra);
    }
    at += length;
  }

  for (const alt of checks) {
    if (alt.endpoints.length !== alt.declaredEndpoints) {
      return fail(
        `${alt.where}: bNumEndpoints ${alt.declaredEndpoints} but ${alt.endpoints.length} endpoints follow`,
      );
    }
  }
  if (interfaces.length !== bytes[4]) {
    return fail(`bNumInterfaces ${bytes[4]} but ${interfaces.length} interfaces follow`);
  }
  return {
    ok: true,
    value: {
      value: bytes[5]!,
      name: bytes[6]!,
      selfPowered: (attributes & ConfigAttributes.SelfPowered) !== 0,
      remoteWakeup: (attributes & ConfigAttributes.RemoteWakeup) !== 0,
      maxPowerMa: bytes[8]! * 2,
      extra: configExtra,
      interfaces,
    },
  };
}
