import type { UsbPacket } from "../../usb/packet.ts";
import { PacketStatus } from "../../usb/packet.ts";
import type { AudioFunctionLayout } from "./audio-model.ts";
import { AudioStream, type StreamEnd } from "./audio-stream.ts";
import type { FeatureUnit } from "./feature-unit.ts";
import { type AudioSource, SilenceSource } from "./sources/audio-source.ts";
import type { StreamFormat } from "./stream-format.ts";

/**
 * The capture side (a microphone): each isochronous IN packet carries the frames of one 1 ms frame at
 * the current rate (packet-pacer.ts), read from the source, through the feature unit, as 16-bit
 * little-endian interleaved samples. A source that runs short is padded with silence (counted). A host
 * buffer too small for the frames due gets the whole frames that fit; the source is read only for those,
 * so nothing it produced is lost — it goes out later (counted as an unexpected size).
 */
export class CaptureStream extends AudioStream {
  private currentSource: AudioSource;

  constructor(
    layout: AudioFunctionLayout,
    featureUnit: FeatureUnit,
    defaultSampleRate: number,
    source?: AudioSource,
  ) {
    super(layout, featureUnit, defaultSampleRate);
    this.currentSource = source ?? new SilenceSource();
  }

  get source(): AudioSource {
    return this.currentSource;
  }

  /** Replaces the source; a stream in progress carries on from the new one (which is started). */
  set source(source: AudioSource) {
    const format = this.currentFormat;
    if (format !== null) this.safely(() => this.currentSource.stop?.());
    this.currentSource = source;
    if (format !== null) this.safely(() => source.start?.(format));
  }

  protected override readonly endName = "source";

  protected override get end(): StreamEnd {
    return this.currentSource;
  }

  protected override started(format: StreamFormat): void {
    this.safely(() => this.currentSource.start?.(format));
  }

  protected override stopped(): void {
    this.safely(() => this.currentSource.stop?.());
  }

  protected override transfer(packet: UsbPacket, format: StreamFormat): void {
    let frames = this.pacer.next();
    const fit = Math.floor(Math.min(packet.length, packet.data.length) / this.frameBytes);
    if (frames > fit) {
      this.unexpected++;
      frames = fit;
    }
    const samples = frames * this.channels;
    let produced = 0;
    try {
      produced = this.currentSource.read(this.scratch, frames, format);
    } catch {
      this.countError();
    }
    if (!(produced >= 0)) produced = 0;
    if (produced > frames) produced = frames;
    if (produced < frames) {
      this.scratch.fill(0, produced * this.channels, samples);
      this.shortPackets++;
      this.shortFrames += frames - produced;
    }
    this.applyFeatureUnit(frames);
    const data = packet.data;
    const scratch = this.scratch;
    for (let i = 0, at = 0; i < samples; i++, at += 2) {
      const s = scratch[i]!;
      data[at] = s & 0xff;
      data[at + 1] = (s >> 8) & 0xff;
    }
    const bytes = samples * 2;
    packet.actualLength = bytes;
    packet.status = PacketStatus.Ack;
    this.packets++;
    this.frames += frames;
    this.bytes += bytes;
  }
}
