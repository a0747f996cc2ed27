/**
 * Benchmark 3: real-time accuracy on Node timers.
 *
 * Two controllers run side by side in one process for the same wall-clock time, with the same schedule
 * (the audio schedule with the capture stream completed asynchronously, IOC on every capture TD, an
 * idle low-speed HID endpoint) and the same software "guest":
 *  - fixed-grid: the controller on RealTimeClock, paced by its own FrameClock (frame n due at
 *    start + n ms; overdue frames caught up, at most 64 per wake-up);
 *  - pre-seed:   the same controller code on a VirtualClock advanced one frame per wake-up by a timer
 *    re-armed at now + 1 ms after each frame (QEMU before the seed's fix; bench/lib/pre-seed-frame-clock.ts).
 *
 * Measured per variant: FRNUM/frames-run drift against elapsed time (sampled every 100 ms), the
 * frames-per-wake-up distribution, timer lateness, and for every asynchronously completed capture
 * packet the time from the `packet.complete()` call to (a) its data landing in guest memory (a
 * GuestMemory wrapper timestamps the controller's DMA write) and (b) the guest's interrupt handler
 * reading it (the handler runs from setImmediate when the IRQ line rises, as an emulator delivers an
 * interrupt at its next slice).
 */
import { TdCtrl, type UhciController } from "../src/controller/uhci/index.ts";
import { LevelIrqLine, RamGuestMemory, RealTimeClock, VirtualClock } from "../src/machine/index.ts";
import { AsyncAudioDevice, HidLikeDevice } from "./lib/devices.ts";
import { GuestArena, Pid } from "./lib/guest-schedule.ts";
import { LatenessClock, WatchedMemory } from "./lib/instrumented.ts";
import { IsoSlots, LinuxSkeleton, skeletonIndexForInterval, TdQueue } from "./lib/linux-schedule.ts";
import { PreSeedFrameClock } from "./lib/pre-seed-frame-clock.ts";
import { BenchRig, Io } from "./lib/rig.ts";
import { AUDIO_ADDRESS, AUDIO_PACKET_BYTES, HID_ADDRESS, HID_INTERVAL } from "./lib/scenarios.ts";
import { round, roundSummary, type Summary, summarize } from "./lib/stats.ts";
import { now, SampleBuffer, tick } from "./lib/timing.ts";

export type VariantName = "fixed-grid" | "pre-seed";

export interface VariantResult {
  name: VariantName;
  description: string;
  seconds: number;
  framesRun: number;
  framesDue: number;
  /** framesRun / framesDue. */
  paceRatio: number;
  drift: {
    /** Largest |frames run − frames due| over the samples. */
    maxAbsFrames: number;
    /** At the end of the run (negative: behind). */
    finalFrames: number;
    /** Same, from FRNUM as the guest reads it (unwrapped). */
    finalFrnumFrames: number;
    maxAbsFrnumFrames: number;
    /** Frames lost per second of run time (final drift / seconds). */
    framesPerSecond: number;
    /** [seconds, drift frames] every 100 ms. */
    samples: [number, number][];
  };
  /** index = frames run by one wake-up, value = how many wake-ups; the last index is the cap. */
  framesPerWakeup: number[];
  /** Timer wake-up lateness in ms (fired − due). */
  timerLatenessMs: Summary;
  completions: {
    deferred: number;
    completed: number;
    /** Completions whose data was already in guest memory when complete() returned. */
    visibleWhenCompleteReturned: number;
    /** Completions after which the IRQ line was high when complete() returned. */
    irqHighWhenCompleteReturned: number;
    seenByGuest: number;
    /** Capture TDs the guest found still active 64 frames after their frame (never completed). */
    missedByGuest: number;
    cancelledByController: number;
    /** complete() call → data in guest memory, µs. */
    toGuestMemoryUs: Summary;
    /** complete() call → the guest interrupt handler reading it, µs. */
    toGuestInterruptUs: Summary;
    /** Counts per latency bin: bin i is [edges[i], edges[i+1]) µs, the last is [edges.at(-1), ∞). */
    histogramUs: { edges: number[]; toGuestMemory: number[]; toGuestInterrupt: number[] };
  };
}

export const LATENCY_EDGES_US = [0, 1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000];

function binCounts(values: ArrayLike<number>, edges: readonly number[]): number[] {
  const counts = new Array<number>(edges.length).fill(0);
  for (let i = 0; i < values.length; i++) {
    const v = values[i]!;
    let b = edges.length - 1;
    while (b > 0 && v < edges[b]!) b--;
    counts[b]!++;
  }
  return counts;
}

