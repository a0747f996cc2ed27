/**
 * The imported device seen by the software guest through the UHCI controller: it enumerates like any
 * device (control transfers go to the server whole; SET_ADDRESS stays here), and its interrupt and bulk
 * endpoints answer from the server's device, bit for bit, with latency on the clock.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { UsbKeyboard } from "../devices/hid/keyboard.ts";
import { bootGuest } from "../guest/testing/boot.ts";
import { TransferStatus } from "../guest/transfer-result.ts";
import { UsbipAttachment } from "./attachment.ts";
import { importUsbipDevice, listUsbipDevices, UsbipConnection } from "./connection.ts";
import { FakeUsbipServer } from "./testing/fake-server.ts";

async function keyboardRig(latencyMs = 2) {
  const boot = bootGuest([]);
  const keyboard = new UsbKeyboard();
  const server = new FakeUsbipServer(boot.clock, [
    { busid: "1-1", device: keyboard, idVendor: 0x0627, idProduct: 0x0001, interfaces: [[3, 1, 1]] },
  ]);
  const attachment = new UsbipAttachment({
    connect: server.connect,
    busid: "1-1",
    clock: boot.clock,
    plug: (d) => boot.controller.attach(0, d),
    unplug: () => boot.controller.detach(0),
  });
  const device = await attachment.connect();
  server.latencyMs = latencyMs;
  return { ...boot, keyboard, server, attachment, device };
}

describe("UsbipDevice under the software guest", () => {
  it("lists the server's devices", async () => {
    const boot = bootGuest([]);
    const server = new FakeUsbipServer(boot.clock, [
      {
        busid: "1-1",
        device: new UsbKeyboard(),
        idVendor: 0x0627,
        idProduct: 0x0001,
        interfaces: [[3, 1, 1]],
      },
      { busid: "1-2", device: new UsbKeyboard(), idVendor: 0x46f4, idProduct: 0x0001, deviceClass: 0 },
    ]);
    const list = await listUsbipDevices(server.connect);
    assert.deepEqual(
      list.map((d) => [d.busid, d.idVendor, d.idProduct, d.interfaces.length]),
      [
        ["1-1", 0x0627, 0x0001, 1],
        ["1-2", 0x46f4, 0x0001, 0],
      ],
    );
  });

  it("enumerates through the server: descriptors bit for bit, SET_ADDRESS answered locally", async () => {
    const r = await keyboardRig();
    const result = r.driver.enumerate(0);
    assert.ok(result.ok, result.ok ? "" : result.error);
    assert.equal(r.device.address, result.device.address);
    // The server's device kept the address the server gave it; it never saw SET_ADDRESS.
    assert.equal(r.keyboard.address, 2);
    assert.equal(r.keyboard.configuration, 1, "SET_CONFIGURATION went to the server");
    const direct = result.device.control({
      requestType: 0x80,
      request: 6,
      value: 0x0100,
      index: 0,
      length: 18,
    });
    assert.equal(direct.status, TransferStatus.Ok);
    assert.equal(direct.data[0], 18);
    assert.equal(direct.data[1], 1);
    const control = r.server.submits.filter((s) => s.ep === 0);
    assert.ok(control.length > 0);
    assert.ok(
      control.every((s) => !(s.setup[0] === 0 && s.setup[1] === 5)),
      "SET_ADDRESS never went to the server (vhci-hcd answers it too)",
    );
    assert.ok(
      control.some((s) => s.setup[0] === 0 && s.setup[1] === 9 && s.setup[2] === 1 && !s.dirIn),
      "SET_CONFIGURATION(1) went, as a host-to-device URB",
    );
    const get = control.find((s) => s.setup[0] === 0x80 && s.setup[1] === 6 && s.setup[3] === 1)!;
    assert.ok(
      get.dirIn && get.length === (get.setup[6]! | (get.setup[7]! << 8)),
      "a GET_DESCRIPTOR is an IN URB of wLength",
    );
    assert.ok(r.device.stats.controlUrbs > 0);
  });

  it("interrupt IN: a key pressed at the server reaches the guest after the URB's round trip", async () => {
    const r = await keyboardRig(4);
    const result = r.driver.enumerate(0);
    assert.ok(result.ok);
    const dev = result.device;
    r.keyboard.press("A");
    const report = dev.interruptIn(0x81, 8);
    assert.equal(report.status, TransferStatus.Ok);
    assert.deepEqual([...report.data], [0, 0, 4, 0, 0, 0, 0, 0], "usage 4 = 'a' down");
    const up = dev.interruptIn(0x81, 8);
    assert.deepEqual([...up.data], [0, 0, 0, 0, 0, 0, 0, 0], "and released");
    const interrupts = r.server.submits.filter((s) => s.ep === 1);
    assert.ok(
      interrupts.every((s) => s.dirIn && s.interval >= 1),
      "interrupt URBs carry the endpoint's bInterval",
    );
  });
});

describe("URB round trips (the bench's hook)", () => {
  it("are measured per kind on the connection's clock", async () => {
    const boot = bootGuest([]);
    const server = new FakeUsbipServer(boot.clock, [{ busid: "1-1", device: new UsbKeyboard() }]);
    const imported = await importUsbipDevice(server.connect, "1-1");
    // Re-wrap the same stream with the virtual clock, so the round trip is the injected latency exactly.
    imported.close();
    const transport = await server.connect();
    const connection = new UsbipConnection(transport, imported.device, new Uint8Array(0), () =>
      boot.clock.now(),
    );
    server.sessions[1]!.imported = server.exports[0]!;
    server.latencyMs = 4;
    const owner = { urbCompleted: () => {} };
    for (let i = 0; i < 10; i++) {
      connection.submit(owner, 0, true, 0, 18, { setup: Uint8Array.of(0x80, 6, 0, 1, 0, 0, 18, 0) });
      boot.clock.advance(5);
    }
    const s = connection.stats.controlRoundTrip.summary();
    assert.equal(s.count, 10);
    assert.equal(s.p50Ms, 4);
    assert.equal(s.p99Ms, 4);
    assert.equal(connection.stats.dataRoundTrip.count, 0);
  });
});
