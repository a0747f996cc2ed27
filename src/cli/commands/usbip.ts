import { connectUsbipTcp, parseUsbipAddress } from "../../node/usbip-tcp.ts";
import { startUsbipRelay } from "../../node/usbip-ws-relay.ts";
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

export const RELAY_FLAGS = {
  listen: { kind: "string", help: "HOST:PORT the relay listens on (default 127.0.0.1:3241)" },
  "allow-origin": {
    kind: "string",
    help: "only pages from this origin may connect (e.g. http://localhost:5173); default any",
  },
  quiet: { kind: "boolean", help: "no line per connection on stderr" },
} as const;

export const USBIP_HELP = `uhci usbip — talk to a USB/IP server (Linux usbipd, usbipd-win…)

usage: uhci usbip list HOST[:PORT] [options]
       uhci usbip relay HOST[:PORT] [--listen HOST:PORT] [--allow-origin ORIGIN]

  list       the devices the server exports: busid, vid:pid, device class (or the first
             interface's, when the device leaves it to its interfaces), speed, path
             (PORT defaults to 3240)
  relay      a WebSocket relay for browsers (which cannot open TCP): each WebSocket connection
             to ws://127.0.0.1:3241/ is joined to a TCP connection to the server, for
             connectUsbipWebSocket(url) in the page; runs until Ctrl-C

To give the Linux guest one of them: uhci shell --usbip HOST[:PORT]/BUSID.
Exit status: 0 listed, 1 the server was refused, timed out or sent a reply that does not parse,
2 a usage error.

list options:
${flagHelp(USBIP_FLAGS)}

relay options:
${flagHelp(RELAY_FLAGS)}`;

function hex(n: number, width: number): string {
  return n.toString(16).padStart(width, "0");
}

/** The class a device shows: its own, or its first interface's when it has none (00). */
function classOf(d: UsbipDeviceInfo): string {
  const own = d.deviceClass;
  const first = d.interfaces[0];
  if (own === 0 && first !== undefined)
    return `${hex(first.cls, 2)}/${hex(first.subClass, 2)}/${hex(first.protocol, 2)} (if0)`;
  const triple = `${hex(own, 2)}/${hex(d.deviceSubClass, 2)}/${hex(d.deviceProtocol, 2)}`;
  // Class 00 leaves it to the interfaces; a device exported unconfigured (Linux usbip-host drops the
  // configuration on bind) lists none, so there is nothing more to show.
  return own === 0 ? `${triple} (per interface)` : triple;
}

/** The relay's default port: next to USB/IP's 3240. */
const RELAY_PORT = 3241;

const USAGE = "usage: uhci usbip list HOST[:PORT] | uhci usbip relay HOST[:PORT]";

export async function runUsbip(argv: readonly string[]): Promise<number> {
  const [sub, address, ...rest] = argv;
  if (sub === "relay") return runRelay(address, rest);
  if (sub !== "list") {
    throw new UsageError(sub === undefined ? USAGE : `unknown usbip command '${sub}'; ${USAGE}`);
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

async function runRelay(address: string | undefined, rest: readonly string[]): Promise<number> {
  if (address === undefined || address.startsWith("-"))
    throw new UsageError("usage: uhci usbip relay HOST[:PORT]");
  const flags = parseFlags(rest, RELAY_FLAGS);
  const target = parseUsbipAddress(address);
  if (typeof target === "string") throw new UsageError(target);
  const listen = parseUsbipAddress(flags.listen ?? "127.0.0.1:3241");
  // A --listen without a port means the relay's own default, not USB/IP's 3240.
  if (typeof listen !== "string" && flags.listen !== undefined && !/:\d+$/.test(flags.listen))
    listen.port = RELAY_PORT;
  if (typeof listen === "string") throw new UsageError(`--listen: ${listen}`);
  const log = flags.quiet ? () => {} : (line: string) => process.stderr.write(`uhci usbip relay: ${line}\n`);
  const relay = await startUsbipRelay({
    target,
    listenHost: listen.host,
    listenPort: listen.port,
    ...(flags["allow-origin"] === undefined ? {} : { allowOrigins: [flags["allow-origin"]] }),
    log,
  });
  // Listening for the signals before saying where we listen: whoever reads that line may stop us at once.
  const stopped = new Promise<void>((resolve) => {
    process.once("SIGINT", resolve);
    process.once("SIGTERM", resolve);
  });
  process.stdout.write(`relaying ${relay.url} → ${target.host}:${target.port} (Ctrl-C to stop)\n`);
  await stopped;
  await relay.close();
  return 0;
}
