import { EndpointType } from "../../usb/constants.ts";
import {
  type AlternateSettingModel,
  type DeviceModel,
  EndpointDirection,
  type ExtraDescriptor,
  type InterfaceModel,
  IsoSync,
  IsoUsage,
} from "../../usb/descriptors/model.ts";
import { BITS_PER_SAMPLE, BYTES_PER_SAMPLE, type ChannelCount, maxPacketBytes } from "./stream-format.ts";
import {
  AsEndpointAttribute,
  AUDIO_INTERFACE_CLASS,
  AudioSubclass,
  ChannelConfig,
  FormatTag,
  TerminalType,
} from "./uac1.ts";
import {
  acHeader,
  asGeneral,
  asIsoEndpoint,
  featureUnit,
  formatTypeI,
  inputTerminal,
  outputTerminal,
} from "./uac1-descriptors.ts";

/**
 * The descriptor tree of a UAC1 device made of audio functions — a playback path (host → speaker), a
 * capture path (microphone → host), or both (a headset) — in one AudioControl interface (number 0):
 *
 *     playback:  IT (USB streaming) ─► FU (mute, volume) ─► OT (speaker / headphones)
 *     capture:   IT (microphone)    ─► FU (mute, volume) ─► OT (USB streaming)
 *
 * Each function gets an AudioStreaming interface (numbers 1, 2… in order) whose alternate setting 0
 * has no endpoint (zero bandwidth, UAC1 4.5.1) and whose alternate setting n streams 16-bit PCM with
 * the n-th channel count offered; all settings list the same sampling frequencies. Offering each
 * channel count as its own setting lets the host pick mono or stereo (Linux picks the setting whose
 * format matches what the application opened).
 *
 * Endpoint synchronisation types (USB 2.0 5.12.4.1):
 * - capture is **synchronous**: the device makes exactly the samples of each 1 ms frame (44 or 45 at
 *   44.1 kHz), locked to SOF. It needs no feedback endpoint, and Linux reads it without a sync pipe
 *   (an adaptive IN endpoint would make Linux look for one).
 * - playback is **adaptive**: the sink follows whatever rate the host's data carries, so the host
 *   paces the stream (Linux sends rate/1000 frames with the remainder spread, the same pattern the
 *   capture side produces) and needs no feedback endpoint either (only asynchronous OUT does).
 */

export const StreamDirection = {
  /** Host to device (a speaker): an isochronous OUT endpoint. */
  Playback: "playback",
  /** Device to host (a microphone): an isochronous IN endpoint. */
  Capture: "capture",
} as const;
export type StreamDirection = (typeof StreamDirection)[keyof typeof StreamDirection];

/** The AudioControl interface number. */
export const AUDIO_CONTROL_INTERFACE = 0;

/** What one audio function of a device offers. */
export interface AudioFunctionSpec {
  readonly direction: StreamDirection;
  /** Sorted ascending, no duplicates. */
  readonly sampleRates: readonly number[];
  /** One streaming alternate setting per entry, in order (alternate setting 1 is the first). */
  readonly channels: readonly ChannelCount[];
  /** The terminal on the far side of the USB: a speaker or headphones, or a microphone. */
  readonly terminalType: number;
  /** bmaControls of the feature unit: master first, then each channel of the cluster. */
  readonly featureControls: readonly number[];
}

/** Where a function landed in the tree: what the device needs to route requests and packets. */
export interface AudioFunctionLayout extends AudioFunctionSpec {
  readonly interfaceNumber: number;
  readonly endpointAddress: number;
  readonly inputTerminalId: number;
  readonly featureUnitId: number;
  readonly outputTerminalId: number;
  /** Channels of the cluster through the terminals and the feature unit: the largest count offered. */
  readonly clusterChannels: number;
  /** wMaxPacketSize of each streaming setting, in the order of {@link channels} (alternate setting 1 first). */
  readonly maxPacketSizes: readonly number[];
}

export interface AudioDeviceIdentity {
  readonly vendorId: number;
  readonly productId: number;
  readonly manufacturer: string;
  readonly product: string;
  readonly serialNumber: string;
}

/** Bus power an audio function of this size might draw; only reported. */
const MAX_POWER_MA = 100;

