import { openState, type SavedState } from "../../machine/snapshot.ts";
import { MAX_ISO_PACKET, RequestType } from "../../usb/constants.ts";
import { type ControlReply, ControlStatus } from "../../usb/control-pipe.ts";
import type { EndpointModel } from "../../usb/descriptors/model.ts";
import { UsbDeviceBase } from "../../usb/device-base.ts";
import { PacketStatus, type UsbPacket } from "../../usb/packet.ts";
import type { SetupPacket } from "../../usb/setup-packet.ts";
import {
  AUDIO_CONTROL_INTERFACE,
  type AudioFunctionLayout,
  type AudioFunctionSpec,
  audioDeviceModel,
  layoutFunctions,
  StreamDirection,
} from "./audio-model.ts";
import type { AudioStream, AudioStreamStats } from "./audio-stream.ts";
import { CaptureStream } from "./capture-stream.ts";
import { FeatureUnit } from "./feature-unit.ts";
import { PlaybackStream } from "./playback-stream.ts";
import { ClassRequestLog } from "./request-log.ts";
import type { AudioSink } from "./sinks/audio-sink.ts";
import type { AudioSource } from "./sources/audio-source.ts";
import { type ChannelCount, checkChannelCounts, checkSampleRates, SAMPLE_RATES } from "./stream-format.ts";
import { TerminalType } from "./uac1.ts";
import { DEFAULT_VOLUME_RANGE, type VolumeRangeDb, volumeRange } from "./volume.ts";

/** What every stream (playback or capture) may be given; everything has a default. */
export interface AudioStreamOptions {
  /** The discrete sampling frequencies offered; default 8000, 16000, 22050, 32000, 44100, 48000 Hz. */
  readonly sampleRates?: readonly number[];
  /**
   * Channel counts offered, one streaming alternate setting each, in this order (alternate setting 1
   * is the first). Default [2, 1]: stereo on setting 1, mono on setting 2.
   */
  readonly channels?: readonly ChannelCount[];
  /** The sampling frequency before the host sets one; default the highest offered. */
  readonly defaultSampleRate?: number;
  /** The volume control's range; default −60 dB … 0 dB in 1 dB steps (0 dB, the default, is lossless). */
  readonly volume?: VolumeRangeDb;
  /** A volume control per channel as well as the master mute and volume; default false. */
  readonly channelVolume?: boolean;
}

export interface CaptureOptions extends AudioStreamOptions {
  /** Where the samples come from; default silence. Replaceable later through `capture.source`. */
  readonly source?: AudioSource;
}

export interface PlaybackOptions extends AudioStreamOptions {
  /** Where the samples go; default discarded. Replaceable later through `playback.sink`. */
  readonly sink?: AudioSink;
  /** wTerminalType of the output terminal; default {@link TerminalType.Speaker}. */
  readonly terminalType?: number;
}

/** The identity a user may choose; everything has a default. */
export interface AudioDeviceOptions {
  /** A short name for reports and traces. */
  readonly name?: string;
  readonly vendorId?: number;
  readonly productId?: number;
  readonly manufacturer?: string;
  readonly product?: string;
  readonly serialNumber?: string;
}

/** What a concrete device (microphone, speaker, headset) tells the shared class. */
export interface AudioDeviceSpec {
  readonly defaultName: string;
  readonly defaultProduct: string;
  readonly defaultProductId: number;
  readonly playback?: PlaybackOptions;
  readonly capture?: CaptureOptions;
}

/** The device's counters, for reports. */
export interface AudioDeviceStats {
  readonly playback: AudioStreamStats | null;
  readonly capture: AudioStreamStats | null;
  /** Requests that reached the audio class handling, and how many of them were stalled. */
  readonly classRequests: number;
  readonly stalledRequests: number;
}

/** The kind and version of the audio layer of a saved state ({@link UsbAudioDevice.saveState}). */
export const USB_AUDIO_STATE = "usb-audio-device";
export const USB_AUDIO_STATE_VERSION = 1;

/** Test vendor ID from pid.codes, as for the HID devices; ship your own vendorId and productId. */
export const AUDIO_DEFAULT_VENDOR_ID = 0x1209;

interface PlannedStream {
  readonly spec: AudioFunctionSpec;
  readonly options: AudioStreamOptions;
  readonly volume: ReturnType<typeof volumeRange>;
  readonly channelVolume: boolean;
}

