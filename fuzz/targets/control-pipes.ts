/**
 * Every device's packet handling, driven with UsbPacket objects as a host controller drives it but with
 * no controller in between: SETUPs (standard, HID and audio requests with bent fields, and noise, some
 * of the wrong length), data and status stages in and out of sequence (wrong lengths, wrong directions,
 * SETUP in the middle of a transfer, more than wLength), bad PIDs, traffic to every data endpoint
 * configured or not, bus resets, suspend, cancellations, input events and time passing for the async
 * devices. Half the executions first enumerate the device properly so its data endpoints are live.
 *
 * After every packet (and every async completion):
 * - nothing was thrown, the status is a final one (or the packet was deferred, by a device that may);
 * - the device wrote nothing past `packet.length` in the packet's buffer, and reported no more than
 *   `packet.length` bytes;
 * - the default pipe keeps to USB 2.0 8.5.3 as far as a host can see: a SETUP of 8 bytes is always
 *   accepted and any other length refused; only ACK and STALL on endpoint 0; IN and OUT with no control
 *   transfer in progress are STALLed; data stage chunks are at most bMaxPacketSize0 and add up to at
 *   most wLength both ways; the status stage has no data;
 * - the address changes only at the end of a status stage (USB 2.0 9.4.6), or to 0 by a bus reset;
 * - an unconfigured device STALLs every data endpoint;
 * - the descriptors a device serves parse (device and configuration), and every deferred packet
 *   completes exactly once unless cancelled (none is left once time has passed; no completion is lost).
 */
import { AsyncHostDevice } from "../../src/devices/async-host/async-host-device.ts";
import { AsyncIsoWrapper } from "../../src/devices/async-host/async-iso-wrapper.ts";
import type { AudioStreamOptions } from "../../src/devices/audio/audio-device.ts";
import { UsbHeadset } from "../../src/devices/audio/headset.ts";
import { UsbMicrophone } from "../../src/devices/audio/microphone.ts";
import { UsbSpeaker } from "../../src/devices/audio/speaker.ts";
import { SAMPLE_RATES } from "../../src/devices/audio/stream-format.ts";
import { UsbKeyboard } from "../../src/devices/hid/keyboard.ts";
import { UsbMouse } from "../../src/devices/hid/mouse.ts";
import { UsbTablet } from "../../src/devices/hid/tablet.ts";
import { PortStatus } from "../../src/devices/hub/hub-constants.ts";
import { UsbHub } from "../../src/devices/hub/usb-hub.ts";
import { MemoryBlockStore } from "../../src/devices/storage/block-store.ts";
import { UsbMassStorage } from "../../src/devices/storage/mass-storage.ts";
import { VirtualClock } from "../../src/machine/clock.ts";
import { DescriptorType, EndpointType, Pid, RequestType, StandardRequest } from "../../src/usb/constants.ts";
import type { ConfigurationModel } from "../../src/usb/descriptors/model.ts";
import { parseConfiguration, parseDeviceDescriptor } from "../../src/usb/descriptors/parse.ts";
import type { UpstreamPort, UsbDevice } from "../../src/usb/device.ts";
import { UsbDeviceBase } from "../../src/usb/device-base.ts";
import { PacketState, PacketStatus, UsbPacket } from "../../src/usb/packet.ts";
import { SetupPacket } from "../../src/usb/setup-packet.ts";
import { FuzzRandom } from "../lib/random.ts";
import { randomOutData, randomSetup } from "../lib/requests.ts";
import { check, type FuzzTarget, type Trace } from "../lib/target.ts";

/** What fills a packet's buffer before the device sees it; any byte past `length` must survive. */
const CANARY = 0xc5;
const FINAL_STATUSES: readonly PacketStatus[] = [
  PacketStatus.Ack,
  PacketStatus.Nak,
  PacketStatus.Stall,
  PacketStatus.Babble,
  PacketStatus.IoError,
];

interface DeviceKind {
  readonly name: string;
  make(clock: VirtualClock, rng: FuzzRandom): UsbDevice;
}

