import {
  type JsonValue,
  openState,
  type SavedState,
  SnapshotError,
  StateReader,
} from "../../machine/snapshot.ts";
import { EndpointType, RequestType, StandardRequest, UsbSpeed } from "../../usb/constants.ts";
import { type ControlReply, ControlStatus } from "../../usb/control-pipe.ts";
import { type DeviceModel, EndpointDirection, type EndpointModel } from "../../usb/descriptors/model.ts";
import type { UpstreamPort, UsbDevice } from "../../usb/device.ts";
import { UsbDeviceBase } from "../../usb/device-base.ts";
import { restoresInPlace, SnapshotMode } from "../../usb/device-snapshot.ts";
import type { UsbHubDevice } from "../../usb/hub.ts";
import { PacketStatus, type UsbPacket } from "../../usb/packet.ts";
import { PortEvent, UsbPort } from "../../usb/port.ts";
import type { SetupPacket } from "../../usb/setup-packet.ts";
import {
  HUB_CLASS,
  HUB_DESCRIPTOR_TYPE,
  HubCharacteristics,
  HubFeature,
  HubRequest,
  PortChange,
  PortFeature,
  PortStatus,
} from "./hub-constants.ts";

/** What a person plugging a hub in may choose; everything has a default. */
export interface UsbHubOptions {
  /** A short name for reports and traces; default "usb-hub". */
  readonly name?: string;
  /** Downstream ports, 1–15 (default 4, as most USB 1.1 hubs). */
  readonly ports?: number;
  readonly vendorId?: number;
  readonly productId?: number;
  readonly manufacturer?: string;
  readonly product?: string;
  readonly serialNumber?: string;
  /**
   * bInterval of the status change endpoint, in frames (1–255). Default 255, as real full-speed hubs
   * advertise: a host polls it about every 128 ms (uhci-hcd rounds down to a power of two).
   */
  readonly interval?: number;
  /**
   * bPwrOn2PwrGood: how long the host waits after powering a port before using it, in ms (rounded up
   * to the descriptor's 2 ms units, at most 510). Default 100 ms, what most hubs say.
   */
  readonly powerOnToPowerGoodMs?: number;
}

/** The kind and version of a hub's saved state ({@link UsbHub.saveState}). */
export const USB_HUB_STATE = "usb-hub";
export const USB_HUB_STATE_VERSION = 1;

const MAX_PORTS = 15;
/** Test vendor ID from pid.codes (0x1209), as the other emulated devices use. */
const DEFAULT_VENDOR_ID = 0x1209;
const DEFAULT_PRODUCT_ID = 0x0009;
/** The status change endpoint (USB 2.0 11.12.1: the hub's one interrupt IN endpoint). */
export const HUB_STATUS_ENDPOINT = EndpointDirection.In | 1;
/** Current the hub's controller draws, in mA (bHubContrCurrent). */
const HUB_CONTROLLER_CURRENT_MA = 100;
const ALL_CHANGES =
  PortChange.Connection | PortChange.Enable | PortChange.Suspend | PortChange.OverCurrent | PortChange.Reset;
/** Port feature selectors (USB 2.0 table 11-17) a USB 1.1 hub knows; PORT_TEST and PORT_INDICATOR are 2.0's. */
const KNOWN_PORT_FEATURES: readonly number[] = [
  PortFeature.Connection,
  PortFeature.Enable,
  PortFeature.Suspend,
  PortFeature.OverCurrent,
  PortFeature.Reset,
  PortFeature.Power,
  PortFeature.LowSpeed,
  PortFeature.CConnection,
  PortFeature.CEnable,
  PortFeature.CSuspend,
  PortFeature.COverCurrent,
  PortFeature.CReset,
];

