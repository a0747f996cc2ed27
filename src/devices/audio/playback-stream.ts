import type { UsbPacket } from "../../usb/packet.ts";
import { PacketStatus } from "../../usb/packet.ts";
import type { AudioFunctionLayout } from "./audio-model.ts";
import { AudioStream, type StreamEnd } from "./audio-stream.ts";
import type { FeatureUnit } from "./feature-unit.ts";
import { type AudioSink, NullSink } from "./sinks/audio-sink.ts";
import type { StreamFormat } from "./stream-format.ts";

/**
 * The playback side (a speaker): each isochronous OUT packet's whole frames, whatever their number, are
 * decoded from 16-bit little-endian, passed through the feature unit and handed to the sink. The
 * endpoint is adaptive, so the host's packet sizes set the rate; sizes other than the nominal pattern
 * (rate/1000 frames, +1 where the rate has a remainder) are still taken, and counted, as is a trailing
 * partial frame (dropped). There is no handshake on an isochronous OUT (USB 2.0 5.6.5): every packet
 * is ACKed in the sense of "taken".
 */
export class PlaybackStream extends AudioStream {
  private currentSink: AudioSink;

  constructor(
    layout: AudioFunctionLayout,
    featureUnit: FeatureUnit,
    defaultSampleRate: number,
    sink?: AudioSink,
  ) {
    super(layout, featureUnit, defaultSampleRate);
    this.currentSink = sink ?? new NullSink();
  }

  get sink(): AudioSink {
    return this.currentSink;
  }

  /** Replaces the sink; a stream in progress carries on into the new one (which is started). */
  set sink(sink: AudioSink) {
    const format = this.currentFormat;
    if (format !== null) this.safely(() => this.currentSink.stop?.());
    this.currentSink = sink;
    if (format !== null) this.safely(() => sink.start?.(format));
  }

  protected override readonly endName = "sink";

  protected override get end(): StreamEnd {
    return this.currentSink;
  }

  protected override started(format: StreamFormat): void {
    this.safely(() => this.currentSink.start?.(format));
  }

  protected override stopped(): void {
    this.safely(() => this.currentSink.stop?.());
  }

  protected override transfer(packet: UsbPacket, format: StreamFormat): void {
    const length = Math.min(packet.length, packet.data.length);
    const frames = Math.floor(length / this.frameBytes);
    if (frames * this.frameBytes !== length || !this.pacer.isNominal(frames)) this.unexpected++;
    const samples = frames * this.channels;
    const data = packet.data;
    const scratch = this.scratch;
    for (let i = 0, at = 0; i < samples; i++, at += 2)
      scratch[i] = ((data[at]! | (data[at + 1]! << 8)) << 16) >> 16;
    this.applyFeatureUnit(frames);
    let kept = 0;
    try {
      kept = this.currentSink.write(scratch, frames, format);
    } catch {
      this.countError();
    }
    if (!(kept >= 0)) kept = 0;
    if (kept < frames) {
      this.shortPackets++;
      this.shortFrames += frames - kept;
    }
    packet.actualLength = length;
    packet.status = PacketStatus.Ack;
    this.packets++;
    this.frames += frames;
    this.bytes += length;
  }
}