/** A stream's formats and controls as a device author might choose them. */
function streamOptions(rng: FuzzRandom): AudioStreamOptions {
  const rates: number[] = SAMPLE_RATES.filter(() => rng.chance(0.5));
  if (rates.length === 0) rates.push(rng.pick(SAMPLE_RATES));
  if (rng.chance(0.2)) rates.push(96_000);
  const channels = rng.pick([[2, 1], [1], [2], [1, 2]] as const);
  return {
    sampleRates: rates,
    channels,
    volume: { minDb: -rng.int(1, 127), maxDb: rng.pick([0, 0, 6]), resolutionDb: rng.pick([0.5, 1]) },
    channelVolume: rng.chance(0.5),
  };
}

const KINDS: readonly DeviceKind[] = [
  { name: "keyboard", make: (_c, rng) => new UsbKeyboard({ ledEndpoint: rng.chance(0.5) }) },
  { name: "mouse", make: () => new UsbMouse() },
  { name: "tablet", make: () => new UsbTablet() },
  { name: "microphone", make: (_c, rng) => new UsbMicrophone(streamOptions(rng)) },
  { name: "speaker", make: (_c, rng) => new UsbSpeaker(streamOptions(rng)) },
  {
    name: "headset",
    make: (_c, rng) => new UsbHeadset({ speaker: streamOptions(rng), microphone: streamOptions(rng) }),
  },
  { name: "hub", make: (_c, rng) => hubWithDevices(rng, 0) },
  {
    name: "mass-storage",
    make: (_c, rng) =>
      new UsbMassStorage({ store: rng.chance(0.5) ? new MemoryBlockStore(rng.int(1, 64)) : null }),
  },
  {
    name: "async-host",
    make: (clock, rng) =>
      new AsyncHostDevice({
        clock,
        timing: {
          firstIsoDelayMs: rng.pick([0, 1, 10]),
          jitterMs: rng.below(4),
          nonIsoDelayMs: rng.below(3),
          seed: rng.u32(),
        },
        maxInFlight: rng.pick([1, 4, 256]),
      }),
  },
  {
    name: "async-iso-wrapper",
    make: (clock, rng) =>
      new AsyncIsoWrapper(rng.chance(0.5) ? new UsbHeadset() : new UsbMicrophone(), {
        clock,
        timing: { firstIsoDelayMs: rng.pick([0, 2, 10]) },
        maxInFlight: rng.pick([2, 256]),
      }),
  },
];

/** A hub with devices behind some ports, a hub among them now and then (USB 2.0 chapter 11). */
function hubWithDevices(rng: FuzzRandom, depth: number): UsbHub {
  const hub = new UsbHub({ ports: rng.int(1, 15), interval: rng.pick([1, 8, 255]) });
  for (let i = 0; i < hub.portCount; i++) {
    if (rng.chance(0.5)) hub.attach(i, behindHub(rng, depth));
  }
  return hub;
}

function behindHub(rng: FuzzRandom, depth: number): UsbDevice {
  if (depth < 2 && rng.chance(0.15)) return hubWithDevices(rng, depth + 1);
  return rng.chance(0.5) ? new UsbKeyboard() : new UsbMouse();
}

/**
 * What a hub's ports must say whatever was sent (USB 2.0 11.24.2.7.1): enabled only when powered and
 * connected, suspended only when enabled, and reachable (UsbPort.active) exactly when enabled, not
 * suspended, and the hub itself awake.
 */
function checkHubPorts(hub: UsbHub): void {
  hub.downstreamPorts.forEach((port, i) => {
    const s = hub.portStatus(i);
    const has = (bit: number) => (s & bit) !== 0;
    if (has(PortStatus.Enable)) {
      check(
        has(PortStatus.Power) && has(PortStatus.Connection),
        () => `hub port ${i + 1}: enabled, status 0x${s.toString(16)}`,
      );
    }
    if (has(PortStatus.Suspend))
      check(has(PortStatus.Enable), () => `hub port ${i + 1}: suspended but not enabled`);
    if (has(PortStatus.LowSpeed))
      check(has(PortStatus.Connection), () => `hub port ${i + 1}: low speed, nothing connected`);
    const reachable = has(PortStatus.Enable) && !has(PortStatus.Suspend) && !hub.suspended;
    check(
      port.active === reachable,
      () => `hub port ${i + 1}: active ${port.active}, status 0x${s.toString(16)}`,
    );
  });
}

