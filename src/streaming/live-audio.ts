import type { AudioSink } from "../devices/audio/sinks/audio-sink.ts";
import type { AudioSource } from "../devices/audio/sources/audio-source.ts";
import type { StreamFormat } from "../devices/audio/stream-format.ts";
import type { Clock } from "../machine/clock.ts";

/**
 * Audio the microphone holds for the host, and the speaker's start-up buffer, in ms. Normal running
 * keeps the guest ~10 frames behind the microphone (uhci-hcd starts a stream 10 frames out; an async
 * host answers its first request 10 frames later again) and the
 * speaker fed every frame, so 32 ms never loses anything in a healthy stream; a host stall or a stream
 * that cannot keep up goes past it at once.
 */
export const LIVE_BUFFER_MS = 32;

/**
 * Told of audio lost, as the device notices it: the clock time (ms) and the frames that never reached
 * the other side (microphone) or were played as silence (speaker). Nothing is kept per loss, so a stream
 * that loses audio on every packet for hours costs no memory.
 */
export type LiveLossListener = (atMs: number, frames: number) => void;

/**
 * A microphone that hears the world in real time: the audio of time t is frame ⌊(t − start) × rate⌋ of
 * the wrapped source, whether or not the host asks for it. A pulled source (the test signal, a WAV)
 * hands out frames only when asked, so a host that stalls or polls too rarely would lose nothing;
 * a real microphone keeps only a little ({@link LIVE_BUFFER_MS}) and what the host did not fetch
 * by then is gone. Frames skipped that way are read from the source and dropped (so a frame-counter
 * signal shows the gap to the checker); each skip is told to `onLoss` and added to {@link lostFrames}.
 */
export class LiveSource implements AudioSource {
  private startMs = 0;
  private next = 0;
  private rate = 0;
  private scratch = new Int16Array(0);
  /** Frames thrown away since construction. */
  lostFrames = 0;

  constructor(
    private readonly inner: AudioSource,
    private readonly clock: Clock,
    private readonly onLoss: LiveLossListener = () => {},
    private readonly bufferMs = LIVE_BUFFER_MS,
  ) {}

  start(format: StreamFormat): void {
    this.startMs = this.clock.now();
    this.next = 0;
    this.rate = format.sampleRate;
    // One second of scratch, made once per stream: skips are read through it in chunks.
    this.scratch = new Int16Array(format.sampleRate * format.channels);
    this.inner.start?.(format);
  }

  stop(): void {
    this.inner.stop?.();
  }

  read(out: Int16Array, frames: number, format: StreamFormat): number {
    const now = this.clock.now();
    const heard = Math.floor(((now - this.startMs) * this.rate) / 1000);
    const kept = Math.floor((this.bufferMs * this.rate) / 1000);
    const behind = heard - this.next - kept;
    if (behind > 0) {
      this.skip(behind, format);
      this.lostFrames += behind;
      this.onLoss(now, behind);
    }
    const got = this.inner.read(out, frames, format);
    this.next += frames;
    return got;
  }

  private skip(frames: number, format: StreamFormat): void {
    const chunk = Math.floor(this.scratch.length / format.channels);
    for (let left = frames; left > 0; ) {
      const n = Math.min(left, chunk);
      this.inner.read(this.scratch, n, format);
      left -= n;
    }
    this.next += frames;
  }
}

/**
 * A speaker that plays in real time: it starts {@link LIVE_BUFFER_MS} after its first data and then
 * plays `rate` frames per second. When the host's data comes later than the speaker needs it (a stall,
 * or a stream that cannot keep up), the speaker plays silence until it does; those frames of silence
 * are told to `onLoss` and added to {@link lostFrames}, and playing resumes from the data that came. What arrives is passed on
 * to the wrapped sink unchanged.
 */
export class LiveSink implements AudioSink {
  private baseMs = Number.NaN;
  private received = 0;
  private rate = 0;
  /** Frames of silence played since construction. */
  lostFrames = 0;

  constructor(
    private readonly inner: AudioSink,
    private readonly clock: Clock,
    private readonly onLoss: LiveLossListener = () => {},
    private readonly bufferMs = LIVE_BUFFER_MS,
  ) {}

  start(format: StreamFormat): void {
    this.baseMs = Number.NaN;
    this.received = 0;
    this.rate = format.sampleRate;
    this.inner.start?.(format);
  }

  stop(): void {
    this.inner.stop?.();
  }

  write(samples: Int16Array, frames: number, format: StreamFormat): number {
    const now = this.clock.now();
    if (Number.isNaN(this.baseMs)) {
      this.baseMs = now + this.bufferMs;
    } else {
      const played = Math.floor(((now - this.baseMs) * this.rate) / 1000);
      if (played > this.received) {
        this.lostFrames += played - this.received;
        this.onLoss(now, played - this.received);
        // Playing resumes with this data, now: the speaker's clock restarts from it.
        this.baseMs = now - (this.received * 1000) / this.rate;
      }
    }
    this.received += frames;
    return this.inner.write(samples, frames, format);
  }
}
