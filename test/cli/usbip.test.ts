/**
 * `uhci usbip list HOST[:PORT]` as a user runs it, against an in-process USB/IP server over real TCP
 * (the fake server of src/usbip/testing bridged to node:net), and against servers that refuse, stay
 * silent or answer garbage: a table on stdout and exit 0, or one line on stderr and exit 1; usage
 * errors exit 2.
 */
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import type { Server } from "node:net";
import { after, before, describe, it } from "node:test";
import { fileURLToPath } from "node:url";
import { UsbKeyboard } from "../../src/devices/hid/keyboard.ts";
import { UsbTablet } from "../../src/devices/hid/tablet.ts";
import { VirtualClock } from "../../src/machine/clock.ts";
import { FakeUsbipServer } from "../../src/usbip/testing/fake-server.ts";
import { bridgeToFake, listenLocal, runUhci } from "./testing/cli-process.ts";

const main = fileURLToPath(new URL("../../src/cli/main.ts", import.meta.url));

describe("uhci usbip list", () => {
  const servers: Server[] = [];
  let good = 0;
  let silent = 0;
  let garbage = 0;
  let refused = 0;
  before(async () => {
    const fake = new FakeUsbipServer(new VirtualClock(), [
      {
        busid: "1-1",
        device: new UsbKeyboard(),
        idVendor: 0x0627,
        idProduct: 0x0001,
        interfaces: [[3, 1, 1]],
      },
      {
        busid: "1-2.1",
        device: new UsbTablet(),
        idVendor: 0x0627,
        idProduct: 0x0001,
        speed: 3,
        deviceClass: 9,
      },
      { busid: "2-1", device: new UsbTablet(), idVendor: 0x46f4, idProduct: 0x0001 },
    ]);
    const a = await listenLocal(bridgeToFake(fake));
    const b = await listenLocal(() => {});
    const c = await listenLocal((socket) =>
      socket.on("data", () => socket.write(Buffer.from("HTTP/1.1 400 Bad Request\r\n\r\n"))),
    );
    const d = await listenLocal(() => {});
    servers.push(a.server, b.server, c.server);
    good = a.port;
    silent = b.port;
    garbage = c.port;
    refused = d.port;
    await new Promise<void>((resolve) => d.server.close(() => resolve()));
  });
  after(() => {
    for (const s of servers) s.close();
  });

  it("prints busid, vid:pid, class and speed of each exported device", async () => {
    // 1-1 lists its interfaces (class 00 at the device: the first interface's is shown); 1-2.1 is a hub
    // (class 09) at high speed.
    const r = await runUhci("usbip", "list", `127.0.0.1:${good}`);
    assert.equal(r.code, 0, r.stderr);
    const lines = r.stdout.trim().split("\n");
    assert.match(lines[0]!, /^busid\s+vid:pid\s+class\s+speed\s+path/);
    assert.match(lines[1]!, /^1-1\s+0627:0001\s+03\/01\/01 \(if0\)\s+full\s+\/sys\/devices\/fake\/1-1$/);
    assert.match(lines[2]!, /^1-2\.1\s+0627:0001\s+09\/00\/00\s+high\s+/);
    assert.match(
      lines[3]!,
      /^2-1\s+46f4:0001\s+00\/00\/00 \(per interface\)\s+full\s+/,
      "exported unconfigured",
    );
    const j = await runUhci("usbip", "list", `127.0.0.1:${good}`, "--json");
    assert.equal(j.code, 0, j.stderr);
    const parsed = JSON.parse(j.stdout) as { busid: string; interfaces: unknown[] }[];
    assert.deepEqual(
      parsed.map((d) => d.busid),
      ["1-1", "1-2.1", "2-1"],
    );
  });

  it("says why it failed, exit 1: refused, no answer in time, a reply that does not parse", async () => {
    const r = await runUhci("usbip", "list", `127.0.0.1:${refused}`);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /connection refused/);
    const s = await runUhci("usbip", "list", `127.0.0.1:${silent}`, "--timeout", "300");
    assert.equal(s.code, 1);
    assert.match(s.stderr, /device list: no complete reply within 300 ms/);
    const g = await runUhci("usbip", "list", `127.0.0.1:${garbage}`);
    assert.equal(g.code, 1);
    assert.match(g.stderr, /expected reply code 0x0005|version/);
    for (const out of [r, s, g]) assert.equal(out.stderr.trim().split("\n").length, 1, out.stderr);
  });

  it("relay: says where it listens and what it relays to, stops on SIGINT with exit 0", async () => {
    const port = 40_000 + (process.pid % 20_000);
    const child = spawn(
      process.execPath,
      ["--import", "tsx", main, "usbip", "relay", `127.0.0.1:${good}`, "--listen", `127.0.0.1:${port}`],
      {
        stdio: ["ignore", "pipe", "pipe"],
      },
    );
    let stdout = "";
    let stderr = "";
    child.stderr.on("data", (b: Buffer) => {
      stderr += b.toString();
    });
    await new Promise<void>((resolve, reject) => {
      child.stdout.on("data", (b: Buffer) => {
        stdout += b.toString();
        if (stdout.includes("\n")) resolve();
      });
      child.once("exit", () => reject(new Error(`the relay exited: ${stderr}`)));
    });
    assert.match(
      stdout,
      new RegExp(`^relaying ws://127\\.0\\.0\\.1:${port}/ → 127\\.0\\.0\\.1:${good} \\(Ctrl-C to stop\\)`),
    );
    const exited = new Promise<string>((resolve) =>
      child.once("exit", (code, signal) => resolve(`${code} ${signal}`)),
    );
    child.kill("SIGINT");
    assert.equal(await exited, "0 null", stderr);
  });

  it("usage errors exit 2", async () => {
    for (const args of [
      ["usbip"],
      ["usbip", "lst", "x"],
      ["usbip", "list"],
      ["usbip", "list", "host:99999"],
      ["usbip", "list", "h", "--bogus"],
    ]) {
      const r = await runUhci(...args);
      assert.equal(r.code, 2, `${args.join(" ")}: ${r.stderr}`);
      assert.match(r.stderr, /^uhci: /);
    }
    const shell = await runUhci("shell", "--usbip", "127.0.0.1");
    assert.equal(shell.code, 2, shell.stderr);
    assert.match(shell.stderr, /expected HOST\[:PORT\]\/BUSID/);
  });
});