/** The port a device is plugged into, as far as the device can tell: remote wakeup sometimes lands. */
class StubUpstream implements UpstreamPort {
  wakeups = 0;
  constructor(private readonly rng: FuzzRandom) {}
  signalRemoteWakeup(): boolean {
    this.wakeups++;
    return this.rng.chance(0.5);
  }
}

const ControlStage = { Idle: 0, DataIn: 1, DataOut: 2 } as const;
type ControlStage = (typeof ControlStage)[keyof typeof ControlStage];

class PipeRun {
  private readonly rng: FuzzRandom;
  private readonly clock = new VirtualClock();
  private readonly device: UsbDevice;
  private readonly base: UsbDeviceBase | null;
  private readonly kind: DeviceKind;
  /** Packets the device deferred, not yet completed or cancelled. */
  private readonly held = new Set<UsbPacket>();
  private readonly cancelled = new Set<UsbPacket>();
  // The default pipe as the host sees it.
  private stage: ControlStage = ControlStage.Idle;
  private wLength = 0;
  private moved = 0;
  private maxPacket0 = 8;
  private setupBytes = new Uint8Array(8);
  /** bConfigurationValue and the [interface, alternate] pairs of the configuration, once read. */
  private configValue = 1;
  private alternates: (readonly [number, number])[] = [];
  /** Endpoint addresses of the configuration, when it has been read. */
  private endpoints: { address: number; type: number; maxPacketSize: number }[] = [];

  constructor(
    seed: number,
    private readonly trace: Trace,
  ) {
    this.rng = new FuzzRandom(seed);
    this.kind = this.rng.pick(KINDS);
    this.device = this.kind.make(this.clock, this.rng);
    const inner = this.device instanceof AsyncIsoWrapper ? this.device.inner : this.device;
    this.base = inner instanceof UsbDeviceBase ? inner : null;
    this.device.setUpstream(new StubUpstream(this.rng));
    this.device.reset();
    this.trace?.(`device ${this.kind.name}: ${this.device.name}`);
  }

  run(): void {
    const rng = this.rng;
    this.readDescriptors();
    if (rng.chance(0.5)) this.enumerate();
    const steps = rng.int(10, 80);
    for (let i = 0; i < steps; i++) {
      switch (rng.weighted([40, 25, 4, 3, 4, 6, 6, 2])) {
        case 0:
          this.controlTransfer();
          break;
        case 1:
          this.dataPacket();
          break;
        case 2:
          this.trace?.("bus reset");
          this.device.reset();
          this.stage = ControlStage.Idle;
          check(this.device.address === 0, "a bus reset leaves the device at address 0");
          this.checkUnconfigured();
          break;
        case 3: {
          const suspended = rng.chance(0.5);
          this.trace?.(`suspend ${suspended}`);
          this.device.setSuspended(suspended);
          break;
        }
        case 4:
          this.cancelSome();
          break;
        case 5:
          this.trace?.("time passes");
          this.clock.advance(rng.pick([0.5, 1, 3, 11, 40]));
          break;
        case 6:
          this.inputEvents();
          break;
        default:
          this.rawPacket(0, rng.pick([0x5a, 0xa5, 0x00, 0xff, 0x2d, 0x69, 0xe1]), rng.below(20));
      }
    }
    // Everything deferred and not cancelled completes once time passes (a completion is never lost).
    this.clock.advance(200);
    check(this.held.size === 0, () => `${this.held.size} deferred packets never completed`);
    if (this.device instanceof AsyncHostDevice) {
      check(this.device.stats.ignored === 0, "the device completed a packet after it was cancelled");
      check(this.device.inFlight === 0, "requests left in the async device");
    } else if (this.device instanceof AsyncIsoWrapper) {
      check(this.device.stats.ignored === 0, "the wrapper completed a packet after it was cancelled");
    }
  }

  // ---- packets ----------------------------------------------------------------------------------------

