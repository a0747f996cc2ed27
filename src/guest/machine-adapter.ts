import type { GuestMemory } from "../machine/guest-memory.ts";
import type { GuestMachine, IoWidth } from "./guest-machine.ts";

/** The bus face of a controller as this adapter needs it (structural: no import of the controller). */
export interface IoPortDevice {
  ioRead(offset: number, width: IoWidth): number;
  ioWrite(offset: number, width: IoWidth, value: number): void;
}

/**
 * Wires a controller, its RAM, its IRQ line and a clock that moves only when told into a
 * {@link GuestMachine}, e.g. for our own controller:
 *
 * ```ts
 * const memory = new RamGuestMemory(1 << 20);
 * const irq = new LevelIrqLine();
 * const clock = new VirtualClock();
 * const controller = new UhciController({ memory, irq, clock });
 * const machine = guestMachineFor({ controller, memory, irq, clock });
 * ```
 */
export function guestMachineFor(parts: {
  readonly controller: IoPortDevice;
  readonly memory: GuestMemory;
  readonly irq: { readonly level: boolean };
  readonly clock: { advance(ms: number): void };
}): GuestMachine {
  const { controller, memory, irq, clock } = parts;
  return {
    io: {
      read: (offset, width) => controller.ioRead(offset, width),
      write: (offset, width, value) => controller.ioWrite(offset, width, value),
    },
    memory,
    irqLevel: () => irq.level,
    advance: (ms) => clock.advance(ms),
  };
}