function planStream(
  direction: StreamDirection,
  options: AudioStreamOptions,
  terminalType: number,
): PlannedStream {
  const sampleRates = checkSampleRates(options.sampleRates ?? SAMPLE_RATES);
  const channels = checkChannelCounts(options.channels ?? [2, 1]);
  const channelVolume = options.channelVolume ?? false;
  const cluster = Math.max(...channels);
  return {
    spec: {
      direction,
      sampleRates,
      channels,
      terminalType,
      featureControls: FeatureUnit.controlsFor(cluster, channelVolume),
    },
    options,
    volume: volumeRange(options.volume ?? DEFAULT_VOLUME_RANGE),
    channelVolume,
  };
}

/**
 * A USB Audio Class 1.0 device at full speed with a playback path, a capture path or both (see
 * audio-model.ts for the descriptor tree, audio-stream.ts for the sampling frequency control,
 * feature-unit.ts for mute and volume, capture-stream.ts and playback-stream.ts for the packets).
 *
 * Class requests are routed by recipient: interface requests whose wIndex names the AudioControl
 * interface and a feature unit go to that unit (UAC1 5.2.2); endpoint requests whose wIndex names a
 * streaming endpoint go to its stream (UAC1 5.2.3). Everything else — terminals (they have no
 * controls here), the streaming interfaces, unknown entities or endpoints, requests before the device
 * is configured — is a STALL with no state change. Every request that reaches this class is logged
 * ({@link requests}).
 */
export class UsbAudioDevice extends UsbDeviceBase {
  /** The playback stream (host → device), or null when the device has none. */
  readonly playback: PlaybackStream | null;
  /** The capture stream (device → host), or null when the device has none. */
  readonly capture: CaptureStream | null;
  /** Every request the audio class handled, with its answer. */
  readonly requests = new ClassRequestLog();
  private readonly streams: readonly AudioStream[];

  protected constructor(spec: AudioDeviceSpec, options: AudioDeviceOptions) {
    const planned: PlannedStream[] = [];
    if (spec.playback !== undefined) {
      planned.push(
        planStream(
          StreamDirection.Playback,
          spec.playback,
          spec.playback.terminalType ?? TerminalType.Speaker,
        ),
      );
    }
    if (spec.capture !== undefined) {
      planned.push(planStream(StreamDirection.Capture, spec.capture, TerminalType.Microphone));
    }
    const layouts = layoutFunctions(planned.map((p) => p.spec));
    for (const layout of layouts) {
      const largest = Math.max(...layout.maxPacketSizes);
      if (largest > MAX_ISO_PACKET) {
        throw new RangeError(`${layout.direction}: packets of ${largest} bytes exceed 1023 (USB 2.0 5.6.3)`);
      }
    }
    super({
      name: options.name ?? spec.defaultName,
      descriptors: audioDeviceModel(
        {
          vendorId: options.vendorId ?? AUDIO_DEFAULT_VENDOR_ID,
          productId: options.productId ?? spec.defaultProductId,
          manufacturer: options.manufacturer ?? "uhci",
          product: options.product ?? spec.defaultProduct,
          serialNumber: options.serialNumber ?? "1",
        },
        layouts,
      ),
    });
    let playback: PlaybackStream | null = null;
    let capture: CaptureStream | null = null;
    for (const [i, layout] of layouts.entries()) {
      const plan = planned[i]!;
      const unit = new FeatureUnit({
        id: layout.featureUnitId,
        channels: layout.clusterChannels,
        range: plan.volume,
        channelVolume: plan.channelVolume,
      });
      const rate = plan.options.defaultSampleRate ?? layout.sampleRates[layout.sampleRates.length - 1]!;
      if (layout.direction === StreamDirection.Playback) {
        playback = new PlaybackStream(layout, unit, rate, spec.playback?.sink);
      } else {
        capture = new CaptureStream(layout, unit, rate, spec.capture?.source);
      }
    }
    this.playback = playback;
    this.capture = capture;
    const streams: AudioStream[] = [];
    if (playback !== null) streams.push(playback);
    if (capture !== null) streams.push(capture);
    this.streams = streams;
  }

  get stats(): AudioDeviceStats {
    return {
      playback: this.playback?.stats ?? null,
      capture: this.capture?.stats ?? null,
      classRequests: this.requests.total,
      stalledRequests: this.requests.stalled,
    };
  }

  /** Where each stream sits in the descriptor tree. */
  get layouts(): readonly AudioFunctionLayout[] {
    return this.streams.map((s) => s.layout);
  }

