/**
 * Loading v86 with pause-free time (docs/architecture.md, "Host stalls"): v86 binds
 * `performance.now` once when its module is evaluated, so the loader must show it the pause-free clock
 * exactly then and give everyone else the real clock back; the adapter's frame grid must start on (and
 * rejoin after a restore) the same time the guest keeps.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { PauseFreeTime } from "../../machine/pause-free-time.ts";
import { loadV86WithPauseFreeTime } from "./pause-free-v86.ts";
import { attachUhciToV86 } from "./uhci-v86.ts";

const spin = (ms: number) => {
  const until = performance.now() + ms;
  while (performance.now() < until) {
    // the host pausing
  }
};

describe("loadV86WithPauseFreeTime", () => {
  it("a module binding performance.now while it evaluates (as libv86 does) gets the pause-free clock; the global is real again after", async () => {
    const realNow = performance.now;
    const { module, time } = await loadV86WithPauseFreeTime(async () => ({
      microtick: performance.now.bind(performance),
    }));
    try {
      assert.equal(
        Object.getOwnPropertyDescriptor(performance, "now"),
        undefined,
        "no own property left behind",
      );
      assert.equal(performance.now, realNow);
      await new Promise((resolve) => setTimeout(resolve, 20));
      const guestBefore = module.microtick();
      const realBefore = performance.now();
      spin(300);
      await new Promise((resolve) => setTimeout(resolve, 10));
      const guestMoved = module.microtick() - guestBefore;
      const realMoved = performance.now() - realBefore;
      assert.ok(realMoved >= 300, `real time moved ${realMoved} ms`);
      assert.ok(guestMoved < 150, `the module's clock moved ${guestMoved} ms across a 300 ms pause`);
      assert.equal(time.stats.pauses, 1);
    } finally {
      time.dispose();
    }
  });

  it("puts the real clock back when the import fails, and uses a PauseFreeTime it is given", async () => {
    const time = new PauseFreeTime();
    try {
      let seen: (() => number) | null = null;
      await assert.rejects(
        loadV86WithPauseFreeTime(async () => {
          seen = performance.now;
          throw new Error("no v86 here");
        }, time),
        /no v86 here/,
      );
      assert.equal(seen, time.now);
      assert.equal(Object.getOwnPropertyDescriptor(performance, "now"), undefined);
      assert.notEqual(performance.now, time.now);
    } finally {
      time.dispose();
    }
  });
});

/** Just enough of v86 for the adapter to attach (the PCI wiring is tested in uhci-v86.test.ts). */
function minimalV86() {
  const cpu = {
    devices: {
      pci: {
        device_spaces: [] as (Int32Array | undefined)[],
        register_device: () => new Int32Array(64),
        raise_irq: () => {},
        lower_irq: () => {},
        pci_write8: () => {},
        pci_write16: () => {},
        pci_write32: () => {},
        set_io_bars: () => {},
      },
    },
    io: { register_read: () => {}, register_write: () => {} },
    wasm_memory: { buffer: new ArrayBuffer(1 << 20) },
    mem8: { byteOffset: 0 },
    memory_size: [1 << 20],
    jit_dirty_cache: () => {},
    set_tsc: () => {},
    store_current_tsc: () => {},
    current_tsc: [0, 0],
    run_hardware_timers: (_acpi: boolean, _nowMs: number) => 100,
    get_state: (): unknown[] => [],
    set_state: (_state: unknown[]) => {},
  };
  return { emulator: { v86: { cpu } }, cpu };
}

describe("v86 adapter: the `now` option (the time v86 keeps)", () => {
  it("the frame grid starts on it and rejoins it after a restore, not on performance.now()", () => {
    let guestMs = 5_000;
    const v86 = minimalV86();
    const uhci = attachUhciToV86(v86.emulator, { now: () => guestMs });
    assert.equal(uhci.clock.now(), 5_000);
    // v86's hook brings time along in small steps (4 ms per hook while no pause is seen).
    for (let t = 5_001; t <= 5_050; t++) v86.cpu.run_hardware_timers(false, t);
    assert.equal(uhci.clock.now(), 5_050);
    guestMs = 90_000;
    v86.cpu.set_state(v86.cpu.get_state());
    assert.equal(uhci.clock.now(), 90_000);
    uhci.detach();
  });
});
