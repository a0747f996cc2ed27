// What README.md ("In your own page") says the page already has before its lines: v86's class from the
// v86 package, the screen element, and the options it passes to V86 (wasm_path into the installed
// package, screen_container, disable_mouse and disable_keyboard so the pointer and keys reach the
// guest over USB only). The guest is the one shipped in the uhci package, handed to v86 as buffers
// (demo/main.ts: v86's own URL loader left the kernel without its initramfs in Chromium).
// test/browser/embed.test.ts fills in the kernel, its command line and the test plan.
// biome-ignore-all lint/correctness/noUnusedImports: a fragment; the README's lines that follow use V86.
// biome-ignore-all lint/correctness/noUnusedVariables: a fragment; the README's lines use options.
import { V86 } from "v86";

const screen = document.getElementById("screen");
const image = async (name) => {
  const response = await fetch(`./guest/${name}`);
  if (!response.ok) throw new Error(`./guest/${name}: HTTP ${response.status}`);
  return response.arrayBuffer();
};
const options = {
  wasm_path: "./node_modules/v86/build/v86.wasm",
  screen_container: screen,
  memory_size: 128 * 1024 * 1024,
  vga_memory_size: 2 * 1024 * 1024,
  bios: { buffer: await image("bios.bin") },
  vga_bios: { buffer: await image("vgabios-stdvga.bin") },
  /* the guest's kernel, if any */
  autostart: true,
  disable_keyboard: true,
  disable_mouse: true,
  disable_speaker: true,
};
