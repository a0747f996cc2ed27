import { RequestType } from "../../../usb/constants.ts";
import { SetupPacket } from "../../../usb/setup-packet.ts";
import {
  AudioRequest,
  EndpointControl,
  FeatureControl,
  SAMPLE_FREQUENCY_BYTES,
  writeSampleFrequency,
} from "../uac1.ts";

const CLASS_INTERFACE = RequestType.TypeClass | RequestType.RecipientInterface;
const CLASS_ENDPOINT = RequestType.TypeClass | RequestType.RecipientEndpoint;

function directionOf(request: number): number {
  return (request & 0x80) !== 0 ? RequestType.DirectionIn : 0;
}

/**
 * Audio class requests (UAC1 5.2) by name, for `PacketHost.control` (the shared test host in
 * usb/testing), and the byte encodings their data stages carry.
 */
export const audioRequests = {
  /** A feature unit request: wValue = control selector << 8 | channel, wIndex = unit << 8 | interface. */
  feature: (request: number, control: number, channel: number, unit: number, length: number, iface = 0) =>
    SetupPacket.of(
      CLASS_INTERFACE | directionOf(request),
      request,
      (control << 8) | channel,
      (unit << 8) | iface,
      length,
    ),
  getVolume: (request: number, unit: number, channel = 0) =>
    audioRequests.feature(request, FeatureControl.Volume, channel, unit, 2),
  setVolume: (unit: number, channel = 0, request: number = AudioRequest.SetCur) =>
    audioRequests.feature(request, FeatureControl.Volume, channel, unit, 2),
  getMute: (unit: number, channel = 0) =>
    audioRequests.feature(AudioRequest.GetCur, FeatureControl.Mute, channel, unit, 1),
  setMute: (unit: number, channel = 0) =>
    audioRequests.feature(AudioRequest.SetCur, FeatureControl.Mute, channel, unit, 1),
  /** Sampling frequency control of an endpoint (UAC1 5.2.3.2.3.1). */
  samplingFrequency: (request: number, endpoint: number) =>
    SetupPacket.of(
      CLASS_ENDPOINT | directionOf(request),
      request,
      EndpointControl.SamplingFrequency << 8,
      endpoint,
      SAMPLE_FREQUENCY_BYTES,
    ),
} as const;

/** A 3-byte little-endian tSampleFreq. */
export function rateBytes(rate: number): number[] {
  return writeSampleFrequency(rate, [0, 0, 0]);
}

/** A 2-byte little-endian wVolume in 1/256 dB. */
export function volumeBytes(level: number): number[] {
  return [level & 0xff, (level >> 8) & 0xff];
}

/** Reads a signed 16-bit little-endian value. */
export function signed16(data: readonly number[], at = 0): number {
  return ((data[at]! | (data[at + 1]! << 8)) << 16) >> 16;
}
