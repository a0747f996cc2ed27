/**
 * SeaBIOS's own UHCI driver is a second real client: at POST it resets the controller, enumerates the
 * root ports and puts a USB keyboard into boot protocol. This boots v86 with only the bundled SeaBIOS
 * (no disk, no kernel) and checks that POST drives the controller to a configured keyboard without a
 * host system or process error. It is also the smoke test of the v86 shim: if a v86 upgrade moves the
 * internals the adapter uses, attaching fails loudly here.
 */
import assert from "node:assert/strict";
import { createRequire } from "node:module";
import { after, describe, it } from "node:test";
import { V86 } from "v86";
import { attachUhciToV86, type UhciOnV86 } from "../../src/adapters/v86/uhci-v86.ts";
import { v86Internals } from "../../src/adapters/v86/v86-shim.ts";
import { HidProtocol } from "../../src/devices/hid/hid-constants.ts";
import { UsbKeyboard } from "../../src/devices/hid/keyboard.ts";
import { loadGuestImages } from "../../src/node/bundled-guest.ts";
import { UsbStsBits } from "./uhci-bits.ts";

const wasmPath = createRequire(import.meta.url).resolve("v86/build/v86.wasm");

async function until(condition: () => boolean, timeoutMs: number): Promise<boolean> {
  const end = performance.now() + timeoutMs;
  while (performance.now() < end) {
    if (condition()) return true;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  return condition();
}

describe("v86 + SeaBIOS POST", () => {
  const images = loadGuestImages();
  const keyboard = new UsbKeyboard();
  let uhci: UhciOnV86 | undefined;
  let attachError: unknown;
  const emulator = new V86({
    wasm_path: wasmPath,
    memory_size: 32 * 1024 * 1024,
    vga_memory_size: 2 * 1024 * 1024,
    bios: { buffer: images.bios },
    vga_bios: { buffer: images.vgaBios },
    autostart: true,
    disable_keyboard: true,
    disable_mouse: true,
    disable_speaker: true,
  });
  emulator.add_listener("emulator-ready", () => {
    try {
      uhci = attachUhciToV86(emulator);
      uhci.controller.attach(0, keyboard);
    } catch (error) {
      attachError = error;
    }
  });
  after(async () => {
    uhci?.detach();
    await emulator.destroy();
  });

  it("finds every v86 internal the adapter relies on", async () => {
    assert.ok(
      await until(() => uhci !== undefined || attachError !== undefined, 20_000),
      "v86 never got ready",
    );
    assert.equal(attachError, undefined);
    assert.doesNotThrow(() => v86Internals(emulator));
  });

  it("refuses an emulator without the internals, with a message naming what is missing", () => {
    assert.throws(
      () => v86Internals({ v86: { cpu: {} } }),
      /lacks what the UHCI adapter needs.*register_device/,
    );
    assert.throws(() => v86Internals({}), /emulator\.v86\.cpu/);
  });

  it("lets SeaBIOS enumerate a keyboard and switch it to boot protocol, without HSE or HCPE", async () => {
    const configured = await until(
      () => keyboard.configuration === 1 && keyboard.protocol === HidProtocol.Boot,
      30_000,
    );
    // On a miss, say how far POST got: once seen in a clean-clone CI run (keyboard never configured in
    // 30 s), not reproduced in 7 runs after it.
    const where = () => {
      const c = uhci?.controller;
      if (c === undefined) return "no controller";
      const hex = (offset: number) => c.ioRead(offset, 2).toString(16);
      return `USBCMD ${hex(0x00)}, USBSTS ${hex(0x02)}, PORTSC1 ${hex(0x10)}, frames run ${c.framesRun}, address ${keyboard.address}`;
    };
    assert.ok(
      configured,
      `keyboard configuration ${keyboard.configuration}, protocol ${keyboard.protocol}; ${where()}`,
    );
    assert.notEqual(keyboard.address, 0, "SeaBIOS gave the keyboard an address");
    const status = uhci!.controller.ioRead(0x02, 2);
    assert.equal(status & (UsbStsBits.HSE | UsbStsBits.HCPE), 0, `USBSTS ${status.toString(16)}`);
    // SeaBIOS moved the BAR from its initial port; the handlers moved with it.
    assert.notEqual(uhci!.currentIoBase(), 0);
    assert.ok(uhci!.controller.framesRun > 0, "the frame clock ran from v86's timer hook");
  });
});