/**
 * A USB 1.1 full-speed hub (USB 2.0 chapter 11, as a 1.1 hub implements it): 1–15 downstream ports with
 * per-port power switching, full- and low-speed devices behind them, and hubs behind hubs.
 *
 * - **Class requests** (USB 2.0 11.24.2): GET_STATUS of the hub and of each port (wPortStatus and
 *   wPortChange), SET_FEATURE / CLEAR_FEATURE of PORT_POWER, PORT_RESET, PORT_SUSPEND, PORT_ENABLE and
 *   the C_PORT_* and C_HUB_* change bits, GET_DESCRIPTOR of the hub descriptor (type 0x29, 11.23.2.1),
 *   and USB 1.1's GET_STATE (the bus state of a port). Transaction-translator requests, PORT_TEST and
 *   PORT_INDICATOR belong to high-speed hubs and are STALLed, as is SET_DESCRIPTOR.
 * - **Status change endpoint** (11.12.4): interrupt IN endpoint 1 answers with the bitmap of the hub
 *   (bit 0) and ports (bit n) that have a change bit set, and NAKs when none has: a level, so a host
 *   that has not yet cleared a change sees it again on its next poll, as with real hubs.
 * - **Timing**: port reset and resume complete at once (the status a host reads after the request shows
 *   them finished, with C_PORT_RESET / C_PORT_SUSPEND set); hosts wait the spec's times themselves.
 * - **Power**: ports start powered off (after a bus reset of the hub or SET_CONFIGURATION 0 too, USB 2.0
 *   11.11); a device on an unpowered port is not seen (PORT_CONNECTION 0) until PORT_POWER is set, which
 *   reports the connection as a change. Powering a port off resets its device (it lost power).
 * - **Suspend** (11.9): a suspended hub (its upstream port suspended, or the bus globally suspended)
 *   suspends every device behind it; PORT_SUSPEND suspends one port. A device's remote wakeup resumes
 *   its selectively suspended port (C_PORT_SUSPEND) and, when the hub itself is suspended and the host
 *   enabled its remote wakeup, is passed upstream; so is a connect or disconnect while the hub sleeps
 *   (11.4.4).
 * - **Reachability**: {@link downstreamPorts} are {@link UsbPort}s; a host controller reaches a device
 *   behind the hub when its port is active (connected, enabled, not suspended), and the hub tells its
 *   upstream port whenever that changes ({@link UpstreamPort.downstreamChanged}).
 *
 * The host side (an emulator, a UI) plugs devices in with {@link attach} and out with {@link detach}
 * at any time, as with the controller's root ports (0-based port indexes; the wire counts from 1).
 */
export class UsbHub extends UsbDeviceBase implements UsbHubDevice {
  readonly downstreamPorts: readonly UsbPort[];
  /** bNbrPorts. */
  readonly portCount: number;
  /** The hub class descriptor, as GET_DESCRIPTOR(hub) serves it. */
  readonly hubDescriptor: Uint8Array;
  private readonly powered: Uint8Array;
  /** PORT_SUSPEND as the host set it (selective suspend), apart from the hub's own suspend. */
  private readonly portSuspended: Uint8Array;
  /** wPortChange per port. */
  private readonly changes: Uint8Array;
  /** wHubChange (C_HUB_LOCAL_POWER, C_HUB_OVER_CURRENT): never set, the emulated supply never fails. */
  private hubChange = 0;
  private readonly bitmap: Uint8Array;
  private readonly status4 = new Uint8Array(4);
  private readonly state1 = new Uint8Array(1);
  private up: UpstreamPort | null = null;
  private wakeupsSent = 0;