  // ---- snapshots -----------------------------------------------------------------------------------

  override get stateKind(): string {
    return USB_AUDIO_STATE;
  }

  /**
   * The standard state plus each stream (see {@link AudioStream.saveState}). The class request log is
   * a record for reports, not device state, and is not saved.
   */
  override saveState(): SavedState {
    return {
      kind: USB_AUDIO_STATE,
      version: USB_AUDIO_STATE_VERSION,
      usb: super.saveState(),
      playback: this.playback?.saveState() ?? null,
      capture: this.capture?.saveState() ?? null,
    };
  }

  override prepareRestore(state: unknown): () => void {
    const r = openState(state, USB_AUDIO_STATE, USB_AUDIO_STATE_VERSION);
    const applyUsb = super.prepareRestore(r.raw("usb"));
    // The standard layer (now known to be valid) holds the alternate settings; each stream must agree.
    const selected = new Map<number, number>();
    for (const entry of r.object("usb").array("interfaces", 32)) {
      const { interface: number, alternate } = entry as { interface: number; alternate: number };
      selected.set(number, alternate);
    }
    const streams: (() => void)[] = [];
    for (const [name, stream] of [
      ["playback", this.playback],
      ["capture", this.capture],
    ] as const) {
      if (stream === null) {
        if (r.has(name)) throw r.error(name, `is saved, but ${this.name} has no ${name} stream`);
      } else {
        if (!r.has(name)) throw r.error(name, `is missing: ${this.name} has a ${name} stream`);
        const alternate = r.object(name).int("alternate", 0, 255);
        const interfaceNumber = stream.layout.interfaceNumber;
        if ((selected.get(interfaceNumber) ?? 0) !== alternate) {
          throw r.error(
            `${name}.alternate`,
            `is ${alternate}, but interface ${interfaceNumber} has alternate ${selected.get(interfaceNumber) ?? 0} selected`,
          );
        }
        streams.push(stream.prepareRestore(r.object(name)));
      }
    }
    return () => {
      applyUsb();
      for (const apply of streams) apply();
    };
  }

  // ---- UsbDeviceBase hooks -------------------------------------------------------------------------

  protected override handleClassRequest(setup: SetupPacket, dataOut: Uint8Array): ControlReply {
    const reply = this.route(setup, dataOut);
    this.requests.record(setup, dataOut, reply);
    return reply;
  }

  protected override handleData(packet: UsbPacket, endpoint: EndpointModel): void {
    // Every 1 ms while streaming: an indexed loop, no iterator.
    const streams = this.streams;
    for (let i = 0; i < streams.length; i++) {
      const stream = streams[i]!;
      if (stream.layout.endpointAddress === endpoint.address) {
        stream.handlePacket(packet);
        return;
      }
    }
    packet.actualLength = 0;
    packet.status = PacketStatus.Stall;
  }

  protected override onInterfaceChanged(interfaceNum: number, alternate: number): void {
    for (const stream of this.streams) {
      if (stream.layout.interfaceNumber === interfaceNum) stream.selectAlternate(alternate);
    }
  }

  protected override onConfigured(_value: number): void {
    for (const stream of this.streams) stream.reset();
  }

  protected override onReset(): void {
    for (const stream of this.streams) stream.reset();
  }

  // ---- internals -----------------------------------------------------------------------------------

  private route(setup: SetupPacket, dataOut: Uint8Array): ControlReply {
    // Interface and endpoint requests exist only in the Configured state (USB 2.0 9.4).
    if ((setup.bmRequestType & RequestType.TypeMask) !== RequestType.TypeClass || this.configuration === 0) {
      return ControlStatus.Stall;
    }
    switch (setup.bmRequestType & RequestType.RecipientMask) {
      case RequestType.RecipientInterface: {
        const entity = setup.wIndex >> 8;
        if ((setup.wIndex & 0xff) !== AUDIO_CONTROL_INTERFACE) return ControlStatus.Stall;
        for (const stream of this.streams) {
          if (stream.featureUnit.id === entity) return stream.featureUnit.handle(setup, dataOut);
        }
        return ControlStatus.Stall;
      }
      case RequestType.RecipientEndpoint: {
        for (const stream of this.streams) {
          if (setup.wIndex === stream.layout.endpointAddress)
            return stream.handleEndpointRequest(setup, dataOut);
        }
        return ControlStatus.Stall;
      }
      default:
        return ControlStatus.Stall;
    }
  }
}
