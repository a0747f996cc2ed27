/**
 * The WebSocket relay with a WebSocket client that is not ours (Node's own, undici, behind
 * --experimental-websocket in a child process) and our browser transport, against the in-process
 * USB/IP server bridged to TCP: a device list, an import and a control transfer go through it bit for
 * bit; the relay refuses an origin it was not told to allow, and closes the page's side when the
 * server goes.
 */
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { createServer, type Server, type Socket } from "node:net";
import { after, before, describe, it } from "node:test";
import { fileURLToPath } from "node:url";
import { UsbKeyboard } from "../devices/hid/keyboard.ts";
import { VirtualClock } from "../machine/clock.ts";
import { FakeUsbipServer } from "../usbip/testing/fake-server.ts";
import { startUsbipRelay, type UsbipRelay } from "./usbip-ws-relay.ts";

const transportModule = fileURLToPath(new URL("../usbip/websocket-transport.ts", import.meta.url));
const connectionModule = fileURLToPath(new URL("../usbip/connection.ts", import.meta.url));

/** Runs `code` (an ES module) in a child Node with a global WebSocket; resolves with its stdout. */
function child(code: string): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      ["--experimental-websocket", "--no-warnings", "--import", "tsx", "--input-type=module", "-e", code],
      { encoding: "utf8", timeout: 30_000 },
      (error, stdout, stderr) =>
        resolve({
          code: error === null ? 0 : typeof error.code === "number" ? error.code : -1,
          stdout,
          stderr,
        }),
    );
  });
}

describe("USB/IP WebSocket relay", () => {
  let tcp: Server;
  let relay: UsbipRelay;
  let strict: UsbipRelay;
  const sockets: Socket[] = [];
  before(async () => {
    const clock = new VirtualClock();
    const fake = new FakeUsbipServer(clock, [{ busid: "1-1", device: new UsbKeyboard(), idVendor: 0x0627 }]);
    tcp = createServer((socket) => {
      sockets.push(socket);
      void fake.connect().then((end) => {
        end.onData = (chunk) => socket.write(chunk);
        socket.on("data", (chunk) => {
          end.send(chunk);
          // URB replies are timed on the fake server's clock: let it run.
          setImmediate(() => clock.advance(1));
        });
        socket.on("error", () => end.close());
      });
    });
    await new Promise<void>((resolve) => tcp.listen(0, "127.0.0.1", () => resolve()));
    const address = tcp.address();
    const port = typeof address === "object" && address !== null ? address.port : 0;
    relay = await startUsbipRelay({ target: { host: "127.0.0.1", port } });
    strict = await startUsbipRelay({
      target: { host: "127.0.0.1", port },
      allowOrigins: ["http://good.example"],
    });
  });
  after(async () => {
    await relay.close();
    await strict.close();
    for (const s of sockets) s.destroy();
    tcp.close();
  });

  it("carries a device list, an import and a control transfer", async () => {
    const r = await child(`
      import { connectUsbipWebSocket } from ${JSON.stringify(transportModule)};
      import { listUsbipDevices, importUsbipDevice } from ${JSON.stringify(connectionModule)};
      const connect = connectUsbipWebSocket(${JSON.stringify(relay.url)});
      const list = await listUsbipDevices(connect);
      const connection = await importUsbipDevice(connect, "1-1");
      const reply = await new Promise((resolve) => {
        connection.submit({ urbCompleted: (urb, r) => resolve([r.status, ...r.data.subarray(r.dataAt, r.dataAt + r.dataLength)]) },
          0, true, 0, 18, { setup: Uint8Array.of(0x80, 6, 0, 1, 0, 0, 18, 0) });
      });
      connection.close();
      console.log(JSON.stringify({ busids: list.map((d) => d.busid), vendor: list[0].idVendor, reply }));
    `);
    assert.equal(r.code, 0, r.stderr);
    const out = JSON.parse(r.stdout) as { busids: string[]; vendor: number; reply: number[] };
    assert.deepEqual(out.busids, ["1-1"]);
    assert.equal(out.vendor, 0x0627);
    const [status, ...descriptor] = out.reply;
    assert.equal(status, 0);
    assert.equal(descriptor.length, 18);
    assert.deepEqual(descriptor.slice(0, 2), [18, 1], "a device descriptor, through the relay");
    assert.ok(relay.connections >= 2);
  });

  it("refuses a page from an origin it was not told to allow", async () => {
    const before = strict.connections;
    const r = await child(`
      import { connectUsbipWebSocket } from ${JSON.stringify(transportModule)};
      try {
        await connectUsbipWebSocket(${JSON.stringify(strict.url)}, { timeoutMs: 3000 })();
        console.log("opened");
      } catch (error) {
        console.log("refused: " + error.message);
      }
    `);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^refused: WebSocket .*(refused|closed before it opened)/);
    assert.equal(strict.connections, before);
  });
});
