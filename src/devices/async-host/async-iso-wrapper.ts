import type { Clock, Timer } from "../../machine/clock.ts";
import { Pid } from "../../usb/constants.ts";
import type { UpstreamPort, UsbDevice } from "../../usb/device.ts";
import { PacketState, PacketStatus, type UsbPacket } from "../../usb/packet.ts";
import { CompletionSchedule } from "./completion-schedule.ts";
import { type AsyncHostTiming, DEFAULT_ASYNC_HOST_TIMING, RequestTiming } from "./request-timing.ts";

export interface AsyncIsoWrapperOptions {
  readonly clock: Clock;
  readonly timing?: Partial<AsyncHostTiming>;
  readonly maxInFlight?: number;
}

/**
 * Puts any device behind an asynchronous host path: its isochronous packets are deferred and handed to
 * the device only when a timer (following {@link RequestTiming}) says a real host would answer, then
 * completed with the device's answer. Control, bulk and interrupt traffic pass straight through.
 *
 * This turns an emulated device (a USB Audio Class microphone or speaker) into what passthrough looks
 * like to the controller, so the same stream can be checked on both paths (seed points 1–3). A cancelled
 * packet never reaches the device, so a microphone's source advances only for data the host takes.
 */
export class AsyncIsoWrapper implements UsbDevice {
  /** Runs right after each completion with the host-time cost of `packet.complete()` in milliseconds. */
  onCompleted: ((packet: UsbPacket, completeMs: number) => void) | null = null;
  readonly stats = { deferred: 0, completed: 0, cancelled: 0, ignored: 0, rejected: 0 };
  private readonly schedule: CompletionSchedule;
  private readonly timing: RequestTiming;
  private readonly timer: Timer;

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

  handlePacket(packet: UsbPacket): void {
    if (!packet.isochronous) {
      this.inner.handlePacket(packet);
      return;
    }
    const slot = (packet.endpoint & 0x0f) | (packet.pid === Pid.In ? 16 : 0);
    const due = this.timing.dueMs(slot, true, this.options.clock.now());
    if (!this.schedule.add(packet, due, slot)) {
      this.stats.rejected++;
      packet.status = PacketStatus.IoError;
      return;
    }
    packet.deferred();
    this.stats.deferred++;
    this.rearm();
  }

  cancelPacket(packet: UsbPacket): void {
    if (this.schedule.remove(packet)) {
      this.stats.cancelled++;
      this.rearm();
    } else {
      this.inner.cancelPacket(packet);
    }
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
      entry.packet = null;
      if (packet.state !== PacketState.Async) {
        this.stats.ignored++;
        continue;
      }
      // The device answers now, as a real device answers when its host transfer runs.
      packet.status = PacketStatus.Ack;
      packet.actualLength = 0;
      this.inner.handlePacket(packet);
      const answer: PacketStatus = packet.status as PacketStatus;
      const status = answer === PacketStatus.Async ? PacketStatus.IoError : answer;
      const started = performance.now();
      const accepted = packet.complete(status, Math.min(packet.actualLength, packet.length));
      const completeMs = performance.now() - started;
      if (accepted) this.stats.completed++;
      else this.stats.ignored++;
      this.onCompleted?.(packet, completeMs);
    }
    this.rearm();
  };

  private rearm(): void {
    const due = this.schedule.headDueMs;
    if (due === Number.POSITIVE_INFINITY) this.timer.disarm();
    else this.timer.arm(due);
  }
}