  constructor(options: UsbHubOptions = {}) {
    const portCount = options.ports ?? 4;
    if (!Number.isInteger(portCount) || portCount < 1 || portCount > MAX_PORTS) {
      throw new RangeError(`a hub has 1 to ${MAX_PORTS} ports, not ${portCount}`);
    }
    const interval = options.interval ?? 255;
    if (!Number.isInteger(interval) || interval < 1 || interval > 255) {
      throw new RangeError(`interval ${interval} must be 1–255 frames (USB 2.0 9.6.6)`);
    }
    const powerGood = options.powerOnToPowerGoodMs ?? 100;
    if (!(powerGood >= 0 && powerGood <= 510)) {
      throw new RangeError(`powerOnToPowerGoodMs ${powerGood} must be 0–510 (USB 2.0 11.23.2.1)`);
    }
    const bitmapBytes = (portCount + 1 + 7) >> 3;
    super({ name: options.name ?? "usb-hub", descriptors: hubModel(options, bitmapBytes, interval) });
    this.portCount = portCount;
    this.downstreamPorts = Array.from({ length: portCount }, (_, i) => new UsbPort(i, this.onPortEvent));
    this.powered = new Uint8Array(portCount);
    this.portSuspended = new Uint8Array(portCount);
    this.changes = new Uint8Array(portCount);
    this.bitmap = new Uint8Array(bitmapBytes);
    // USB 2.0 11.23.2.1: DeviceRemovable (all 0: every port removable) and the USB 1.1
    // PortPwrCtrlMask (all 1s), each a bitmap of bNbrPorts + 1 bits rounded up to bytes.
    const descriptor = new Uint8Array(7 + 2 * bitmapBytes);
    const characteristics =
      HubCharacteristics.IndividualPowerSwitching | HubCharacteristics.IndividualOverCurrent;
    descriptor.set([
      descriptor.length,
      HUB_DESCRIPTOR_TYPE,
      portCount,
      characteristics & 0xff,
      characteristics >> 8,
      Math.ceil(powerGood / 2),
      HUB_CONTROLLER_CURRENT_MA,
    ]);
    descriptor.fill(0xff, 7 + bitmapBytes);
    this.hubDescriptor = descriptor;
  }

  // ---- the host side: plugging devices in ----------------------------------------------------------

  /** Plugs a device into downstream port `portIndex` (0-based). */
  attach(portIndex: number, device: UsbDevice): void {
    this.port(portIndex).attach(device);
  }

  /** Unplugs the device on downstream port `portIndex` (0-based); returns it. */
  detach(portIndex: number): UsbDevice | null {
    const device = this.port(portIndex).detach();
    if (device !== null) this.tellUpstream(device);
    return device;
  }

  /** wPortStatus of a port (0-based), as GET_STATUS(port) reports it. */
  portStatus(portIndex: number): number {
    const i = this.port(portIndex).index;
    const port = this.downstreamPorts[i]!;
    if (this.powered[i] === 0) return 0;
    let status = PortStatus.Power;
    if (port.connected) {
      status |= PortStatus.Connection;
      if (port.speed === UsbSpeed.Low) status |= PortStatus.LowSpeed;
    }
    if (port.enabled) status |= PortStatus.Enable;
    if (this.portSuspended[i] !== 0) status |= PortStatus.Suspend;
    return status;
  }

  /** wPortChange of a port (0-based). */
  portChange(portIndex: number): number {
    return this.changes[this.port(portIndex).index]!;
  }

  /** Remote wakeup signals this hub sent upstream (a device behind it, or a connect or disconnect). */
  get wakeupsSignalled(): number {
    return this.wakeupsSent;
  }

  // ---- UsbDevice --------------------------------------------------------------------------------

  override setUpstream(upstream: UpstreamPort | null): void {
    super.setUpstream(upstream);
    this.up = upstream;
  }

  // ---- snapshots ------------------------------------------------------------------------------------

  override get stateKind(): string {
    return USB_HUB_STATE;
  }

  /**
   * The standard device state, the change bits, and per port: power, enable, PORT_SUSPEND, wPortChange
   * and the device behind it with its own state (a hub behind it saves everything behind that in turn).
   * A passthrough device is saved as present only, and comes back as a replug.
   */
  override saveState(): SavedState {
    const ports: JsonValue[] = this.downstreamPorts.map((port, i) => {
      const device = port.device;
      const inPlace = device !== null && restoresInPlace(device);
      return {
        powered: this.powered[i] !== 0,
        enabled: port.enabled,
        suspended: this.portSuspended[i] !== 0,
        change: this.changes[i]!,
        device:
          device === null
            ? null
            : {
                name: device.name,
                snapshotMode: inPlace ? SnapshotMode.InPlace : SnapshotMode.Reattach,
                state: inPlace ? device.saveState() : null,
              },
      };
    });
    return {
      kind: USB_HUB_STATE,
      version: USB_HUB_STATE_VERSION,
      usb: super.saveState(),
      ports: this.downstreamPorts.length,
      hubChange: this.hubChange,
      wakeupsSignalled: this.wakeupsSent,
      portStates: ports,
    };
  }

