import type { JsonValue, StateReader } from "../../machine/snapshot.ts";
import { type ControlReply, ControlStatus } from "../../usb/control-pipe.ts";
import type { SetupPacket } from "../../usb/setup-packet.ts";
import { AudioRequest, FeatureControl, FeatureControlBit, VOLUME_SILENCE } from "./uac1.ts";
import { gainOfLevel, UNITY_GAIN, type VolumeRange } from "./volume.ts";

/** wValue low byte 0xFF addresses every channel that has the control at once (UAC1 5.2.2.4). */
const ALL_CHANNELS = 0xff;
/** Parameter block sizes: bMute is one byte, wVolume two (UAC1 5.2.2.4.3.1, 5.2.2.4.3.2). */
const MUTE_SIZE = 1;
const VOLUME_SIZE = 2;

export interface FeatureUnitOptions {
  /** bUnitID. */
  readonly id: number;
  /** Logical channels of the cluster that flows through the unit. */
  readonly channels: number;
  readonly range: VolumeRange;
  /** Also a volume control on each logical channel, besides the master mute and volume. */
  readonly channelVolume: boolean;
}

/** What a UI may read of a feature unit. */
export interface FeatureUnitState {
  readonly muted: boolean;
  /** Master level in dB (−Infinity for −∞). */
  readonly volumeDb: number;
  /** Per-channel levels in dB, logical channel 1 first; empty when the unit has none. */
  readonly channelVolumeDb: readonly number[];
}

/**
 * A feature unit with mute and volume on the master channel (channel 0) and, optionally, volume on each
 * logical channel (UAC1 4.3.2.5, 5.2.2.4). The effective level of channel n is master + channel n in
 * dB; mute or a −∞ level silences it (see volume.ts for the law).
 *
 * Only what the unit has is answered: mute takes SET_CUR / GET_CUR, volume also GET_MIN / GET_MAX /
 * GET_RES. Everything else — SET_MIN/MAX/RES (a Linux 6.1 host probing a volume control tries SET_RES
 * with half the resolution and retries the failed request ten times: a device without that attribute
 * must STALL every one), other control selectors,
 * channels without the control, a wrong wLength or direction — is a STALL that changes no state.
 *
 * SET_CUR on volume clamps the value into [min, max] (0x8000, "−∞", is kept as silence) and stores
 * it as given otherwise, unquantised: Linux probes the resolution by setting cur ± res and reading it
 * back, and expects to read back exactly what it wrote.
 */
export class FeatureUnit {
  readonly id: number;
  readonly channels: number;
  readonly range: VolumeRange;
  /** bmaControls: index 0 master, n logical channel n. */
  readonly controls: readonly number[];
  private muted = false;
  /** Levels by channel index, 0 = master; channels without volume stay 0 dB. */
  private readonly levels: Int16Array;
  /** Reused reply for any GET (the pipe copies it at once). */
  private readonly reply: Uint8Array;
  /** Bumped on every change so streams know to recompute their gains. */
  private revision = 0;

  constructor(options: FeatureUnitOptions) {
    this.id = options.id;
    this.channels = options.channels;
    this.range = options.range;
    this.controls = FeatureUnit.controlsFor(options.channels, options.channelVolume);
    this.levels = new Int16Array(options.channels + 1);
    this.reply = new Uint8Array(VOLUME_SIZE * (options.channels + 1));
    this.reset();
  }

  /** bmaControls for a unit with these options: master mute and volume, optional channel volumes. */
  static controlsFor(channels: number, channelVolume: boolean): number[] {
    const perChannel = channelVolume ? FeatureControlBit.Volume : 0;
    return [
      FeatureControlBit.Mute | FeatureControlBit.Volume,
      ...new Array<number>(channels).fill(perChannel),
    ];
  }

  /** Back to the power-on state: unmuted, every level 0 dB clamped into the range. */
  reset(): void {
    this.muted = false;
    this.levels.fill(this.clamp(0));
    this.revision++;
  }

  /** Changes with every state change; cheap to compare on every packet. */
  get changeCount(): number {
    return this.revision;
  }

  get state(): FeatureUnitState {
    const channelVolumeDb: number[] = [];
    for (let ch = 1; ch <= this.channels; ch++) {
      if (this.has(ch, FeatureControlBit.Volume)) channelVolumeDb.push(levelDb(this.levels[ch]!));
    }
    return { muted: this.muted, volumeDb: levelDb(this.levels[0]!), channelVolumeDb };
  }

  /** Mute and every level (raw 1/256 dB values, −32768 = −∞), part of a stream's saved state. */
  saveState(): { [key: string]: JsonValue } {
    return { muted: this.muted, levels: Array.from(this.levels) };
  }

  /** Validates a {@link saveState} object (levels in range, one per channel); returns what applies it. */
  prepareRestore(state: StateReader): () => void {
    const muted = state.bool("muted");
    const levels = state.ints("levels", VOLUME_SILENCE, 0x7fff, this.channels + 1);
    if (levels.length !== this.channels + 1) {
      throw state.error("levels", `must hold ${this.channels + 1} levels (master and each channel)`);
    }
    levels.forEach((level, ch) => {
      const outOfRange = level !== VOLUME_SILENCE && level !== this.clamp(level);
      const without = ch > 0 && !this.has(ch, FeatureControlBit.Volume) && level !== this.clamp(0);
      if (outOfRange || without)
        throw state.error(`levels[${ch}]`, `${level} is not a level this unit can hold`);
    });
    return () => {
      this.muted = muted;
      this.levels.set(levels);
      this.revision++;
    };
  }

