// Boots guest-image/dist in v86 (npm `v86`, no USB controller attached) and
// prints the @@UHCI lines with host timestamps. A smoke test of the image and
// of the serial protocol; it does not exercise USB.
//
//   node guest-image/smoke-v86.mjs [PLAN] [TIMEOUT_SECONDS]
//   e.g. node guest-image/smoke-v86.mjs enum:now,signal:48000:2:1 120
//   INITRD=/path/to/other-initramfs node guest-image/smoke-v86.mjs
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const dist = join(here, "dist");
const require = createRequire(import.meta.url);
const v86Dir = dirname(require.resolve("v86/package.json"));
const { V86 } = await import(join(v86Dir, "build/libv86.mjs"));

const plan = process.argv[2] ?? "enum:now";
const timeoutS = Number(process.argv[3] ?? 120);
const cmdline = [
  "console=ttyS0",
  "quiet",
  "cryptomgr.notests",
  "noisapnp",
  "tsc=reliable",
  "no_timer_check",
  "nowatchdog",
  "nmi_watchdog=0",
  "random.trust_cpu=on",
  "mitigations=off",
  `uhci.plan=${plan}`,
].join(" ");

const buf = (f) => {
  const b = readFileSync(f.includes("/") ? f : join(dist, f));
  return { buffer: b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength) };
};

const t0 = performance.now();
const emulator = new V86({
  wasm_path: join(v86Dir, "build/v86.wasm"),
  memory_size: 128 * 1024 * 1024,
  vga_memory_size: 2 * 1024 * 1024,
  bios: buf("bios.bin"),
  vga_bios: buf("vgabios-stdvga.bin"),
  bzimage: buf("bzImage"),
  initrd: buf(
    process.env.INITRD ?? JSON.parse(readFileSync(join(dist, "build-info.json"), "utf8")).initramfs,
  ),
  cmdline,
  autostart: true,
  disable_keyboard: true,
  disable_mouse: true,
  disable_speaker: true,
});

let line = "";
let serialBytes = 0;
let firstInit = null;
let blobBytes = 0;
let inBlob = false;
const finish = (why) => {
  const s = ((performance.now() - t0) / 1000).toFixed(2);
  console.log(`# ${why} after ${s} s; serial bytes ${serialBytes}; first @@UHCI at ${firstInit}`);
  emulator.destroy?.();
  process.exit(why === "done" ? 0 : 1);
};
emulator.add_listener("serial0-output-byte", (byte) => {
  serialBytes++;
  if (byte === 10) {
    const t = ((performance.now() - t0) / 1000).toFixed(2);
    if (line.startsWith("@@UHCI ")) {
      if (firstInit === null) firstInit = `${t} s`;
      const ev = JSON.parse(line.slice(7));
      if (ev.event === "blob-begin") inBlob = true;
      if (ev.event === "blob-end") {
        inBlob = false;
        console.log(`${t} (blob payload ${blobBytes} base64 chars)`);
        blobBytes = 0;
      }
      if (!inBlob || ev.event === "blob-begin") console.log(`${t} ${line}`);
      if (ev.event === "done") setTimeout(() => finish("done"), 500);
    } else if (inBlob) {
      blobBytes += line.trim().length;
    } else {
      console.log(`${t} | ${line}`);
    }
    line = "";
  } else if (byte !== 13) {
    line += String.fromCharCode(byte);
  }
});
setTimeout(() => finish("timeout"), timeoutS * 1000);
