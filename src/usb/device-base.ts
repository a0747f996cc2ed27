import { type JsonValue, openState, type SavedState, StateReader } from "../machine/snapshot.ts";
import { DescriptorType, Feature, Pid, RequestType, StandardRequest, UsbSpeed } from "./constants.ts";
import {
  ControlPipe,
  type ControlReply,
  ControlStatus,
  DEFAULT_CONTROL_BUFFER_SIZE,
} from "./control-pipe.ts";
import { DescriptorModelError, type EncodedDescriptors, encodeDescriptors } from "./descriptors/encode.ts";
import {
  alternateSetting,
  type ConfigurationModel,
  configurationValue,
  type DeviceModel,
  EndpointDirection,
  type EndpointModel,
  interfaceNumber,
} from "./descriptors/model.ts";
import type { UpstreamPort, UsbDevice } from "./device.ts";
import { type SnapshotDevice, SnapshotMode } from "./device-snapshot.ts";
import { PacketStatus, type UsbPacket } from "./packet.ts";
import type { SetupPacket } from "./setup-packet.ts";

export interface UsbDeviceOptions {
  /** A short human-readable name, for reports and traces. */
  readonly name: string;
  /** The descriptor tree; encoded once, here. */
  readonly descriptors: DeviceModel;
  /** Defaults to full speed. */
  readonly speed?: UsbSpeed;
  /** The largest control data stage accepted; defaults to {@link DEFAULT_CONTROL_BUFFER_SIZE}. */
  readonly controlBufferSize?: number;
}

/** bmRequestType bit 7 as the standard request table expects it (USB 2.0 table 9-3). */
const IN = true;
const OUT = false;
/** Highest bus address (USB 2.0 9.4.6). */
const MAX_ADDRESS = 127;
/** Endpoint slots: numbers 0–15 OUT, then 0–15 IN. */
const ENDPOINT_SLOTS = 32;

/** The kind and version of the standard device state ({@link UsbDeviceBase.saveState}). */
export const USB_DEVICE_STATE = "usb-device";
export const USB_DEVICE_STATE_VERSION = 1;

/** The slot of an endpoint address (bEndpointAddress or a GET_STATUS/FEATURE wIndex). */
function slotOf(address: number): number {
  return (address & 0x0f) | ((address & EndpointDirection.In) !== 0 ? 16 : 0);
}

/**
 * A USB device that answers the standard requests (USB 2.0 9.4) from its descriptor model, so a device
 * author writes only what is particular to the device:
 *
 * - the descriptor model, given to the constructor;
 * - {@link handleClassRequest} for every request this class does not answer (class, vendor, and
 *   standard requests it leaves alone such as an interface's GET_DESCRIPTOR for a HID report
 *   descriptor, or SYNCH_FRAME);
 * - {@link handleData} for packets on the other endpoints, which reach it only when the endpoint
 *   exists in the current configuration and alternate settings and is not halted (others STALL);
 * - optional hooks: {@link onReset}, {@link onConfigured}, {@link onInterfaceChanged},
 *   {@link onSuspendChanged}, {@link onEndpointHalt}.
 *
 * Nothing a host sends makes it throw.
 */
export abstract class UsbDeviceBase implements UsbDevice, SnapshotDevice {
  readonly name: string;
  readonly speed: UsbSpeed;
  /** Every descriptor the device serves, encoded once from the model. */
  protected readonly descriptors: EncodedDescriptors;
  private readonly model: DeviceModel;
  private readonly pipe: ControlPipe;
  private currentAddress = 0;
  /** SET_ADDRESS waiting for its status stage (USB 2.0 9.4.6), or -1. */
  private pendingAddress = -1;
  /** Index into the model's configurations, or -1 when unconfigured (Address or Default state). */
  private configIndex = -1;
  /** For each interface (by position in the configuration), the position of its selected alternate. */
  private selected: number[] = [];
  /** The endpoints that exist right now, by slot; everything else STALLs. */
  private readonly endpoints: (EndpointModel | null)[] = new Array<EndpointModel | null>(ENDPOINT_SLOTS).fill(
    null,
  );
  private readonly halted = new Uint8Array(ENDPOINT_SLOTS);
  private remoteWakeupOn = false;
  private isSuspended = false;
  private upstream: UpstreamPort | null = null;
  /** Scratch for the one- and two-byte standard replies; the pipe copies replies at once. */
  private readonly scratch = new Uint8Array(2);
  private readonly reply1 = this.scratch.subarray(0, 1);
  private readonly reply2 = this.scratch.subarray(0, 2);