export interface RealtimeResult {
  config: { seconds: number; sampleEveryMs: number; maxFramesPerWakeup: number };
  variants: VariantResult[];
  /** pre-seed / fixed-grid, from the same run. */
  ratios: {
    finalDriftAbs: number;
    maxDriftAbs: number;
    paceRatio: number;
    toGuestInterruptP50: number;
    toGuestInterruptP99: number;
    timerLatenessP50: number;
  };
  notes: string[];
}

const STAMP_SLACK = 8192;

class Variant {
  readonly ram = new RamGuestMemory(4 * 1024 * 1024);
  readonly arena = new GuestArena(this.ram);
  readonly irq: LevelIrqLine;
  readonly rig: BenchRig;
  readonly iso: IsoSlots;
  readonly device: AsyncAudioDevice;
  readonly lateness: LatenessClock;
  private readonly preSeed: PreSeedFrameClock | null = null;
  private readonly inBufferSlot = new Map<number, number>();
  // Per completion stamp: when complete() was called and returned, when the DMA write happened, when
  // the guest saw it (ms, 0 = never).
  private readonly tComplete: Float64Array;
  private readonly tReturn: Float64Array;
  private readonly tWrite: Float64Array;
  private readonly tSeen: Float64Array;
  private visibleAtReturn = 0;
  private irqHighAtReturn = 0;
  private seen = 0;
  private missed = 0;
  private isrScheduled = false;
  private scanFrame = 0;
  private frnumUnwrapped = 0;
  private lastFrnum = 0;
  startMs = 0;
  private frnumUnwrappedAtLastSample = 0;
  readonly driftSamples: [number, number][] = [];
  private maxAbsDrift = 0;
  private maxAbsFrnumDrift = 0;

  constructor(
    readonly name: VariantName,
    capacity: number,
  ) {
    this.tComplete = new Float64Array(capacity);
    this.tReturn = new Float64Array(capacity);
    this.tWrite = new Float64Array(capacity);
    this.tSeen = new Float64Array(capacity);
    this.lateness = new LatenessClock(new RealTimeClock());
    this.irq = new LevelIrqLine((level) => {
      if (level && !this.isrScheduled) {
        this.isrScheduled = true;
        setImmediate(this.interruptHandler);
      }
    });
    const memory = new WatchedMemory(this.ram, (address, from, length) => {
      if (length < 4 || !this.inBufferSlot.has(address)) return;
      const stamp = (from[0]! | (from[1]! << 8) | (from[2]! << 16) | (from[3]! << 24)) >>> 0;
      if (stamp < capacity && this.tWrite[stamp] === 0) this.tWrite[stamp] = now();
    });
    let clock: RealTimeClock | LatenessClock | VirtualClock = this.lateness;
    if (name === "pre-seed") {
      const virtual = new VirtualClock();
      clock = virtual;
      this.preSeed = new PreSeedFrameClock(this.lateness, () => virtual.advance(1));
    }
    this.rig = new BenchRig({ memory, clock, irq: this.irq });
    const skeleton = new LinuxSkeleton(this.ram, this.arena);
    skeleton.fillFrameList(this.arena.frameList);
    this.iso = new IsoSlots(
      this.ram,
      this.arena,
      skeleton,
      this.arena.frameList,
      AUDIO_ADDRESS,
      AUDIO_PACKET_BYTES,
      1,
    );
    for (let i = 0; i < 1024; i++) this.inBufferSlot.set(this.iso.inBuffer[i]!, i);
    const hidQueue = new TdQueue(
      this.ram,
      this.arena,
      { pid: Pid.In, address: HID_ADDRESS, endpoint: 1, maxLen: 8, lowSpeed: true, ioc: true },
      4,
      this.arena.buffer(8),
    );
    skeleton.hangQhAfter(skeleton.intQh[skeletonIndexForInterval(HID_INTERVAL)]!, hidQueue.qh);
    this.device = new AsyncAudioDevice(AUDIO_ADDRESS, AUDIO_PACKET_BYTES, {
      before: (_packet, stamp) => {
        if (stamp < capacity) this.tComplete[stamp] = now();
      },
      after: (_packet, stamp, accepted) => {
        if (stamp >= capacity) return;
        this.tReturn[stamp] = now();
        if (accepted && this.tWrite[stamp] !== 0) this.visibleAtReturn++;
        if (accepted && this.irq.level) this.irqHighAtReturn++;
      },
    });
    this.rig.plug([this.device, new HidLikeDevice(HID_ADDRESS, 0)]);
  }

