import { UhciController } from "../../controller/uhci/uhci-controller.ts";
import { VirtualClock } from "../../machine/clock.ts";
import { RamGuestMemory } from "../../machine/guest-memory.ts";
import { LevelIrqLine } from "../../machine/irq-line.ts";
import type { UsbDevice } from "../../usb/device.ts";
import { guestMachineFor } from "../machine-adapter.ts";
import { UhciGuestDriver } from "../uhci-guest-driver.ts";

/** A controller with devices plugged in and the guest driver started on it: the integration test rig. */
export function bootGuest(devices: readonly (UsbDevice | null)[] = [], timeoutMs = 200) {
  const memory = new RamGuestMemory(1 << 20);
  const irq = new LevelIrqLine();
  const clock = new VirtualClock();
  const controller = new UhciController({ memory, irq, clock });
  devices.forEach((device, port) => {
    if (device !== null) controller.attach(port, device);
  });
  const machine = guestMachineFor({ controller, memory, irq, clock });
  const driver = UhciGuestDriver.start(machine, { dmaBase: 0x10000, dmaSize: 0x40000, timeoutMs });
  return { memory, irq, clock, controller, machine, driver };
}
