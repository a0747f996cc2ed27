import type { JsonValue, SavedState, StateReader } from "../../machine/snapshot.ts";
import { MAX_TD_LENGTH } from "../../usb/constants.ts";
import { type ControlReply, ControlStatus } from "../../usb/control-pipe.ts";
import { PacketStatus, type UsbPacket } from "../../usb/packet.ts";
import type { SetupPacket } from "../../usb/setup-packet.ts";
import { type AudioFunctionLayout, StreamDirection } from "./audio-model.ts";
import type { FeatureUnit } from "./feature-unit.ts";
import { PacketPacer } from "./packet-pacer.ts";
import { BYTES_PER_SAMPLE, type StreamFormat } from "./stream-format.ts";
import {
  AudioRequest,
  EndpointControl,
  readSampleFrequency,
  SAMPLE_FREQUENCY_BYTES,
  writeSampleFrequency,
} from "./uac1.ts";
import { applyGains } from "./volume.ts";

/** A snapshot of a stream's counters and state, for reports. */
export interface AudioStreamStats {
  readonly direction: StreamDirection;
  readonly interfaceNumber: number;
  readonly endpointAddress: number;
  /** The selected alternate setting; 0 = zero bandwidth (not streaming). */
  readonly alternate: number;
  readonly active: boolean;
  /** The format being streamed, or null when not streaming. */
  readonly format: StreamFormat | null;
  /** The endpoint's sampling frequency control, streaming or not. */
  readonly sampleRate: number;
  /** Times a streaming setting was selected. */
  readonly streamStarts: number;
  /** Isochronous packets answered (IN) or taken (OUT). */
  readonly packets: number;
  /** Audio frames in those packets (one sample per channel each). */
  readonly frames: number;
  readonly bytes: number;
  /** Capture: packets in which the source ran short, and the frames of silence sent for it. */
  readonly underrunPackets: number;
  readonly underrunFrames: number;
  /** Playback: packets the sink could not take whole, and the frames it refused. */
  readonly overrunPackets: number;
  readonly overrunFrames: number;
  /**
   * Packets of an unexpected size. OUT: not whole frames, or a frame count other than the nominal
   * rate/1000 (and +1 where the rate has a remainder). IN: a host buffer too small for the frames due,
   * which then go out in later packets.
   */
  readonly unexpectedSizePackets: number;
  /** Packets that arrived without the isochronous flag (a host scheduling error). */
  readonly nonIsochronousPackets: number;
  /** Sampling frequency SET_CUR requests accepted. */
  readonly sampleRateSets: number;
  /** Exceptions thrown by the source or sink (the packet still completed, with silence). */
  readonly callbackErrors: number;
}

/** The far end of a stream (a source or a sink) as far as snapshots are concerned. */
export interface StreamEnd {
  start?(format: StreamFormat): void;
  stop?(): void;
  saveState?(): SavedState;
  prepareRestore?(state: unknown): () => void;
}

/** Counters of a saved stream, by name (the same as {@link AudioStreamStats} where they overlap). */
const COUNTERS = [
  "streamStarts",
  "packets",
  "frames",
  "bytes",
  "shortPackets",
  "shortFrames",
  "unexpectedSizePackets",
  "nonIsochronousPackets",
  "sampleRateSets",
  "callbackErrors",
] as const;

/**
 * One AudioStreaming interface and its isochronous endpoint: the alternate setting (which decides the
 * channel count), the endpoint's sampling frequency control (UAC1 5.2.3.2.3.1), the packet pacing and
 * the counters. The direction-specific work lives in the capture and playback subclasses.
 *
 * Sampling frequency: SET_CUR must carry exactly one of the advertised frequencies. Any other value is
 * a request error (STALL, state unchanged): the control's setting "must be a valid sampling frequency
 * as reported by the format descriptor", and refusing is more honest than rounding a rate the host
 * would then stream at wrongly. The value survives alternate-setting changes (Linux selects the
 * setting first and sets the rate after) and returns to the default on bus reset or configuration.
 * GET_CUR returns it; MIN/MAX/RES are not offered for a discrete list, and pitch is not advertised.
 */
export abstract class AudioStream {
  readonly layout: AudioFunctionLayout;
  readonly featureUnit: FeatureUnit;
  readonly defaultSampleRate: number;
  protected readonly pacer: PacketPacer;
  /** One packet of samples, the largest a TD can carry. */
  protected readonly scratch = new Int16Array(MAX_TD_LENGTH / BYTES_PER_SAMPLE);
  protected currentFormat: StreamFormat | null = null;
  protected channels = 0;
  protected frameBytes = 0;
  private readonly gains = new Float64Array(2);
  private gainsRevision = -1;
  private gainsChannels = 0;
  private rate: number;
  private alt = 0;
  private readonly reply = new Uint8Array(SAMPLE_FREQUENCY_BYTES);

  protected starts = 0;
  protected packets = 0;
  protected frames = 0;
  protected bytes = 0;
  protected shortPackets = 0;
  protected shortFrames = 0;
  protected unexpected = 0;
  protected nonIso = 0;
  protected rateChanges = 0;
  protected errors = 0;

