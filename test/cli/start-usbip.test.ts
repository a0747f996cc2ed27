/**
 * `uhci start --usbip` without a guest: the option's errors (a bad spec, too many devices, a refused
 * server, a busid the server does not export) end the command before anything boots, with one line
 * on stderr and exit 2 (usage) or 1; the imported device goes behind the hub and leaves it when its
 * server goes; the script typed into the guest's shell and the report built from the guest's events.
 * The run with a real server and guest is test/usbip/v86-usbip-start.test.ts.
 */
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import type { Server } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import type { GuestUsbDevice } from "../../src/cli/guest-report.ts";
import { EVENT_PREFIX, type GuestEvent } from "../../src/cli/guest-vm/guest-serial.ts";
import {
  USBIP_HUB_PORTS,
  type UsbipPlugged,
  usbipLines,
  usbipPlaybackScript,
  usbipPlaybackTargets,
  usbipReport,
} from "../../src/cli/jobs/usbip-playback.ts";
import { hubPorts, plugUsbipInto } from "../../src/cli/usbip-option.ts";
import { UsbKeyboard } from "../../src/devices/hid/keyboard.ts";
import { UsbHub } from "../../src/devices/hub/usb-hub.ts";
import { VirtualClock } from "../../src/machine/clock.ts";
import { importUsbipDevice } from "../../src/usbip/connection.ts";
import { FakeUsbipServer } from "../../src/usbip/testing/fake-server.ts";
import type { UsbipDevice } from "../../src/usbip/usbip-device.ts";
import { bridgeToFake, listenLocal, runUhci } from "./testing/cli-process.ts";

/** One line on stderr, `uhci: …`, and no stack trace. */
function assertOneLine(stderr: string, pattern: RegExp): void {
  const lines = stderr.trim().split("\n");
  assert.equal(lines.length, 1, stderr);
  assert.match(lines[0]!, /^uhci: /);
  assert.match(lines[0]!, pattern);
}

describe("uhci start --usbip: errors before the guest boots", () => {
  const servers: Server[] = [];
  let good = 0;
  let refused = 0;
  let out = "";
  before(async () => {
    const fake = new FakeUsbipServer(new VirtualClock(), [
      { busid: "1-1", device: new UsbKeyboard(), idVendor: 0x0627, idProduct: 0x0001 },
    ]);
    const a = await listenLocal(bridgeToFake(fake));
    const closed = await listenLocal(() => {});
    servers.push(a.server);
    good = a.port;
    refused = closed.port;
    await new Promise<void>((resolve) => closed.server.close(() => resolve()));
    out = mkdtempSync(join(tmpdir(), "uhci-start-usbip-"));
  });
  after(() => {
    for (const s of servers) s.close();
    rmSync(out, { recursive: true, force: true });
  });

  it("a malformed or missing spec, or more devices than the hub's free ports: exit 2", async () => {
    const cases: [string[], RegExp][] = [
      [["--usbip"], /option '--usbip' needs HOST\[:PORT\]\/BUSID/],
      [["--usbip", "127.0.0.1"], /expected HOST\[:PORT\]\/BUSID/],
      [["--usbip=127.0.0.1:99999/1-1"], /--usbip '127\.0\.0\.1:99999\/1-1': /],
      [["--usbip", "a/1", "--usbip", "a/2", "--usbip", "a/3"], /at most 2 devices .*ports 6 and 7.*got 3/],
    ];
    for (const [args, pattern] of cases) {
      const r = await runUhci("start", ...args, "--out", out);
      assert.equal(r.code, 2, `${args.join(" ")}: ${r.stderr}`);
      assertOneLine(r.stderr, pattern);
      assert.equal(r.stdout, "");
    }
  });

  it("a refused server or a busid it does not export: exit 1 at once, nothing booted", async () => {
    const r = await runUhci("start", "--usbip", `127.0.0.1:${refused}/1-1`, "--out", out);
    assert.equal(r.code, 1, r.stderr);
    assertOneLine(r.stderr, new RegExp(`--usbip: connect to 127\\.0\\.0\\.1:${refused}: connection refused`));
    const b = await runUhci("start", "--usbip", `127.0.0.1:${good}/9-9`, "--out", out, "--quiet");
    assert.equal(b.code, 1, b.stderr);
    assertOneLine(b.stderr, /--usbip: .*9-9/);
    for (const run of [r, b]) {
      assert.doesNotMatch(run.stderr, /starting v86|booting/);
      assert.equal(run.stdout, "");
    }
  });

  it("--help names the option", async () => {
    const r = await runUhci("start", "--help");
    assert.equal(r.code, 0);
    assert.match(r.stdout, /--usbip HOST\[:PORT\]\/BUSID {2}a device from a USB\/IP server behind the hub/);
  });
});

