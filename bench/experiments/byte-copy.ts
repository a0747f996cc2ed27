/**
 * Not part of `npm run bench`: what a guest-memory range copy costs, by strategy, at the lengths the
 * frame walker copies (8-byte HID reports, 64-byte bulk packets, 88/90/192-byte audio packets, the
 * 1023-byte full-speed maximum; the 88/90-byte ones 2 bytes into a word, as a 44.1 kHz mono stream's
 * packets lie), and whether it allocates.
 *
 *   - `subarray`: `into.set(ram.subarray(a, a + n))` / `ram.set(from.subarray(0, n), a)`, the code
 *     RamGuestMemory had until issue 9 (a new view object per call);
 *   - `byte loop`: `into[i] = ram[a + i]`;
 *   - `RamGuestMemory`: what src/machine/guest-memory.ts does now (byte-copy.ts: a byte loop below 16
 *     bytes, 32-bit words through views made once per buffer above).
 *
 * Each strategy runs in its own child process (so its call sites see one class, as in an emulator),
 * in the order A B C … A B C … three times, so the spread between repetitions shows the noise.
 * Reported: ns per copy (read and write alternate: OUT data is read, IN data is written), bytes
 * allocated per copy (heap delta with no GC in the window; needs --expose-gc, which the parent passes).
 *   node --import tsx bench/experiments/byte-copy.ts [--quick]
 */
import { spawnSync } from "node:child_process";
import { type GuestMemory, inRam, RamGuestMemory } from "../../src/machine/index.ts";
import { round } from "../lib/stats.ts";
import { now } from "../lib/timing.ts";

const RAM_BYTES = 4 * 1024 * 1024;

/** The range copies RamGuestMemory made before issue 9. */
class SubarrayMemory extends RamGuestMemory {
  override read(address: number, into: Uint8Array, length: number): boolean {
    if (length > into.length || !inRam(this.size, address, length)) return false;
    into.set(this.bytes.subarray(address, address + length), 0);
    return true;
  }
  override write(address: number, from: Uint8Array, length: number): boolean {
    if (length > from.length || !inRam(this.size, address, length)) return false;
    this.bytes.set(length === from.length ? from : from.subarray(0, length), address);
    return true;
  }
}

class ByteLoopMemory extends RamGuestMemory {
  override read(address: number, into: Uint8Array, length: number): boolean {
    if (length > into.length || !inRam(this.size, address, length)) return false;
    const bytes = this.bytes;
    for (let i = 0; i < length; i++) into[i] = bytes[address + i]!;
    return true;
  }
  override write(address: number, from: Uint8Array, length: number): boolean {
    if (length > from.length || !inRam(this.size, address, length)) return false;
    const bytes = this.bytes;
    for (let i = 0; i < length; i++) bytes[address + i] = from[i]!;
    return true;
  }
}

const STRATEGIES: readonly { name: string; make: () => GuestMemory }[] = [
  { name: "subarray + set", make: () => new SubarrayMemory(RAM_BYTES) },
  { name: "byte loop", make: () => new ByteLoopMemory(RAM_BYTES) },
  { name: "RamGuestMemory (word copy)", make: () => new RamGuestMemory(RAM_BYTES) },
];

/** [length, offset of the guest buffer within a word]. */
const CASES: readonly (readonly [number, number])[] = [
  [8, 0],
  [64, 0],
  [88, 2],
  [90, 2],
  [192, 0],
  [1023, 0],
];

const quick = process.argv.includes("--quick");

interface CaseResult {
  ns: number;
  bytesPerCopy: number;
}

function runStrategy(index: number): CaseResult[] {
  const memory = STRATEGIES[index]!.make();
  // Packet buffers as the controller has them: a few pooled 1280-byte arrays.
  const packets = [new Uint8Array(1280), new Uint8Array(1280), new Uint8Array(1280)];
  const gc = (globalThis as { gc?: () => void }).gc;
  const copies = quick ? 100_000 : 1_000_000;
  const results: CaseResult[] = [];
  for (const [length, misalign] of CASES) {
    // Guest buffers spread over 64 KiB, as a few URBs' worth of audio buffers would be.
    const run = (n: number): void => {
      for (let k = 0; k < n; k++) {
        const address = ((k * 1280) & 0xffff) + misalign;
        const packet = packets[k % 3]!;
        if (k & 1) memory.write(address, packet, length);
        else memory.read(address, packet, length);
      }
    };
    run(copies / 4);
    let best = Number.POSITIVE_INFINITY;
    for (let rep = 0; rep < 5; rep++) {
      const t0 = now();
      run(copies);
      best = Math.min(best, ((now() - t0) * 1e6) / copies);
    }
    gc?.();
    const h0 = process.memoryUsage().heapUsed;
    run(10_000);
    const h1 = process.memoryUsage().heapUsed;
    results.push({ ns: round(best, 3), bytesPerCopy: round((h1 - h0) / 10_000, 2) });
  }
  return results;
}

const only = process.argv.indexOf("--strategy");
if (only >= 0) {
  process.stdout.write(`${JSON.stringify(runStrategy(Number(process.argv[only + 1])))}\n`);
} else {
  const all = STRATEGIES.map(() => [] as CaseResult[][]);
  for (let rep = 0; rep < 3; rep++) {
    for (let i = 0; i < STRATEGIES.length; i++) {
      const args = [
        "--expose-gc",
        "--import",
        "tsx",
        "bench/experiments/byte-copy.ts",
        "--strategy",
        String(i),
      ];
      if (quick) args.push("--quick");
      const child = spawnSync(process.execPath, args, { encoding: "utf8" });
      if (child.status !== 0) throw new Error(child.stderr);
      all[i]!.push(JSON.parse(child.stdout.trim().split("\n").at(-1) ?? "[]") as CaseResult[]);
    }
  }
  console.log(
    `ns per copy (best of 5 runs of ${quick ? "100k" : "1M"} copies; the three repetitions) and B allocated per copy`,
  );
  console.log(`${"".padEnd(28)}${CASES.map(([n, m]) => `${n} B${m ? ` @+${m}` : ""}`.padEnd(22)).join("")}`);
  STRATEGIES.forEach((s, i) => {
    const cells = CASES.map((_, c) => {
      const reps = all[i]!.map((r) => r[c]!);
      const ns = reps.map((r) => r.ns.toFixed(0)).join("/");
      return `${ns} ns ${Math.min(...reps.map((r) => r.bytesPerCopy))} B`.padEnd(22);
    });
    console.log(`${s.name.padEnd(28)}${cells.join("")}`);
  });
}