  protected constructor(options: UsbDeviceOptions) {
    this.name = options.name;
    this.speed = options.speed ?? UsbSpeed.Full;
    this.model = options.descriptors;
    this.descriptors = encodeDescriptors(options.descriptors);
    if (this.speed === UsbSpeed.Low && options.descriptors.maxPacketSize0 !== 8) {
      throw new DescriptorModelError("a low-speed device has bMaxPacketSize0 8 (USB 2.0 5.5.3)");
    }
    this.pipe = new ControlPipe(
      {
        handleControlRequest: (setup, dataOut) => this.dispatch(setup, dataOut),
        controlTransferComplete: () => this.afterStatusStage(),
      },
      options.descriptors.maxPacketSize0,
      options.controlBufferSize ?? DEFAULT_CONTROL_BUFFER_SIZE,
    );
  }

  // ---- UsbDevice ---------------------------------------------------------------------------------

  get address(): number {
    return this.currentAddress;
  }

  handlePacket(packet: UsbPacket): void {
    if (packet.endpoint === 0) {
      this.pipe.handle(packet);
      return;
    }
    const slot = (packet.endpoint & 0x0f) | (packet.pid === Pid.In ? 16 : 0);
    const endpoint = this.endpoints[slot];
    // A SETUP to a data endpoint, an endpoint outside the current configuration or alternate setting,
    // or a halted one (USB 2.0 9.4.5) is answered with STALL; the device sees none of them.
    if (
      (packet.pid !== Pid.In && packet.pid !== Pid.Out) ||
      packet.endpoint > 15 ||
      endpoint === null ||
      endpoint === undefined ||
      this.halted[slot] !== 0
    ) {
      packet.actualLength = 0;
      packet.status = PacketStatus.Stall;
      return;
    }
    this.handleData(packet, endpoint);
  }

  /** Synchronous devices never hold a packet; a device that defers packets overrides this. */
  cancelPacket(_packet: UsbPacket): void {}

  reset(): void {
    this.currentAddress = 0;
    this.pendingAddress = -1;
    this.remoteWakeupOn = false;
    this.pipe.reset();
    this.deconfigure();
    this.onReset();
  }

  setUpstream(upstream: UpstreamPort | null): void {
    this.upstream = upstream;
  }

  setSuspended(suspended: boolean): void {
    if (suspended === this.isSuspended) return;
    this.isSuspended = suspended;
    this.onSuspendChanged(suspended);
  }

  // ---- state a device (or a UI) may read -----------------------------------------------------------

  /** bConfigurationValue of the current configuration; 0 when unconfigured. */
  get configuration(): number {
    const config = this.currentConfig();
    return config === undefined ? 0 : configurationValue(config, this.configIndex);
  }

  /** The selected bAlternateSetting of an interface of the current configuration, if it exists. */
  alternateSettingOf(interfaceNum: number): number | undefined {
    const config = this.currentConfig();
    const position = config === undefined ? -1 : this.interfacePosition(config, interfaceNum);
    const iface = config?.interfaces[position];
    const altPosition = this.selected[position];
    if (iface === undefined || altPosition === undefined) return undefined;
    const alt = iface.alternates[altPosition];
    return alt === undefined ? undefined : alternateSetting(alt, altPosition);
  }

  get suspended(): boolean {
    return this.isSuspended;
  }

  /** The host has enabled DEVICE_REMOTE_WAKEUP (USB 2.0 9.4.1). */
  get remoteWakeupEnabled(): boolean {
    return this.remoteWakeupOn;
  }

  // ---- snapshots ---------------------------------------------------------------------------------

  /**
   * How a controller restore treats this device: emulated devices are restored in place; a device whose
   * state lives outside the emulator (passthrough) overrides this with {@link SnapshotMode.Reattach}.
   */
  get snapshotMode(): SnapshotMode {
    return SnapshotMode.InPlace;
  }

