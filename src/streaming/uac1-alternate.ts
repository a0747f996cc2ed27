import type { ConfigurationModel } from "../usb/descriptors/model.ts";

/** CS_INTERFACE descriptor type and the FORMAT_TYPE subtype of an AudioStreaming interface (UAC1 4.5.2, Frmts 2.2.5). */
const CS_INTERFACE = 0x24;
const FORMAT_TYPE = 0x02;

export interface StreamingAlternate {
  interfaceNumber: number;
  alternate: number;
}

/**
 * Finds the AudioStreaming alternate setting that carries `endpoint` with `channels` channels and lists
 * `sampleRate`, from the configuration as the guest read it — as a host driver (snd-usb-audio) picks one.
 */
export function streamingAlternate(
  config: ConfigurationModel<number>,
  endpoint: number,
  channels: number,
  sampleRate: number,
): StreamingAlternate {
  for (const [i, iface] of config.interfaces.entries()) {
    for (const [a, alt] of iface.alternates.entries()) {
      if (!(alt.endpoints ?? []).some((ep) => ep.address === endpoint)) continue;
      for (const extra of alt.extra ?? []) {
        const body = extra.body;
        if (extra.type !== CS_INTERFACE || body[0] !== FORMAT_TYPE || body.length < 6) continue;
        // Type I format: subtype, bFormatType, bNrChannels, bSubframeSize, bBitResolution, bSamFreqType, rates…
        if (body[2] !== channels || body[4] !== 16) continue;
        const count = body[5]!;
        const rates: number[] = [];
        for (let r = 0; r < count; r++) {
          const at = 6 + 3 * r;
          rates.push(body[at]! | (body[at + 1]! << 8) | (body[at + 2]! << 16));
        }
        if (count === 0 || rates.includes(sampleRate)) {
          return { interfaceNumber: iface.number ?? i, alternate: alt.setting ?? a };
        }
      }
    }
  }
  throw new Error(
    `the device has no ${channels}-channel 16-bit alternate at ${sampleRate} Hz on endpoint 0x${endpoint.toString(16)}`,
  );
}
