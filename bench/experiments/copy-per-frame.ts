/**
 * Not part of `npm run bench`: measures what the two allocation sources found by the suite cost in
 * time, by changing only bench-side things around an unchanged controller:
 *
 *  1. RamGuestMemory.read/write make a subarray view per byte-range copy (an isochronous OUT read and
 *     every IN write shorter than the packet's 1280-byte buffer). Compared here against a bench-side
 *     GuestMemory that copies with a loop and allocates nothing (byte loop, and 32-bit word loop).
 *  2. A TD token with bit 31 set (MaxLen field ≥ 0x400, which includes 0x7FF, the null-data encoding
 *     uhci-hcd uses for its terminating TD, control status stages and zero-length packets) is a uint32
 *     above the small-integer range, and fetching it costs a 16-byte heap number. Compared here by
 *     giving the (inactive, never executed) terminating TD MaxLen 1 instead of 0 in the idle schedule.
 *
 * Each variant runs in its own child process (so the controller's call sites see one memory class, as
 * in a real emulator), in the order A B C … A B C … three times, so the spread between repetitions of
 * the same variant shows the noise.
 *   node --import tsx bench/experiments/src-findings.ts [--quick]
 */
import { spawnSync } from "node:child_process";
import type { GuestMemory } from "../../src/machine/index.ts";
import { DMA_FAULT, inRam, type RamGuestMemory } from "../../src/machine/index.ts";
import type { FrameScenario } from "../lib/scenarios.ts";
import { audioScenario, idleScenario } from "../lib/scenarios.ts";
import { summarize } from "../lib/stats.ts";
import { now, SampleBuffer } from "../lib/timing.ts";

/** Guest RAM whose range copies are plain loops: no views, no allocation. */
class LoopCopyMemory implements GuestMemory {
  readonly size: number;
  private readonly bytes: Uint8Array;
  private readonly view: DataView;
  private lastInto: Uint8Array | null = null;
  private lastIntoView: DataView<ArrayBufferLike> = new DataView(new ArrayBuffer(0));
  constructor(
    ram: RamGuestMemory,
    private readonly words: boolean,
  ) {
    this.size = ram.size;
    this.bytes = ram.bytes;
    this.view = new DataView(ram.bytes.buffer);
  }
  read32(address: number): number {
    if (!inRam(this.size, address, 4)) return DMA_FAULT;
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
    let i = 0;
    if (this.words) {
      if (into !== this.lastInto) {
        this.lastInto = into;
        this.lastIntoView = new DataView(into.buffer, into.byteOffset, into.byteLength);
      }
      const into32 = this.lastIntoView;
      for (; i + 4 <= length; i += 4) into32.setUint32(i, this.view.getUint32(address + i, true), true);
    }
    for (; i < length; i++) into[i] = bytes[address + i]!;
    return true;
  }
  write(address: number, from: Uint8Array, length: number): boolean {
    if (length > from.length || !inRam(this.size, address, length)) return false;
    const bytes = this.bytes;
    for (let i = 0; i < length; i++) bytes[address + i] = from[i]!;
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

function shortTermTd(s: FrameScenario): void {
  const hc = s.rig.controller as unknown as { memory: RamGuestMemory };
  for (let a = 0x2000; a < 0x10_0000; a += 16) {
    const token = hc.memory.read32(a + 8);
    // The terminating TD: an inactive IN to address 0x7F with MaxLen 0 (0x7FF).
    if (token === 0xffe07f69) hc.memory.write32(a + 8, 0x00007f69);
  }
}

const quick = process.argv.includes("--quick");
const VARIANTS: readonly { name: string; make: () => FrameScenario; swap?: Swap }[] = [
  { name: "audio, RamGuestMemory (src)", make: () => audioScenario() },
  {
    name: "audio, loop-copy memory (bytes)",
    make: () => audioScenario(),
    swap: useMemory((ram) => new LoopCopyMemory(ram, false)),
  },
  {
    name: "audio, loop-copy memory (32-bit words)",
    make: () => audioScenario(),
    swap: useMemory((ram) => new LoopCopyMemory(ram, true)),
  },
  { name: "idle, term TD MaxLen 0 (uhci-hcd)", make: idleScenario },
  { name: "idle, term TD MaxLen 1", make: idleScenario, swap: shortTermTd },
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
      const args = ["--import", "tsx", "bench/experiments/src-findings.ts", "--variant", String(i)];
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
