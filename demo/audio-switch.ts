import type { AudioSink, AudioSource, StreamFormat } from "../src/index.ts";

/**
 * How late the emulator's USB frames ran, seen from the audio path: the gaps between consecutive 1 ms
 * packets the headset asked for. A bridge's ring covers a gap up to its fill (speaker: the ring drains
 * while no frame runs) or up to its maximum less its target (microphone: the ring fills); a longer gap
 * is a counted under- or overrun. So this is the number that says whether a break was the page's main
 * thread (v86, the DOM) stalling or the audio thread. Numbers only: nothing allocated per packet.
 */
export class FrameGapMeter {
  private last = -1;
  private first = -1;
  private ticks = 0;
  maxGapMs = 0;
  /**
   * The most the packets ran ahead of the wall clock since the stream (re)started: 1 ms per packet
   * against the time elapsed. Overdue frames caught up after a lag run ahead of real time, and a
   * microphone stream that started while USB time lagged then reads its ring faster than the card
   * fills it — an underrun no packet gap shows.
   */
  maxAheadMs = 0;
  /** The most they fell behind it (the lag the frame clock then catches up). */
  maxBehindMs = 0;
  /** Gaps longer than 10, 20 and 50 ms since the last reset. */
  over10 = 0;
  over20 = 0;
  over50 = 0;
  packets = 0;

  constructor(private readonly now: () => number = () => performance.now()) {}

  tick(): void {
    const t = this.now();
    if (this.first < 0) {
      this.first = t;
      this.ticks = 0;
    }
    const ahead = this.ticks - (t - this.first);
    this.ticks++;
    if (ahead > this.maxAheadMs) this.maxAheadMs = ahead;
    if (-ahead > this.maxBehindMs) this.maxBehindMs = -ahead;
    if (this.last >= 0) {
      const gap = t - this.last;
      if (gap > this.maxGapMs) this.maxGapMs = gap;
      if (gap > 10) this.over10++;
      if (gap > 20) this.over20++;
      if (gap > 50) this.over50++;
    }
    this.last = t;
    this.packets++;
  }

  /** A stream stopped: the pause until it starts again is not a late frame. */
  pause(): void {
    this.last = -1;
    this.first = -1;
  }

  reset(): void {
    this.maxGapMs = 0;
    this.maxAheadMs = 0;
    this.maxBehindMs = 0;
    this.over10 = 0;
    this.over20 = 0;
    this.over50 = 0;
    this.packets = 0;
  }

  snapshot(): FrameGaps {
    return {
      maxGapMs: this.maxGapMs,
      maxAheadMs: this.maxAheadMs,
      maxBehindMs: this.maxBehindMs,
      over10: this.over10,
      over20: this.over20,
      over50: this.over50,
      packets: this.packets,
    };
  }
}

export interface FrameGaps {
  readonly maxGapMs: number;
  readonly maxAheadMs: number;
  readonly maxBehindMs: number;
  readonly over10: number;
  readonly over20: number;
  readonly over50: number;
  readonly packets: number;
}

/** What a meter that has seen no packet reports (a stream the page does not have). */
export const NO_FRAME_GAPS: FrameGaps = Object.freeze({
  maxGapMs: 0,
  maxAheadMs: 0,
  maxBehindMs: 0,
  over10: 0,
  over20: 0,
  over50: 0,
  packets: 0,
});

/**
 * Packets a microphone bridge's start waits at most for USB to keep real time (uhci/web: the bridge
 * gives the guest silence while the packets catch up a lag, then primes); re-exported for the browser
 * test's bound on a recording's leading silence.
 */
export { START_WAIT_PACKETS } from "../src/web/index.ts";

/**
 * The headset's microphone source, switchable between bridges while the guest streams: the demo keeps
 * one bridge with room for this page's jitter and one tuned for the loopback's round trip (a device's
 * source is fixed when it is made, and the bridges' targets when they are). The bridge switched away
 * from is stopped (its worklet idles, counting nothing); the one switched to starts on the guest's
 * current format and primes from empty — once the packets keep real-time pace, as every
 * MicrophoneBridge start does (a stream that starts while USB time lags the wall clock would otherwise
 * prime and then, as the overdue frames catch up, read its ring dry: seen after a restore, packets
 * 52 ms ahead of the wall clock against a 40 ms target; this class waited for that itself until the
 * bridge did).
 */
export class SwitchableSource implements AudioSource {
  private format: StreamFormat | null = null;
  readonly gaps = new FrameGapMeter();

  constructor(private current: AudioSource) {}

  get active(): AudioSource {
    return this.current;
  }

  use(next: AudioSource): void {
    if (next === this.current) return;
    this.current.stop?.();
    this.current = next;
    if (this.format !== null) next.start?.(this.format);
  }

  start(format: StreamFormat): void {
    this.format = format;
    this.gaps.pause();
    this.current.start?.(format);
  }

  stop(): void {
    this.format = null;
    this.gaps.pause();
    this.current.stop?.();
  }

  read(out: Int16Array, frames: number, format: StreamFormat): number {
    this.gaps.tick();
    return this.current.read(out, frames, format);
  }
}

/** The headset's speaker sink, switchable the same way as {@link SwitchableSource}. */
export class SwitchableSink implements AudioSink {
  private format: StreamFormat | null = null;
  readonly gaps = new FrameGapMeter();

  constructor(private current: AudioSink) {}

  get active(): AudioSink {
    return this.current;
  }

  use(next: AudioSink): void {
    if (next === this.current) return;
    this.current.stop?.();
    this.current = next;
    if (this.format !== null) next.start?.(this.format);
  }

  start(format: StreamFormat): void {
    this.format = format;
    this.gaps.pause();
    this.current.start?.(format);
  }

  stop(): void {
    this.format = null;
    this.gaps.pause();
    this.current.stop?.();
  }

  write(samples: Int16Array, frames: number, format: StreamFormat): number {
    this.gaps.tick();
    return this.current.write(samples, frames, format);
  }
}