  get controller(): UhciController {
    return this.rig.controller;
  }

  get framesRun(): number {
    return this.controller.framesRun;
  }

  start(): void {
    this.rig.start(this.arena.frameList, Io.INTR_IOC | Io.INTR_SHORT | Io.INTR_TIMEOUT);
    this.preSeed?.start();
    this.startMs = now();
  }

  stop(): void {
    this.preSeed?.stop();
    this.rig.stop();
  }

  /** FRNUM as the guest reads it, made monotonic (read at least every 100 ms, so < 2048 frames apart). */
  private readFrames(): number {
    const frnum = this.rig.frnum;
    this.frnumUnwrapped += (frnum - this.lastFrnum) & 0x7ff;
    this.lastFrnum = frnum;
    return this.frnumUnwrapped;
  }

  sample(): void {
    const t = now();
    const frnumDrift = this.readFrames() - (t - this.startMs);
    const drift = this.framesRun - (t - this.startMs);
    this.maxAbsDrift = Math.max(this.maxAbsDrift, Math.abs(drift));
    this.maxAbsFrnumDrift = Math.max(this.maxAbsFrnumDrift, Math.abs(frnumDrift));
    this.driftSamples.push([round((t - this.startMs) / 1000, 5), round(drift, 5)]);
  }

  /**
   * The guest's interrupt handler: acknowledge USBSTS, then walk the capture TDs of every frame that
   * has passed, in order, taking the completed ones (reading their data) and re-arming them.
   */
  private readonly interruptHandler = (): void => {
    this.isrScheduled = false;
    const t = now();
    this.rig.acknowledge();
    const frames = this.readFrames();
    const ram = this.ram;
    while (this.scanFrame < frames) {
      const slot = this.scanFrame & 0x3ff;
      const ctrl = ram.read32(this.iso.inTd[slot]! + 4);
      if (ctrl & TdCtrl.ACTIVE) {
        if (frames - this.scanFrame < 64) break; // still in flight: wait for it, in order
        this.missed++;
      } else {
        const stamp = ram.read32(this.iso.inBuffer[slot]!) >>> 0;
        if (stamp > 0 && stamp < this.tSeen.length && this.tSeen[stamp] === 0) {
          this.tSeen[stamp] = t;
          this.seen++;
        }
      }
      this.iso.rearm(slot);
      this.scanFrame++;
    }
  };

  result(seconds: number): VariantResult {
    const toMemory = new SampleBuffer();
    const toGuest = new SampleBuffer();
    for (let s = 1; s < this.tComplete.length; s++) {
      const c = this.tComplete[s]!;
      if (c === 0) continue;
      if (this.tWrite[s]! > 0) toMemory.push((this.tWrite[s]! - c) * 1000);
      if (this.tSeen[s]! > 0) toGuest.push((this.tSeen[s]! - c) * 1000);
    }
    const last = this.driftSamples.at(-1);
    const elapsedMs = last ? last[0] * 1000 : seconds * 1000;
    const framesDue = Math.floor(elapsedMs);
    const framesRunAtLast = last ? Math.round(last[1] + elapsedMs) : this.framesRun;
    const finalDrift = last ? last[1] : 0;
    const description =
      this.name === "fixed-grid"
        ? "src FrameClock on RealTimeClock: frame n due at start + n × 1 ms, overdue frames caught up (≤ 64 per wake-up)"
        : "bench PreSeedFrameClock: one frame per wake-up, next armed at now + 1 ms (QEMU before 8e65b7c0)";
    return {
      name: this.name,
      description,
      seconds: round(elapsedMs / 1000),
      framesRun: framesRunAtLast,
      framesDue,
      paceRatio: round(framesRunAtLast / Math.max(1, framesDue), 6),
      drift: {
        maxAbsFrames: round(this.maxAbsDrift),
        finalFrames: round(finalDrift),
        finalFrnumFrames: round(this.frnumUnwrappedAtLastSample - elapsedMs),
        maxAbsFrnumFrames: round(this.maxAbsFrnumDrift),
        framesPerSecond: round(finalDrift / Math.max(1e-9, elapsedMs / 1000)),
        samples: this.driftSamples,
      },
      framesPerWakeup: Array.from(this.controller.framesPerWakeup),
      timerLatenessMs: roundSummary(summarize(this.lateness.lateness.values())),
      completions: {
        deferred: this.device.completed + this.device.cancelled + this.device.ignored,
        completed: this.device.completed,
        visibleWhenCompleteReturned: this.visibleAtReturn,
        irqHighWhenCompleteReturned: this.irqHighAtReturn,
        seenByGuest: this.seen,
        missedByGuest: this.missed,
        cancelledByController: this.device.cancelled,
        toGuestMemoryUs: roundSummary(summarize(toMemory.values())),
        toGuestInterruptUs: roundSummary(summarize(toGuest.values())),
        histogramUs: {
          edges: LATENCY_EDGES_US,
          toGuestMemory: binCounts(toMemory.values(), LATENCY_EDGES_US),
          toGuestInterrupt: binCounts(toGuest.values(), LATENCY_EDGES_US),
        },
      },
    };
  }