  /**
   * The kind of this device's saved state. Each class that adds state wraps its parent's state in its
   * own (`{ kind: "usb-keyboard", hid: { kind: "hid-device", usb: { kind: "usb-device", … } } }`), so
   * every layer has its own version, and overrides this with its own kind.
   */
  get stateKind(): string {
    return USB_DEVICE_STATE;
  }

  /**
   * The standard device state (USB 2.0 9.1): address, configuration, alternate settings, halted
   * endpoints, remote wakeup, suspend, and the control transfer in progress. Subclasses that keep state
   * of their own override this and {@link prepareRestore}, wrapping the parent's state.
   */
  saveState(): SavedState {
    const config = this.currentConfig();
    const interfaces: JsonValue[] = [];
    config?.interfaces.forEach((iface, position) => {
      const altPosition = this.selected[position] ?? -1;
      const alt = iface.alternates[altPosition];
      interfaces.push({
        interface: interfaceNumber(iface, position),
        alternate: alt === undefined ? -1 : alternateSetting(alt, altPosition),
      });
    });
    const halted: number[] = [];
    this.endpoints.forEach((ep, slot) => {
      if (ep !== null && this.halted[slot] !== 0) halted.push(ep.address);
    });
    return {
      kind: USB_DEVICE_STATE,
      version: USB_DEVICE_STATE_VERSION,
      name: this.name,
      address: this.currentAddress,
      pendingAddress: this.pendingAddress,
      configuration: this.configuration,
      interfaces,
      halted,
      remoteWakeup: this.remoteWakeupOn,
      suspended: this.isSuspended,
      controlPipe: this.pipe.saveState(),
    };
  }

  /**
   * Validates a state made by {@link saveState} against this device's descriptors (the configuration
   * and every alternate setting must exist, halted endpoints must be in them) and returns the function
   * that applies it. Throws {@link SnapshotError} and changes nothing when anything is wrong. Hooks
   * (onConfigured, onInterfaceChanged…) are not called: subclasses restore their own state.
   */
  prepareRestore(state: unknown): () => void {
    const r = openState(state, USB_DEVICE_STATE, USB_DEVICE_STATE_VERSION);
    const address = r.int("address", 0, MAX_ADDRESS);
    const pendingAddress = r.int("pendingAddress", -1, MAX_ADDRESS);
    const value = r.int("configuration", 0, 255);
    let configIndex = -1;
    if (value !== 0) {
      configIndex = this.model.configurations.findIndex((c, i) => configurationValue(c, i) === value);
      if (configIndex < 0) throw r.error("configuration", `${value} is not a configuration of ${this.name}`);
    }
    const config = this.model.configurations[configIndex];
    const entries = r.array("interfaces", 32);
    if (entries.length !== (config?.interfaces.length ?? 0)) {
      throw r.error(
        "interfaces",
        `lists ${entries.length} interfaces; configuration ${value} has ${config?.interfaces.length ?? 0}`,
      );
    }
    const selected: number[] = [];
    entries.forEach((entry, position) => {
      const e = StateReader.of(entry, `${r.path}.interfaces[${position}]`);
      const iface = config!.interfaces[position]!;
      const number = e.int("interface", 0, 255);
      if (number !== interfaceNumber(iface, position)) {
        throw e.error(
          "interface",
          `is ${number}; the configuration has interface ${interfaceNumber(iface, position)} here`,
        );
      }
      const alternate = e.int("alternate", -1, 255);
      const altPosition =
        alternate < 0 ? -1 : iface.alternates.findIndex((alt, i) => alternateSetting(alt, i) === alternate);
      if (alternate >= 0 && altPosition < 0) throw e.error("alternate", `${alternate} does not exist`);
      selected.push(altPosition);
    });
    const present = new Set<number>();
    config?.interfaces.forEach((iface, position) => {
      for (const ep of iface.alternates[selected[position] ?? 0]?.endpoints ?? []) present.add(ep.address);
    });
    const halted = r.ints("halted", 0, 0xff, ENDPOINT_SLOTS);
    for (const address of halted) {
      if (!present.has(address))
        throw r.error("halted", `names endpoint 0x${address.toString(16)}, which is not active`);
    }
    const remoteWakeup = r.bool("remoteWakeup");
    const suspended = r.bool("suspended");
    const applyPipe = this.pipe.prepareRestore(r.object("controlPipe"));
    return () => {
      this.currentAddress = address;
      this.pendingAddress = pendingAddress;
      this.configIndex = configIndex;
      this.selected = selected;
      this.rebuildEndpoints();
      this.halted.fill(0);
      for (const address of halted) this.halted[slotOf(address)] = 1;
      this.remoteWakeupOn = remoteWakeup;
      this.isSuspended = suspended;
      applyPipe();
    };
  }