  /**
   * Hands one packet to the device and checks what came back. Returns the packet (IN data in it) or null
   * when it was deferred.
   */
  private send(
    pid: number,
    endpoint: number,
    length: number,
    isochronous: boolean,
    out?: Uint8Array,
  ): UsbPacket | null {
    const packet = new UsbPacket();
    packet.init(pid, this.device.address, endpoint, length, isochronous);
    packet.data.fill(CANARY);
    if (pid !== Pid.In && out !== undefined) packet.data.set(out.subarray(0, length));
    const addressBefore = this.device.address;
    this.device.handlePacket(packet);
    const what = (): string =>
      `${this.kind.name}: PID 0x${pid.toString(16)} ep ${endpoint} length ${length}${isochronous ? " iso" : ""}`;
    if (packet.state === PacketState.Async) {
      check(endpoint !== 0, () => `${what()}: a control transaction was deferred`);
      check(
        this.device instanceof AsyncHostDevice || (this.device instanceof AsyncIsoWrapper && isochronous),
        () => `${what()}: deferred by a device that answers at once`,
      );
      this.held.add(packet);
      packet.onComplete = (p) => this.completed(p);
      return null;
    }
    packet.finish();
    this.checkAnswer(packet, what);
    if (this.device instanceof UsbHub) checkHubPorts(this.device);
    if (this.device.address !== addressBefore) {
      check(
        endpoint === 0 &&
          pid === Pid.In &&
          this.stage === ControlStage.DataOut &&
          packet.status === PacketStatus.Ack,
        () => `${what()}: address changed ${addressBefore} → ${this.device.address} outside a status stage`,
      );
    }
    return packet;
  }

  private checkAnswer(packet: UsbPacket, what: () => string): void {
    check(FINAL_STATUSES.includes(packet.status), () => `${what()}: status ${packet.status}`);
    const n = packet.actualLength;
    check(
      Number.isInteger(n) && n >= 0 && n <= packet.length,
      () => `${what()}: actualLength ${n} of ${packet.length}`,
    );
    for (let i = packet.length; i < packet.data.length; i++) {
      if (packet.data[i] !== CANARY) {
        check(false, () => `${what()}: byte ${i} written past the packet's length`);
      }
    }
    const address = this.device.address;
    check(Number.isInteger(address) && address >= 0 && address <= 127, () => `${what()}: address ${address}`);
  }

  private completed(packet: UsbPacket): void {
    check(this.held.has(packet), "a completion of a packet not held (cancelled or completed twice)");
    check(!this.cancelled.has(packet), "a completion after cancelPacket");
    this.held.delete(packet);
    this.checkAnswer(packet, () => `${this.kind.name}: async completion on ep ${packet.endpoint}`);
  }

  private cancelSome(): void {
    const rng = this.rng;
    this.trace?.(`cancel (${this.held.size} held)`);
    for (const packet of [...this.held]) {
      if (!rng.chance(0.5)) continue;
      // What the controller does: mark it cancelled, then tell the device.
      packet.cancel();
      this.held.delete(packet);
      this.cancelled.add(packet);
      this.device.cancelPacket(packet);
    }
    // A packet the device never saw, and one it already completed: both must be ignored.
    this.device.cancelPacket(new UsbPacket());
  }

  /** A packet with any PID on any endpoint, outside the model (a bad PID must STALL). */
  private rawPacket(endpoint: number, pid: number, length: number): void {
    this.trace?.(`raw PID 0x${pid.toString(16)} ep ${endpoint} length ${length}`);
    const packet = this.send(pid, endpoint, Math.min(length, 1280), false, this.rng.bytes(length));
    if (packet === null) return;
    if (pid === Pid.Setup || pid === Pid.In || pid === Pid.Out) {
      // A real token: keep the model in step by treating it like the transfer code would.
      this.stepModel(packet);
    } else {
      check(
        packet.status === PacketStatus.Stall,
        () => `PID 0x${pid.toString(16)} answered ${packet.status}`,
      );
      this.stage = ControlStage.Idle;
    }
  }

  // ---- the default pipe ------------------------------------------------------------------------------