  protected constructor(layout: AudioFunctionLayout, featureUnit: FeatureUnit, defaultSampleRate: number) {
    if (!layout.sampleRates.includes(defaultSampleRate)) {
      throw new RangeError(`default sampling frequency ${defaultSampleRate} Hz is not offered`);
    }
    this.layout = layout;
    this.featureUnit = featureUnit;
    this.defaultSampleRate = defaultSampleRate;
    this.rate = defaultSampleRate;
    this.pacer = new PacketPacer(defaultSampleRate);
  }

  get direction(): StreamDirection {
    return this.layout.direction;
  }

  get alternate(): number {
    return this.alt;
  }

  get active(): boolean {
    return this.currentFormat !== null;
  }

  /** The format being streamed, or null. */
  get format(): StreamFormat | null {
    return this.currentFormat;
  }

  /** The endpoint's current sampling frequency. */
  get sampleRate(): number {
    return this.rate;
  }

  get stats(): AudioStreamStats {
    const capture = this.layout.direction === StreamDirection.Capture;
    return {
      direction: this.layout.direction,
      interfaceNumber: this.layout.interfaceNumber,
      endpointAddress: this.layout.endpointAddress,
      alternate: this.alt,
      active: this.active,
      format: this.currentFormat,
      sampleRate: this.rate,
      streamStarts: this.starts,
      packets: this.packets,
      frames: this.frames,
      bytes: this.bytes,
      underrunPackets: capture ? this.shortPackets : 0,
      underrunFrames: capture ? this.shortFrames : 0,
      overrunPackets: capture ? 0 : this.shortPackets,
      overrunFrames: capture ? 0 : this.shortFrames,
      unexpectedSizePackets: this.unexpected,
      nonIsochronousPackets: this.nonIso,
      sampleRateSets: this.rateChanges,
      callbackErrors: this.errors,
    };
  }

  /** Zeroes the counters (not the state). */
  resetStats(): void {
    this.starts = 0;
    this.packets = 0;
    this.frames = 0;
    this.bytes = 0;
    this.shortPackets = 0;
    this.shortFrames = 0;
    this.unexpected = 0;
    this.nonIso = 0;
    this.rateChanges = 0;
    this.errors = 0;
  }

  // ---- for the device ------------------------------------------------------------------------------

  /** SET_INTERFACE on this stream's interface. */
  selectAlternate(alternate: number): void {
    this.alt = alternate;
    const channels = alternate === 0 ? undefined : this.layout.channels[alternate - 1];
    if (channels === undefined) {
      this.stop();
      return;
    }
    this.starts++;
    this.begin(channels);
  }

  /** Bus reset or SET_CONFIGURATION: back to zero bandwidth and the default rate. */
  reset(): void {
    this.stop();
    this.alt = 0;
    this.rate = this.defaultSampleRate;
    this.featureUnit.reset();
  }

  /** A class request to this stream's endpoint (the caller matched wIndex). */
  handleEndpointRequest(setup: SetupPacket, dataOut: Uint8Array): ControlReply {
    const isGet = (setup.bRequest & 0x80) !== 0;
    if (isGet !== setup.isDeviceToHost || setup.wValue >> 8 !== EndpointControl.SamplingFrequency) {
      return ControlStatus.Stall;
    }
    // wValue's low byte is reserved for endpoint controls (UAC1 5.2.3.2.1).
    if ((setup.wValue & 0xff) !== 0) return ControlStatus.Stall;
    switch (setup.bRequest) {
      case AudioRequest.GetCur:
        return writeSampleFrequency(this.rate, this.reply);
      case AudioRequest.SetCur: {
        if (dataOut.length !== SAMPLE_FREQUENCY_BYTES) return ControlStatus.Stall;
        const rate = readSampleFrequency(dataOut);
        if (!this.layout.sampleRates.includes(rate)) return ControlStatus.Stall;
        this.rateChanges++;
        if (rate !== this.rate) {
          this.rate = rate;
          if (this.currentFormat !== null) this.begin(this.currentFormat.channels);
        }
        return ControlStatus.Ack;
      }
      default:
        return ControlStatus.Stall;
    }
  }

  /** An IN or OUT packet on this stream's endpoint (only while a streaming setting is selected). */
  handlePacket(packet: UsbPacket): void {
    if (!packet.isochronous) this.nonIso++;
    if (this.currentFormat === null) {
      packet.actualLength = 0;
      packet.status = PacketStatus.Stall;
      return;
    }
    this.transfer(packet, this.currentFormat);
  }

  // ---- snapshots -----------------------------------------------------------------------------------

