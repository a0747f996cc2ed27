import {
  AudioRequest,
  EndpointControl,
  MAX_SAMPLE_FREQUENCY,
  readSampleFrequency,
  SAMPLE_FREQUENCY_BYTES,
  writeSampleFrequency,
} from "../devices/audio/uac1.ts";
import { RequestType } from "../usb/constants.ts";
import type { ControlSetup } from "./control-request.ts";

/**
 * The USB Audio Class 1.0 requests a host sends around an isochronous audio stream, as
 * {@link ControlSetup}s for `device.control(...)`. snd-usb-audio selects the streaming interface's
 * alternate setting (SET_INTERFACE, `device.setInterface(iface, alt)`) and then sets the sampling
 * frequency on the endpoint before it submits its first URB. The codes are the devices' own
 * (devices/audio/uac1.ts), so the guest and the device cannot disagree on them.
 */

/** Class request to an endpoint (UAC 1.0 5.2.1.2: bmRequestType 0x22 out, 0xA2 in). */
const TO_ENDPOINT = RequestType.TypeClass | RequestType.RecipientEndpoint;
const FROM_ENDPOINT = RequestType.DirectionIn | TO_ENDPOINT;

/** SET_CUR(SAMPLING_FREQ_CONTROL) on an isochronous endpoint: 0x22, 0x01, 0x0100, endpoint, 3 bytes. */
export function setSamplingFrequency(endpointAddress: number, hz: number): ControlSetup {
  if (!Number.isInteger(hz) || hz < 0 || hz > MAX_SAMPLE_FREQUENCY) {
    throw new RangeError(`sampling frequency ${hz} does not fit in 3 bytes`);
  }
  return {
    requestType: TO_ENDPOINT,
    request: AudioRequest.SetCur,
    value: EndpointControl.SamplingFrequency << 8,
    index: endpointAddress,
    data: writeSampleFrequency(hz, new Uint8Array(SAMPLE_FREQUENCY_BYTES)),
  };
}

/** GET_CUR(SAMPLING_FREQ_CONTROL): what the endpoint actually runs at; decode with {@link decodeSamplingFrequency}. */
export function getSamplingFrequency(endpointAddress: number): ControlSetup {
  return {
    requestType: FROM_ENDPOINT,
    request: AudioRequest.GetCur,
    value: EndpointControl.SamplingFrequency << 8,
    index: endpointAddress,
    length: SAMPLE_FREQUENCY_BYTES,
  };
}

/** The 3-byte frequency of a GET_CUR answer; null when fewer than 3 bytes came back. */
export function decodeSamplingFrequency(data: Uint8Array): number | null {
  if (data.length < SAMPLE_FREQUENCY_BYTES) return null;
  return readSampleFrequency(data);
}
