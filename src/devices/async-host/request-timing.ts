import type { Clock } from "../../machine/clock.ts";
import { SeededRandom } from "../../machine/seeded-random.ts";

/** How long a host takes to answer, in milliseconds of the injected clock (1 ms = one USB frame). */
export interface AsyncHostTiming {
  /**
   * Delay of the first isochronous request of a stream. A real host schedules it about 10 frames after
   * submission (the seed: "the host adds a 10 frame delay to the scheduling of the first request").
   */
  readonly firstIsoDelayMs: number;
  /** Spacing of the later requests of a stream: the host runs one packet per frame. */
  readonly isoIntervalMs: number;
  /**
   * A backend that keeps host transfers queued ahead of the guest (QEMU's usb-host keeps a ring of
   * them) has data ready once its stream runs: after the first-request delay, each request completes
   * this soon after it was made instead of in its own host frame 10 frames later. Undefined: no such
   * buffering (every request waits for its host frame). A Linux guest reports a TD still Active after
   * its frame as -EXDEV, so lossless streaming to Linux needs this below one frame.
   */
  readonly isoLatencyMs?: number;
  /** Each completion comes up to this much later (uniform), never before an earlier one of its endpoint. */
  readonly jitterMs: number;
  /** Delay of bulk and interrupt requests. */
  readonly nonIsoDelayMs: number;
  /** Seed of the jitter PRNG. */
  readonly seed: number;
}

export const DEFAULT_ASYNC_HOST_TIMING = {
  firstIsoDelayMs: 10,
  isoIntervalMs: 1,
  jitterMs: 0,
  nonIsoDelayMs: 1,
  seed: 1,
} as const satisfies AsyncHostTiming;

/** Endpoint slots: numbers 0–15 OUT, then 0–15 IN. */
export const ENDPOINT_SLOTS = 32;

/**
 * Decides when each request completes, modelling how a host stack (usbfs, libusb, WebUSB, USB/IP)
 * schedules isochronous URBs: each endpoint is a stream whose packets occupy consecutive host frames.
 * The first request of a stream is placed {@link AsyncHostTiming.firstIsoDelayMs} out; each later one
 * in the frame after the previous one. A request that comes after its stream's next frame has already
 * passed finds the stream broken and starts a new one, paying the first-request delay again — the
 * 10 ms hiccup the seed's point 4 describes when the emulated frame timer drifts.
 */
export class RequestTiming {
  /** The host frame the stream's next packet would occupy; NaN when the stream is idle. */
  private readonly nextSlotMs = new Float64Array(ENDPOINT_SLOTS).fill(Number.NaN);
  /** The last completion time given per endpoint, so jitter never reorders an endpoint's requests. */
  private readonly lastDueMs = new Float64Array(ENDPOINT_SLOTS).fill(Number.NEGATIVE_INFINITY);
  /** When each endpoint's current stream delivers its first packet. */
  private readonly streamReadyMs = new Float64Array(ENDPOINT_SLOTS);
  private readonly random: SeededRandom;
  /** Streams started (the first request of each, and every restart after a gap). */
  streamStarts = 0;

  constructor(readonly timing: AsyncHostTiming) {
    for (const [name, value] of Object.entries(timing)) {
      if (value === undefined) continue;
      if (!Number.isFinite(value) || value < 0) throw new RangeError(`timing ${name} ${value} must be >= 0`);
    }
    this.random = new SeededRandom(timing.seed);
  }

  /** When a request on endpoint `slot`, made at `nowMs`, completes. */
  dueMs(slot: number, isochronous: boolean, nowMs: number): number {
    this.nowMs[0] = nowMs;
    this.schedule(this.answer, slot, isochronous);
    return this.answer.dueMs;
  }

  /**
   * Sets `into.dueMs` to when a request on endpoint `slot`, made now on `clock`, completes. What the
   * devices use: a fractional time passed to or returned from a call is a fresh heap number, while
   * one stored in a field that already holds one is written in place — so a request allocates nothing.
   */
  place(into: { dueMs: number }, slot: number, isochronous: boolean, clock: Clock): void {
    this.nowMs[0] = clock.now();
    this.schedule(into, slot, isochronous);
  }

  /** {@link dueMs}'s answer. */
  private readonly answer = { dueMs: 0.5 };
  /** The time of the request being placed (kept here rather than passed: see {@link place}). */
  private readonly nowMs = new Float64Array(1);

  private schedule(into: { dueMs: number }, slot: number, isochronous: boolean): void {
    const nowMs = this.nowMs[0]!;
    let at: number;
    let backlog = false;
    if (isochronous) {
      let frame = this.nextSlotMs[slot]!;
      // `!(frame >= nowMs)` is also true for NaN: an idle stream starts like a stream that fell behind.
      if (!(frame >= nowMs)) {
        frame = nowMs + this.timing.firstIsoDelayMs;
        this.streamReadyMs[slot] = frame;
        this.streamStarts++;
      }
      this.nextSlotMs[slot] = frame + this.timing.isoIntervalMs;
      const latency = this.timing.isoLatencyMs;
      const ready = this.streamReadyMs[slot]!;
      if (latency === undefined) {
        at = frame;
      } else if (nowMs < ready) {
        // Buffered, before the stream delivers: the requests that queued up are answered together when
        // the first host transfer lands (a libusb iso transfer completes all its packets at once).
        at = ready + latency;
        backlog = true;
      } else {
        at = nowMs + latency;
      }
    } else {
      at = nowMs + this.timing.nonIsoDelayMs;
    }
    if (this.timing.jitterMs > 0 && !backlog) at += this.random.next() * this.timing.jitterMs;
    at = Math.max(at, this.lastDueMs[slot]!);
    this.lastDueMs[slot] = at;
    into.dueMs = at;
  }

  /** Ends the stream on `slot` (its endpoint went away): the next request starts a new one. */
  endStream(slot: number): void {
    this.nextSlotMs[slot] = Number.NaN;
    this.lastDueMs[slot] = Number.NEGATIVE_INFINITY;
  }

  endAll(): void {
    this.nextSlotMs.fill(Number.NaN);
    this.lastDueMs.fill(Number.NEGATIVE_INFINITY);
  }
}
