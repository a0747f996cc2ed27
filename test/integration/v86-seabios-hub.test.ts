/**
 * SeaBIOS's USB hub driver (usb-hub.c) as a real client of the emulated hub: at POST it enumerates the
 * hub on a root port, powers its ports, resets the port a keyboard is on, and puts that keyboard into
 * boot protocol through the hub (USB 2.0 11.24.2). v86 with only the bundled SeaBIOS (no disk, no
 * kernel).
 */
import assert from "node:assert/strict";
import { createRequire } from "node:module";
import { after, describe, it } from "node:test";
import { V86 } from "v86";
import { attachUhciToV86, type UhciOnV86 } from "../../src/adapters/v86/uhci-v86.ts";
import { HidProtocol } from "../../src/devices/hid/hid-constants.ts";
import { UsbKeyboard } from "../../src/devices/hid/keyboard.ts";
import { UsbMouse } from "../../src/devices/hid/mouse.ts";
import { UsbHub } from "../../src/devices/hub/usb-hub.ts";
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

describe("v86 + SeaBIOS POST with a hub", () => {
  const images = loadGuestImages();
  const hub = new UsbHub({ ports: 4 });
  const mouse = new UsbMouse();
  const keyboard = new UsbKeyboard();
  hub.attach(0, mouse);
  hub.attach(2, keyboard);
  let uhci: UhciOnV86 | undefined;
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
    uhci = attachUhciToV86(emulator);
    uhci.controller.attach(0, hub);
  });
  after(async () => {
    uhci?.detach();
    await emulator.destroy();
  });

  it("finds the keyboard behind the hub and switches it to boot protocol", async () => {
    const configured = await until(
      () => keyboard.configuration === 1 && keyboard.protocol === HidProtocol.Boot,
      45_000,
    );
    assert.ok(
      configured,
      `hub configuration ${hub.configuration}, port 3 status 0x${hub.portStatus(2).toString(16)}; keyboard address ${keyboard.address}, configuration ${keyboard.configuration}, protocol ${keyboard.protocol}`,
    );
    assert.equal(hub.configuration, 1, "SeaBIOS configured the hub");
    assert.notEqual(keyboard.address, 0);
    assert.notEqual(keyboard.address, hub.address);
    assert.ok((hub.portStatus(2) & 0x0103) === 0x0103, "port 3 powered, connected, enabled");
    const status = uhci!.controller.ioRead(0x02, 2);
    assert.equal(status & (UsbStsBits.HSE | UsbStsBits.HCPE), 0, `USBSTS ${status.toString(16)}`);
  });
});