  markFinalSample(): void {
    this.frnumUnwrappedAtLastSample = this.frnumUnwrapped;
  }
}

export async function runRealtime(seconds: number, log: (line: string) => void): Promise<RealtimeResult> {
  const capacity = Math.ceil(seconds * 1000 * 1.5) + STAMP_SLACK;
  const variants = [new Variant("fixed-grid", capacity), new Variant("pre-seed", capacity)];
  const sampleEveryMs = 100;
  for (const v of variants) v.start();
  const sampler = setInterval(() => {
    for (const v of variants) v.sample();
  }, sampleEveryMs);
  const progress = setInterval(() => {
    const line = variants
      .map((v) => `${v.name} drift ${(v.driftSamples.at(-1)?.[1] ?? 0).toFixed(1)}`)
      .join(", ");
    log(`  … ${((now() - (variants[0]?.startMs ?? 0)) / 1000).toFixed(0)} s: ${line}`);
  }, 10_000);
  await new Promise((resolve) => setTimeout(resolve, seconds * 1000 + sampleEveryMs / 2));
  clearInterval(sampler);
  clearInterval(progress);
  for (const v of variants) {
    v.sample();
    v.markFinalSample();
  }
  for (const v of variants) v.stop();
  // Let in-flight completions and the last interrupt handlers run.
  for (let i = 0; i < 20; i++) await tick();
  const results = variants.map((v) => v.result(seconds));
  for (const r of results) {
    const c = r.completions;
    log(
      `  ${r.name.padEnd(10)} frames ${r.framesRun}/${r.framesDue} due (pace ${r.paceRatio}), drift final ${r.drift.finalFrames} max|${r.drift.maxAbsFrames}| frames; complete→memory p50 ${c.toGuestMemoryUs.p50} µs, complete→guest IRQ handler p50 ${c.toGuestInterruptUs.p50} p99 ${c.toGuestInterruptUs.p99} max ${c.toGuestInterruptUs.max} µs`,
    );
  }
  const [grid, pre] = results as [VariantResult, VariantResult];
  const ratio = (a: number, b: number): number => round(a / b);
  return {
    config: { seconds, sampleEveryMs, maxFramesPerWakeup: grid.framesPerWakeup.length - 1 },
    variants: results,
    ratios: {
      finalDriftAbs: ratio(Math.abs(pre.drift.finalFrames), Math.max(1, Math.abs(grid.drift.finalFrames))),
      maxDriftAbs: ratio(pre.drift.maxAbsFrames, Math.max(1, grid.drift.maxAbsFrames)),
      paceRatio: ratio(pre.paceRatio, grid.paceRatio),
      toGuestInterruptP50: ratio(
        pre.completions.toGuestInterruptUs.p50,
        grid.completions.toGuestInterruptUs.p50,
      ),
      toGuestInterruptP99: ratio(
        pre.completions.toGuestInterruptUs.p99,
        grid.completions.toGuestInterruptUs.p99,
      ),
      timerLatenessP50: ratio(pre.timerLatenessMs.p50, grid.timerLatenessMs.p50),
    },
    notes: [
      "Both variants ran at the same time in one Node process (same event loop, same host noise).",
      "Drift = frames run − elapsed ms since Run/Stop; sampled every 100 ms, so up to one frame of it is sampling phase.",
      "Drift ratios divide by max(1 frame, |fixed-grid drift|).",
    ],
  };
}