  /** Restores a state made by {@link saveState}: all of it, or (on a {@link SnapshotError}) nothing. */
  restoreState(state: unknown): void {
    this.prepareRestore(state)();
  }

  // ---- for subclasses ----------------------------------------------------------------------------

  /**
   * Every request the standard handling does not answer. For a device-to-host request, return the data
   * (cut to wLength by the pipe) or STALL; for host-to-device, `dataOut` holds what the host sent and the
   * answer is ACK or STALL. `setup` and `dataOut` are valid only during the call.
   */
  protected handleClassRequest(_setup: SetupPacket, _dataOut: Uint8Array): ControlReply {
    return ControlStatus.Stall;
  }

  /**
   * An IN or OUT packet for an active, non-halted endpoint. Set `packet.status` (ACK, NAK, STALL) and,
   * for IN, write at most `packet.length` bytes into `packet.data` and set `packet.actualLength`.
   */
  protected handleData(packet: UsbPacket, _endpoint: EndpointModel): void {
    packet.status = PacketStatus.Stall;
  }

  /** After a bus reset: the device is back in the Default state. */
  protected onReset(): void {}
  /** SET_CONFIGURATION succeeded; `value` 0 means deconfigured. Alternate settings are all 0 again. */
  protected onConfigured(_value: number): void {}
  /** SET_INTERFACE selected `alternate` of interface `interfaceNum`. */
  protected onInterfaceChanged(_interfaceNum: number, _alternate: number): void {}
  protected onSuspendChanged(_suspended: boolean): void {}
  /** An endpoint's halt feature was set or cleared, by the host or by {@link setEndpointHalt}. */
  protected onEndpointHalt(_address: number, _halted: boolean): void {}

  /**
   * Asks the host to resume (USB 2.0 7.1.7.7). Only signals when the host has enabled remote wakeup
   * and the bus is suspended; returns whether the signal went out.
   */
  protected signalRemoteWakeup(): boolean {
    if (!this.remoteWakeupOn || !this.isSuspended || this.upstream === null) return false;
    return this.upstream.signalRemoteWakeup();
  }

  /** A functional stall: the device halts one of its own endpoints (USB 2.0 8.4.5). */
  protected setEndpointHalt(address: number, halted: boolean): boolean {
    const slot = slotOf(address);
    if ((address & 0x0f) === 0 || this.endpoints[slot] === null) return false;
    this.setHalt(slot, address, halted);
    return true;
  }

  protected isEndpointHalted(address: number): boolean {
    return this.halted[slotOf(address)] !== 0;
  }

  // ---- standard requests (USB 2.0 9.4) -----------------------------------------------------------

  private dispatch(setup: SetupPacket, dataOut: Uint8Array): ControlReply {
    this.pendingAddress = -1;
    if ((setup.bmRequestType & RequestType.TypeMask) === RequestType.TypeStandard) {
      const reply = this.standardRequest(setup);
      if (reply !== undefined) return reply;
    }
    return this.handleClassRequest(setup, dataOut);
  }