  private controlTransfer(): void {
    const rng = this.rng;
    const setup = randomSetup(rng);
    setup.encode(this.setupBytes);
    const wellFormed = rng.chance(0.85);
    this.trace?.(`${setup.toString()}${wellFormed ? "" : " (tokens out of sequence)"}`);
    const setupLength = rng.chance(0.93) ? 8 : rng.below(17);
    const packet = this.send(Pid.Setup, 0, setupLength, false, this.setupBytes);
    if (packet !== null) this.stepModel(packet);
    if (wellFormed) {
      // Data stage in max-packet pieces (the host may ask for less than wLength, or more), then status.
      const isIn = setup.isDeviceToHost && setup.wLength > 0;
      let remaining = Math.min(setup.wLength, rng.chance(0.8) ? setup.wLength : rng.below(setup.wLength + 1));
      for (let guard = 0; remaining > 0 && guard < 80; guard++) {
        const n = Math.min(remaining, rng.chance(0.9) ? this.maxPacket0 : rng.int(1, 80));
        const p = this.send(isIn ? Pid.In : Pid.Out, 0, n, false, randomOutData(rng, n));
        if (p === null) return;
        this.stepModel(p);
        if (p.status !== PacketStatus.Ack || (isIn && p.actualLength < n)) break;
        remaining -= isIn ? p.actualLength : n;
      }
      const status = this.send(isIn ? Pid.Out : Pid.In, 0, rng.chance(0.95) ? 0 : rng.int(1, 8), false);
      if (status !== null) this.stepModel(status);
      return;
    }
    const tokens = rng.int(1, 6);
    for (let i = 0; i < tokens; i++) {
      const pid = rng.pick([Pid.In, Pid.Out, Pid.In, Pid.Out, Pid.Setup]);
      const n = rng.pick([0, 1, 7, 8, 9, this.maxPacket0, this.maxPacket0 + 1, 64, 1280, rng.below(1281)]);
      const data = pid === Pid.Setup ? (rng.chance(0.5) ? this.setupBytes : rng.bytes(8)) : rng.bytes(n);
      const p = this.send(pid, 0, n, false, data);
      if (p !== null) this.stepModel(p);
    }
  }

  /** Checks one endpoint-0 answer against the stage the pipe must be in, and moves the model on. */
  private stepModel(packet: UsbPacket): void {
    const status = packet.status;
    const what = (): string =>
      `${this.kind.name} ep0 PID 0x${packet.pid.toString(16)} length ${packet.length} in stage ${this.stage}: ${status}`;
    check(
      status === PacketStatus.Ack || status === PacketStatus.Stall,
      () => `${what()}: only ACK or STALL on ep0`,
    );
    const stall = status === PacketStatus.Stall;
    switch (packet.pid) {
      case Pid.Setup: {
        // USB 2.0 8.5.3: a device must accept every SETUP; the pipe refuses only what is not 8 bytes.
        if (packet.length !== 8) {
          check(stall, () => `${what()}: a SETUP of ${packet.length} bytes was accepted`);
          this.stage = ControlStage.Idle;
          return;
        }
        check(!stall && packet.actualLength === 8, () => `${what()}: a SETUP was refused`);
        const setup = new SetupPacket();
        setup.parse(packet.data);
        this.wLength = setup.wLength;
        this.moved = 0;
        this.stage = setup.isDeviceToHost && setup.wLength > 0 ? ControlStage.DataIn : ControlStage.DataOut;
        return;
      }
      case Pid.In:
        if (this.stage === ControlStage.Idle) {
          check(stall, () => `${what()}: an IN with no transfer in progress`);
        } else if (this.stage === ControlStage.DataIn && !stall) {
          const n = packet.actualLength;
          check(
            n <= this.maxPacket0,
            () => `${what()}: ${n} bytes, more than bMaxPacketSize0 ${this.maxPacket0}`,
          );
          this.moved += n;
          check(
            this.moved <= this.wLength,
            () => `${what()}: ${this.moved} bytes sent for wLength ${this.wLength}`,
          );
          return;
        } else if (!stall) {
          check(packet.actualLength === 0, () => `${what()}: data in a status stage`);
        }
        this.stage = ControlStage.Idle;
        return;
      case Pid.Out:
        if (this.stage === ControlStage.Idle) {
          check(stall, () => `${what()}: an OUT with no transfer in progress`);
        } else if (this.stage === ControlStage.DataOut && !stall) {
          this.moved += packet.length;
          check(
            this.moved <= this.wLength,
            () => `${what()}: ${this.moved} bytes taken for wLength ${this.wLength}`,
          );
          return;
        } else if (!stall) {
          check(packet.length === 0, () => `${what()}: a status stage with data was accepted`);
        }
        this.stage = ControlStage.Idle;
        return;
      default:
        check(stall, () => `${what()}: a bad PID was accepted`);
        this.stage = ControlStage.Idle;
    }
  }

