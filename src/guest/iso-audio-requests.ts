import { RequestType } from "../usb/constants.ts";
import type { ControlSetup } from "./control-request.ts";

/**
 * The USB Audio Class 1.0 requests a host sends around an isochronous audio stream, as
 * {@link ControlSetup}s for `device.control(...)`. snd-usb-audio selects the streaming interface's
 * alternate setting (SET_INTERFACE, `device.setInterface(iface, alt)`) and then sets the sampling
 * frequency on the endpoint before it submits its first URB.
 */

/** UAC 1.0 A.9: class-specific request codes. */
export const AudioRequest = {
  SetCur: 0x01,
  GetCur: 0x81,
  SetMin: 0x02,
  GetMin: 0x82,
  SetMax: 0x03,
  GetMax: 0x83,
  SetRes: 0x04,
  GetRes: 0x84,
} as const;

/** UAC 1.0 A.10.2: endpoint control selectors (the high byte of wValue). */
export const AudioEndpointControl = {
  SamplingFrequency: 0x01,
  Pitch: 0x02,
} as const;

/** A sampling frequency travels as 3 bytes, little endian (UAC 1.0 5.2.3.2.3.1). */
export const SAMPLING_FREQUENCY_BYTES = 3;
const MAX_SAMPLING_FREQUENCY = 0xffffff;

/** Class request to an endpoint (UAC 1.0 5.2.1.2: bmRequestType 0x22 out, 0xA2 in). */
const TO_ENDPOINT = RequestType.TypeClass | RequestType.RecipientEndpoint;
const FROM_ENDPOINT = RequestType.DirectionIn | TO_ENDPOINT;

/** SET_CUR(SAMPLING_FREQ_CONTROL) on an isochronous endpoint: 0x22, 0x01, 0x0100, endpoint, 3 bytes. */
export function setSamplingFrequency(endpointAddress: number, hz: number): ControlSetup {
  if (!Number.isInteger(hz) || hz < 0 || hz > MAX_SAMPLING_FREQUENCY) {
    throw new RangeError(`sampling frequency ${hz} does not fit in 3 bytes`);
  }
  return {
    requestType: TO_ENDPOINT,
    request: AudioRequest.SetCur,
    value: AudioEndpointControl.SamplingFrequency << 8,
    index: endpointAddress,
    data: Uint8Array.of(hz & 0xff, (hz >>> 8) & 0xff, hz >>> 16),
  };
}

/** GET_CUR(SAMPLING_FREQ_CONTROL): what the endpoint actually runs at; decode with {@link decodeSamplingFrequency}. */
export function getSamplingFrequency(endpointAddress: number): ControlSetup {
  return {
    requestType: FROM_ENDPOINT,
    request: AudioRequest.GetCur,
    value: AudioEndpointControl.SamplingFrequency << 8,
    index: endpointAddress,
    length: SAMPLING_FREQUENCY_BYTES,
  };
}

/** The 3-byte frequency of a GET_CUR answer; null when fewer than 3 bytes came back. */
export function decodeSamplingFrequency(data: Uint8Array): number | null {
  if (data.length < SAMPLING_FREQUENCY_BYTES) return null;
  return data[0]! | (data[1]! << 8) | (data[2]! << 16);
}
