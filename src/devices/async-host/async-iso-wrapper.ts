import type { Clock, Timer } from "../../machine/clock.ts";
import { Pid } from "../../usb/constants.ts";
import type { UpstreamPort, UsbDevice } from "../../usb/device.ts";
import {
  type AsyncTicket,
  DEAD_TICKET,
  type FinalPacketStatus,
  PacketState,
  PacketStatus,
  type UsbPacket,
  UsbPacketPool,
} from "../../usb/packet.ts";
import { CompletionSchedule, type PendingRequest } from "./completion-schedule.ts";
import { type AsyncHostTiming, DEFAULT_ASYNC_HOST_TIMING, RequestTiming } from "./request-timing.ts";

export interface AsyncIsoWrapperOptions {
  readonly clock: Clock;
  readonly timing?: Partial<AsyncHostTiming>;
  readonly maxInFlight?: number;
}

/** Counters for tests and reports. */
export interface AsyncIsoWrapperStats {
  /** Iso requests deferred. */
  deferred: number;
  /** Completions the host accepted. */
  completed: number;
  /** Requests the host took back with `cancelPacket`. */
  cancelled: number;
  /** Requests whose ticket had gone stale when they came due: not completed, not shown to the device. */
  ignored: number;
  /** Requests refused because `maxInFlight` were out. */
  rejected: number;
  /** Requests the wrapped device itself answered later (deferred in turn); they complete when it does. */
  nested: number;
}

/** An iso request handed on to a wrapped device that deferred it in turn. */
class NestedRequest {
  /** The wrapper's own packet, which the wrapped device holds. */
  inner: UsbPacket | null = null;
  /** The host's packet and its ticket, completed when `inner` is. */
  outer: UsbPacket | null = null;
  ticket: AsyncTicket = DEAD_TICKET;
}

/**
 * Puts any device behind an asynchronous host path: its isochronous packets are deferred and handed to
 * the device only when a timer (following {@link RequestTiming}) says a real host would answer, then
 * completed with the device's answer. Control, bulk and interrupt traffic pass straight through.
 *
 * This turns an emulated device (a USB Audio Class microphone or speaker) into what passthrough looks
 * like to the controller, so the same stream can be checked on both paths (seed points 1–3). A cancelled
 * packet never reaches the device, so a microphone's source advances only for data the host takes.
 *
 * The device gets a packet of the wrapper's own (a copy of the host's request, in the Setup state), as
 * a device behind a real host would: so a wrapped device that defers in turn (an async device behind
 * the wrapper) is simply waited for — the host's request completes when the device's does — and no
 * device call ever throws out of the wrapper's timer.
 */
export class AsyncIsoWrapper implements UsbDevice {
  /** Runs right after each completion with the host-time cost of `packet.complete()` in milliseconds. */
  onCompleted: ((packet: UsbPacket, completeMs: number) => void) | null = null;
  readonly stats: AsyncIsoWrapperStats = {
    deferred: 0,
    completed: 0,
    cancelled: 0,
    ignored: 0,
    rejected: 0,
    nested: 0,
  };
  private readonly schedule: CompletionSchedule;
  private readonly timing: RequestTiming;
  private readonly timer: Timer;
  /** The entry, and its due time, the timer is armed for. */
  private armedFor: PendingRequest | null = null;
  private readonly armedForMs = new Float64Array(1);
  /** The packets handed to the wrapped device (stale completions from it are counted here). */
  private readonly packets = new UsbPacketPool();
  /** Requests the wrapped device deferred: the first `nestedCount` entries are live. */
  private readonly nested: NestedRequest[] = [];
  private nestedCount = 0;

  constructor(
    readonly inner: UsbDevice,
    private readonly options: AsyncIsoWrapperOptions,
  ) {
    this.timing = new RequestTiming({ ...DEFAULT_ASYNC_HOST_TIMING, ...options.timing });
    this.schedule = new CompletionSchedule(16, options.maxInFlight ?? 256);
    this.timer = options.clock.createTimer(this.onTimer);
  }

  get name(): string {
    return `${this.inner.name} (async)`;
  }
  get speed() {
    return this.inner.speed;
  }
  get address(): number {
    return this.inner.address;
  }
  /** Completions the wrapped device attempted with a stale ticket (after the wrapper cancelled them). */
  get staleInnerCompletions(): number {
    return this.packets.staleCompletions;
  }

  handlePacket(packet: UsbPacket): void {
    if (!packet.isochronous) {
      this.inner.handlePacket(packet);
      return;
    }
    if (this.schedule.size + this.nestedCount >= this.schedule.maxEntries) {
      this.stats.rejected++;
      packet.status = PacketStatus.IoError;
      return;
    }
    const slot = (packet.endpoint & 0x0f) | (packet.pid === Pid.In ? 16 : 0);
    this.schedule.addTimed(packet, packet.deferred(), slot, this.timing, true, this.options.clock);
    this.stats.deferred++;
    this.rearm();
  }

