/**
 * Not part of `npm run bench`: what the guest-memory copy strategy costs per frame, with everything
 * else the same. Issue 5's benchmark found `RamGuestMemory.read/write` making a `subarray` view per
 * range copy (~200 bytes of garbage per audio frame); issue 9 replaced that with allocation-free word
 * copies (src/machine/byte-copy.ts). Here the controller's memory is swapped, bench-side, for:
 *
 *  - the `subarray` + `set` copies RamGuestMemory had before issue 9;
 *  - a plain byte loop (what the issue-5 session measured as slower).
 *
 * Each variant runs in its own child process (so the controller's call sites see one memory class, as
 * in a real emulator), in the order A B C … A B C … three times, so the spread between repetitions of
 * the same variant shows the noise.
 *   node --import tsx bench/experiments/copy-per-frame.ts [--quick]
 */
import { spawnSync } from "node:child_process";
import type { GuestMemory } from "../../src/machine/index.ts";
import { inRam, type RamGuestMemory } from "../../src/machine/index.ts";
import type { FrameScenario } from "../lib/scenarios.ts";
import { audioScenario, bulkCapScenario } from "../lib/scenarios.ts";
import { summarize } from "../lib/stats.ts";
import { now, SampleBuffer } from "../lib/timing.ts";

/** Guest RAM sharing the scenario's bytes, with range copies done another way (words as in src). */
class OtherCopyMemory implements GuestMemory {
  readonly size: number;
  private readonly bytes: Uint8Array;
  private readonly view: DataView;
  constructor(
    ram: RamGuestMemory,
    private readonly how: "subarray" | "bytes",
  ) {
    this.size = ram.size;
    this.bytes = ram.bytes;
    this.view = new DataView(ram.bytes.buffer);
  }
  read32(address: number): number {
    if (!inRam(this.size, address, 4)) return -1;
    return this.view.getUint32(address, true);
  }
  write32(address: number, value: number): boolean {
    if (!inRam(this.size, address, 4)) return false;
    this.view.setUint32(address, value >>> 0, true);
    return true;
  }
  read(address: number, into: Uint8Array, length: number): boolean {
    if (length > into.length || !inRam(this.size, address, length)) return false;
    const bytes = this.bytes;
    if (this.how === "subarray") into.set(bytes.subarray(address, address + length), 0);
    else for (let i = 0; i < length; i++) into[i] = bytes[address + i]!;
    return true;
  }
  write(address: number, from: Uint8Array, length: number): boolean {
    if (length > from.length || !inRam(this.size, address, length)) return false;
    const bytes = this.bytes;
    if (this.how === "subarray") bytes.set(length === from.length ? from : from.subarray(0, length), address);
    else for (let i = 0; i < length; i++) bytes[address + i] = from[i]!;
    return true;
  }
}

type Swap = (s: FrameScenario) => void;

/** Replaces the controller's memory (a private field) — acceptable in an experiment, never in src. */
function useMemory(make: (ram: RamGuestMemory) => GuestMemory): Swap {
  return (s) => {
    const hc = s.rig.controller as unknown as {
      memory: RamGuestMemory;
      walker: { host: { memory: GuestMemory } };
    };
    const ram = hc.memory;
    const memory = make(ram);
    // The walker reads memory through its host object.
    Object.defineProperty(hc.walker.host, "memory", { value: memory });
  };
}

const quick = process.argv.includes("--quick");
const VARIANTS: readonly { name: string; make: () => FrameScenario; swap?: Swap }[] = [
  { name: "audio, RamGuestMemory (src: word copies)", make: () => audioScenario() },
  {
    name: "audio, subarray + set (before issue 9)",
    make: () => audioScenario(),
    swap: useMemory((ram) => new OtherCopyMemory(ram, "subarray")),
  },
  {
    name: "audio, byte loop",
    make: () => audioScenario(),
    swap: useMemory((ram) => new OtherCopyMemory(ram, "bytes")),
  },
  { name: "bulk-cap, RamGuestMemory (src)", make: bulkCapScenario },
  {
    name: "bulk-cap, subarray + set",
    make: bulkCapScenario,
    swap: useMemory((ram) => new OtherCopyMemory(ram, "subarray")),
  },
];

function runOne(index: number): void {
  const v = VARIANTS[index]!;
  const scenario = v.make();
  v.swap?.(scenario);
  const samples = new SampleBuffer(1 << 16);
  const batch = (): void => {
    const t0 = now();
    scenario.clock.advance(scenario.batchFrames);
    samples.push(((now() - t0) * 1e6) / scenario.batchFrames);
    scenario.rearm();
  };
  for (let end = now() + (quick ? 100 : 400); now() < end; ) batch();
  samples.length = 0;
  for (let end = now() + (quick ? 200 : 1500); now() < end; ) batch();
  scenario.verify();
  const s = summarize(samples.values());
  process.stdout.write(`${JSON.stringify({ p50: s.p50, p99: s.p99 })}\n`);
}

const only = process.argv.indexOf("--variant");
if (only >= 0) {
  runOne(Number(process.argv[only + 1]));
} else {
  const results = VARIANTS.map(() => [] as { p50: number; p99: number }[]);
  for (let rep = 0; rep < 3; rep++) {
    for (let i = 0; i < VARIANTS.length; i++) {
      const args = ["--import", "tsx", "bench/experiments/copy-per-frame.ts", "--variant", String(i)];
      if (quick) args.push("--quick");
      const child = spawnSync(process.execPath, args, { encoding: "utf8" });
      if (child.status !== 0) throw new Error(child.stderr);
      results[i]!.push(
        JSON.parse(child.stdout.trim().split("\n").at(-1) ?? "{}") as { p50: number; p99: number },
      );
    }
  }
  VARIANTS.forEach((v, i) => {
    const r = results[i]!;
    const p50s = r.map((x) => x.p50.toFixed(0)).join(" / ");
    const p99s = r.map((x) => x.p99.toFixed(0)).join(" / ");
    console.log(`${v.name.padEnd(42)} p50 ${p50s} ns/frame   p99 ${p99s}`);
  });
}