  /** The answer to a standard request, or undefined for one left to the subclass. */
  private standardRequest(setup: SetupPacket): ControlReply | undefined {
    const recipient = setup.bmRequestType & RequestType.RecipientMask;
    const direction = setup.isDeviceToHost;
    switch (setup.bRequest) {
      case StandardRequest.GetStatus:
        return direction === IN ? this.getStatus(recipient, setup.wIndex) : ControlStatus.Stall;
      case StandardRequest.ClearFeature:
      case StandardRequest.SetFeature:
        if (direction !== OUT) return ControlStatus.Stall;
        return this.feature(
          recipient,
          setup.wValue,
          setup.wIndex,
          setup.bRequest === StandardRequest.SetFeature,
        );
      case StandardRequest.SetAddress:
        if (recipient !== RequestType.RecipientDevice || direction !== OUT || setup.wValue > MAX_ADDRESS) {
          return ControlStatus.Stall;
        }
        // Takes effect once the status stage completes, at the old address (USB 2.0 9.4.6).
        this.pendingAddress = setup.wValue;
        return ControlStatus.Ack;
      case StandardRequest.GetDescriptor:
        // An interface's descriptors (HID report and physical descriptors) belong to the subclass.
        if (recipient !== RequestType.RecipientDevice) return undefined;
        return direction === IN ? this.getDescriptor(setup) : ControlStatus.Stall;
      case StandardRequest.GetConfiguration:
        if (recipient !== RequestType.RecipientDevice || direction !== IN) return ControlStatus.Stall;
        this.reply1[0] = this.configuration;
        return this.reply1;
      case StandardRequest.SetConfiguration:
        if (recipient !== RequestType.RecipientDevice || direction !== OUT) return ControlStatus.Stall;
        return this.setConfiguration(setup.wValue & 0xff);
      case StandardRequest.GetInterface: {
        if (recipient !== RequestType.RecipientInterface || direction !== IN) return ControlStatus.Stall;
        const alternate = this.alternateSettingOf(setup.wIndex & 0xff);
        if (alternate === undefined) return ControlStatus.Stall;
        this.reply1[0] = alternate;
        return this.reply1;
      }
      case StandardRequest.SetInterface:
        if (recipient !== RequestType.RecipientInterface || direction !== OUT) return ControlStatus.Stall;
        return this.setInterface(setup.wIndex & 0xff, setup.wValue);
      default:
        return undefined;
    }
  }

  private getDescriptor(setup: SetupPacket): ControlReply | undefined {
    const index = setup.descriptorIndex;
    switch (setup.descriptorType) {
      case DescriptorType.Device:
        return this.descriptors.device;
      case DescriptorType.Configuration:
        // The index counts configurations from 0; it is not bConfigurationValue (USB 2.0 9.4.3).
        return this.descriptors.configurations[index] ?? ControlStatus.Stall;
      case DescriptorType.String:
        // wIndex names a LANGID; like most devices, every supported language gets the same text.
        return this.descriptors.strings[index] ?? ControlStatus.Stall;
      default:
        // Including DEVICE_QUALIFIER, which a full-speed-only device must refuse (USB 2.0 9.6.2);
        // the subclass gets the chance to serve anything else.
        return undefined;
    }
  }

  private getStatus(recipient: number, wIndex: number): ControlReply {
    this.scratch[0] = 0;
    this.scratch[1] = 0;
    switch (recipient) {
      case RequestType.RecipientDevice: {
        // Bit 0 self-powered, bit 1 remote wakeup enabled (USB 2.0 figure 9-4). Before any
        // configuration is selected, the first configuration speaks for the device.
        const config = this.currentConfig() ?? this.model.configurations[0];
        this.scratch[0] = (config?.selfPowered ? 1 : 0) | (this.remoteWakeupOn ? 2 : 0);
        return this.reply2;
      }
      case RequestType.RecipientInterface: {
        // Interfaces have no status bits; the interface must exist (USB 2.0 9.4.5).
        const config = this.currentConfig();
        if (config === undefined || this.interfacePosition(config, wIndex & 0xff) < 0)
          return ControlStatus.Stall;
        return this.reply2;
      }
      case RequestType.RecipientEndpoint: {
        const address = wIndex & 0xff;
        if ((address & 0x0f) === 0) return this.reply2;
        const slot = slotOf(address);
        if ((address & 0x70) !== 0 || this.endpoints[slot] === null) return ControlStatus.Stall;
        this.scratch[0] = this.halted[slot]!;
        return this.reply2;
      }
      default:
        return ControlStatus.Stall;
    }
  }

