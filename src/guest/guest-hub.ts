import { RequestType, UsbSpeed } from "../usb/constants.ts";
import {
  type EnumerationHost,
  type EnumerationOptions,
  type EnumerationResult,
  enumerateOnPort,
} from "./enumeration.ts";
import type { GuestDevice } from "./guest-device.ts";
import type { InterruptInStream } from "./interrupt-in-stream.ts";
import { type TransferResult, TransferStatus } from "./transfer-result.ts";

/**
 * The hub driver of the software guest: what Linux's hub driver (usbcore's hub.c) does with a hub it
 * found, done the same way, so tests can reach devices behind hubs. Ports are numbered from 1, as on
 * the wire (wIndex of the port requests); the root hub's ports are numbered from 0.
 *
 * ```ts
 * const hub = driver.enumerate(0);                       // the hub on root port 0, configured
 * const opened = driver.openHub(hub.device);              // reads the hub descriptor
 * opened.hub.powerOn();                                   // PORT_POWER on every port, then bPwrOn2PwrGood
 * const keyboard = opened.hub.enumerate(1);               // debounce, PORT_RESET, address, descriptors…
 * ```
 */

/** Hub class requests and selectors the driver sends (USB 2.0 tables 11-16 and 11-17). */
export const HubClass = {
  DescriptorType: 0x29,
  GetStatus: 0,
  ClearFeature: 1,
  SetFeature: 3,
  GetDescriptor: 6,
  PortConnection: 0,
  PortEnable: 1,
  PortSuspend: 2,
  PortReset: 4,
  PortPower: 8,
  CPortConnection: 16,
  CPortEnable: 17,
  CPortSuspend: 18,
  CPortOverCurrent: 19,
  CPortReset: 20,
} as const;

/** wPortStatus / wPortChange bits (USB 2.0 11.24.2.7). */
export const HubPortBits = {
  Connection: 1 << 0,
  Enable: 1 << 1,
  Suspend: 1 << 2,
  OverCurrent: 1 << 3,
  Reset: 1 << 4,
  Power: 1 << 8,
  LowSpeed: 1 << 9,
} as const;

/** Hub port timing the driver keeps, in ms. */
export const HubTiming = {
  /** Linux's hub driver: the connection must be stable 100 ms (USB 2.0 7.1.7.3). */
  DebounceMs: 100,
  /** Status is polled this often while a port reset runs (Linux: 10 ms for a full-speed hub). */
  ResetPollMs: 10,
  /** A reset not finished after this is a failure. */
  ResetTimeoutMs: 500,
  /** USB 2.0 7.1.7.5 TRSTRCY after the reset. */
  ResetRecoveryMs: 10,
  /** USB 2.0 7.1.7.7 TDRSMDN, then TRSMRCY. */
  ResumeMs: 20,
  ResumeRecoveryMs: 10,
} as const;

export interface HubDescriptorInfo {
  readonly ports: number;
  /** wHubCharacteristics. */
  readonly characteristics: number;
  /** bPwrOn2PwrGood × 2. */
  readonly powerOnToPowerGoodMs: number;
  readonly controllerCurrentMa: number;
  /** DeviceRemovable bit per port (index 0 = port 1): true = the device is not removable. */
  readonly nonRemovable: readonly boolean[];
  readonly bytes: Uint8Array;
}

export interface HubPortState {
  /** wPortStatus. */
  readonly status: number;
  /** wPortChange. */
  readonly change: number;
  readonly connected: boolean;
  readonly enabled: boolean;
  readonly suspended: boolean;
  readonly resetting: boolean;
  readonly powered: boolean;
  readonly lowSpeed: boolean;
}

export type HubPortStatusResult =
  | ({ readonly ok: true } & HubPortState)
  | { readonly ok: false; readonly status: TransferStatus };

export type GuestHubResult =
  | { readonly ok: true; readonly hub: GuestHub }
  | { readonly ok: false; readonly error: string; readonly status: TransferStatus | null };

const CLASS_OUT_PORT = RequestType.TypeClass | RequestType.RecipientOther;
const CLASS_IN_PORT = RequestType.DirectionIn | CLASS_OUT_PORT;
const CLASS_IN_HUB = RequestType.DirectionIn | RequestType.TypeClass | RequestType.RecipientDevice;
/** The hub descriptor is at most 7 + 2 × 32 bytes (255 ports); hosts ask for that much. */
const HUB_DESCRIPTOR_MAX = 71;
const HUB_CLASS = 9;

export class GuestHub {
  private changes: InterruptInStream | null = null;

