import type { RegisterBlock } from "../../machine/register-block.ts";
import { UsbSpeed } from "../../usb/constants.ts";
import type { UsbDevice } from "../../usb/device.ts";
import { PortEvent, UsbPort } from "../../usb/port.ts";
import { DeviceTable } from "./device-table.ts";
import { PortSc, REG } from "./registers.ts";

/** What the root hub needs from the controller it sits in. */
export interface RootHubHost {
  /**
   * A device went away or was reset (on a root port, or behind a hub): its outstanding requests, and
   * those of every device behind it when it is a hub, must be cancelled.
   */
  forgetDevice(device: UsbDevice): void;
  /** A device signalled resume (connect, disconnect or remote wakeup) on a port. */
  resumeSignalled(): void;
}

/** What resets the controller (UHCI 2.1.1 USBCMD); each treats the ports differently ({@link RootHub.reset}). */
export const ResetKind = {
  /** Power-on or PCI reset: as GRESET, without the bus reset signalling (the devices power up anyway). */
  PowerOn: "power-on",
  /** USBCMD.GRESET: reset on the bus, then the whole controller including the root hub. */
  Global: "global",
  /** USBCMD.HCRESET: the controller's logic only; nothing sent on the bus. */
  HostController: "host-controller",
} as const;
export type ResetKind = (typeof ResetKind)[keyof typeof ResetKind];

/** How {@link RootHub.restorePorts} restores one port. */
export interface PortRestore {
  readonly portsc: number;
  readonly enabled: boolean;
  readonly suspended: boolean;
  readonly action: "keep" | "replug" | "removed";
}

/**
 * The UHCI root hub (UHCI 2.1.7): N ports, each a {@link UsbPort} with its PORTSC register kept in step.
 * PORTSC is the truth the guest reads; this class recomputes its read-only bits after every change.
 */
export class RootHub {
  readonly ports: readonly UsbPort[];
  /** Global suspend (USBCMD.EGSM) suspends every device without touching PORTSC.SUSP. */
  private globalSuspend = false;
  /** Bus address → reachable device, behind hubs too; kept current by every change below. */
  readonly devices: DeviceTable;

  constructor(
    private readonly registers: RegisterBlock,
    portCount: number,
    private readonly host: RootHubHost,
  ) {
    this.ports = Array.from({ length: portCount }, (_, i) => new UsbPort(i, this.onPortEvent));
    this.devices = new DeviceTable(this.ports);
  }

  private portsc(index: number): number {
    return this.registers.get(REG.PORTSC1 + index);
  }

  private setPortsc(index: number, value: number): void {
    this.registers.set(REG.PORTSC1 + index, this.withStatusBits(index, value));
  }

  /** Applies the read-only bits that follow from the port's state: CCS, LSDA, line status, bit 7. */
  private withStatusBits(index: number, value: number): number {
    const port = this.ports[index]!;
    let v =
      (value & ~(PortSc.CCS | PortSc.LSDA | PortSc.LINE_DPLUS | PortSc.LINE_DMINUS)) | PortSc.ALWAYS_ONE;
    if (port.connected) {
      v |= PortSc.CCS;
      // Line state idle (J): D+ high at full speed, D− high at low speed; SE0 while in reset (USB 2.0 7.1.7).
      if (port.speed === UsbSpeed.Low) v |= PortSc.LSDA;
      if (!(v & PortSc.PR)) v |= port.speed === UsbSpeed.Low ? PortSc.LINE_DMINUS : PortSc.LINE_DPLUS;
    } else {
      v &= ~PortSc.PE;
    }
    return v;
  }

  /**
   * The ports' part of a controller reset (UHCI 2.1.1):
   * - power-on and GRESET: reset is driven on the bus, so every device returns to its default state
   *   (address 0, unconfigured), and the ports return to their power-on state: disabled, not suspended,
   *   a present device showing as a new connection (CCS, CSC);
   * - HCRESET sends nothing on the bus: the devices are not reset and keep their address and
   *   configuration. It resets each port's connect state machine, which looks like a disconnect: the
   *   port is disabled (PEC if it was enabled), CSC is set, and the device is seen again (CCS, LSDA).
   *   It affects PORTSC bits 8 and 3:0 only: suspend, port reset and resume detect keep their values
   *   (Linux's uhci-hcd clears them itself after an HCRESET for that reason). Nothing is signalled to
   *   the devices: a disabled port carries no traffic, so a suspended device stays suspended.
   */
  reset(kind: ResetKind): void {
    this.globalSuspend = false;
    this.ports.forEach((port, i) => {
      const before = this.portsc(i);
      let value = PortSc.ALWAYS_ONE | (port.connected ? PortSc.CSC : 0);
      if (kind === ResetKind.HostController) {
        if (port.enabled) value |= PortSc.PEC;
        value |= before & (PortSc.SUSP | PortSc.PR | PortSc.RD);
        // Disabled without a word to the device (no bus reset, no resume): its suspend flag stays.
        port.restoreFlags(false, port.suspended);
      } else {
        port.setEnabled(false);
        port.reset();
      }
      this.setPortsc(i, value);
    });
    this.devices.invalidate();
  }

