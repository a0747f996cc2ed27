import { connectUsbipTcp, parseUsbipAddress } from "../../node/usbip-tcp.ts";
import { listUsbipDevices, UsbipError } from "../../usbip/connection.ts";
import { speedName, type UsbipDeviceInfo } from "../../usbip/protocol.ts";
import { flagHelp, parseFlags, UsageError } from "../args.ts";

export const USBIP_FLAGS = {
  timeout: {
    kind: "number",
    help: "milliseconds to wait for the connection and the reply (default 5000)",
    min: 1,
    max: 600_000,
    integer: true,
  },
  json: { kind: "boolean", help: "print the list as JSON on stdout" },
} as const;

export const USBIP_HELP = `uhci usbip — talk to a USB/IP server (Linux usbipd, usbipd-win…)

usage: uhci usbip list HOST[:PORT] [options]

  list       the devices the server exports: busid, vid:pid, device class (or the first
             interface's, when the device leaves it to its interfaces), speed, path
             (PORT defaults to 3240)

To give the Linux guest one of them: uhci start --usbip HOST[:PORT]/BUSID (or uhci shell).
Exit status: 0 listed, 1 the server was refused, timed out or sent a reply that does not parse,
2 a usage error.

options:
${flagHelp(USBIP_FLAGS)}`;

function hex(n: number, width: number): string {
  return n.toString(16).padStart(width, "0");
}

/** The class a device shows: its own, or its first interface's when it has none (00). */
function classOf(d: UsbipDeviceInfo): string {
  const own = d.deviceClass;
  const first = d.interfaces[0];
  if (own === 0 && first !== undefined)
    return `${hex(first.cls, 2)}/${hex(first.subClass, 2)}/${hex(first.protocol, 2)} (if0)`;
  return `${hex(own, 2)}/${hex(d.deviceSubClass, 2)}/${hex(d.deviceProtocol, 2)}`;
}

export async function runUsbip(argv: readonly string[]): Promise<number> {
  const [sub, address, ...rest] = argv;
  if (sub !== "list") {
    throw new UsageError(
      sub === undefined
        ? "usage: uhci usbip list HOST[:PORT]"
        : `unknown usbip command '${sub}'; usage: uhci usbip list HOST[:PORT]`,
    );
  }
  if (address === undefined || address.startsWith("-"))
    throw new UsageError("usage: uhci usbip list HOST[:PORT]");
  const flags = parseFlags(rest, USBIP_FLAGS);
  const where = parseUsbipAddress(address);
  if (typeof where === "string") throw new UsageError(where);
  const timeout = flags.timeout ?? 5000;
  let devices: UsbipDeviceInfo[];
  try {
    devices = await listUsbipDevices(connectUsbipTcp(where.host, where.port, timeout), timeout);
  } catch (error) {
    if (error instanceof UsbipError) {
      process.stderr.write(`uhci usbip: ${error.message}\n`);
      return 1;
    }
    throw error;
  }
  if (flags.json) {
    process.stdout.write(`${JSON.stringify(devices, null, 2)}\n`);
    return 0;
  }
  if (devices.length === 0) {
    process.stdout.write(`${address}: no exported devices\n`);
    return 0;
  }
  const rows = devices.map((d) => [
    d.busid,
    `${hex(d.idVendor, 4)}:${hex(d.idProduct, 4)}`,
    classOf(d),
    speedName(d.speed),
    d.path,
  ]);
  const head = ["busid", "vid:pid", "class", "speed", "path"];
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: string[]) =>
    cells.map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i]!))).join("  ");
  process.stdout.write(`${[line(head), ...rows.map(line)].join("\n")}\n`);
  return 0;
}