  private constructor(
    /** The hub itself, enumerated and configured. */
    readonly device: GuestDevice,
    readonly descriptor: HubDescriptorInfo,
    private readonly host: EnumerationHost,
  ) {}

  /**
   * Checks that `device` is a hub (class 9, USB 2.0 11.23.1) and reads its hub descriptor
   * (GET_DESCRIPTOR of type 0x29, 11.24.2.5). The device must be configured.
   */
  static open(device: GuestDevice, host: EnumerationHost): GuestHubResult {
    if (device.enumerated && device.info.descriptor.deviceClass !== HUB_CLASS) {
      return {
        ok: false,
        error: `bDeviceClass ${device.info.descriptor.deviceClass} is not a hub`,
        status: null,
      };
    }
    const r = device.control({
      requestType: CLASS_IN_HUB,
      request: HubClass.GetDescriptor,
      value: HubClass.DescriptorType << 8,
      index: 0,
      length: HUB_DESCRIPTOR_MAX,
    });
    if (r.status !== TransferStatus.Ok) {
      return { ok: false, error: `GET_DESCRIPTOR(hub): ${r.status}`, status: r.status };
    }
    const d = r.data;
    const ports = d[2] ?? 0;
    const bitmapBytes = (ports + 1 + 7) >> 3;
    if (d.length < 7 + bitmapBytes || d[1] !== HubClass.DescriptorType || (d[0] ?? 0) < 7 + bitmapBytes) {
      return { ok: false, error: `hub descriptor is malformed (${d.length} bytes)`, status: null };
    }
    if (ports === 0) return { ok: false, error: "the hub has no ports", status: null };
    const nonRemovable = Array.from(
      { length: ports },
      (_, i) => ((d[7 + ((i + 1) >> 3)]! >> ((i + 1) & 7)) & 1) !== 0,
    );
    const descriptor: HubDescriptorInfo = {
      ports,
      characteristics: d[3]! | (d[4]! << 8),
      powerOnToPowerGoodMs: d[5]! * 2,
      controllerCurrentMa: d[6]!,
      nonRemovable,
      bytes: d,
    };
    return { ok: true, hub: new GuestHub(device, descriptor, host) };
  }

  get portCount(): number {
    return this.descriptor.ports;
  }

  /** SET_FEATURE(PORT_POWER) on every port, then the hub's power-on-to-power-good time (11.23.2.1). */
  powerOn(): TransferStatus {
    for (let port = 1; port <= this.portCount; port++) {
      const r = this.setPortFeature(port, HubClass.PortPower);
      if (r.status !== TransferStatus.Ok) return r.status;
    }
    this.host.run(Math.max(this.descriptor.powerOnToPowerGoodMs, 1));
    return TransferStatus.Ok;
  }

  /** GET_STATUS of the hub: wHubStatus and wHubChange (11.24.2.6). */
  hubStatus(): TransferResult {
    return this.device.control({
      requestType: CLASS_IN_HUB,
      request: HubClass.GetStatus,
      value: 0,
      index: 0,
      length: 4,
    });
  }

  /** GET_STATUS of port `port` (1-based; 11.24.2.7). */
  portStatus(port: number): HubPortStatusResult {
    const r = this.device.control({
      requestType: CLASS_IN_PORT,
      request: HubClass.GetStatus,
      value: 0,
      index: port,
      length: 4,
    });
    if (r.status !== TransferStatus.Ok) return { ok: false, status: r.status };
    if (r.actualLength < 4) return { ok: false, status: TransferStatus.DataBuffer };
    const status = r.data[0]! | (r.data[1]! << 8);
    const change = r.data[2]! | (r.data[3]! << 8);
    return {
      ok: true,
      status,
      change,
      connected: (status & HubPortBits.Connection) !== 0,
      enabled: (status & HubPortBits.Enable) !== 0,
      suspended: (status & HubPortBits.Suspend) !== 0,
      resetting: (status & HubPortBits.Reset) !== 0,
      powered: (status & HubPortBits.Power) !== 0,
      lowSpeed: (status & HubPortBits.LowSpeed) !== 0,
    };
  }

  setPortFeature(port: number, feature: number): TransferResult {
    return this.device.control({
      requestType: CLASS_OUT_PORT,
      request: HubClass.SetFeature,
      value: feature,
      index: port,
    });
  }

  clearPortFeature(port: number, feature: number): TransferResult {
    return this.device.control({
      requestType: CLASS_OUT_PORT,
      request: HubClass.ClearFeature,
      value: feature,
      index: port,
    });
  }