describe("USB/IP devices behind the main job's hub", () => {
  it("plug into the hub's port, and leave it (reported once) when the server closes", async () => {
    const clock = new VirtualClock();
    const fake = new FakeUsbipServer(clock, [
      { busid: "1-1", device: new UsbKeyboard(), idVendor: 0x0627, idProduct: 0x0001 },
      { busid: "1-2", device: new UsbKeyboard(), idVendor: 0x0627, idProduct: 0x0002 },
    ]);
    const connections = [
      await importUsbipDevice(fake.connect, "1-1"),
      await importUsbipDevice(fake.connect, "1-2"),
    ];
    const hub = new UsbHub({ ports: 7 });
    const gone: string[] = [];
    const devices = plugUsbipInto(
      clock,
      hubPorts(hub),
      connections,
      USBIP_HUB_PORTS[0] - 1,
      (busid, why, index) => gone.push(`${busid} #${index}: ${why}`),
    );
    assert.equal(hub.downstreamPorts[5]?.device, devices[0]);
    assert.equal(hub.downstreamPorts[6]?.device, devices[1]);
    fake.sessions[1]!.closeFromServer();
    await new Promise((resolve) => setImmediate(resolve));
    assert.equal(hub.downstreamPorts[6]?.device, null);
    assert.equal(hub.downstreamPorts[5]?.device, devices[0]);
    assert.equal(gone.length, 1);
    assert.match(gone[0]!, /^1-2 #1: /);
    // Closed from this side (the job ended): unplugged, nothing reported.
    connections[0]!.close();
    await new Promise((resolve) => setImmediate(resolve));
    assert.equal(hub.downstreamPorts[5]?.device, null);
    assert.equal(gone.length, 1);
  });
});

describe("the script typed into the guest's shell", () => {
  const target = { path: "1-1.6", sampleRate: 48_000, channels: 2, frames: 96_000, padFrames: 2400 };

  it("plays to each device's card and exits; its echo never reads as an event", () => {
    const script = usbipPlaybackScript([target, { ...target, path: "1-1.7", channels: 1 }]);
    assert.ok(!script.includes(EVENT_PREFIX.trim()), "the event prefix appears literally");
    assert.ok(script.endsWith("\nexit\n"));
    assert.match(script, /^u 1-1\.6 48000 2 96000 2400$/m);
    assert.match(script, /^u 1-1\.7 48000 1 96000 2400$/m);
    assert.match(script, /aplay -q -D "hw:\$n,0"/);
  });

  it("types nothing it did not make: a path or number that is not one is left out", () => {
    const script = usbipPlaybackScript([
      { ...target, path: "1-1.6; reboot" },
      { ...target, path: "$(reboot)" },
      { ...target, frames: Number.NaN },
      { ...target, sampleRate: -1 },
    ]);
    assert.doesNotMatch(script, /^u /m);
    assert.ok(script.endsWith("}\nexit\n"));
  });
});

describe("what the script plays to", () => {
  const plugged = [6, 7].map((hubPort) => ({ hubPort }) as UsbipPlugged);
  /** The bundled /init's usb-device event: the device's own driver is "usb", the hub's is its interface's. */
  const device = (path: string, interfaceDriver: string): GuestEvent => ({
    event: "usb-device",
    path,
    roothub: false,
    driver: "usb",
    interfaces: [{ name: `${path}:1.0`, driver: interfaceDriver, hidDriver: "" }],
  });

  it("each device's path behind the hub the guest bound, in the job's format, with /init's pad", () => {
    const events: GuestEvent[] = [
      { event: "usb-device", path: "usb1", roothub: true, driver: "usb", interfaces: [] },
      device("1-1", "hub"),
      device("1-1.1", "snd-usb-audio"),
      { event: "playback-start", card: 0, padFrames: 1234 },
    ];
    const targets = usbipPlaybackTargets(events, plugged, { sampleRate: 44_100, channels: 1, seconds: 2 });
    assert.deepEqual(targets, [
      { path: "1-1.6", sampleRate: 44_100, channels: 1, frames: 88_200, padFrames: 1234 },
      { path: "1-1.7", sampleRate: 44_100, channels: 1, frames: 88_200, padFrames: 1234 },
    ]);
    // Without the headset's playback: /init's default pad, 50 ms.
    const [first] = usbipPlaybackTargets(events.slice(0, 3), plugged, {
      sampleRate: 48_000,
      channels: 2,
      seconds: 1,
    });
    assert.equal(first?.padFrames, 2400);
  });

  it("no hub bound: nothing to play to", () => {
    const events = [device("1-1", "")];
    assert.deepEqual(
      usbipPlaybackTargets(events, plugged, { sampleRate: 48_000, channels: 2, seconds: 1 }),
      [],
    );
  });
});

describe("the report of the USB/IP devices", () => {
  const hubPath = "1-1";
  const speaker: GuestUsbDevice = {
    path: "1-1.6",
    vendorId: "46f4",
    productId: "0002",
    manufacturer: "QEMU",
    product: "QEMU USB Audio",
    speed: "12",
    drivers: ["usb", "snd-usb-audio"],
  };
  /** A plugged entry with the counters a device keeps (the report reads only these). */
  function plugged(busid: string, hubPort: number, lost: string | null = null): UsbipPlugged {
    const isoOut = { packets: 2000, dropped: 0, packetErrors: 0, startFrameGaps: 0 };
    return {
      busid,
      info: { idVendor: 0x46f4, idProduct: 0x0002 } as UsbipPlugged["info"],
      hubPort,
      device: { stats: { isoOut } } as unknown as UsbipDevice,
      lost,
    };
  }
  const start = (path: string): GuestEvent => ({
    event: "usbip-playback-start",
    path,
    card: 2,
    usbid: "46f4:0002",
    rate: 48000,
    channels: 2,
    frames: 96000,
  });

  it("a speaker that played: card, frames, aplay's exit and xruns; no problem", () => {
    const problems: string[] = [];
    const events: GuestEvent[] = [
      start("1-1.6"),
      { event: "usbip-playback-end", path: "1-1.6", rc: 0, ms: 2100, xruns: 0 },
    ];
    const [r] = usbipReport(events, hubPath, [speaker], [plugged("1-1", 6)], problems);
    assert.deepEqual(problems, []);
    assert.equal(r?.vidPid, "46f4:0002");
    assert.equal(r?.path, "1-1.6");
    assert.deepEqual(r?.playback, {
      card: 2,
      usbid: "46f4:0002",
      format: { sampleRate: 48000, channels: 2, bits: 16 },
      framesSent: 96000,
      guestExitCode: 0,
      guestXruns: 0,
      guestMs: 2100,
      guestToolOutput: [],
    });
    const text = usbipLines(usbipReport(events, hubPath, [speaker], [plugged("1-1", 6)], []));
    assert.match(
      text[0]!,
      /^ {2}usbip {3}1-1 46f4:0002 on hub port 6: 1-1\.6 QEMU USB Audio \(usb, snd-usb-audio\)$/,
    );
    assert.match(
      text[1]!,
      /aplay to card 2 \(46f4:0002\): 96000 frames at 48000 Hz, exit 0, 0 xruns, 2100 ms/,
    );
  });

  it("aplay failing, xruns, a device not listed or without a driver, an unplug: one problem each", () => {
    const problems: string[] = [];
    const events: GuestEvent[] = [
      start("1-1.6"),
      { event: "usbip-playback-end", path: "1-1.6", rc: 1, ms: 10, xruns: 2 },
      { event: "log", source: "aplay-usbip", path: "1-1.6", line: "aplay: pcm_write: I/O error" },
      { event: "log", source: "aplay", path: "1-1.6", line: "not this tool's" },
    ];
    const bare = { ...speaker, path: "1-1.7", drivers: ["usb"] };
    const reports = usbipReport(
      events,
      hubPath,
      [speaker, bare],
      [plugged("1-1", 6), plugged("1-2", 7), plugged("2-1", 5, "the server closed the connection")],
      problems,
    );
    assert.deepEqual(reports[0]?.playback?.guestToolOutput, ["aplay: pcm_write: I/O error"]);
    assert.deepEqual(problems, [
      "usbip 1-1: aplay exited with 1: aplay: pcm_write: I/O error",
      "usbip 1-1: the guest reported 2 xruns",
      "usbip 1-2: the guest bound no driver to its interfaces",
      "usbip 1-2: the guest's shell never reported on it",
      "usbip 2-1: unplugged while the job ran: the server closed the connection",
      "usbip 2-1: the guest did not list it on hub port 5",
    ]);
  });

  it("the job's own playback on the device's card (card order not as the hub's ports): a problem", () => {
    const problems: string[] = [];
    const events: GuestEvent[] = [
      { event: "playback-start", card: 2, frames: 96000 },
      start("1-1.6"),
      { event: "usbip-playback-end", path: "1-1.6", rc: 0, ms: 2100, xruns: 0 },
    ];
    usbipReport(events, hubPath, [speaker], [plugged("1-1", 6)], problems);
    assert.deepEqual(problems, ["usbip 1-1: the headset's playback went to this device's card 2 too"]);
    const fine: string[] = [];
    usbipReport(
      [{ ...events[0]!, card: 0 }, ...events.slice(1)],
      hubPath,
      [speaker],
      [plugged("1-1", 6)],
      fine,
    );
    assert.deepEqual(fine, []);
  });

  it("a device without a playback card is listed, not played to, and not a problem", () => {
    const problems: string[] = [];
    const keyboard = { ...speaker, drivers: ["usb", "usbhid", "hid-generic"] };
    const [r] = usbipReport(
      [{ event: "usbip-playback-skip", path: "1-1.6" }],
      hubPath,
      [keyboard],
      [plugged("1-1", 6)],
      problems,
    );
    assert.deepEqual(problems, []);
    assert.equal(r?.playback, null);
    assert.deepEqual(r?.drivers, ["usb", "usbhid", "hid-generic"]);
  });

  it("without the hub the guest lists nothing behind it", () => {
    const problems: string[] = [];
    const [r] = usbipReport([], null, [], [plugged("1-1", 6)], problems);
    assert.equal(r?.path, null);
    assert.deepEqual(problems, ["usbip 1-1: the guest did not list it on hub port 6"]);
  });
});
