/**
 * Benchmark: what a frame costs with a hostile backlog of deferred requests. A guest links fresh IN TDs
 * into each of 48 frames, aimed at a device that defers every packet and never answers, so every TD
 * leaves a request in flight until its 32-frame pairing lapses. In the steady state (frames 40–47) each
 * frame makes one request per TD and takes back as many, with 32 frames' worth out: 16,384 requests
 * with 512 TDs per frame, 1,024 with 32. If the controller scanned the requests out instead of indexing
 * them, a request in the large backlog would cost ~16 times one in the small; the bound says at most 4.
 *
 * Each run goes through its 48 frames twice on one controller: the first pass grows the packet pool to
 * the backlog, Run/Stop cleared takes every request back, and the timed second pass (FRNUM from 0
 * again) makes no new packets, so what is compared is the bookkeeping, not allocation.
 *
 * This was a wall-clock assertion inside test/uhci/hostile.test.ts; timing belongs here, where the run
 * is repeated, summarised and reported (`bench/results/async-backlog.json`, summary.md), and the unit
 * test keeps asserting the behaviour (requests out, taken back, link visits) that no machine changes.
 */

import { RamGuestMemory, VirtualClock } from "../src/machine/index.ts";
import { quantileSorted } from "../src/streaming/percentiles.ts";
import type { UsbDevice } from "../src/usb/index.ts";
import { UsbSpeed } from "../src/usb/index.ts";
import { GuestArena, Pid, TERM, tdLink, writeTd } from "./lib/guest-schedule.ts";
import { BenchRig, Io } from "./lib/rig.ts";
import { round } from "./lib/stats.ts";
import { now } from "./lib/timing.ts";

const FRAMES = 48;
/** A pairing not met for this many frames is taken back (the controller's async lifetime). */
const PAIRING_FRAMES = 32;
/** The steady-state frames that are timed. */
const TIMED = [40, 48] as const;
const SMALL_TDS = 32;
const LARGE_TDS = 512;
/** The bound: a request in the large backlog may cost at most this many times one in the small. */
export const ASYNC_BACKLOG_MAX_RATIO = 4;
const ADDRESS = 1;

export interface BacklogCost {
  tdsPerFrame: number;
  /** Requests in flight while the timed frames ran. */
  requestsOut: number;
  /** Median over runs of each run's median timed frame, ns. */
  nsPerFrame: number;
  /** nsPerFrame / tdsPerFrame: one request made and one taken back. */
  nsPerRequest: number;
}

export interface AsyncBacklogResult {
  config: { frames: number; timedFrames: number[]; runs: number };
  small: BacklogCost;
  large: BacklogCost;
  /** large.nsPerRequest / small.nsPerRequest, and whether it is within {@link ASYNC_BACKLOG_MAX_RATIO}. */
  ratio: number;
  maxRatio: number;
  withinBound: boolean;
  /** Each run pair's ratio, for the spread. */
  ratios: number[];
  facts: Record<string, number>;
}

/** A device that defers every packet and never completes one (a backend that hung). */
class DeferringDevice implements UsbDevice {
  readonly name = "deferring";
  readonly speed = UsbSpeed.Full;
  readonly address = ADDRESS;
  handled = 0;
  cancelled = 0;
  handlePacket(packet: Parameters<UsbDevice["handlePacket"]>[0]): void {
    this.handled++;
    packet.deferred();
  }
  cancelPacket(): void {
    this.cancelled++;
  }
  reset(): void {}
  setUpstream(): void {}
  setSuspended(): void {}
}

interface Run {
  tds: number;
  /** Median of the timed frames, ns. */
  frameNs: number;
  device: DeferringDevice;
  rig: BenchRig;
}

function median(values: number[]): number {
  return quantileSorted(Float64Array.from(values).sort(), 0.5);
}

function run(tdsPerFrame: number): Run {
  //   frame list[f] -> TD f.0 -> TD f.1 -> … -> TD f.(n-1) -> T     (f = 0..47; the other entries: T)
  const memory = new RamGuestMemory(4 * 1024 * 1024);
  const arena = new GuestArena(memory);
  const clock = new VirtualClock();
  const rig = new BenchRig({ memory, clock });
  const device = new DeferringDevice();
  const buffer = arena.buffer(8);
  for (let f = 0; f < 1024; f++) memory.write32(arena.frameList + 4 * f, TERM);
  for (let f = 0; f < FRAMES; f++) {
    const tds = Array.from({ length: tdsPerFrame }, () => arena.node());
    memory.write32(arena.frameList + 4 * f, tdLink(tds[0]!));
    tds.forEach((at, i) => {
      const next = tds[i + 1];
      writeTd(memory, at, {
        link: next === undefined ? TERM : tdLink(next),
        pid: Pid.In,
        address: ADDRESS,
        endpoint: 1,
        maxLen: 8,
        buffer,
      });
    });
  }
  rig.plug([device]);
  const pass = (): number[] => {
    rig.controller.ioWrite(Io.FRNUM, 2, 0);
    rig.start(arena.frameList, 0);
    const times: number[] = [];
    for (let f = 0; f < FRAMES; f++) {
      const t = now();
      clock.advance(1);
      times.push((now() - t) * 1e6);
    }
    return times;
  };
  // The first pass grows the packet pool to the backlog; stopping takes every request back (the TDs
  // stay active and are asked again in the timed pass, which makes no new packets).
  pass();
  rig.stop();
  clock.advance(1);
  const times = pass();
  return { tds: tdsPerFrame, frameNs: median(times.slice(...TIMED)), device, rig };
}

