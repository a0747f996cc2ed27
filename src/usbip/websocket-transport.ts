import { UsbipError } from "./connection.ts";
import type { UsbipConnect, UsbipTransport } from "./transport.ts";

/** The part of the browser's `WebSocket` the transport uses (so tests and other runtimes can pass theirs). */
export interface WebSocketLike {
  binaryType: string;
  readonly readyState: number;
  send(data: Uint8Array): void;
  close(code?: number, reason?: string): void;
  onopen: ((event: unknown) => void) | null;
  onmessage: ((event: { readonly data: unknown }) => void) | null;
  onclose: ((event: { readonly code: number; readonly reason: string }) => void) | null;
  onerror: ((event: unknown) => void) | null;
}

export type WebSocketConstructor = new (url: string) => WebSocketLike;

class WebSocketTransport implements UsbipTransport {
  onData: ((chunk: Uint8Array) => void) | null = null;
  onClose: ((error: Error | null) => void) | null = null;
  private closed = false;

  constructor(private readonly socket: WebSocketLike) {
    socket.onmessage = (event) => {
      const data = event.data;
      // Binary frames only (binaryType "arraybuffer"); anything else is not USB/IP and ends the stream.
      if (data instanceof ArrayBuffer) this.onData?.(new Uint8Array(data));
      else if (ArrayBuffer.isView(data))
        this.onData?.(new Uint8Array(data.buffer, data.byteOffset, data.byteLength));
      else this.fail(new Error("the relay sent a text message"));
    };
    socket.onclose = (event) =>
      this.fail(
        event.code === 1000
          ? null
          : new Error(`WebSocket closed (${event.code}${event.reason ? `: ${event.reason}` : ""})`),
      );
    socket.onerror = () => {};
  }

  private fail(error: Error | null): void {
    if (this.closed) return;
    this.closed = true;
    this.socket.onmessage = null;
    this.socket.onclose = null;
    try {
      this.socket.close();
    } catch {
      // Already closing: nothing to do.
    }
    this.onClose?.(error);
  }

  send(bytes: Uint8Array): void {
    if (!this.closed) this.socket.send(bytes);
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.socket.onmessage = null;
    this.socket.onclose = null;
    this.socket.close(1000);
  }
}

/**
 * A {@link UsbipConnect} over a WebSocket, for browsers: each connection is one WebSocket to a relay
 * that joins it to the USB/IP server's TCP port (`uhci usbip relay`), binary frames carrying the
 * stream's bytes as they are. `WebSocket` defaults to the global one.
 */
export function connectUsbipWebSocket(
  url: string,
  options: { readonly timeoutMs?: number; readonly WebSocket?: WebSocketConstructor } = {},
): UsbipConnect {
  return () =>
    new Promise<UsbipTransport>((resolve, reject) => {
      const Ctor = options.WebSocket ?? (globalThis as { WebSocket?: WebSocketConstructor }).WebSocket;
      if (Ctor === undefined) {
        reject(new UsbipError("no WebSocket in this runtime (Node 20 needs --experimental-websocket)"));
        return;
      }
      let socket: WebSocketLike;
      try {
        socket = new Ctor(url);
      } catch (error) {
        reject(new UsbipError(`WebSocket ${url}: ${error instanceof Error ? error.message : String(error)}`));
        return;
      }
      socket.binaryType = "arraybuffer";
      const timeoutMs = options.timeoutMs ?? 5000;
      const timer = setTimeout(() => {
        socket.onopen = socket.onclose = socket.onerror = null;
        socket.close();
        reject(new UsbipError(`WebSocket ${url}: no answer within ${timeoutMs} ms`));
      }, timeoutMs);
      socket.onopen = () => {
        clearTimeout(timer);
        socket.onopen = null;
        resolve(new WebSocketTransport(socket));
      };
      // A refused handshake: browsers fire error then close, Node's WebSocket only error.
      socket.onerror = () => {
        clearTimeout(timer);
        socket.onopen = socket.onclose = socket.onerror = null;
        reject(new UsbipError(`WebSocket ${url}: the relay refused or could not be reached`));
      };
      socket.onclose = (event) => {
        clearTimeout(timer);
        reject(
          new UsbipError(
            `WebSocket ${url}: closed before it opened (${event.code}${event.reason ? `: ${event.reason}` : ""})`,
          ),
        );
      };
    });
}