  /** Runs one well-formed control request and returns its IN data (null when it failed). */
  private request(setup: SetupPacket, out: Uint8Array | null = null): Uint8Array | null {
    setup.encode(this.setupBytes);
    const first = this.send(Pid.Setup, 0, 8, false, this.setupBytes);
    if (first === null) return null;
    this.stepModel(first);
    const isIn = setup.isDeviceToHost && setup.wLength > 0;
    const data: number[] = [];
    let offset = 0;
    while (offset < setup.wLength) {
      const n = Math.min(this.maxPacket0, setup.wLength - offset);
      const p = this.send(isIn ? Pid.In : Pid.Out, 0, n, false, out?.subarray(offset, offset + n));
      if (p === null) return null;
      this.stepModel(p);
      if (p.status !== PacketStatus.Ack) return null;
      if (isIn) for (let i = 0; i < p.actualLength; i++) data.push(p.data[i]!);
      offset += isIn ? p.actualLength : n;
      if (isIn && p.actualLength < n) break;
    }
    const status = this.send(isIn ? Pid.Out : Pid.In, 0, 0, false);
    if (status === null) return null;
    this.stepModel(status);
    return status.status === PacketStatus.Ack ? Uint8Array.from(data) : null;
  }

  /** The device and configuration descriptors every device serves must parse. */
  private readDescriptors(): void {
    const IN_STD_DEVICE = RequestType.DirectionIn | RequestType.TypeStandard | RequestType.RecipientDevice;
    // bMaxPacketSize0 is at least 8 (USB 2.0 9.6.1): asking for 8 first is what hosts do.
    this.maxPacket0 = 8;
    const head = this.request(
      SetupPacket.of(IN_STD_DEVICE, StandardRequest.GetDescriptor, DescriptorType.Device << 8, 0, 8),
    );
    check(head !== null && head.length === 8, "GET_DESCRIPTOR(device, 8) failed");
    this.maxPacket0 = head[7]!;
    const bytes = this.request(
      SetupPacket.of(IN_STD_DEVICE, StandardRequest.GetDescriptor, DescriptorType.Device << 8, 0, 18),
    );
    check(bytes !== null, "GET_DESCRIPTOR(device) failed");
    const device = parseDeviceDescriptor(bytes);
    check(device.ok, () => `the device descriptor does not parse: ${device.ok ? "" : device.error}`);
    const header = this.request(
      SetupPacket.of(IN_STD_DEVICE, StandardRequest.GetDescriptor, DescriptorType.Configuration << 8, 0, 9),
    );
    check(header !== null && header.length === 9, "GET_DESCRIPTOR(configuration, 9) failed");
    const total = header[2]! | (header[3]! << 8);
    const whole = this.request(
      SetupPacket.of(
        IN_STD_DEVICE,
        StandardRequest.GetDescriptor,
        DescriptorType.Configuration << 8,
        0,
        total,
      ),
    );
    check(whole !== null && whole.length === total, "GET_DESCRIPTOR(configuration) failed");
    const config = parseConfiguration(whole);
    check(config.ok, () => `the configuration descriptor does not parse: ${config.ok ? "" : config.error}`);
    this.endpoints = endpointsOf(config.value);
    this.configValue = config.value.value ?? 1;
    this.alternates = config.value.interfaces.flatMap((i) =>
      i.alternates.map((a) => [i.number ?? 0, a.setting ?? 0] as const),
    );
  }

  /** What a host does next: SET_ADDRESS, SET_CONFIGURATION, and a streaming alternate or two. */
  private enumerate(): void {
    const rng = this.rng;
    const STD_DEVICE = RequestType.TypeStandard | RequestType.RecipientDevice;
    const STD_INTERFACE = RequestType.TypeStandard | RequestType.RecipientInterface;
    const address = rng.int(1, 127);
    this.trace?.(`enumerate at address ${address}`);
    check(
      this.request(SetupPacket.of(STD_DEVICE, StandardRequest.SetAddress, address)) !== null,
      "SET_ADDRESS failed",
    );
    check(
      this.device.address === address,
      () => `SET_ADDRESS(${address}) left the address at ${this.device.address}`,
    );
    const configured = this.request(
      SetupPacket.of(STD_DEVICE, StandardRequest.SetConfiguration, this.configValue),
    );
    check(configured !== null, "SET_CONFIGURATION failed");
    for (const [iface, alt] of this.alternates) {
      if (alt !== 0 && rng.chance(0.7))
        this.request(SetupPacket.of(STD_INTERFACE, StandardRequest.SetInterface, alt, iface));
    }
  }

