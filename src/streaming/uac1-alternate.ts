import { StreamDirection } from "../devices/audio/audio-model.ts";
import {
  AsSubtype,
  FORMAT_TYPE_I,
  readSampleFrequency,
  SAMPLE_FREQUENCY_BYTES,
} from "../devices/audio/uac1.ts";
import { DescriptorType, EndpointType } from "../usb/constants.ts";
import type { ConfigurationModel } from "../usb/descriptors/model.ts";

export interface StreamingAlternate {
  interfaceNumber: number;
  alternate: number;
  /** The address of the alternate's isochronous endpoint (bit 7 set for IN). */
  endpoint: number;
}

/**
 * Finds the AudioStreaming alternate setting whose isochronous endpoint goes the way of `direction`
 * (capture: IN) and whose Type I format has `channels` 16-bit channels at `sampleRate`, from the
 * configuration as the guest read it — as a host driver (snd-usb-audio) picks one, knowing nothing
 * of the device's layout beyond its descriptors.
 */
export function streamingAlternate(
  config: ConfigurationModel<number>,
  direction: StreamDirection,
  channels: number,
  sampleRate: number,
): StreamingAlternate {
  const wantIn = direction === StreamDirection.Capture;
  for (const [i, iface] of config.interfaces.entries()) {
    for (const [a, alt] of iface.alternates.entries()) {
      const endpoint = (alt.endpoints ?? []).find(
        (ep) => ep.type === EndpointType.Isochronous && ((ep.address & 0x80) !== 0) === wantIn,
      );
      if (endpoint === undefined) continue;
      for (const extra of alt.extra ?? []) {
        const body = extra.body;
        // The AS FORMAT_TYPE descriptor (UAC1 4.5.2) of a Type I format (Audio Data Formats 1.0 2.2.5):
        // subtype, bFormatType, bNrChannels, bSubframeSize, bBitResolution, bSamFreqType, tSamFreq…
        if (
          extra.type !== DescriptorType.CsInterface ||
          body[0] !== AsSubtype.FormatType ||
          body.length < 6
        ) {
          continue;
        }
        if (body[1] !== FORMAT_TYPE_I || body[2] !== channels || body[4] !== 16) continue;
        if (listsRate(body, sampleRate)) {
          return {
            interfaceNumber: iface.number ?? i,
            alternate: alt.setting ?? a,
            endpoint: endpoint.address,
          };
        }
      }
    }
  }
  throw new Error(
    `the device has no ${direction} alternate with ${channels} 16-bit channels at ${sampleRate} Hz`,
  );
}

/**
 * Whether a Type I format body offers `rate`: bSamFreqType n > 0 lists n discrete frequencies; 0 gives
 * a continuous range, tLowerSamFreq then tUpperSamFreq (Audio Data Formats 1.0 2.2.5, tables 2-2, 2-3).
 */
function listsRate(body: Uint8Array, rate: number): boolean {
  const count = body[5]!;
  const first = 6;
  if (count === 0) {
    if (first + 2 * SAMPLE_FREQUENCY_BYTES > body.length) return false;
    const lower = readSampleFrequency(body, first);
    const upper = readSampleFrequency(body, first + SAMPLE_FREQUENCY_BYTES);
    return rate >= lower && rate <= upper;
  }
  for (let r = 0; r < count; r++) {
    const at = first + SAMPLE_FREQUENCY_BYTES * r;
    if (at + SAMPLE_FREQUENCY_BYTES > body.length) return false;
    if (readSampleFrequency(body, at) === rate) return true;
  }
  return false;
}
