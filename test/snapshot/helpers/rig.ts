/**
 * A machine that can be snapshotted and restored into a fresh copy, as an emulator does it: the
 * controller and its devices save their state as JSON, guest RAM is copied byte for byte, and a new
 * controller with new devices (built as the emulator's configuration builds them) restores from both.
 *
 * The software guest driver plays the guest's CPU: its own state lives in JS objects, not in guest RAM,
 * so it is not rebuilt; it is moved over to the new machine ({@link SwitchableMachine}), the way a
 * restored CPU resumes on the restored machine.
 */
import { UhciController } from "../../../src/controller/uhci/uhci-controller.ts";
import type { GuestMachine } from "../../../src/guest/guest-machine.ts";
import { guestMachineFor } from "../../../src/guest/machine-adapter.ts";
import { VirtualClock } from "../../../src/machine/clock.ts";
import { type GuestMemory, RamGuestMemory } from "../../../src/machine/guest-memory.ts";
import { LevelIrqLine } from "../../../src/machine/irq-line.ts";
import type { SavedState } from "../../../src/machine/snapshot.ts";
import type { UsbDevice } from "../../../src/usb/device.ts";

export interface Rig {
  readonly memory: RamGuestMemory;
  readonly irq: LevelIrqLine;
  readonly clock: VirtualClock;
  readonly controller: UhciController;
}

/** Devices by port, or a maker given the machine's clock (for devices that time themselves on it). */
export type DeviceList =
  | readonly (UsbDevice | null)[]
  | ((clock: VirtualClock) => readonly (UsbDevice | null)[]);

/** A controller on its own RAM, IRQ line and clock (starting at `clockStartMs`), devices plugged in. */
export function makeRig(
  devices: DeviceList,
  options: { clockStartMs?: number; memoryBytes?: number } = {},
): Rig {
  const memory = new RamGuestMemory(options.memoryBytes ?? 4 << 20);
  const irq = new LevelIrqLine();
  const clock = new VirtualClock(options.clockStartMs ?? 0);
  const controller = new UhciController({ memory, irq, clock });
  (typeof devices === "function" ? devices(clock) : devices).forEach((device, port) => {
    if (device !== null) controller.attach(port, device);
  });
  return { memory, irq, clock, controller };
}

/** What an emulator's snapshot holds: the controller's JSON (through a string, as it would travel) and RAM. */
export interface Snapshot {
  readonly json: string;
  readonly ram: Uint8Array;
}

export function snapshot(rig: Rig): Snapshot {
  return { json: JSON.stringify(rig.controller.saveState()), ram: rig.memory.bytes.slice() };
}

/** A fresh machine (new controller, new devices, new clock) restored from `snap`. */
export function restore(snap: Snapshot, devices: DeviceList, options: { clockStartMs?: number } = {}): Rig {
  const rig = makeRig(devices, { ...options, memoryBytes: snap.ram.length });
  rig.memory.bytes.set(snap.ram);
  rig.controller.restoreState(JSON.parse(snap.json) as SavedState);
  return rig;
}

/** Guest memory that forwards to whichever machine is current. */
class SwitchableMemory implements GuestMemory {
  constructor(public target: GuestMemory) {}
  get size(): number {
    return this.target.size;
  }
  read32(address: number): number {
    return this.target.read32(address);
  }
  write32(address: number, value: number): boolean {
    return this.target.write32(address, value);
  }
  read(address: number, into: Uint8Array, length: number): boolean {
    return this.target.read(address, into, length);
  }
  write(address: number, from: Uint8Array, length: number): boolean {
    return this.target.write(address, from, length);
  }
}

/** A {@link GuestMachine} whose controller, RAM, IRQ line and clock can be swapped for a restored copy. */
export class SwitchableMachine {
  private current: GuestMachine;
  private readonly memory: SwitchableMemory;
  readonly machine: GuestMachine;

  constructor(rig: Rig) {
    this.memory = new SwitchableMemory(rig.memory);
    this.current = guestMachineFor(rig);
    this.machine = {
      io: {
        read: (offset, width) => this.current.io.read(offset, width),
        write: (offset, width, value) => this.current.io.write(offset, width, value),
      },
      memory: this.memory,
      irqLevel: () => this.current.irqLevel(),
      advance: (ms) => this.current.advance(ms),
    };
  }

  switchTo(rig: Rig): void {
    this.current = guestMachineFor(rig);
    this.memory.target = rig.memory;
  }
}