  private feature(recipient: number, selector: number, wIndex: number, set: boolean): ControlReply {
    if (recipient === RequestType.RecipientDevice) {
      // Only a configuration that advertises remote wakeup lets the host enable it (USB 2.0 9.6.3).
      if (selector !== Feature.DeviceRemoteWakeup || !this.canRemoteWakeup()) return ControlStatus.Stall;
      this.remoteWakeupOn = set;
      return ControlStatus.Ack;
    }
    if (recipient !== RequestType.RecipientEndpoint || selector !== Feature.EndpointHalt)
      return ControlStatus.Stall;
    const address = wIndex & 0xff;
    if ((address & 0x0f) === 0) {
      // Halt on the default pipe is "neither required nor recommended" (USB 2.0 9.4.5): clearing it is
      // harmless and hosts do it during error recovery; setting it is refused.
      return set ? ControlStatus.Stall : ControlStatus.Ack;
    }
    const slot = slotOf(address);
    if ((address & 0x70) !== 0 || this.endpoints[slot] === null) return ControlStatus.Stall;
    // Clearing also resets the data toggle (USB 2.0 9.4.5); the toggle lives in the host controller's
    // TDs here, so the device has none to reset.
    this.setHalt(slot, address, set);
    return ControlStatus.Ack;
  }

  private setHalt(slot: number, address: number, halted: boolean): void {
    this.halted[slot] = halted ? 1 : 0;
    this.onEndpointHalt(address, halted);
  }

  private canRemoteWakeup(): boolean {
    const config = this.currentConfig() ?? this.model.configurations[0];
    return config?.remoteWakeup === true;
  }

  private setConfiguration(value: number): ControlReply {
    if (value === 0) {
      this.deconfigure();
      this.onConfigured(0);
      return ControlStatus.Ack;
    }
    const index = this.model.configurations.findIndex((config, i) => configurationValue(config, i) === value);
    const config = this.model.configurations[index];
    if (config === undefined) return ControlStatus.Stall;
    // Selecting a configuration, even the current one, resets every alternate setting and halt
    // (USB 2.0 9.1.1.5, 9.4.7).
    this.configIndex = index;
    this.selected = config.interfaces.map((iface) =>
      iface.alternates.findIndex((alt, i) => alternateSetting(alt, i) === 0),
    );
    this.halted.fill(0);
    this.rebuildEndpoints();
    this.onConfigured(value);
    return ControlStatus.Ack;
  }

  private setInterface(interfaceNum: number, setting: number): ControlReply {
    const config = this.currentConfig();
    const position = config === undefined ? -1 : this.interfacePosition(config, interfaceNum);
    const iface = config?.interfaces[position];
    if (iface === undefined) return ControlStatus.Stall;
    const altPosition = iface.alternates.findIndex((alt, i) => alternateSetting(alt, i) === setting);
    if (altPosition < 0) return ControlStatus.Stall;
    this.selected[position] = altPosition;
    // The interface's endpoints start afresh: halt cleared, toggle reset (USB 2.0 9.4.10).
    for (const alt of iface.alternates)
      for (const ep of alt.endpoints ?? []) this.halted[slotOf(ep.address)] = 0;
    this.rebuildEndpoints();
    this.onInterfaceChanged(interfaceNum, setting);
    return ControlStatus.Ack;
  }

  private afterStatusStage(): void {
    if (this.pendingAddress < 0) return;
    this.currentAddress = this.pendingAddress;
    this.pendingAddress = -1;
  }

  private deconfigure(): void {
    this.configIndex = -1;
    this.selected = [];
    this.halted.fill(0);
    this.endpoints.fill(null);
  }

  private currentConfig(): ConfigurationModel | undefined {
    return this.model.configurations[this.configIndex];
  }

  private interfacePosition(config: ConfigurationModel, interfaceNum: number): number {
    return config.interfaces.findIndex((iface, i) => interfaceNumber(iface, i) === interfaceNum);
  }

  private rebuildEndpoints(): void {
    this.endpoints.fill(null);
    const config = this.currentConfig();
    config?.interfaces.forEach((iface, position) => {
      const alt = iface.alternates[this.selected[position] ?? 0];
      for (const ep of alt?.endpoints ?? []) this.endpoints[slotOf(ep.address)] = ep;
    });
  }
}
