import type { UhciOnV86 } from "../adapters/v86/uhci-v86.ts";
import type { UsbHub } from "../devices/hub/usb-hub.ts";
import type { Clock } from "../machine/clock.ts";
import { connectUsbipTcp, parseUsbipAddress } from "../node/usbip-tcp.ts";
import type { UsbDevice } from "../usb/device.ts";
import { importUsbipDevice, type UsbipConnection, UsbipError } from "../usbip/connection.ts";
import { UsbipDevice } from "../usbip/usbip-device.ts";
import { UsageError } from "./args.ts";

/** One `--usbip HOST[:PORT]/BUSID`. */
export interface UsbipSpec {
  readonly host: string;
  readonly port: number;
  readonly busid: string;
  readonly text: string;
}

export const USBIP_OPTION_HELP =
  "  --usbip HOST[:PORT]/BUSID  a device from a USB/IP server on the next free root port (repeatable;\n" +
  "                             `uhci usbip list HOST` shows the busids; PORT defaults to 3240)";

/** Takes every `--usbip X` / `--usbip=X` out of `argv` (parseFlags has no repeatable flags). */
export function extractUsbipSpecs(argv: readonly string[]): { rest: string[]; specs: UsbipSpec[] } {
  const rest: string[] = [];
  const specs: UsbipSpec[] = [];
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    let value: string | undefined;
    if (arg === "--usbip") {
      value = argv[++i];
      if (value === undefined || value.startsWith("-"))
        throw new UsageError("option '--usbip' needs HOST[:PORT]/BUSID");
    } else if (arg.startsWith("--usbip=")) value = arg.slice("--usbip=".length);
    else {
      rest.push(arg);
      continue;
    }
    specs.push(parseUsbipSpec(value));
  }
  return { rest, specs };
}

export function parseUsbipSpec(text: string): UsbipSpec {
  const slash = text.lastIndexOf("/");
  if (slash <= 0 || slash === text.length - 1) {
    throw new UsageError(`--usbip '${text}': expected HOST[:PORT]/BUSID, e.g. 127.0.0.1:3240/1-1`);
  }
  const where = parseUsbipAddress(text.slice(0, slash));
  if (typeof where === "string") throw new UsageError(`--usbip '${text}': ${where}`);
  return { ...where, busid: text.slice(slash + 1), text };
}

/** Imports every device before the guest boots, so a refused server or busid fails at once (exit 1). */
export async function importAll(specs: readonly UsbipSpec[], timeoutMs = 5000): Promise<UsbipConnection[]> {
  const connections: UsbipConnection[] = [];
  try {
    for (const spec of specs) {
      connections.push(
        await importUsbipDevice(connectUsbipTcp(spec.host, spec.port, timeoutMs), spec.busid, timeoutMs),
      );
    }
  } catch (error) {
    for (const c of connections) c.close();
    if (error instanceof UsbipError) throw new Error(`--usbip: ${error.message}`);
    throw error;
  }
  return connections;
}

/** Where imported devices plug in: the controller's root ports, or a hub's downstream ports. */
export interface UsbipPorts {
  attach(portIndex: number, device: UsbDevice): void;
  /** Unplugs `device` from `portIndex` if it is still the one there. */
  detachIf(portIndex: number, device: UsbDevice): void;
}

/** The controller's root ports as {@link UsbipPorts}. */
export function rootPorts(handle: UhciOnV86): UsbipPorts {
  const controller = handle.controller;
  return {
    attach: (i, device) => controller.attach(i, device),
    detachIf: (i, device) => {
      if (controller.ports[i]?.device === device) controller.detach(i);
    },
  };
}

/** A hub's downstream ports (0-based) as {@link UsbipPorts}. */
export function hubPorts(hub: UsbHub): UsbipPorts {
  return {
    attach: (i, device) => hub.attach(i, device),
    detachIf: (i, device) => {
      if (hub.downstreamPorts[i]?.device === device) hub.detach(i);
    },
  };
}

/**
 * Plugs the imported devices into root ports `firstPort`… of the controller once it exists. A device
 * whose connection ends is unplugged (the guest sees a disconnect) and `onGone` says why; the guest
 * and the emulator carry on.
 */
export function plugUsbip(
  handle: UhciOnV86,
  connections: readonly UsbipConnection[],
  firstPort: number,
  onGone: (busid: string, message: string) => void,
): UsbipDevice[] {
  return plugUsbipInto(handle.clock, rootPorts(handle), connections, firstPort, onGone);
}

/** {@link plugUsbip} into any ports (`uhci start` plugs them in behind its hub); `index` is the connection's. */
export function plugUsbipInto(
  clock: Clock,
  ports: UsbipPorts,
  connections: readonly UsbipConnection[],
  firstPort: number,
  onGone: (busid: string, message: string, index: number) => void,
): UsbipDevice[] {
  return connections.map((connection, i) => {
    const port = firstPort + i;
    const device = new UsbipDevice(connection, { clock });
    device.onGone = (error) => {
      ports.detachIf(port, device);
      // Closed from this side (the job or the shell ended): nothing to report.
      if (error !== null) onGone(connection.device.busid, error.message, i);
    };
    ports.attach(port, device);
    return device;
  });
}