  /**
   * Validates a {@link saveState} state, this hub's and every device's behind it, and returns the
   * function that applies it. Port by port, as the controller does with its root ports: a device of the
   * saved kind is restored in place; another device, a passthrough device, or one on a port that was
   * empty is replugged (the guest sees C_PORT_CONNECTION and enumerates it again); a saved device that
   * is gone shows as a disconnect.
   */
  override prepareRestore(state: unknown): () => void {
    const r = openState(state, USB_HUB_STATE, USB_HUB_STATE_VERSION);
    const applyUsb = super.prepareRestore(r.raw("usb"));
    r.int("ports", this.portCount, this.portCount);
    const hubChange = r.int("hubChange", 0, 3);
    const wakeups = r.int("wakeupsSignalled", 0, Number.MAX_SAFE_INTEGER);
    const entries = r.array("portStates", MAX_PORTS);
    if (entries.length !== this.portCount) {
      throw r.error("portStates", `holds ${entries.length} ports; this hub has ${this.portCount}`);
    }
    const plans = entries.map((entry, i) => {
      const p = StateReader.of(entry, `${r.path}.portStates[${i}]`);
      const powered = p.bool("powered");
      const enabled = p.bool("enabled");
      const suspended = p.bool("suspended");
      const change = p.int("change", 0, ALL_CHANGES);
      if ((enabled || suspended) && !powered)
        throw p.error("enabled", "an unpowered port is neither enabled nor suspended");
      const device = this.downstreamPorts[i]!.device;
      const saved = p.raw("device");
      let action: "keep" | "replug" | "removed" = "keep";
      let apply: (() => void) | null = null;
      if (saved === null || saved === undefined) {
        action = device === null ? "keep" : "replug";
      } else {
        const d = p.object("device");
        d.string("name", 256);
        d.oneOf("snapshotMode", [SnapshotMode.InPlace, SnapshotMode.Reattach]);
        const raw = d.raw("state");
        const kind = raw === null ? null : StateReader.of(raw, `${d.path}.state`).string("kind", 256);
        if (device === null) {
          action = "removed";
        } else if (kind !== null && restoresInPlace(device) && device.stateKind === kind) {
          try {
            apply = device.prepareRestore(raw);
          } catch (error) {
            if (!(error instanceof SnapshotError)) throw error;
            throw new SnapshotError(`hub port ${i + 1} (${device.name}): ${error.message}`, { cause: error });
          }
        } else {
          action = "replug";
        }
      }
      return { powered, enabled, suspended, change, action, apply };
    });
    return () => {
      applyUsb();
      this.hubChange = hubChange;
      this.wakeupsSent = wakeups;
      plans.forEach((plan, i) => {
        const port = this.downstreamPorts[i]!;
        this.powered[i] = plan.powered ? 1 : 0;
        this.portSuspended[i] = plan.suspended ? 1 : 0;
        this.changes[i] = plan.change;
        plan.apply?.();
        switch (plan.action) {
          case "keep":
            port.restoreFlags(plan.enabled, this.suspended || plan.suspended);
            break;
          case "replug": {
            const device = port.detach();
            this.portSuspended[i] = 0;
            if (device !== null) port.attach(device);
            break;
          }
          case "removed":
            this.portSuspended[i] = 0;
            if (plan.powered) this.changes[i]! |= PortChange.Connection;
            break;
        }
      });
      this.tellUpstream(null);
    };
  }

  // ---- UsbDeviceBase hooks ------------------------------------------------------------------------

