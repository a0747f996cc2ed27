import { createHash } from "node:crypto";
import { createServer, type IncomingMessage } from "node:http";
import { type Socket, connect as tcpConnect } from "node:net";

/** RFC 6455 1.3: the GUID a server appends to Sec-WebSocket-Key. */
const WS_GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";
/** The largest frame accepted from a browser; a USB/IP message is far smaller. */
const MAX_FRAME = 4 << 20;

export interface UsbipRelayOptions {
  /** Where the USB/IP server listens. */
  readonly target: { readonly host: string; readonly port: number };
  /** Where the relay listens; default 127.0.0.1 and a free port (0). */
  readonly listenHost?: string;
  readonly listenPort?: number;
  /** Origins (the page's `Origin` header) allowed; empty or absent: every origin. */
  readonly allowOrigins?: readonly string[];
  readonly log?: (line: string) => void;
}

export interface UsbipRelay {
  readonly port: number;
  readonly url: string;
  /** Connections relayed so far. */
  readonly connections: number;
  close(): Promise<void>;
}

/**
 * A WebSocket → TCP relay for browsers (which cannot open TCP): every WebSocket connection to it is
 * joined to a fresh TCP connection to the one configured USB/IP server, binary frames carrying the
 * stream's bytes both ways. The WebSocket side is RFC 6455 written out here (handshake, masked client
 * frames, ping/pong, close), so the package keeps no dependencies. It relays only to `target`, and
 * listens on 127.0.0.1 unless told otherwise.
 */
export function startUsbipRelay(options: UsbipRelayOptions): Promise<UsbipRelay> {
  const log = options.log ?? (() => {});
  let connections = 0;
  const sockets = new Set<Socket>();
  const server = createServer((_req, res) => {
    res.writeHead(426, { "content-type": "text/plain" });
    res.end("a USB/IP WebSocket relay: connect with a WebSocket\n");
  });
  server.on("upgrade", (req: IncomingMessage, socket: Socket, head: Buffer) => {
    const key = req.headers["sec-websocket-key"];
    const origin = req.headers.origin;
    const allowed = options.allowOrigins ?? [];
    if (typeof key !== "string" || req.headers.upgrade?.toLowerCase() !== "websocket") {
      socket.end("HTTP/1.1 400 Bad Request\r\n\r\n");
      return;
    }
    if (allowed.length > 0 && (origin === undefined || !allowed.includes(origin))) {
      socket.end("HTTP/1.1 403 Forbidden\r\n\r\n");
      log(`refused a connection from origin ${origin ?? "(none)"}`);
      return;
    }
    const accept = createHash("sha1")
      .update(key + WS_GUID)
      .digest("base64");
    socket.write(
      `HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${accept}\r\n\r\n`,
    );
    socket.setNoDelay(true);
    connections++;
    sockets.add(socket);
    const tcp = tcpConnect(options.target.port, options.target.host);
    tcp.setNoDelay(true);
    sockets.add(tcp);
    const end = (why: string) => {
      if (socket.destroyed && tcp.destroyed) return;
      log(`connection ${connections} ended: ${why}`);
      if (!socket.destroyed) socket.end(frame(0x8, Buffer.alloc(0)));
      tcp.destroy();
      sockets.delete(socket);
      sockets.delete(tcp);
    };
    tcp.on("data", (chunk: Buffer) => socket.write(frame(0x2, chunk)));
    tcp.on("error", (e) => end(`server: ${e.message}`));
    tcp.on("close", () => end("the server closed"));
    let pending: Buffer = head.length > 0 ? Buffer.from(head) : Buffer.alloc(0);
    const onBytes = (chunk: Buffer) => {
      pending = pending.length === 0 ? chunk : Buffer.concat([pending, chunk]);
      for (;;) {
        const f = readFrame(pending);
        if (f === null) return;
        if (f === "too-big" || f === "unmasked") {
          end(f === "too-big" ? "a frame beyond 4 MiB" : "an unmasked client frame (RFC 6455 5.1)");
          return;
        }
        pending = pending.subarray(f.consumed);
        if (f.opcode === 0x2 || f.opcode === 0x0) tcp.write(f.payload);
        else if (f.opcode === 0x9) socket.write(frame(0xa, f.payload));
        else if (f.opcode === 0x8) {
          end("the page closed");
          return;
        } else if (f.opcode === 0x1) {
          end("a text frame (USB/IP is binary)");
          return;
        }
      }
    };
    socket.on("data", onBytes);
    socket.on("error", (e) => end(`page: ${e.message}`));
    socket.on("close", () => end("the page went away"));
    if (pending.length > 0) {
      const first = pending;
      pending = Buffer.alloc(0);
      onBytes(first);
    }
  });
  return new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(options.listenPort ?? 0, options.listenHost ?? "127.0.0.1", () => {
      const address = server.address();
      const port = typeof address === "object" && address !== null ? address.port : 0;
      const host = options.listenHost ?? "127.0.0.1";
      resolve({
        port,
        url: `ws://${host.includes(":") ? `[${host}]` : host}:${port}/`,
        get connections() {
          return connections;
        },
        close: () =>
          new Promise<void>((done) => {
            for (const s of sockets) s.destroy();
            server.close(() => done());
          }),
      });
    });
  });
}

/** One unmasked server frame (RFC 6455 5.2), FIN set. */
function frame(opcode: number, payload: Buffer): Buffer {
  const n = payload.length;
  const head = n < 126 ? 2 : n < 65536 ? 4 : 10;
  const out = Buffer.allocUnsafe(head + n);
  out[0] = 0x80 | opcode;
  if (n < 126) out[1] = n;
  else if (n < 65536) {
    out[1] = 126;
    out.writeUInt16BE(n, 2);
  } else {
    out[1] = 127;
    out.writeUInt32BE(0, 2);
    out.writeUInt32BE(n, 6);
  }
  payload.copy(out, head);
  return out;
}

/** A client frame from the front of `b`: null while incomplete. Client frames must be masked (RFC 6455 5.1). */
function readFrame(
  b: Buffer,
): { opcode: number; payload: Buffer; consumed: number } | "too-big" | "unmasked" | null {
  if (b.length < 2) return null;
  const opcode = b[0]! & 0x0f;
  const masked = (b[1]! & 0x80) !== 0;
  let length = b[1]! & 0x7f;
  let at = 2;
  if (length === 126) {
    if (b.length < 4) return null;
    length = b.readUInt16BE(2);
    at = 4;
  } else if (length === 127) {
    if (b.length < 10) return null;
    if (b.readUInt32BE(2) !== 0) return "too-big";
    length = b.readUInt32BE(6);
    at = 10;
  }
  if (length > MAX_FRAME) return "too-big";
  if (!masked) return "unmasked";
  if (b.length < at + 4 + length) return null;
  const mask = b.subarray(at, at + 4);
  const payload = Buffer.allocUnsafe(length);
  for (let i = 0; i < length; i++) payload[i] = b[at + 4 + i]! ^ mask[i & 3]!;
  return { opcode, payload, consumed: at + 4 + length };
}
