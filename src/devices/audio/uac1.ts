/**
 * USB Audio Class 1.0 codes (USB Device Class Definition for Audio Devices 1.0, appendix A; Audio Data
 * Formats 1.0; Audio Terminal Types 1.0), as `as const` objects.
 */

/** bInterfaceClass of every audio interface (UAC1 A.1). */
export const AUDIO_INTERFACE_CLASS = 0x01;

/** bInterfaceSubClass (UAC1 A.2). */
export const AudioSubclass = {
  AudioControl: 0x01,
  AudioStreaming: 0x02,
  MidiStreaming: 0x03,
} as const;

/** bcdADC of the class-specific AC header: release 1.0 (UAC1 4.3.2). */
export const UAC1_VERSION = 0x0100;

/** bDescriptorSubtype of class-specific AudioControl interface descriptors (UAC1 A.5). */
export const AcSubtype = {
  Header: 0x01,
  InputTerminal: 0x02,
  OutputTerminal: 0x03,
  MixerUnit: 0x04,
  SelectorUnit: 0x05,
  FeatureUnit: 0x06,
} as const;

/** bDescriptorSubtype of class-specific AudioStreaming interface descriptors (UAC1 A.6). */
export const AsSubtype = {
  General: 0x01,
  FormatType: 0x02,
  FormatSpecific: 0x03,
} as const;

/** bDescriptorSubtype of the class-specific endpoint descriptor (UAC1 A.8). */
export const EP_GENERAL = 0x01;

/** bmAttributes of the class-specific AS isochronous endpoint descriptor (UAC1 4.6.1.2). */
export const AsEndpointAttribute = {
  SamplingFrequency: 0x01,
  Pitch: 0x02,
  /** MaxPacketsOnly: the host must pad every packet to wMaxPacketSize. */
  MaxPacketsOnly: 0x80,
} as const;

/** bRequest of the audio class-specific requests (UAC1 A.9). */
export const AudioRequest = {
  SetCur: 0x01,
  SetMin: 0x02,
  SetMax: 0x03,
  SetRes: 0x04,
  SetMem: 0x05,
  GetCur: 0x81,
  GetMin: 0x82,
  GetMax: 0x83,
  GetRes: 0x84,
  GetMem: 0x85,
  GetStat: 0xff,
} as const;
export type AudioRequest = (typeof AudioRequest)[keyof typeof AudioRequest];

const REQUEST_NAMES = new Map<number, string>(
  Object.entries(AudioRequest).map(([name, code]) => [
    code,
    name.replace(/^(Get|Set)(.*)$/, (_m, verb: string, what: string) => `${verb}_${what}`).toUpperCase(),
  ]),
);

/** "SET_CUR", "GET_RES"…, or the hex code of an unknown request. */
export function audioRequestName(bRequest: number): string {
  return REQUEST_NAMES.get(bRequest) ?? `0x${bRequest.toString(16).padStart(2, "0")}`;
}

/** Feature unit control selectors, the high byte of wValue (UAC1 A.10.2). */
export const FeatureControl = {
  Mute: 0x01,
  Volume: 0x02,
  Bass: 0x03,
  Mid: 0x04,
  Treble: 0x05,
  GraphicEqualizer: 0x06,
  AutomaticGain: 0x07,
  Delay: 0x08,
  BassBoost: 0x09,
  Loudness: 0x0a,
} as const;

/**
 * bmaControls bits of a feature unit (UAC1 4.3.2.5): bit n set means control selector n + 1 exists
 * for that channel.
 */
export const FeatureControlBit = {
  Mute: 1 << (FeatureControl.Mute - 1),
  Volume: 1 << (FeatureControl.Volume - 1),
} as const;

/** Endpoint control selectors, the high byte of wValue (UAC1 A.10.5). */
export const EndpointControl = {
  SamplingFrequency: 0x01,
  Pitch: 0x02,
} as const;

/**
 * A sampling frequency (tSamFreq in a format descriptor, the data of a SAMPLING_FREQ_CONTROL request)
 * is 3 bytes, little endian (Audio Data Formats 1.0 2.2.5; UAC1 5.2.3.2.3.1).
 */
export const SAMPLE_FREQUENCY_BYTES = 3;

/** The largest frequency 3 bytes carry. */
export const MAX_SAMPLE_FREQUENCY = 0xff_ffff;

/** The 3-byte frequency at `bytes[at]`; the caller checks there are 3 bytes. */
export function readSampleFrequency(bytes: ArrayLike<number>, at = 0): number {
  return (bytes[at] ?? 0) | ((bytes[at + 1] ?? 0) << 8) | ((bytes[at + 2] ?? 0) << 16);
}

/** Writes `hz` (0 to {@link MAX_SAMPLE_FREQUENCY}) as 3 bytes at `out[at]`; returns `out`. */
export function writeSampleFrequency<T extends { [index: number]: number }>(hz: number, out: T, at = 0): T {
  out[at] = hz & 0xff;
  out[at + 1] = (hz >>> 8) & 0xff;
  out[at + 2] = (hz >>> 16) & 0xff;
  return out;
}

/** wTerminalType (USB Audio Terminal Types 1.0, 2.1–2.3). */
export const TerminalType = {
  UsbStreaming: 0x0101,
  Microphone: 0x0201,
  Speaker: 0x0301,
  Headphones: 0x0302,
} as const;

/** wFormatTag of Type I formats (Audio Data Formats 1.0 A.1.1). */
export const FormatTag = {
  Pcm: 0x0001,
} as const;

/** bFormatType (Audio Data Formats 1.0 A.2). */
export const FORMAT_TYPE_I = 0x01;

/** wChannelConfig spatial location bits (UAC1 3.7.2.3). */
export const ChannelConfig = {
  /** One channel with no predefined position: what mono devices report. */
  Mono: 0x0000,
  LeftRight: 0x0003,
} as const;

/** wVolume 0x8000: "−∞ dB", allowed only as a CUR value (UAC1 5.2.2.4.3.2). */
export const VOLUME_SILENCE = -0x8000;

/** Volume values are signed 8.8 fixed point: 1/256 dB per step (UAC1 5.2.2.4.3.2). */
export const VOLUME_UNITS_PER_DB = 256;
