import { DescriptorType, RequestType, StandardRequest, type UsbSpeed } from "../usb/constants.ts";
import { parseConfiguration, parseDeviceDescriptor } from "../usb/descriptors/parse.ts";
import { LANGID_EN_US, parseLanguageIds, parseString } from "../usb/descriptors/strings.ts";
import type { DeviceInfo, GuestDevice } from "./guest-device.ts";
import type { RootHub } from "./root-hub.ts";
import { type TransferResult, TransferStatus } from "./transfer-result.ts";

/**
 * Enumeration of a device on a root port, in the order the brief and Linux's hub driver use:
 * debounce, port reset, GET_DESCRIPTOR(device, 8) at address 0 to learn bMaxPacketSize0, the full
 * 18 bytes, SET_ADDRESS, the device descriptor again at the new address, the configuration
 * descriptor (9 bytes, then wTotalLength), the strings, and SET_CONFIGURATION (USB 2.0 9.1.2, 9.4).
 */

export const EnumerationStage = {
  Connect: "connect",
  Reset: "reset",
  DeviceDescriptorHeader: "device-descriptor-8",
  DeviceDescriptorAtZero: "device-descriptor-at-address-0",
  SetAddress: "set-address",
  DeviceDescriptor: "device-descriptor",
  ConfigurationHeader: "configuration-header",
  Configuration: "configuration",
  SetConfiguration: "set-configuration",
} as const;
export type EnumerationStage = (typeof EnumerationStage)[keyof typeof EnumerationStage];

export type EnumerationResult =
  | { readonly ok: true; readonly device: GuestDevice }
  | {
      readonly ok: false;
      readonly stage: EnumerationStage;
      /** The failing transfer's status, when a transfer failed (null for a port or descriptor problem). */
      readonly status: TransferStatus | null;
      readonly error: string;
    };

export interface EnumerationOptions {
  /** Connect debounce before the reset (USB 2.0 7.1.7.3: 100 ms). */
  readonly debounceMs?: number;
  /** Read the manufacturer, product and serial number strings (default true). */
  readonly readStrings?: boolean;
  /** Select the first configuration with SET_CONFIGURATION (default true). */
  readonly configure?: boolean;
  /** Frame budget of each control transfer (the driver default otherwise). */
  readonly timeoutMs?: number;
}

/**
 * The port a device is enumerated on, as enumeration drives it: a root port (PORTSC) or a hub's
 * downstream port (hub class requests, {@link GuestHub}).
 */
export interface EnumerationPort {
  /** How messages name the port ("port 0", "hub 1 port 3"). */
  readonly label: string;
  /** The root port the device hangs off (itself, or the one its hubs hang off). */
  readonly rootPort: number;
  connected(): boolean;
  /** Acknowledges the connect (and enable) changes. */
  clearChanges(): void;
  /** Resets the port and enables it; `detail` describes the port's status for a failure message. */
  reset(): { readonly enabled: boolean; readonly speed: UsbSpeed | null; readonly detail: string };
}

/** What enumeration needs from the driver. */
export interface EnumerationHost {
  readonly rootHub: RootHub;
  run(ms: number): void;
  openDevice(port: number, speed: UsbSpeed, address: number, maxPacketSize0: number): GuestDevice;
  /** Reserves the lowest free bus address (1–127), or null when all are taken. */
  allocateAddress(): number | null;
  freeAddress(address: number): void;
}

/** USB 2.0 9.2.6.3: the device has 2 ms after SET_ADDRESS's status stage to take the new address. */
const SET_ADDRESS_RECOVERY_MS = 2;
/** Hosts ask for strings with the largest wLength a one-byte bLength allows. */
const STRING_REQUEST_LENGTH = 255;
/** USB 2.0 5.5.3: endpoint 0 max packet is 8, 16, 32 or 64 at full speed (8 at low speed). */
const VALID_MAX_PACKET_0 = [8, 16, 32, 64] as const;

/** Enumerates the device on root port `port`. */
export function enumerateDevice(
  host: EnumerationHost,
  port: number,
  options: EnumerationOptions = {},
): EnumerationResult {
  const hub = host.rootHub;
  return enumerateOnPort(
    host,
    {
      label: `port ${port}`,
      rootPort: port,
      connected: () => hub.status(port).connected,
      clearChanges: () => hub.clearChanges(port),
      reset: () => {
        const reset = hub.reset(port);
        return { enabled: reset.enabled, speed: reset.speed, detail: `PORTSC 0x${hex(reset.status.raw)}` };
      },
    },
    options,
  );
}