  protected override handleClassRequest(setup: SetupPacket, _dataOut: Uint8Array): ControlReply {
    const type = setup.bmRequestType & RequestType.TypeMask;
    const recipient = setup.bmRequestType & RequestType.RecipientMask;
    const deviceToHost = setup.isDeviceToHost;
    if (type === RequestType.TypeStandard) {
      // Some hosts read the hub descriptor with a standard GET_DESCRIPTOR; serve it there too.
      if (
        setup.bRequest === StandardRequest.GetDescriptor &&
        deviceToHost &&
        recipient === RequestType.RecipientDevice &&
        setup.descriptorType === HUB_DESCRIPTOR_TYPE
      ) {
        return this.hubDescriptor;
      }
      return ControlStatus.Stall;
    }
    if (type !== RequestType.TypeClass) return ControlStatus.Stall;
    if (recipient === RequestType.RecipientDevice) return this.hubRequest(setup, deviceToHost);
    if (recipient === RequestType.RecipientOther) return this.portRequest(setup, deviceToHost);
    return ControlStatus.Stall;
  }

  protected override handleData(packet: UsbPacket, endpoint: EndpointModel): void {
    if (endpoint.address !== HUB_STATUS_ENDPOINT) {
      packet.status = PacketStatus.Stall;
      return;
    }
    // USB 2.0 11.12.4: bit 0 the hub, bit n port n; NAK while nothing changed.
    const bitmap = this.bitmap;
    bitmap.fill(0);
    let any = this.hubChange !== 0;
    if (any) bitmap[0] = 1;
    for (let i = 0; i < this.portCount; i++) {
      if (this.changes[i] === 0) continue;
      const bit = i + 1;
      bitmap[bit >> 3]! |= 1 << (bit & 7);
      any = true;
    }
    if (!any) {
      packet.actualLength = 0;
      packet.status = PacketStatus.Nak;
      return;
    }
    const length = Math.min(packet.length, bitmap.length);
    for (let b = 0; b < length; b++) packet.data[b] = bitmap[b]!;
    packet.actualLength = length;
    packet.status = length < bitmap.length ? PacketStatus.Babble : PacketStatus.Ack;
  }

  /** A bus reset of the hub: every port back to powered off (USB 2.0 11.11), the devices losing power. */
  protected override onReset(): void {
    this.powerOffAll();
    this.hubChange = 0;
  }

  /** SET_CONFIGURATION(0): an unconfigured hub powers its ports off (USB 2.0 11.11). */
  protected override onConfigured(value: number): void {
    if (value === 0) this.powerOffAll();
  }

  /** The hub itself suspended or resumed: so is everything behind it (USB 2.0 11.9). */
  protected override onSuspendChanged(suspended: boolean): void {
    this.downstreamPorts.forEach((port, i) => {
      port.setSuspended(suspended || this.portSuspended[i] !== 0);
    });
    this.tellUpstream(null);
  }

  // ---- requests ---------------------------------------------------------------------------------

  private hubRequest(setup: SetupPacket, deviceToHost: boolean): ControlReply {
    switch (setup.bRequest) {
      case HubRequest.GetStatus: {
        if (!deviceToHost) return ControlStatus.Stall;
        // wHubStatus: local power good, no over-current (USB 2.0 11.24.2.6); wHubChange.
        const s = this.status4;
        s[0] = 0;
        s[1] = 0;
        s[2] = this.hubChange;
        s[3] = 0;
        return s;
      }
      case HubRequest.GetDescriptor: {
        if (!deviceToHost) return ControlStatus.Stall;
        // USB 1.1 hosts may send descriptor type 0 (USB 1.1 11.16.2.4 left it open); 2.0 says 0x29.
        const type = setup.descriptorType;
        if ((type !== HUB_DESCRIPTOR_TYPE && type !== 0) || setup.descriptorIndex !== 0)
          return ControlStatus.Stall;
        return this.hubDescriptor;
      }
      case HubRequest.ClearFeature: {
        if (deviceToHost) return ControlStatus.Stall;
        if (setup.wValue === HubFeature.CHubLocalPower) this.hubChange &= ~1;
        else if (setup.wValue === HubFeature.CHubOverCurrent) this.hubChange &= ~2;
        else return ControlStatus.Stall;
        return ControlStatus.Ack;
      }
      default:
        // SET_FEATURE (no hub feature can be set), SET_DESCRIPTOR, the TT requests.
        return ControlStatus.Stall;
    }
  }