  /** The guest wrote PORTSC n; the register block has applied the masks already. */
  portWritten(index: number, before: number): void {
    const port = this.ports[index]!;
    let value = this.portsc(index);
    if (value & PortSc.PR && !(before & PortSc.PR)) {
      // Reset signalling starts: the device returns to its default state and the port is disabled
      // until software enables it after reset (Linux and SeaBIOS set PE once PR is cleared).
      const device = port.device;
      if (device !== null) this.host.forgetDevice(device);
      port.setEnabled(false);
      port.reset();
      value &= ~PortSc.PE;
    }
    if (value & PortSc.PR) value &= ~PortSc.PE;
    // A port can be enabled only with a device on it (UHCI 2.1.7, PE).
    if (!port.connected) value &= ~(PortSc.PE | PortSc.SUSP);
    port.setEnabled((value & PortSc.PE) !== 0);
    port.setSuspended(this.globalSuspend || (value & PortSc.SUSP) !== 0);
    this.setPortsc(index, value);
    this.devices.invalidate();
  }

  setGlobalSuspend(suspended: boolean): void {
    if (suspended === this.globalSuspend) return;
    this.globalSuspend = suspended;
    this.ports.forEach((port, i) => {
      port.setSuspended(suspended || (this.portsc(i) & PortSc.SUSP) !== 0);
    });
    this.devices.invalidate();
  }

  attach(index: number, device: UsbDevice): void {
    const port = this.ports[index];
    if (port === undefined)
      throw new RangeError(`no port ${index + 1}; the root hub has ${this.ports.length}`);
    port.attach(device);
  }

  detach(index: number): UsbDevice | null {
    const port = this.ports[index];
    if (port === undefined)
      throw new RangeError(`no port ${index + 1}; the root hub has ${this.ports.length}`);
    const device = port.detach();
    if (device !== null) this.host.forgetDevice(device);
    return device;
  }

  /** Global suspend as the root hub applies it (part of a controller snapshot). */
  get globallySuspended(): boolean {
    return this.globalSuspend;
  }

  /**
   * Snapshot restore of the ports, after the controller has restored the registers and the devices
   * restored in place. Each port gets its saved PORTSC and one of:
   * - `keep`: the device on it was restored in place (or the port was and is empty): the saved enable
   *   and suspend flags return, and nothing is signalled;
   * - `replug`: a surprise removal and a fresh connect of the device now on the port (passthrough, a
   *   different device than the saved one, or a device where the saved port was empty): the port goes
   *   through the same disconnect and connect as a real unplug and replug — PEC if it was enabled, CSC,
   *   the device reset — so the guest re-enumerates it;
   * - `removed`: the saved port had a device and the port is empty now: a disconnect.
   */
  restorePorts(globalSuspend: boolean, ports: readonly PortRestore[]): void {
    this.globalSuspend = globalSuspend;
    ports.forEach((plan, i) => {
      const port = this.ports[i]!;
      this.registers.set(REG.PORTSC1 + i, plan.portsc);
      switch (plan.action) {
        case "keep":
          port.restoreFlags(plan.enabled, plan.suspended);
          this.setPortsc(i, plan.portsc);
          break;
        case "replug": {
          const device = port.detach();
          if (device !== null) port.attach(device);
          break;
        }
        case "removed":
          this.onPortEvent(port, PortEvent.Detached);
          break;
      }
    });
    this.devices.invalidate();
  }

  /**
   * The reachable device with this bus address, if any: on an enabled, awake root port, or behind
   * hubs whose ports on the way are all enabled and awake ({@link DeviceTable}; O(1)).
   */
  findDevice(address: number): UsbDevice | null {
    return this.devices.find(address);
  }

  private readonly onPortEvent = (port: UsbPort, event: PortEvent, gone?: UsbDevice | null): void => {
    this.devices.invalidate();
    if (event === PortEvent.DownstreamChanged) {
      // A hub on this port changed what is reachable behind it: nothing this port's PORTSC shows.
      if (gone != null) this.host.forgetDevice(gone);
      return;
    }
    const i = port.index;
    let value = this.portsc(i);
    switch (event) {
      case PortEvent.Attached:
        value = (value | PortSc.CSC) & ~(PortSc.PE | PortSc.SUSP | PortSc.RD);
        break;
      case PortEvent.Detached:
        // A disconnect disables the port: a hardware-caused disable, so PEC is set (UHCI 2.1.7).
        if (value & PortSc.PE) value |= PortSc.PEC;
        value = (value | PortSc.CSC) & ~(PortSc.PE | PortSc.SUSP | PortSc.RD);
        break;
      case PortEvent.RemoteWakeup:
        value |= PortSc.RD;
        break;
    }
    this.setPortsc(i, value);
    this.host.resumeSignalled();
  };
}
