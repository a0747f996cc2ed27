import { DescriptorType } from "../../usb/constants.ts";
import type { ExtraDescriptor } from "../../usb/descriptors/model.ts";
import {
  AcSubtype,
  AsSubtype,
  EP_GENERAL,
  FORMAT_TYPE_I,
  MAX_SAMPLE_FREQUENCY,
  UAC1_VERSION,
  writeSampleFrequency,
} from "./uac1.ts";

/**
 * The class-specific UAC1 descriptors as {@link ExtraDescriptor}s: each builder writes only the body
 * (bLength is computed by the encoder) and checks every field's width, so a mistake in a device's
 * options is an exception when the device is built, never a malformed descriptor on the wire.
 */

function u8(value: number, field: string): number {
  if (!Number.isInteger(value) || value < 0 || value > 0xff) {
    throw new RangeError(`${field} = ${value} does not fit in 8 bits`);
  }
  return value;
}

function u16(value: number, field: string): [number, number] {
  if (!Number.isInteger(value) || value < 0 || value > 0xffff) {
    throw new RangeError(`${field} = ${value} does not fit in 16 bits`);
  }
  return [value & 0xff, value >> 8];
}

function frequency(value: number, field: string): [number, number, number] {
  if (!Number.isInteger(value) || value < 0 || value > MAX_SAMPLE_FREQUENCY) {
    throw new RangeError(`${field} = ${value} does not fit in 24 bits`);
  }
  return writeSampleFrequency(value, [0, 0, 0]);
}

function csInterface(subtype: number, fields: readonly number[]): ExtraDescriptor {
  return { type: DescriptorType.CsInterface, body: Uint8Array.of(subtype, ...fields) };
}

/** Bytes a descriptor occupies on the wire: bLength + bDescriptorType + body. */
export function descriptorLength(descriptor: ExtraDescriptor): number {
  return 2 + descriptor.body.length;
}

/**
 * The class-specific AC interface header (UAC1 4.3.2). wTotalLength covers the header and every unit
 * and terminal descriptor after it, so it is computed here from those descriptors, never counted.
 */
export function acHeader(
  streamingInterfaces: readonly number[],
  units: readonly ExtraDescriptor[],
): ExtraDescriptor {
  const headerLength = 2 + 6 + streamingInterfaces.length;
  const total = headerLength + units.reduce((sum, unit) => sum + descriptorLength(unit), 0);
  return csInterface(AcSubtype.Header, [
    ...u16(UAC1_VERSION, "bcdADC"),
    ...u16(total, "wTotalLength"),
    u8(streamingInterfaces.length, "bInCollection"),
    ...streamingInterfaces.map((n) => u8(n, "baInterfaceNr")),
  ]);
}

export interface InputTerminalFields {
  readonly id: number;
  readonly terminalType: number;
  readonly channels: number;
  readonly channelConfig: number;
  /** bAssocTerminal; 0 = none. */
  readonly associatedTerminal?: number;
}

/** Input terminal (UAC1 4.3.2.1): where a channel cluster enters the function. */
export function inputTerminal(fields: InputTerminalFields): ExtraDescriptor {
  return csInterface(AcSubtype.InputTerminal, [
    u8(fields.id, "bTerminalID"),
    ...u16(fields.terminalType, "wTerminalType"),
    u8(fields.associatedTerminal ?? 0, "bAssocTerminal"),
    u8(fields.channels, "bNrChannels"),
    ...u16(fields.channelConfig, "wChannelConfig"),
    0, // iChannelNames
    0, // iTerminal
  ]);
}

export interface OutputTerminalFields {
  readonly id: number;
  readonly terminalType: number;
  readonly sourceId: number;
  readonly associatedTerminal?: number;
}

/** Output terminal (UAC1 4.3.2.2): where the cluster leaves the function. */
export function outputTerminal(fields: OutputTerminalFields): ExtraDescriptor {
  return csInterface(AcSubtype.OutputTerminal, [
    u8(fields.id, "bTerminalID"),
    ...u16(fields.terminalType, "wTerminalType"),
    u8(fields.associatedTerminal ?? 0, "bAssocTerminal"),
    u8(fields.sourceId, "bSourceID"),
    0, // iTerminal
  ]);
}

export interface FeatureUnitFields {
  readonly id: number;
  readonly sourceId: number;
  /**
   * bmaControls: entry 0 is the master channel, entry n logical channel n (UAC1 4.3.2.5). One byte
   * each (bControlSize 1) covers mute and volume.
   */
  readonly controls: readonly number[];
}

/** Feature unit (UAC1 4.3.2.5). */
export function featureUnit(fields: FeatureUnitFields): ExtraDescriptor {
  return csInterface(AcSubtype.FeatureUnit, [
    u8(fields.id, "bUnitID"),
    u8(fields.sourceId, "bSourceID"),
    1, // bControlSize
    ...fields.controls.map((bits) => u8(bits, "bmaControls")),
    0, // iFeature
  ]);
}

/** Class-specific AS interface descriptor (UAC1 4.5.2). */
export function asGeneral(terminalLink: number, formatTag: number, delayFrames = 1): ExtraDescriptor {
  return csInterface(AsSubtype.General, [
    u8(terminalLink, "bTerminalLink"),
    u8(delayFrames, "bDelay"),
    ...u16(formatTag, "wFormatTag"),
  ]);
}

export interface FormatTypeIFields {
  readonly channels: number;
  /** Bytes per sample slot. */
  readonly subframeSize: number;
  readonly bitResolution: number;
  /** A discrete list (bSamFreqType = count), each a 24-bit value in Hz. */
  readonly sampleRates: readonly number[];
}

/** Type I format descriptor with discrete sampling frequencies (Audio Data Formats 1.0 2.2.5). */
export function formatTypeI(fields: FormatTypeIFields): ExtraDescriptor {
  if (fields.sampleRates.length === 0) throw new RangeError("a format needs at least one sampling frequency");
  return csInterface(AsSubtype.FormatType, [
    FORMAT_TYPE_I,
    u8(fields.channels, "bNrChannels"),
    u8(fields.subframeSize, "bSubframeSize"),
    u8(fields.bitResolution, "bBitResolution"),
    u8(fields.sampleRates.length, "bSamFreqType"),
    ...fields.sampleRates.flatMap((rate) => frequency(rate, "tSamFreq")),
  ]);
}

/** Class-specific AS isochronous audio data endpoint descriptor (UAC1 4.6.1.2). */
export function asIsoEndpoint(attributes: number): ExtraDescriptor {
  return {
    type: DescriptorType.CsEndpoint,
    body: Uint8Array.of(
      EP_GENERAL,
      u8(attributes, "bmAttributes"),
      0, // bLockDelayUnits: unused, the device needs no lock time
      0,
      0, // wLockDelay
    ),
  };
}
