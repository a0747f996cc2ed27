/**
 * The real v86 module loaded with pause-free time (src/adapters/v86/pause-free-v86.ts) keeps its
 * guest-visible clock off the host's pauses. No guest runs: the machine is created but not started, and
 * its ACPI PM timer (I/O port 0xB008, 3.579545 MHz, 24 bits; v86 computes it from its bound clock, the
 * same one behind the PIT, APIC, RTC and TSC) is read across a host pause. Before pause-free time a
 * 400 ms busy wait moved it by 400 ms, and an arecord in the guest then ended with EIO
 * (docs/architecture.md, "Host stalls"; test/integration/v86-host-stalls.test.ts runs the guest).
 */
import assert from "node:assert/strict";
import { createRequire } from "node:module";
import { describe, it } from "node:test";
import { loadV86WithPauseFreeTime } from "../../src/adapters/v86/pause-free-v86.ts";
import { loadGuestImages } from "../../src/node/bundled-guest.ts";

const PM_TIMER_PORT = 0xb008;
const PM_TIMER_TICKS_PER_MS = 3579.545;

interface PortReader {
  v86: { cpu: { io: { port_read32(port: number): number } } };
}

const spin = (ms: number) => {
  const until = performance.now() + ms;
  while (performance.now() < until) {
    // the host pausing: nothing else runs
  }
};
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe("v86 loaded with pause-free time", () => {
  it("its PM timer moves across a 400 ms busy-waited host pause by about a heartbeat, not 400 ms", async () => {
    const { module, time } = await loadV86WithPauseFreeTime(() => import("v86"));
    const images = loadGuestImages();
    const emulator = new module.V86({
      wasm_path: createRequire(import.meta.url).resolve("v86/build/v86.wasm"),
      memory_size: 32 * 1024 * 1024,
      vga_memory_size: 2 * 1024 * 1024,
      bios: { buffer: images.bios },
      vga_bios: { buffer: images.vgaBios },
      acpi: true,
      autostart: false,
      disable_keyboard: true,
      disable_mouse: true,
      disable_speaker: true,
    });
    try {
      await new Promise<void>((resolve) => emulator.add_listener("emulator-loaded", () => resolve()));
      const io = (emulator as unknown as PortReader).v86.cpu.io;
      const pmMs = (from: number, to: number) => ((to - from) & 0xffffff) / PM_TIMER_TICKS_PER_MS;

      // Running normally, the guest's clock follows real time.
      let pm = io.port_read32(PM_TIMER_PORT);
      let real = performance.now();
      await sleep(200);
      const runningGuestMs = pmMs(pm, io.port_read32(PM_TIMER_PORT));
      const runningRealMs = performance.now() - real;
      assert.ok(
        Math.abs(runningGuestMs - runningRealMs) < 20,
        `running: guest ${runningGuestMs.toFixed(1)} ms, real ${runningRealMs.toFixed(1)} ms`,
      );

      pm = io.port_read32(PM_TIMER_PORT);
      real = performance.now();
      spin(400);
      await sleep(20);
      const pausedGuestMs = pmMs(pm, io.port_read32(PM_TIMER_PORT));
      const pausedRealMs = performance.now() - real;
      assert.ok(pausedRealMs >= 400, `real time moved ${pausedRealMs} ms`);
      assert.ok(
        pausedGuestMs < 150,
        `the guest's PM timer moved ${pausedGuestMs.toFixed(1)} ms across a 400 ms host pause`,
      );
      assert.ok(time.stats.pauses >= 1 && time.stats.removedMs >= 390, JSON.stringify(time.stats));
    } finally {
      await emulator.destroy();
      time.dispose();
    }
  });
});
