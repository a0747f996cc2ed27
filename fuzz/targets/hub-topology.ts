/**
 * The controller's address table (controller/uhci/device-table.ts) under random hub topologies: hubs
 * and devices plugged in and out anywhere (hubs behind hubs, past the tier limit), root ports reset,
 * enabled, disabled and suspended through PORTSC, global suspend, hub ports powered, reset, enabled,
 * disabled, suspended and resumed through the hubs' class requests, hubs reset and deconfigured, and
 * devices given new addresses.
 *
 * After every step, for every bus address, `findDevice` must give what an independent walk of the
 * topology gives: the first device in port order (depth first) whose whole path is active — each root
 * port PE set and SUSP clear with the bus not globally suspended (UHCI 2.1.7; 2.1.1 EGSM, FGR), each hub port
 * enabled and not suspended as its wPortStatus says (USB 2.0 11.24.2.7.1) — at tier 7 or less (USB 2.0
 * 4.1.1). The walk reads only registers and hub port status, never the table or `UsbPort.active`.
 *
 * An address changed by a control transfer is seen by the frame walker, which tells the table
 * (`devicesChanged`); this target sends requests straight to the devices, so it tells the table itself
 * after a SET_ADDRESS, as the walker would.
 */

import { UhciController } from "../../src/controller/uhci/uhci-controller.ts";
import { UsbKeyboard } from "../../src/devices/hid/keyboard.ts";
import { UsbMouse } from "../../src/devices/hid/mouse.ts";
import { PortStatus } from "../../src/devices/hub/hub-constants.ts";
import { UsbHub } from "../../src/devices/hub/usb-hub.ts";
import { VirtualClock } from "../../src/machine/clock.ts";
import { RamGuestMemory } from "../../src/machine/guest-memory.ts";
import { LevelIrqLine } from "../../src/machine/irq-line.ts";
import type { UsbDevice } from "../../src/usb/device.ts";
import { SetupPacket } from "../../src/usb/setup-packet.ts";
import { PacketHost } from "../../src/usb/testing/packet-host.ts";
import { FuzzRandom } from "../lib/random.ts";
import { check, type FuzzTarget, type Trace } from "../lib/target.ts";

const PORTSC1 = 0x10;
const USBCMD = 0x00;
const PORT = { CSC: 1 << 1, PE: 1 << 2, PEC: 1 << 3, RD: 1 << 6, PR: 1 << 9, SUSP: 1 << 12 } as const;
const USBSTS = 0x02;
const EGSM = 1 << 3;
const FGR = 1 << 4;
const HCHALTED = 1 << 5;
/** Port feature selectors a hub driver sets and clears (USB 2.0 table 11-17). */
const FEATURES = [1, 2, 4, 8, 16, 17, 18, 20] as const;
const MAX_TIERS = 7;

class TopologyRun {
  private readonly rng: FuzzRandom;
  private readonly controller: UhciController;
  private readonly devices: UsbDevice[] = [];
  /** Where each device is plugged in: its parent (null = a root port) and port index. */
  private readonly place = new Map<UsbDevice, { parent: UsbHub | null; port: number }>();

  constructor(
    seed: number,
    private readonly trace: Trace,
  ) {
    const rng = new FuzzRandom(seed);
    this.rng = rng;
    this.controller = new UhciController({
      memory: new RamGuestMemory(0x1000),
      irq: new LevelIrqLine(),
      clock: new VirtualClock(),
      ports: rng.int(1, 3),
    });
    const hubs = rng.int(1, 8);
    for (let i = 0; i < hubs; i++) this.devices.push(new UsbHub({ ports: rng.int(1, 4), name: `hub${i}` }));
    const leaves = rng.int(1, 6);
    for (let i = 0; i < leaves; i++) this.devices.push(rng.chance(0.5) ? new UsbKeyboard() : new UsbMouse());
  }

  run(): void {
    const steps = this.rng.int(20, 150);
    for (let i = 0; i < steps; i++) {
      switch (this.rng.weighted([20, 6, 12, 3, 25, 5, 12])) {
        case 0:
          this.plugSomething();
          break;
        case 1:
          this.unplugSomething();
          break;
        case 2:
          this.rootPortWrite();
          break;
        case 3:
          this.globalSuspend();
          break;
        case 4:
          this.hubPortRequest();
          break;
        case 5:
          this.hubConfiguration();
          break;
        default:
          this.setAddress();
      }
      this.checkTable();
    }
  }

  // ---- steps ----------------------------------------------------------------------------------------

  private plugSomething(): void {
    const device = this.rng.pick(this.devices);
    if (this.place.has(device)) return;
    const free: { parent: UsbHub | null; port: number }[] = [];
    this.controller.ports.forEach((p, i) => {
      if (p.device === null) free.push({ parent: null, port: i });
    });
    for (const hub of this.devices) {
      if (!(hub instanceof UsbHub) || this.isWithin(hub, device)) continue;
      hub.downstreamPorts.forEach((p, i) => {
        if (p.device === null) free.push({ parent: hub, port: i });
      });
    }
    if (free.length === 0) return;
    const at = this.rng.pick(free);
    this.trace?.(`plug ${device.name} into ${at.parent?.name ?? "root"} port ${at.port + 1}`);
    if (at.parent === null) this.controller.attach(at.port, device);
    else at.parent.attach(at.port, device);
    this.place.set(device, at);
  }