/** Throws when the schedule did not do what this benchmark says it measures. */
function verify(r: Run): Record<string, number> {
  const check = (what: string, got: number, want: number): void => {
    if (got !== want)
      throw new Error(`async-backlog (${r.tds} TDs per frame): ${what} is ${got}, expected ${want}`);
  };
  r.rig.assertHealthy("async-backlog");
  check("frames run since Run/Stop was set again", r.rig.controller.framesRun, FRAMES);
  check("requests made (each TD asked once a pass)", r.device.handled, 2 * FRAMES * r.tds);
  check("requests in flight at the end", r.device.handled - r.device.cancelled, PAIRING_FRAMES * r.tds);
  check("link visits in the last frame", r.rig.controller.lastFrameLinkVisits, r.tds);
  return {
    requestsMade: r.device.handled,
    requestsTakenBack: r.device.cancelled,
    requestsInFlightAtEnd: r.device.handled - r.device.cancelled,
    lastFrameLinkVisits: r.rig.controller.lastFrameLinkVisits,
  };
}

function cost(tds: number, runs: readonly Run[]): BacklogCost {
  const nsPerFrame = median(runs.map((r) => r.frameNs));
  return {
    tdsPerFrame: tds,
    requestsOut: PAIRING_FRAMES * tds,
    nsPerFrame: round(nsPerFrame),
    nsPerRequest: round(nsPerFrame / tds),
  };
}

export function runAsyncBacklog(quick: boolean, log: (line: string) => void): AsyncBacklogResult {
  // Even the quick run takes the median of 11: a single run pair can stray past the bound on a loaded machine.
  const runs = quick ? 11 : 25;
  // An untimed run of each first, so the JIT has compiled the walker before anything counts.
  verify(run(SMALL_TDS));
  verify(run(LARGE_TDS));
  const small: Run[] = [];
  const large: Run[] = [];
  // Interleaved, so machine noise lands on both alike.
  for (let i = 0; i < runs; i++) {
    small.push(run(SMALL_TDS));
    large.push(run(LARGE_TDS));
  }
  verify(small[small.length - 1]!);
  const facts = verify(large[large.length - 1]!);
  const s = cost(SMALL_TDS, small);
  const l = cost(LARGE_TDS, large);
  const ratio = l.nsPerRequest / s.nsPerRequest;
  const withinBound = ratio <= ASYNC_BACKLOG_MAX_RATIO;
  log(
    `  per request (one made, one taken back): ${round(s.nsPerRequest, 3)} ns with ${s.requestsOut} out, ${round(l.nsPerRequest, 3)} ns with ${l.requestsOut} out: × ${round(ratio, 3)} (bound × ${ASYNC_BACKLOG_MAX_RATIO}) ${withinBound ? "ok" : "EXCEEDED"}`,
  );
  return {
    config: { frames: FRAMES, timedFrames: [...TIMED], runs },
    small: s,
    large: l,
    ratio: round(ratio),
    maxRatio: ASYNC_BACKLOG_MAX_RATIO,
    withinBound,
    ratios: small.map((r, i) => round(large[i]!.frameNs / LARGE_TDS / (r.frameNs / SMALL_TDS), 3)),
    facts,
  };
}

/** The summary.md section for this benchmark. */
export function asyncBacklogMarkdown(r: AsyncBacklogResult | undefined): string {
  if (r === undefined) return "";
  const row = (c: BacklogCost) =>
    `| ${c.tdsPerFrame} | ${c.requestsOut} | ${round(c.nsPerFrame / 1000, 3)} | ${round(c.nsPerRequest, 3)} |`;
  return [
    "",
    "## Async backlog: a frame's cost with thousands of deferred requests out",
    "",
    "| deferred TDs per frame | requests out | µs per frame | ns per request |",
    "| --- | --- | --- | --- |",
    row(r.small),
    row(r.large),
    "",
    `Per request, ${r.large.requestsOut} out costs × ${r.ratio} of ${r.small.requestsOut} out (bound × ${r.maxRatio}: ${r.withinBound ? "within" : "**exceeded**"}).`,
    "",
  ].join("\n");
}