  private portRequest(setup: SetupPacket, deviceToHost: boolean): ControlReply {
    const number = setup.wIndex & 0xff;
    if (number < 1 || number > this.portCount) return ControlStatus.Stall;
    const i = number - 1;
    switch (setup.bRequest) {
      case HubRequest.GetStatus: {
        if (!deviceToHost) return ControlStatus.Stall;
        const status = this.portStatus(i);
        const s = this.status4;
        s[0] = status & 0xff;
        s[1] = status >> 8;
        s[2] = this.changes[i]!;
        s[3] = 0;
        return s;
      }
      case HubRequest.GetState: {
        // USB 1.1 11.16.2.3: bit 0 D−, bit 1 D+ at the last EOF; idle J is D+ at full speed, D− at low.
        if (!deviceToHost) return ControlStatus.Stall;
        const status = this.portStatus(i);
        this.state1[0] =
          (status & PortStatus.Connection) === 0 ? 0 : (status & PortStatus.LowSpeed) !== 0 ? 1 : 2;
        return this.state1;
      }
      case HubRequest.SetFeature:
        return deviceToHost ? ControlStatus.Stall : this.setPortFeature(i, setup.wValue);
      case HubRequest.ClearFeature:
        return deviceToHost ? ControlStatus.Stall : this.clearPortFeature(i, setup.wValue);
      default:
        return ControlStatus.Stall;
    }
  }

  private setPortFeature(i: number, feature: number): ControlReply {
    if (!KNOWN_PORT_FEATURES.includes(feature)) return ControlStatus.Stall;
    const port = this.downstreamPorts[i]!;
    switch (feature) {
      case PortFeature.Power:
        if (this.powered[i] !== 0) break;
        this.powered[i] = 1;
        // A device already plugged in is seen once the port has power: a connect change (11.24.2.7.2.1).
        if (port.connected) {
          this.changes[i]! |= PortChange.Connection;
          this.wakeOnPortEvent();
        }
        break;
      case PortFeature.Reset: {
        // Ignored without power or a device (11.24.2.7.1.5); otherwise the device is reset and the port
        // comes out of it enabled, with C_PORT_RESET (11.5.1.5).
        const device = port.device;
        if (this.powered[i] === 0 || device === null) break;
        port.setEnabled(false);
        this.portSuspended[i] = 0;
        port.reset();
        port.setEnabled(true);
        port.setSuspended(this.suspended);
        this.changes[i]! |= PortChange.Reset;
        this.tellUpstream(device);
        break;
      }
      case PortFeature.Suspend:
        // Only an enabled port can be suspended (11.24.2.7.1.3).
        if (!port.enabled || this.portSuspended[i] !== 0) break;
        this.portSuspended[i] = 1;
        port.setSuspended(true);
        this.tellUpstream(null);
        break;
      case PortFeature.Enable:
        // USB 1.1 hubs let software enable a port it disabled; it needs power and a device.
        if (this.powered[i] === 0 || !port.connected || port.enabled) break;
        port.setEnabled(true);
        port.setSuspended(this.suspended);
        this.tellUpstream(null);
        break;
      default:
        // Status and change bits are not set by software: accepted, no effect.
        break;
    }
    return ControlStatus.Ack;
  }

  private clearPortFeature(i: number, feature: number): ControlReply {
    if (!KNOWN_PORT_FEATURES.includes(feature)) return ControlStatus.Stall;
    const port = this.downstreamPorts[i]!;
    if (feature >= PortFeature.CConnection) {
      this.changes[i]! &= ~(1 << (feature - PortFeature.CConnection));
      return ControlStatus.Ack;
    }
    switch (feature) {
      case PortFeature.Enable:
        if (!port.enabled) break;
        port.setEnabled(false);
        this.portSuspended[i] = 0;
        this.tellUpstream(null);
        break;
      case PortFeature.Suspend:
        // Host-initiated resume; C_PORT_SUSPEND once it is complete (11.24.2.7.2.3), here at once.
        if (this.portSuspended[i] === 0) break;
        this.resumePort(i);
        break;
      case PortFeature.Power:
        this.powerOff(i);
        break;
      default:
        break;
    }
    return ControlStatus.Ack;
  }

