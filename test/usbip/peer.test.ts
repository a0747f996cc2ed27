/**
 * The USB/IP peer itself (test/usbip/peer/): before any test trusts what it says about our client, it
 * must export QEMU's devices through Linux's usbip-host and Debian's usbipd, answer a devlist written
 * out by hand from usbip_protocol.rst, take QMP input and leave a finalised WAV file when stopped.
 * One boot of the VM (~7 s under TCG).
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { fileURLToPath } from "node:url";
import { parseWavHeader } from "../../src/devices/audio/wav.ts";
import { devlistCount, parseDeviceLine, UsbipPeer } from "./peer/peer.ts";

const repo = fileURLToPath(new URL("../../", import.meta.url));

/** The `uhci` command from the sources, as a user runs it. */
function uhci(args: readonly string[]) {
  return spawnSync(process.execPath, ["--import", "tsx", join(repo, "src", "cli", "main.ts"), ...args], {
    cwd: repo,
    encoding: "utf8",
    timeout: 60_000,
  });
}

describe("the USB/IP peer VM (Linux usbip-host + Debian usbipd in QEMU)", () => {
  let peer: UsbipPeer;
  before(async () => {
    peer = await UsbipPeer.start({ devices: ["audio", "kbd", "tablet", "storage"] });
  });
  after(async () => {
    await peer?.stop(true);
  });

  it("exports the four devices bound to usbip-host, at the bus ids and IDs QEMU gives them on a UHCI", () => {
    const seen = peer.devices.map((d) => ({
      busid: d.busid,
      id: `${d.idVendor.toString(16).padStart(4, "0")}:${d.idProduct.toString(16).padStart(4, "0")}`,
      speed: d.speed,
      driver: d.driver,
      bindRc: d.bindRc,
    }));
    // The UHCI root hub has two ports: QEMU puts a hub on the second when more devices come.
    assert.deepEqual(seen, [
      { busid: "1-1", id: "46f4:0002", speed: "12", driver: "usbip-host", bindRc: 0 },
      { busid: "1-2.1", id: "0627:0001", speed: "12", driver: "usbip-host", bindRc: 0 },
      { busid: "1-2.2", id: "0627:0001", speed: "12", driver: "usbip-host", bindRc: 0 },
      { busid: "1-2.3", id: "46f4:0001", speed: "12", driver: "usbip-host", bindRc: 0 },
    ]);
  });

  it("answers OP_REQ_DEVLIST with every exported device", async () => {
    assert.equal(await devlistCount(peer.port), 4);
  });

  it("is listed by `uhci usbip list` (busid, vid:pid, class, speed) and, with --json, each device's fields", () => {
    const text = uhci(["usbip", "list", peer.address]);
    assert.equal(text.status, 0, text.stderr);
    const rows = text.stdout.trim().split("\n");
    assert.match(rows[0] ?? "", /^busid\s+vid:pid\s+class\s+speed\s+path$/);
    // Linux usbip-host exports devices unconfigured: class 00 with no interfaces to show. usbipd lists
    // them in its own order (newest first), so they are compared sorted.
    const body = rows.slice(1).map((r) =>
      r
        .split(/\s+/)
        .slice(0, 3)
        .concat(r.includes(" full") ? "full" : "?"),
    );
    body.sort((a, b) => (a[0] ?? "").localeCompare(b[0] ?? ""));
    assert.deepEqual(body, [
      ["1-1", "46f4:0002", "00/00/00", "full"],
      ["1-2.1", "0627:0001", "00/00/00", "full"],
      ["1-2.2", "0627:0001", "00/00/00", "full"],
      ["1-2.3", "46f4:0001", "00/00/00", "full"],
    ]);
    const json = uhci(["usbip", "list", peer.address, "--json"]);
    assert.equal(json.status, 0, json.stderr);
    const devices = JSON.parse(json.stdout) as { busid: string; idVendor: number; idProduct: number }[];
    assert.deepEqual(
      devices
        .map((d) => [d.busid, d.idVendor, d.idProduct])
        .sort((a, b) => String(a[0]).localeCompare(String(b[0]))),
      peer.devices.map((d) => [d.busid, d.idVendor, d.idProduct]),
    );
  });

  it("takes keys and absolute pointer moves over QMP", async () => {
    const qmp = await peer.qmp();
    assert.deepEqual(await qmp.sendKey(["shift", "a"]), {});
    assert.deepEqual(await qmp.movePointer(0x4000, 0x2000), {});
    await assert.rejects(qmp.sendKey(["no-such-key"]), /QMP send-key/);
  });

  it("stops on SIGTERM with exit 0 and a finalised 48 kHz stereo WAV header", async () => {
    const { code, signal } = await peer.stop();
    assert.deepEqual({ code, signal }, { code: 0, signal: null });
    const layout = parseWavHeader(readFileSync(peer.wavPath));
    assert.deepEqual(layout.format, { sampleRate: 48000, channels: 2, bitsPerSample: 16 });
    // Nothing was played: an empty data chunk, not the 0xFFFFFFFF of a header never finalised.
    assert.equal(layout.dataBytes, 0);
  });
});

describe("the peer's USBIP-DEV line parser", () => {
  it("reads every field of a line as /init prints it, and nothing from other lines", () => {
    const line =
      'USBIP-DEV busid=1-2.3 id=46f4:0001 speed=12 ifclass=[08 0a] driver=usbip-host product="QEMU USB HARDDRIVE" bind_rc=0 (usbip: info: bind device on busid 1-2.3: complete)';
    assert.deepEqual(parseDeviceLine(line), {
      busid: "1-2.3",
      idVendor: 0x46f4,
      idProduct: 0x0001,
      speed: "12",
      interfaceClasses: [0x08, 0x0a],
      driver: "usbip-host",
      product: "QEMU USB HARDDRIVE",
      bindRc: 0,
    });
    assert.equal(parseDeviceLine("INIT: 4/4 USB devices present, uptime 5.2s"), null);
  });
});
