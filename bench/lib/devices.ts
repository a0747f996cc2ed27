/**
 * Small fake devices for the benchmarks. They answer the way real class devices would on the wire but do
 * as little work as possible themselves, so the numbers measure the controller, and they never allocate
 * per transaction (a device that allocated would hide the controller's own allocations).
 */
import {
  type AsyncTicket,
  PacketStatus,
  Pid,
  type UpstreamPort,
  type UsbDevice,
  type UsbPacket,
  UsbSpeed,
} from "../../src/usb/index.ts";

abstract class BenchDevice implements UsbDevice {
  abstract readonly name: string;
  readonly speed: UsbSpeed;
  /** Transactions seen, for the benchmarks' sanity checks. */
  packets = 0;

  constructor(
    readonly address: number,
    lowSpeed = false,
  ) {
    this.speed = lowSpeed ? UsbSpeed.Low : UsbSpeed.Full;
  }

  abstract handlePacket(packet: UsbPacket): void;
  cancelPacket(_packet: UsbPacket): void {}
  /** The fakes keep their address across bus reset, so the benchmarks need not enumerate them. */
  reset(): void {}
  setUpstream(_upstream: UpstreamPort | null): void {}
  setSuspended(_suspended: boolean): void {}
}

/**
 * A USB audio device answering at once: isochronous IN (a microphone: `inEndpoint`) returns a full
 * packet, isochronous OUT (a speaker: `outEndpoint`) is accepted.
 */
export class SyncAudioDevice extends BenchDevice {
  readonly name = "bench-audio";
  inPackets = 0;
  outPackets = 0;
  private readonly samples: Uint8Array;

  constructor(
    address: number,
    readonly packetBytes: number,
    readonly inEndpoint = 1,
    readonly outEndpoint = 2,
  ) {
    super(address);
    this.samples = new Uint8Array(packetBytes);
    for (let i = 0; i < packetBytes; i++) this.samples[i] = (i * 7) & 0xff;
  }

  handlePacket(packet: UsbPacket): void {
    this.packets++;
    if (!packet.isochronous) {
      packet.status = PacketStatus.Stall;
      return;
    }
    if (packet.pid === Pid.In && packet.endpoint === this.inEndpoint) {
      const n = Math.min(packet.length, this.packetBytes);
      packet.data.set(this.samples, 0);
      packet.actualLength = n;
      packet.status = PacketStatus.Ack;
      this.inPackets++;
    } else if (packet.pid === Pid.Out && packet.endpoint === this.outEndpoint) {
      packet.status = PacketStatus.Ack;
      this.outPackets++;
    } else {
      packet.status = PacketStatus.Stall;
    }
  }
}

/** A HID interrupt IN endpoint that NAKs except every `answerEvery`-th poll, which returns a report. */
export class HidLikeDevice extends BenchDevice {
  readonly name = "bench-hid";
  reports = 0;
  naks = 0;

  constructor(
    address: number,
    readonly answerEvery: number,
    readonly reportBytes = 8,
  ) {
    super(address, true);
  }

  handlePacket(packet: UsbPacket): void {
    this.packets++;
    if (packet.pid !== Pid.In) {
      packet.status = PacketStatus.Stall;
      return;
    }
    if (this.answerEvery > 0 && this.packets % this.answerEvery === 0) {
      const n = Math.min(packet.length, this.reportBytes);
      packet.data.fill(this.reports & 0xff, 0, n);
      packet.actualLength = n;
      packet.status = PacketStatus.Ack;
      this.reports++;
    } else {
      packet.status = PacketStatus.Nak;
      this.naks++;
    }
  }
}

/** A bulk endpoint that is always ready: IN returns `packet.length` bytes, OUT is accepted. */
export class BulkDevice extends BenchDevice {
  readonly name = "bench-bulk";
  bytes = 0;

  handlePacket(packet: UsbPacket): void {
    this.packets++;
    if (packet.pid === Pid.In) packet.actualLength = packet.length;
    packet.status = PacketStatus.Ack;
    this.bytes += packet.length;
  }
}

/** A device that NAKs everything (what a hostile chain of active TDs is aimed at). */
export class NakDevice extends BenchDevice {
  readonly name = "bench-nak";

  handlePacket(packet: UsbPacket): void {
    this.packets++;
    packet.status = PacketStatus.Nak;
  }
}

/** What {@link AsyncAudioDevice} tells the benchmark around each completion. */
export interface CompletionHooks {
  /** Just before `packet.complete()`; `stamp` (1, 2, …) is in the packet's first 4 bytes. */
  before(packet: UsbPacket, stamp: number): void;
  /** Just after `packet.complete()` returned `accepted`. */
  after(packet: UsbPacket, stamp: number, accepted: boolean): void;
}

/**
 * A USB audio device whose capture data comes from the host later (behind an async host audio API):
 * each isochronous IN packet is deferred and completed from a separate `setImmediate`, the way a host
 * audio callback would complete it; isochronous OUT (playback) is accepted at once.
 */
export class AsyncAudioDevice extends BenchDevice {
  readonly name = "bench-async-audio";
  private pending: UsbPacket[] = [];
  /** The ticket of each pending packet (same index). */
  private tickets: AsyncTicket[] = [];
  private head = 0;
  private sequence = 0;
  completed = 0;
  cancelled = 0;
  outPackets = 0;
  /** Completions the controller ignored (the packet had been cancelled). */
  ignored = 0;

  constructor(
    address: number,
    readonly packetBytes: number,
    private readonly hooks: CompletionHooks,
    readonly inEndpoint = 1,
    readonly outEndpoint = 2,
  ) {
    super(address);
  }

  handlePacket(packet: UsbPacket): void {
    this.packets++;
    if (!packet.isochronous) {
      packet.status = PacketStatus.Stall;
    } else if (packet.pid === Pid.Out && packet.endpoint === this.outEndpoint) {
      packet.status = PacketStatus.Ack;
      this.outPackets++;
    } else if (packet.pid === Pid.In && packet.endpoint === this.inEndpoint) {
      this.tickets.push(packet.deferred());
      this.pending.push(packet);
      setImmediate(this.completeOne);
    } else {
      packet.status = PacketStatus.Stall;
    }
  }

  /** The host took a packet back: it is never completed (its ticket is dead). */
  override cancelPacket(packet: UsbPacket): void {
    const i = this.pending.indexOf(packet, this.head);
    if (i < 0) return;
    this.pending.splice(i, 1);
    this.tickets.splice(i, 1);
    this.cancelled++;
  }

  private readonly completeOne = (): void => {
    const packet = this.pending[this.head];
    const ticket = this.tickets[this.head];
    if (packet === undefined || ticket === undefined) return;
    this.head++;
    if (this.head >= 1024) {
      this.pending = this.pending.slice(this.head);
      this.tickets = this.tickets.slice(this.head);
      this.head = 0;
    }
    const stamp = ++this.sequence >>> 0;
    const n = Math.min(packet.length, this.packetBytes);
    const data = packet.data;
    data.fill(stamp & 0xff, 4, n);
    data[0] = stamp & 0xff;
    data[1] = (stamp >>> 8) & 0xff;
    data[2] = (stamp >>> 16) & 0xff;
    data[3] = (stamp >>> 24) & 0xff;
    this.hooks.before(packet, stamp);
    const accepted = packet.complete(ticket, PacketStatus.Ack, n);
    if (accepted) this.completed++;
    else this.ignored++;
    this.hooks.after(packet, stamp, accepted);
  };
}
