import { Socket } from "node:net";
import { UsbipError } from "../usbip/connection.ts";
import { USBIP_DEFAULT_PORT } from "../usbip/protocol.ts";
import type { UsbipConnect, UsbipTransport } from "../usbip/transport.ts";

/** How long a TCP connect may take; default 5 s. */
export const DEFAULT_CONNECT_TIMEOUT_MS = 5000;

/** `HOST`, `HOST:PORT` or `[V6]:PORT` → host and port (3240 when none is given); an error string when it does not parse. */
export function parseUsbipAddress(text: string): { host: string; port: number } | string {
  const m = /^(?:\[([^\]]+)\]|([^:[\]]+))(?::(\d+))?$/.exec(text.trim());
  if (m === null) return `'${text}' is not HOST or HOST:PORT`;
  const host = m[1] ?? m[2] ?? "";
  const port = m[3] === undefined ? USBIP_DEFAULT_PORT : Number(m[3]);
  if (!Number.isInteger(port) || port < 1 || port > 65535) return `port ${m[3]} must be 1–65535`;
  return { host, port };
}

class TcpTransport implements UsbipTransport {
  onData: ((chunk: Uint8Array) => void) | null = null;
  onClose: ((error: Error | null) => void) | null = null;
  private closed = false;

  constructor(private readonly socket: Socket) {
    socket.setNoDelay(true);
    socket.on("data", (chunk: Buffer) => {
      try {
        this.onData?.(chunk);
      } catch {
        // The client never throws from its handlers; a throw here would be a bug, not the server's doing.
      }
    });
    let error: Error | null = null;
    socket.on("error", (e) => {
      error = e;
    });
    socket.on("close", () => {
      if (this.closed) return;
      this.closed = true;
      this.onClose?.(error);
    });
  }

  send(bytes: Uint8Array): void {
    if (!this.closed) this.socket.write(bytes);
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.socket.destroy();
  }
}

/**
 * A {@link UsbipConnect} over TCP (`node:net`, Nagle off: URBs are small and latency-bound). Connection
 * refused, a name that does not resolve, or no answer within `timeoutMs` reject with a UsbipError
 * that says which.
 */
export function connectUsbipTcp(
  host: string,
  port = USBIP_DEFAULT_PORT,
  timeoutMs = DEFAULT_CONNECT_TIMEOUT_MS,
): UsbipConnect {
  return () =>
    new Promise<UsbipTransport>((resolve, reject) => {
      const socket = new Socket();
      const where = `${host.includes(":") ? `[${host}]` : host}:${port}`;
      const timer = setTimeout(() => {
        socket.destroy();
        reject(new UsbipError(`connect to ${where}: no answer within ${timeoutMs} ms`));
      }, timeoutMs);
      socket.once("error", (e: NodeJS.ErrnoException) => {
        clearTimeout(timer);
        const why =
          e.code === "ECONNREFUSED"
            ? "connection refused (is usbipd running there?)"
            : e.code === "ENOTFOUND" || e.code === "EAI_AGAIN"
              ? "host not found"
              : e.message;
        reject(new UsbipError(`connect to ${where}: ${why}`));
      });
      socket.connect(port, host, () => {
        clearTimeout(timer);
        socket.removeAllListeners("error");
        resolve(new TcpTransport(socket));
      });
    });
}