  /** Sets the master mute, as the host would. */
  setMuted(muted: boolean): void {
    this.muted = muted;
    this.revision++;
  }

  /** Sets a level in dB (channel 0 = master), clamped into the range like a host's SET_CUR. */
  setVolumeDb(db: number, channel = 0): void {
    if (!this.has(channel, FeatureControlBit.Volume))
      throw new RangeError(`channel ${channel} has no volume`);
    if (Number.isNaN(db)) throw new RangeError("volume NaN dB");
    this.levels[channel] =
      db === Number.NEGATIVE_INFINITY ? VOLUME_SILENCE : this.clamp(Math.round(db * 256));
    this.revision++;
  }

  /**
   * The 16.16 amplitude factor for each of a stream's `streamChannels` interleaved channels. A mono
   * stream through a stereo cluster uses logical channel 1.
   */
  gains(into: Float64Array, streamChannels: number): void {
    for (let c = 0; c < streamChannels; c++) {
      const channel = Math.min(c + 1, this.channels);
      into[c] = this.muted ? 0 : this.channelGain(channel);
    }
  }

  /**
   * A class request addressed to this unit (the caller has matched wIndex's entity ID and interface).
   * `dataOut` is what a SET carried.
   */
  handle(setup: SetupPacket, dataOut: Uint8Array): ControlReply {
    const selector = setup.wValue >> 8;
    const channel = setup.wValue & 0xff;
    // Bit 7 of bRequest says GET; it must agree with the transfer direction (UAC1 5.2.1).
    const isGet = (setup.bRequest & 0x80) !== 0;
    if (isGet !== setup.isDeviceToHost) return ControlStatus.Stall;
    switch (selector) {
      case FeatureControl.Mute:
        return this.muteRequest(setup.bRequest, channel, dataOut);
      case FeatureControl.Volume:
        return this.volumeRequest(setup.bRequest, channel, dataOut);
      default:
        return ControlStatus.Stall;
    }
  }

  // ---- internals -----------------------------------------------------------------------------------

  private has(channel: number, bit: number): boolean {
    return ((this.controls[channel] ?? 0) & bit) !== 0;
  }

  /** Channels a request reaches: one, or every channel with the control for 0xFF; empty = STALL. */
  private channelsFor(channel: number, bit: number): number[] {
    if (channel !== ALL_CHANNELS) return this.has(channel, bit) ? [channel] : [];
    const all: number[] = [];
    for (let ch = 0; ch <= this.channels; ch++) if (this.has(ch, bit)) all.push(ch);
    return all;
  }

  private muteRequest(request: number, channel: number, dataOut: Uint8Array): ControlReply {
    const targets = this.channelsFor(channel, FeatureControlBit.Mute);
    if (targets.length === 0) return ControlStatus.Stall;
    switch (request) {
      case AudioRequest.GetCur:
        // Only the master channel has mute, so the block is one byte either way.
        this.reply[0] = this.muted ? 1 : 0;
        return this.reply.subarray(0, MUTE_SIZE * targets.length);
      case AudioRequest.SetCur:
        if (dataOut.length !== MUTE_SIZE * targets.length) return ControlStatus.Stall;
        this.setMuted(dataOut[0] !== 0);
        return ControlStatus.Ack;
      default:
        // Mute has only the CUR attribute (UAC1 5.2.2.4.3.1).
        return ControlStatus.Stall;
    }
  }

  private volumeRequest(request: number, channel: number, dataOut: Uint8Array): ControlReply {
    const targets = this.channelsFor(channel, FeatureControlBit.Volume);
    if (targets.length === 0) return ControlStatus.Stall;
    const size = VOLUME_SIZE * targets.length;
    switch (request) {
      case AudioRequest.GetCur:
        targets.forEach((ch, i) => {
          this.writeLevel(i, this.levels[ch]!);
        });
        return this.reply.subarray(0, size);
      case AudioRequest.GetMin:
      case AudioRequest.GetMax:
      case AudioRequest.GetRes: {
        const value =
          request === AudioRequest.GetMin
            ? this.range.min
            : request === AudioRequest.GetMax
              ? this.range.max
              : this.range.res;
        for (let i = 0; i < targets.length; i++) this.writeLevel(i, value);
        return this.reply.subarray(0, size);
      }
      case AudioRequest.SetCur: {
        if (dataOut.length !== size) return ControlStatus.Stall;
        targets.forEach((ch, i) => {
          const raw = ((dataOut[2 * i]! | (dataOut[2 * i + 1]! << 8)) << 16) >> 16;
          this.levels[ch] = raw === VOLUME_SILENCE ? VOLUME_SILENCE : this.clamp(raw);
        });
        this.revision++;
        return ControlStatus.Ack;
      }
      default:
        // SET_MIN / SET_MAX / SET_RES and the memory requests: this unit's range is fixed.
        return ControlStatus.Stall;
    }
  }

  private writeLevel(slot: number, level: number): void {
    this.reply[2 * slot] = level & 0xff;
    this.reply[2 * slot + 1] = (level >> 8) & 0xff;
  }

  private clamp(level: number): number {
    return Math.min(this.range.max, Math.max(this.range.min, level));
  }

  private channelGain(channel: number): number {
    const master = this.levels[0]!;
    const own = this.has(channel, FeatureControlBit.Volume) ? this.levels[channel]! : 0;
    if (master === VOLUME_SILENCE || own === VOLUME_SILENCE) return 0;
    const total = master + own;
    return total === 0 ? UNITY_GAIN : gainOfLevel(total);
  }
}

function levelDb(level: number): number {
  return level === VOLUME_SILENCE ? Number.NEGATIVE_INFINITY : level / 256;
}