  /**
   * The stream as data, part of its device's saved state: alternate setting, sampling frequency, where
   * the 44/45-frame packet pattern stands, the feature unit, the counters, and the source's or sink's
   * own state when it has one (see {@link AudioSource.saveState}).
   */
  saveState(): { [key: string]: JsonValue } {
    const counters = this.counterValues();
    return {
      direction: this.layout.direction,
      interfaceNumber: this.layout.interfaceNumber,
      endpointAddress: this.layout.endpointAddress,
      alternate: this.alt,
      sampleRate: this.rate,
      pacerCarried: this.pacer.carried,
      featureUnit: this.featureUnit.saveState(),
      counters: Object.fromEntries(COUNTERS.map((name, i) => [name, counters[i]!])),
      [this.endName]: this.end.saveState?.() ?? null,
    };
  }

  /**
   * Validates a {@link saveState} object against this stream's layout and returns what applies it.
   * The stream resumes where it was, without starting its source or sink again (a restarting test
   * signal would begin again at frame 0): a source or sink with saved state of its own kind gets that
   * state; one without is told of the stream's format as when it is swapped in mid-stream.
   */
  prepareRestore(state: StateReader): () => void {
    state.oneOf("direction", [this.layout.direction]);
    state.int("interfaceNumber", this.layout.interfaceNumber, this.layout.interfaceNumber);
    state.int("endpointAddress", this.layout.endpointAddress, this.layout.endpointAddress);
    const alternate = state.int("alternate", 0, this.layout.channels.length);
    const rate = state.oneOf("sampleRate", this.layout.sampleRates);
    const carried = state.int("pacerCarried", 0, 999);
    const applyUnit = this.featureUnit.prepareRestore(state.object("featureUnit"));
    const c = state.object("counters");
    const counters = COUNTERS.map((name) => c.int(name, 0, Number.MAX_SAFE_INTEGER));
    const saved = state.raw(this.endName);
    const end = this.end;
    let applyEnd: (() => void) | null = null;
    if (
      saved !== null &&
      saved !== undefined &&
      end.prepareRestore !== undefined &&
      end.saveState !== undefined
    ) {
      // A different kind of source or sink than the one saved: the application chose another; leave it.
      const kind = typeof saved === "object" && "kind" in saved ? saved.kind : undefined;
      if (kind === end.saveState().kind) applyEnd = end.prepareRestore(saved);
    }
    return () => {
      const wasActive = this.currentFormat !== null;
      const channels = alternate === 0 ? undefined : this.layout.channels[alternate - 1];
      this.alt = alternate;
      this.rate = rate;
      this.currentFormat = channels === undefined ? null : { sampleRate: rate, channels };
      if (channels !== undefined) {
        this.channels = channels;
        this.frameBytes = channels * BYTES_PER_SAMPLE;
      }
      this.pacer.resume(rate, carried);
      this.gainsRevision = -1;
      applyUnit();
      this.setCounterValues(counters);
      const format = this.currentFormat;
      if (applyEnd !== null) applyEnd();
      else {
        if (wasActive) this.safely(() => end.stop?.());
        if (format !== null) this.safely(() => end.start?.(format));
      }
    };
  }

  private counterValues(): number[] {
    return [
      this.starts,
      this.packets,
      this.frames,
      this.bytes,
      this.shortPackets,
      this.shortFrames,
      this.unexpected,
      this.nonIso,
      this.rateChanges,
      this.errors,
    ];
  }

  private setCounterValues(v: readonly number[]): void {
    [
      this.starts,
      this.packets,
      this.frames,
      this.bytes,
      this.shortPackets,
      this.shortFrames,
      this.unexpected,
      this.nonIso,
      this.rateChanges,
      this.errors,
    ] = v as [number, number, number, number, number, number, number, number, number, number];
  }

  // ---- for subclasses ------------------------------------------------------------------------------

  /** The saved state's name for the far end: "source" (capture) or "sink" (playback). */
  protected abstract readonly endName: "source" | "sink";
  /** The source or sink now behind the stream. */
  protected abstract get end(): StreamEnd;

  protected abstract transfer(packet: UsbPacket, format: StreamFormat): void;
  protected abstract started(format: StreamFormat): void;
  protected abstract stopped(): void;

  /** Applies the feature unit (mute, volume) to `frames` frames of {@link scratch} in place. */
  protected applyFeatureUnit(frames: number): void {
    const unit = this.featureUnit;
    if (unit.changeCount !== this.gainsRevision || this.gainsChannels !== this.channels) {
      unit.gains(this.gains, this.channels);
      this.gainsRevision = unit.changeCount;
      this.gainsChannels = this.channels;
    }
    applyGains(this.scratch, frames * this.channels, this.gains, this.channels);
  }

  protected countError(): void {
    this.errors++;
  }

  /** Runs a source or sink callback outside the hot path; what it throws is counted, not propagated. */
  protected safely(action: () => void): void {
    try {
      action();
    } catch {
      this.errors++;
    }
  }

  private begin(channels: number): void {
    const format: StreamFormat = { sampleRate: this.rate, channels };
    this.currentFormat = format;
    this.channels = channels;
    this.frameBytes = channels * BYTES_PER_SAMPLE;
    this.pacer.reset(this.rate);
    this.started(format);
  }

  private stop(): void {
    if (this.currentFormat === null) return;
    this.currentFormat = null;
    this.stopped();
  }
}