  cancelPacket(packet: UsbPacket): void {
    if (this.schedule.remove(packet)) {
      this.stats.cancelled++;
      this.rearm();
      return;
    }
    for (let i = 0; i < this.nestedCount; i++) {
      const nested = this.nested[i]!;
      if (nested.outer !== packet) continue;
      const inner = nested.inner!;
      this.removeNested(i);
      this.stats.cancelled++;
      // Taken back from the wrapped device too; the wrapper's pool never reuses a cancelled packet.
      inner.cancel();
      this.inner.cancelPacket(inner);
      return;
    }
    this.inner.cancelPacket(packet);
  }

  reset(): void {
    this.timing.endAll();
    this.inner.reset();
  }

  setUpstream(upstream: UpstreamPort | null): void {
    this.inner.setUpstream(upstream);
  }

  setSuspended(suspended: boolean): void {
    this.inner.setSuspended(suspended);
  }

  private readonly onTimer = (): void => {
    const now = this.options.clock.now();
    for (;;) {
      const entry = this.schedule.takeDue(now);
      if (entry === null) break;
      const packet = entry.packet!;
      const ticket = entry.ticket;
      entry.packet = null;
      if (!packet.isPending(ticket)) {
        this.stats.ignored++;
        continue;
      }
      this.answer(packet, ticket);
    }
    this.rearm();
  };

  /** The device answers now, as a real device answers when its host transfer runs. */
  private answer(outer: UsbPacket, ticket: AsyncTicket): void {
    if (outer.length > this.packets.capacity) {
      // More than any USB 1.1 packet (a host with oversized packets): no device could answer it.
      this.finishWith(outer, ticket, PacketStatus.Babble, 0);
      return;
    }
    const inner = this.packets.acquire();
    inner.init(outer.pid, outer.address, outer.endpoint, outer.length, true);
    if (outer.pid !== Pid.In) copy(outer.data, inner.data, outer.length);
    this.inner.handlePacket(inner);
    if (inner.state === PacketState.Async) {
      this.stats.nested++;
      if (this.nestedCount === this.nested.length) this.nested.push(new NestedRequest());
      const nested = this.nested[this.nestedCount++]!;
      nested.inner = inner;
      nested.outer = outer;
      nested.ticket = ticket;
      inner.onComplete = this.onInnerComplete;
      return;
    }
    inner.finish();
    this.finishOuter(outer, ticket, inner);
  }

  /** The wrapped device completed a request it had deferred. */
  private readonly onInnerComplete = (inner: UsbPacket): void => {
    for (let i = 0; i < this.nestedCount; i++) {
      const nested = this.nested[i]!;
      if (nested.inner !== inner) continue;
      const outer = nested.outer!;
      const ticket = nested.ticket;
      this.removeNested(i);
      if (outer.isPending(ticket)) this.finishOuter(outer, ticket, inner);
      else this.stats.ignored++;
      return;
    }
  };

  /** Completes the host's request with the wrapped device's answer, and takes the inner packet back. */
  private finishOuter(outer: UsbPacket, ticket: AsyncTicket, inner: UsbPacket): void {
    const answer: PacketStatus = inner.status;
    const status: FinalPacketStatus = answer === PacketStatus.Async ? PacketStatus.IoError : answer;
    const length = Math.min(inner.actualLength, outer.length);
    if (outer.pid === Pid.In) copy(inner.data, outer.data, length);
    this.packets.release(inner);
    this.finishWith(outer, ticket, status, length);
  }

  private finishWith(outer: UsbPacket, ticket: AsyncTicket, status: FinalPacketStatus, length: number): void {
    const onCompleted = this.onCompleted;
    // Timed only for a listener: each performance.now() is a fresh heap number.
    const started = onCompleted === null ? 0 : performance.now();
    const accepted = outer.complete(ticket, status, length);
    if (accepted) this.stats.completed++;
    else this.stats.ignored++;
    if (onCompleted !== null) onCompleted(outer, performance.now() - started);
  }

  private removeNested(i: number): void {
    const last = this.nested[--this.nestedCount]!;
    const gone = this.nested[i]!;
    this.nested[i] = last;
    this.nested[this.nestedCount] = gone;
    gone.inner = null;
    gone.outer = null;
    gone.ticket = DEAD_TICKET;
  }

  /** Keeps the one timer armed for the earliest request, re-arming only when that changes. */
  private rearm(): void {
    const first = this.schedule.first;
    if (first === null) {
      if (this.timer.armed) this.timer.disarm();
      this.armedFor = null;
      return;
    }
    // (Compared by entry and its time, not by a time read out: a fractional time passed around is a
    // fresh heap number each time.)
    if (this.timer.armed && this.armedFor === first && this.armedForMs[0] === first.dueMs) return;
    this.armedFor = first;
    this.armedForMs[0] = first.dueMs;
    // Field to field, not through arm()'s argument (see Timer.armAtDue).
    this.timer.dueMs = first.dueMs;
    this.timer.armAtDue();
  }
}

/** Copies `length` bytes in place (no view allocated per packet). */
function copy(from: Uint8Array, to: Uint8Array, length: number): void {
  const n = Math.min(length, from.length, to.length);
  for (let i = 0; i < n; i++) to[i] = from[i]!;
}