  private resumePort(i: number): void {
    this.portSuspended[i] = 0;
    this.downstreamPorts[i]!.setSuspended(this.suspended);
    this.changes[i]! |= PortChange.Suspend;
    this.tellUpstream(null);
  }

  private powerOff(i: number): void {
    if (this.powered[i] === 0) return;
    const port = this.downstreamPorts[i]!;
    this.powered[i] = 0;
    this.portSuspended[i] = 0;
    this.changes[i] = 0;
    port.setEnabled(false);
    // The device lost power: it comes back in its default state when power returns.
    const device = port.device;
    if (device !== null) {
      port.reset();
      this.tellUpstream(device);
    }
  }

  private powerOffAll(): void {
    for (let i = 0; i < this.portCount; i++) this.powerOff(i);
    this.changes.fill(0);
  }

  // ---- events from the downstream ports -------------------------------------------------------------

  private readonly onPortEvent = (port: UsbPort, event: PortEvent, gone?: UsbDevice | null): void => {
    const i = port.index;
    switch (event) {
      case PortEvent.Attached:
      case PortEvent.Detached:
        this.portSuspended[i] = 0;
        if (this.powered[i] === 0) return;
        this.changes[i]! |= PortChange.Connection;
        this.wakeOnPortEvent();
        return;
      case PortEvent.RemoteWakeup:
        // The device's resume signal resumes its suspended port (11.9), reported as C_PORT_SUSPEND, and
        // reaches further up only when the hub itself sleeps.
        if (this.portSuspended[i] !== 0) this.resumePort(i);
        if (this.suspended && this.signalRemoteWakeup()) this.wakeupsSent++;
        return;
      case PortEvent.DownstreamChanged:
        this.tellUpstream(gone ?? null);
        return;
    }
  };

  /** A connect or disconnect while the hub is suspended is a remote wakeup event (USB 2.0 11.4.4). */
  private wakeOnPortEvent(): void {
    if (this.suspended && this.signalRemoteWakeup()) this.wakeupsSent++;
  }

  private tellUpstream(gone: UsbDevice | null): void {
    this.up?.downstreamChanged?.(gone);
  }

  private port(portIndex: number): UsbPort {
    const port = this.downstreamPorts[portIndex];
    if (port === undefined) throw new RangeError(`no port ${portIndex + 1}; the hub has ${this.portCount}`);
    return port;
  }
}

/** The standard descriptors of a full-speed hub (USB 2.0 11.23.1): class 9, one interface, one endpoint. */
function hubModel(options: UsbHubOptions, bitmapBytes: number, interval: number): DeviceModel {
  return {
    usbVersion: 0x0110,
    deviceClass: HUB_CLASS,
    maxPacketSize0: 8,
    vendorId: options.vendorId ?? DEFAULT_VENDOR_ID,
    productId: options.productId ?? DEFAULT_PRODUCT_ID,
    manufacturer: options.manufacturer ?? "uhci",
    product: options.product ?? "USB 1.1 hub",
    serialNumber: options.serialNumber ?? "1",
    configurations: [
      {
        // Self-powered: hosts then allow each port the full 500 mA (USB 2.0 7.2.1).
        selfPowered: true,
        remoteWakeup: true,
        maxPowerMa: HUB_CONTROLLER_CURRENT_MA,
        interfaces: [
          {
            alternates: [
              {
                interfaceClass: HUB_CLASS,
                endpoints: [
                  {
                    address: HUB_STATUS_ENDPOINT,
                    type: EndpointType.Interrupt,
                    maxPacketSize: bitmapBytes,
                    interval,
                  },
                ],
              },
            ],
          },
        ],
      },
    ],
  };
}