  private unplugSomething(): void {
    const plugged = [...this.place.keys()];
    if (plugged.length === 0) return;
    const device = this.rng.pick(plugged);
    const at = this.place.get(device)!;
    this.trace?.(`unplug ${device.name} from ${at.parent?.name ?? "root"} port ${at.port + 1}`);
    const gone = at.parent === null ? this.controller.detach(at.port) : at.parent.detach(at.port);
    check(gone === device, "detach returned another device");
    this.place.delete(device);
  }

  private rootPortWrite(): void {
    const rng = this.rng;
    const port = rng.below(this.controller.ports.length);
    const bits = rng.pick([
      PORT.PR,
      PORT.PE,
      PORT.PE | PORT.SUSP,
      0,
      PORT.PE | PORT.CSC | PORT.PEC,
      rng.below(0x10000),
    ]);
    this.trace?.(`PORTSC${port + 1} = 0x${bits.toString(16)}`);
    this.controller.ioWrite(PORTSC1 + 2 * port, 2, bits);
    if (bits & PORT.PR) this.controller.ioWrite(PORTSC1 + 2 * port, 2, 0);
  }

  private globalSuspend(): void {
    const on = this.rng.chance(0.5);
    this.trace?.(`global suspend ${on}`);
    this.controller.ioWrite(USBCMD, 2, on ? EGSM : 0);
  }

  private hubPortRequest(): void {
    const hub = this.pickHub();
    if (hub === null) return;
    const rng = this.rng;
    const port = rng.chance(0.95) ? rng.int(1, hub.portCount) : rng.below(9);
    const set = rng.chance(0.6);
    const feature = rng.pick(FEATURES);
    this.trace?.(`${hub.name}: ${set ? "SET" : "CLEAR"}_FEATURE(${feature}) port ${port}`);
    new PacketHost(hub).control(SetupPacket.of(0x23, set ? 3 : 1, feature, port));
  }

  private hubConfiguration(): void {
    const hub = this.pickHub();
    if (hub === null) return;
    const what = this.rng.below(3);
    this.trace?.(`${hub.name}: ${["SET_CONFIGURATION(0)", "SET_CONFIGURATION(1)", "bus reset"][what]}`);
    if (what !== 2) {
      new PacketHost(hub).control(SetupPacket.of(0x00, 9, what));
      return;
    }
    // A bus reset comes from the port the hub is on, as on a real bus.
    const at = this.place.get(hub);
    if (at === undefined) hub.reset();
    else if (at.parent === null) {
      this.controller.ioWrite(PORTSC1 + 2 * at.port, 2, PORT.PR);
      this.controller.ioWrite(PORTSC1 + 2 * at.port, 2, 0);
    } else new PacketHost(at.parent).control(SetupPacket.of(0x23, 3, 4, at.port + 1));
  }

  private setAddress(): void {
    const device = this.rng.pick(this.devices);
    const address = this.rng.chance(0.8) ? this.rng.int(1, 12) : this.rng.below(128);
    this.trace?.(`${device.name}: SET_ADDRESS(${address})`);
    new PacketHost(device).control(SetupPacket.of(0x00, 5, address));
    // What the frame walker does after a control transaction that changed an address.
    this.controller.rootHub.devices.invalidate();
  }

  // ---- the oracle -----------------------------------------------------------------------------------

  private checkTable(): void {
    const expected = new Array<UsbDevice | null>(128).fill(null);
    // UHCI 2.1.1: global suspend holds while EGSM is set, FGR clear and the controller halted (a
    // connect or a wakeup during it sets FGR: the bus resumes).
    const cmd = this.controller.ioRead(USBCMD, 2);
    const halted = (this.controller.ioRead(USBSTS, 2) & HCHALTED) !== 0;
    const globallySuspended = (cmd & EGSM) !== 0 && (cmd & FGR) === 0 && halted;
    this.controller.ports.forEach((port, i) => {
      const portsc = this.controller.ioRead(PORTSC1 + 2 * i, 2);
      const device = port.device;
      if (device === null || globallySuspended || !(portsc & PORT.PE) || portsc & PORT.SUSP) return;
      this.expect(expected, device, 2);
    });
    for (let address = 0; address < 128; address++) {
      const found = this.controller.rootHub.findDevice(address);
      const want = expected[address] ?? null;
      check(
        found === want,
        () =>
          `address ${address}: the table gives ${found?.name ?? "nothing"}, the topology ${want?.name ?? "nothing"}`,
      );
    }
  }

  private expect(expected: (UsbDevice | null)[], device: UsbDevice, tier: number): void {
    if (expected[device.address] === null) expected[device.address] = device;
    if (!(device instanceof UsbHub) || tier >= MAX_TIERS) return;
    device.downstreamPorts.forEach((port, i) => {
      const status = device.portStatus(i);
      if (port.device === null || !(status & PortStatus.Enable) || status & PortStatus.Suspend) return;
      this.expect(expected, port.device, tier + 1);
    });
  }

  private pickHub(): UsbHub | null {
    const hubs = this.devices.filter((d): d is UsbHub => d instanceof UsbHub);
    return hubs.length === 0 ? null : this.rng.pick(hubs);
  }

  /** Whether `hub` is `device` or plugged in somewhere behind it (plugging device there would loop). */
  private isWithin(hub: UsbHub, device: UsbDevice): boolean {
    for (let at: UsbDevice | null = hub; at !== null; at = this.place.get(at)?.parent ?? null) {
      if (at === device) return true;
    }
    return false;
  }
}

export const hubTopologyTarget: FuzzTarget = {
  name: "hub-topology",
  summary:
    "random hub trees, plugs, PORTSC writes, global suspend, hub port requests and new addresses: the " +
    "controller's address table gives, for every address, the first device whose whole path is active",
  run(seed, trace) {
    new TopologyRun(seed, trace).run();
  },
};