  /** Clears every change bit a port shows (C_PORT_CONNECTION … C_PORT_RESET), as the hub driver does. */
  clearChanges(port: number): void {
    const state = this.portStatus(port);
    if (!state.ok) return;
    for (let bit = 0; bit < 5; bit++) {
      if (state.change & (1 << bit)) this.clearPortFeature(port, HubClass.CPortConnection + bit);
    }
  }

  /**
   * Resets port `port` as Linux's hub_port_reset does: SET_FEATURE(PORT_RESET), status polled every
   * 10 ms until PORT_RESET reads 0 (11.24.2.7.1.5), C_PORT_RESET cleared, 10 ms of reset recovery.
   */
  resetPort(port: number): {
    readonly enabled: boolean;
    readonly speed: UsbSpeed | null;
    readonly detail: string;
  } {
    const set = this.setPortFeature(port, HubClass.PortReset);
    if (set.status !== TransferStatus.Ok)
      return { enabled: false, speed: null, detail: `PORT_RESET: ${set.status}` };
    for (let waited = 0; ; waited += HubTiming.ResetPollMs) {
      this.host.run(HubTiming.ResetPollMs);
      const state = this.portStatus(port);
      if (!state.ok) return { enabled: false, speed: null, detail: `GET_STATUS: ${state.status}` };
      if (!state.resetting) {
        if (state.change & HubPortBits.Reset) this.clearPortFeature(port, HubClass.CPortReset);
        this.host.run(HubTiming.ResetRecoveryMs);
        const enabled = state.connected && state.enabled;
        return {
          enabled,
          speed: enabled ? (state.lowSpeed ? UsbSpeed.Low : UsbSpeed.Full) : null,
          detail: `wPortStatus 0x${state.status.toString(16)}`,
        };
      }
      if (waited >= HubTiming.ResetTimeoutMs) {
        return { enabled: false, speed: null, detail: `still in reset after ${waited} ms` };
      }
    }
  }

  /** Selective suspend of one port (SET_FEATURE(PORT_SUSPEND), 11.24.2.7.1.3). */
  suspendPort(port: number): TransferStatus {
    return this.setPortFeature(port, HubClass.PortSuspend).status;
  }

  /**
   * Resumes a suspended port (CLEAR_FEATURE(PORT_SUSPEND)), waits the resume and recovery times and
   * acknowledges C_PORT_SUSPEND; true when the port came back enabled and awake.
   */
  resumePort(port: number): boolean {
    if (this.clearPortFeature(port, HubClass.PortSuspend).status !== TransferStatus.Ok) return false;
    this.host.run(HubTiming.ResumeMs);
    const state = this.portStatus(port);
    if (!state.ok) return false;
    if (state.change & HubPortBits.Suspend) this.clearPortFeature(port, HubClass.CPortSuspend);
    this.host.run(HubTiming.ResumeRecoveryMs);
    return state.enabled && !state.suspended;
  }

  /**
   * Starts polling the status change endpoint (11.12.4), as the hub driver keeps an interrupt URB on
   * it; {@link takeChanges} returns what arrived.
   */
  watchChanges(): InterruptInStream {
    if (this.changes === null) this.changes = this.device.openInterruptIn(0x81);
    return this.changes;
  }

  /**
   * The ports (1-based; 0 = the hub itself) named by every status change bitmap received since the
   * last call, each once, in order.
   */
  takeChanges(): number[] {
    const found = new Set<number>();
    for (const report of this.watchChanges().take()) {
      for (let bit = 0; bit < report.length * 8; bit++) {
        if ((report[bit >> 3]! >> (bit & 7)) & 1) found.add(bit);
      }
    }
    return [...found].sort((a, b) => a - b);
  }

  /** Lets time pass (1 ms at a time) until a status change bitmap arrives; the ports it names. */
  waitForChanges(timeoutMs: number): number[] {
    const stream = this.watchChanges();
    for (let waited = 0; stream.available === 0 && waited < timeoutMs; waited++) this.host.run(1);
    return this.takeChanges();
  }

  /**
   * Enumerates the device on port `port` (1-based) as on a root port: debounce, reset through the hub,
   * descriptors, SET_ADDRESS, configuration. A hub behind this one is opened with the driver's
   * `openHub` in turn.
   */
  enumerate(port: number, options?: EnumerationOptions): EnumerationResult {
    return enumerateOnPort(
      this.host,
      {
        label: `hub ${this.device.address} port ${port}`,
        rootPort: this.device.port,
        connected: () => {
          const state = this.portStatus(port);
          return state.ok && state.connected;
        },
        clearChanges: () => this.clearChanges(port),
        reset: () => this.resetPort(port),
      },
      options,
    );
  }
}