/** Enumerates the device on any port (a root port, or a hub's port behind it). */
export function enumerateOnPort(
  host: EnumerationHost,
  port: EnumerationPort,
  options: EnumerationOptions = {},
): EnumerationResult {
  const transfer = options.timeoutMs === undefined ? {} : { timeoutMs: options.timeoutMs };
  if (!port.connected())
    return failure(EnumerationStage.Connect, null, `nothing is connected to ${port.label}`);
  port.clearChanges();
  host.run(options.debounceMs ?? 100);
  if (!port.connected()) return failure(EnumerationStage.Connect, null, `the device on ${port.label} left`);

  const reset = port.reset();
  if (!reset.enabled || reset.speed === null) {
    return failure(
      EnumerationStage.Reset,
      null,
      `${port.label} is not enabled after reset (${reset.detail})`,
    );
  }

  // Until bMaxPacketSize0 is known, 8 bytes is the one size every device accepts (USB 2.0 5.5.3).
  const device = host.openDevice(port.rootPort, reset.speed, 0, 8);
  const fail = (stage: EnumerationStage, status: TransferStatus | null, error: string): EnumerationResult => {
    device.release();
    return failure(stage, status, error);
  };
  const failed = (stage: EnumerationStage, result: TransferResult, what: string): EnumerationResult =>
    fail(
      stage,
      result.status,
      `${what}: ${result.status}${result.failedStage ? ` in the ${result.failedStage} stage` : ""}`,
    );

  const header = device.getDescriptor(DescriptorType.Device, 0, 8, 0, transfer);
  if (header.status !== TransferStatus.Ok)
    return failed(EnumerationStage.DeviceDescriptorHeader, header, "GET_DESCRIPTOR(device, 8)");
  if (header.actualLength < 8) {
    return fail(
      EnumerationStage.DeviceDescriptorHeader,
      null,
      `device descriptor header is ${header.actualLength} bytes`,
    );
  }
  const maxPacket0 = header.data[7]!;
  if (!(VALID_MAX_PACKET_0 as readonly number[]).includes(maxPacket0)) {
    return fail(
      EnumerationStage.DeviceDescriptorHeader,
      null,
      `bMaxPacketSize0 ${maxPacket0} is not 8, 16, 32 or 64`,
    );
  }
  device.adoptMaxPacketSize0(maxPacket0);

  const atZero = device.getDescriptor(DescriptorType.Device, 0, 18, 0, transfer);
  if (atZero.status !== TransferStatus.Ok)
    return failed(EnumerationStage.DeviceDescriptorAtZero, atZero, "GET_DESCRIPTOR(device, 18)");

  const address = host.allocateAddress();
  if (address === null) return fail(EnumerationStage.SetAddress, null, "all 127 bus addresses are in use");
  const setAddress = device.control(
    { requestType: RequestType.TypeStandard, request: StandardRequest.SetAddress, value: address, index: 0 },
    transfer,
  );
  if (setAddress.status !== TransferStatus.Ok) {
    host.freeAddress(address);
    return failed(EnumerationStage.SetAddress, setAddress, `SET_ADDRESS(${address})`);
  }
  host.run(SET_ADDRESS_RECOVERY_MS);
  device.adoptAddress(address);

  const descriptorResult = device.getDescriptor(DescriptorType.Device, 0, 18, 0, transfer);
  if (descriptorResult.status !== TransferStatus.Ok) {
    return failed(EnumerationStage.DeviceDescriptor, descriptorResult, "GET_DESCRIPTOR(device, 18)");
  }
  const descriptor = parseDeviceDescriptor(descriptorResult.data);
  if (!descriptor.ok) return fail(EnumerationStage.DeviceDescriptor, null, descriptor.error);

  const configHeader = device.getDescriptor(DescriptorType.Configuration, 0, 9, 0, transfer);
  if (configHeader.status !== TransferStatus.Ok) {
    return failed(EnumerationStage.ConfigurationHeader, configHeader, "GET_DESCRIPTOR(configuration, 9)");
  }
  if (configHeader.actualLength < 4) {
    return fail(
      EnumerationStage.ConfigurationHeader,
      null,
      `configuration header is ${configHeader.actualLength} bytes`,
    );
  }
  const totalLength = configHeader.data[2]! | (configHeader.data[3]! << 8);
  const configResult = device.getDescriptor(DescriptorType.Configuration, 0, totalLength, 0, transfer);
  if (configResult.status !== TransferStatus.Ok) {
    return failed(
      EnumerationStage.Configuration,
      configResult,
      `GET_DESCRIPTOR(configuration, ${totalLength})`,
    );
  }
  const configuration = parseConfiguration(configResult.data);
  if (!configuration.ok) return fail(EnumerationStage.Configuration, null, configuration.error);

  let languages: number[] = [];
  const strings: { manufacturer?: string; product?: string; serialNumber?: string } = {};
  const d = descriptor.value;
  if ((options.readStrings ?? true) && (d.manufacturer !== 0 || d.product !== 0 || d.serialNumber !== 0)) {
    // Strings are optional: a device that STALLs them still enumerates (as on Linux).
    const zero = device.getDescriptor(DescriptorType.String, 0, STRING_REQUEST_LENGTH, 0, transfer);
    const parsedLanguages = zero.status === TransferStatus.Ok ? parseLanguageIds(zero.data) : null;
    if (parsedLanguages?.ok) languages = parsedLanguages.value;
    const language = languages[0] ?? LANGID_EN_US;
    const read = (index: number): string | undefined => {
      if (index === 0 || languages.length === 0) return undefined;
      const r = device.getDescriptor(DescriptorType.String, index, STRING_REQUEST_LENGTH, language, transfer);
      if (r.status !== TransferStatus.Ok) return undefined;
      const text = parseString(r.data);
      return text.ok ? text.value : undefined;
    };
    const manufacturer = read(d.manufacturer ?? 0);
    const product = read(d.product ?? 0);
    const serialNumber = read(d.serialNumber ?? 0);
    if (manufacturer !== undefined) strings.manufacturer = manufacturer;
    if (product !== undefined) strings.product = product;
    if (serialNumber !== undefined) strings.serialNumber = serialNumber;
  }

  const info: DeviceInfo = {
    descriptor: d,
    descriptorBytes: descriptorResult.data,
    configuration: configuration.value,
    configurationBytes: configResult.data,
    languages,
    ...strings,
  };
  device.adoptInfo(info);

  if (options.configure ?? true) {
    const value = configuration.value.value ?? 1;
    const set = device.setConfiguration(value, transfer);
    if (set.status !== TransferStatus.Ok)
      return failed(EnumerationStage.SetConfiguration, set, `SET_CONFIGURATION(${value})`);
  }
  return { ok: true, device };
}

function failure(stage: EnumerationStage, status: TransferStatus | null, error: string): EnumerationResult {
  return { ok: false, stage, status, error };
}

function hex(value: number): string {
  return value.toString(16);
}