  private checkUnconfigured(): void {
    if (this.base !== null) check(this.base.configuration === 0, "a bus reset leaves the device configured");
  }

  // ---- data endpoints --------------------------------------------------------------------------------

  private dataPacket(): void {
    const rng = this.rng;
    const known = this.endpoints.length > 0 && rng.chance(0.85) ? rng.pick(this.endpoints) : null;
    const address = known?.address ?? rng.below(0x100);
    const number = address & 0x0f || 1 + rng.below(15);
    const pid = known === null ? rng.pick([Pid.In, Pid.Out, Pid.Setup]) : address & 0x80 ? Pid.In : Pid.Out;
    const iso = known === null ? rng.chance(0.3) : known.type === EndpointType.Isochronous;
    const size = known?.maxPacketSize ?? 64;
    const length = rng.pick([size, size, rng.below(size + 1), 0, 1, size + 1, 1023, 1280, 4, 44 * 4, 45 * 4]);
    const data = rng.bytes(length);
    this.trace?.(`data PID 0x${pid.toString(16)} ep ${number} length ${length}${iso ? " iso" : ""}`);
    // (The async wrapper answers an iso packet itself when its host has no room: an I/O error.)
    const unconfigured =
      this.base !== null && this.base.configuration === 0 && !(this.device instanceof AsyncIsoWrapper && iso);
    const packet = this.send(pid, number, Math.min(length, 1280), iso, data);
    if (packet !== null && unconfigured) {
      check(
        packet.status === PacketStatus.Stall,
        () => `data endpoint ${number} of an unconfigured device: ${packet.status}`,
      );
    }
  }

  private inputEvents(): void {
    const rng = this.rng;
    const d = this.device;
    this.trace?.("input events");
    if (d instanceof UsbKeyboard) {
      for (let i = rng.below(4); i >= 0; i--) {
        const usage = rng.chance(0.85) ? 4 + rng.below(0xdd - 4) : 0xe0 + rng.below(8);
        if (rng.chance(0.6)) d.keyDown(usage);
        else d.keyUp(usage);
      }
    } else if (d instanceof UsbMouse) {
      d.move(rng.below(1000) - 500, rng.below(1000) - 500);
      if (rng.chance(0.3)) d.setButtons(rng.below(8));
      if (rng.chance(0.2)) d.wheel(rng.below(600) - 300);
    } else if (d instanceof UsbHub) {
      // Devices plugged in and out behind the hub, and input to those there.
      const i = rng.below(d.portCount);
      const port = d.downstreamPorts[i]!;
      if (port.device === null) d.attach(i, behindHub(rng, 1));
      else if (rng.chance(0.4)) d.detach(i);
      else if (port.device instanceof UsbKeyboard) port.device.keyDown(4 + rng.below(20));
      checkHubPorts(d);
    } else if (d instanceof UsbTablet) {
      d.moveToFraction(rng.below(1001) / 1000, rng.below(1001) / 1000);
      if (rng.chance(0.3)) d.setButtons(rng.below(8));
    }
  }
}

function endpointsOf(
  config: ConfigurationModel<number>,
): { address: number; type: number; maxPacketSize: number }[] {
  const out: { address: number; type: number; maxPacketSize: number }[] = [];
  for (const iface of config.interfaces) {
    for (const alt of iface.alternates) {
      for (const ep of alt.endpoints ?? [])
        out.push({ address: ep.address, type: ep.type, maxPacketSize: ep.maxPacketSize });
    }
  }
  return out;
}

export const controlPipeTarget: FuzzTarget = {
  name: "control-pipes",
  summary:
    "keyboard, mouse, tablet, microphone, speaker, headset, hub, async host device and wrapper driven with " +
    "UsbPacket: no exception, nothing past packet.length, control stages as USB 2.0 8.5.3 allows",
  run(seed, trace) {
    new PipeRun(seed, trace).run();
  },
};