/** Assigns interface numbers, endpoint addresses and entity IDs to each function, in order. */
export function layoutFunctions(specs: readonly AudioFunctionSpec[]): AudioFunctionLayout[] {
  if (specs.length === 0) throw new RangeError("an audio device needs at least one function");
  return specs.map((spec, i) => {
    const number = i + 1;
    const maxRate = spec.sampleRates[spec.sampleRates.length - 1]!;
    return {
      ...spec,
      interfaceNumber: number,
      endpointAddress:
        number | (spec.direction === StreamDirection.Capture ? EndpointDirection.In : EndpointDirection.Out),
      // bTerminalID / bUnitID are unique within the AudioControl interface; 0 means none (UAC1 4.3.2).
      inputTerminalId: 3 * i + 1,
      featureUnitId: 3 * i + 2,
      outputTerminalId: 3 * i + 3,
      clusterChannels: Math.max(...spec.channels),
      maxPacketSizes: spec.channels.map((channels) => maxPacketBytes(maxRate, channels)),
    };
  });
}

function channelConfig(channels: number): number {
  return channels === 1 ? ChannelConfig.Mono : ChannelConfig.LeftRight;
}

/** The units and terminals of one function, in data-flow order. */
function functionUnits(layout: AudioFunctionLayout): ExtraDescriptor[] {
  const playback = layout.direction === StreamDirection.Playback;
  return [
    inputTerminal({
      id: layout.inputTerminalId,
      terminalType: playback ? TerminalType.UsbStreaming : layout.terminalType,
      channels: layout.clusterChannels,
      channelConfig: channelConfig(layout.clusterChannels),
    }),
    featureUnit({
      id: layout.featureUnitId,
      sourceId: layout.inputTerminalId,
      controls: layout.featureControls,
    }),
    outputTerminal({
      id: layout.outputTerminalId,
      terminalType: playback ? layout.terminalType : TerminalType.UsbStreaming,
      sourceId: layout.featureUnitId,
    }),
  ];
}

function streamingInterface(layout: AudioFunctionLayout): InterfaceModel {
  const playback = layout.direction === StreamDirection.Playback;
  // The AS interface links to the terminal on the USB side of the function (UAC1 4.5.2).
  const terminalLink = playback ? layout.inputTerminalId : layout.outputTerminalId;
  const alternates: AlternateSettingModel[] = [
    { interfaceClass: AUDIO_INTERFACE_CLASS, interfaceSubClass: AudioSubclass.AudioStreaming },
    ...layout.channels.map(
      (channels, i): AlternateSettingModel => ({
        interfaceClass: AUDIO_INTERFACE_CLASS,
        interfaceSubClass: AudioSubclass.AudioStreaming,
        extra: [
          asGeneral(terminalLink, FormatTag.Pcm),
          formatTypeI({
            channels,
            subframeSize: BYTES_PER_SAMPLE,
            bitResolution: BITS_PER_SAMPLE,
            sampleRates: layout.sampleRates,
          }),
        ],
        endpoints: [
          {
            address: layout.endpointAddress,
            type: EndpointType.Isochronous,
            sync: playback ? IsoSync.Adaptive : IsoSync.Synchronous,
            usage: IsoUsage.Data,
            maxPacketSize: layout.maxPacketSizes[i]!,
            interval: 1,
            // bRefresh and bSynchAddress are 0: no synchronisation endpoint (UAC1 4.6.1.1).
            audio: { refresh: 0, synchAddress: 0 },
            extra: [asIsoEndpoint(AsEndpointAttribute.SamplingFrequency)],
          },
        ],
      }),
    ),
  ];
  return { number: layout.interfaceNumber, alternates };
}

/** The whole device model. */
export function audioDeviceModel(
  identity: AudioDeviceIdentity,
  layouts: readonly AudioFunctionLayout[],
): DeviceModel {
  const units = layouts.flatMap(functionUnits);
  const control: InterfaceModel = {
    number: AUDIO_CONTROL_INTERFACE,
    alternates: [
      {
        interfaceClass: AUDIO_INTERFACE_CLASS,
        interfaceSubClass: AudioSubclass.AudioControl,
        extra: [
          acHeader(
            layouts.map((layout) => layout.interfaceNumber),
            units,
          ),
          ...units,
        ],
      },
    ],
  };
  return {
    // Class 0 at device level: the class is given per interface (UAC1 4.1).
    maxPacketSize0: 64,
    vendorId: identity.vendorId,
    productId: identity.productId,
    manufacturer: identity.manufacturer,
    product: identity.product,
    serialNumber: identity.serialNumber,
    configurations: [{ maxPowerMa: MAX_POWER_MA, interfaces: [control, ...layouts.map(streamingInterface)] }],
  };
}
