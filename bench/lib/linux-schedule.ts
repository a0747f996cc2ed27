/**
 * A guest schedule laid out like Linux uhci-hcd's (the 2.6 skeleton, after "link all higher int queues
 * to int1", Alan Stern, Feb 2004): 1024 frame list entries, skeleton QHs int128 … int2 that all link to
 * int1, then low-speed control, full-speed control, bulk and a terminating QH whose element is an
 * inactive TD (uhci-hcd's PIIX workaround). Frame i enters at the skeleton QH of period 2^(k+1) where
 * k = ffs(i + 1024) (int2 on odd frames, int4 on frames ≡ 2 mod 4, …, int1 when k ≥ 7), so every frame
 * meets at most two interrupt skeleton QHs. Isochronous TDs sit in the frame list ahead of the skeleton;
 * an interrupt endpoint's QH hangs after the slowest skeleton QH that meets its interval.
 */
import type { RamGuestMemory } from "../../src/machine/index.ts";
import {
  type GuestArena,
  Pid,
  qhLink,
  type TdSpec,
  TERM,
  tdCtrlWord,
  tdLink,
  writeQh,
  writeTd,
} from "./guest-schedule.ts";

export const FRAME_LIST_ENTRIES = 1024;

/** Index into `LinuxSkeleton.intQh`: 0 = int128, …, 6 = int2, 7 = int1 (uhci-hcd's skelqh[] order). */
export function skeletonIndexForFrame(frame: number): number {
  const x = (frame & 0x3ff) + FRAME_LIST_ENTRIES;
  const ffs = 31 - Math.clz32(x & -x);
  const index = 6 - ffs;
  return index < 0 ? 7 : index;
}

/** uhci-hcd's __interval_to_skel: the slowest skeleton QH whose period is at most `interval`. */
export function skeletonIndexForInterval(interval: number): number {
  let period = 128;
  let index = 0;
  while (period > 1 && period > interval) {
    period >>= 1;
    index++;
  }
  return index;
}

export class LinuxSkeleton {
  /** int128, int64, int32, int16, int8, int4, int2, int1. */
  readonly intQh: readonly number[];
  readonly lsControl: number;
  readonly fsControl: number;
  readonly bulk: number;
  readonly term: number;
  readonly termTd: number;

  constructor(
    readonly memory: RamGuestMemory,
    arena: GuestArena,
  ) {
    this.intQh = Array.from({ length: 8 }, () => arena.node());
    this.lsControl = arena.node();
    this.fsControl = arena.node();
    this.bulk = arena.node();
    this.term = arena.node();
    this.termTd = arena.node();
    const int1 = this.intQh[7]!;
    for (let i = 0; i < 7; i++) writeQh(memory, this.intQh[i]!, qhLink(int1), TERM);
    writeQh(memory, int1, qhLink(this.lsControl), TERM);
    writeQh(memory, this.lsControl, qhLink(this.fsControl), TERM);
    writeQh(memory, this.fsControl, qhLink(this.bulk), TERM);
    writeQh(memory, this.bulk, qhLink(this.term), TERM);
    // The terminating QH holds an inactive IN TD to address 0x7F (uhci-hcd's term_td).
    writeQh(memory, this.term, TERM, tdLink(this.termTd));
    writeTd(memory, this.termTd, {
      pid: Pid.In,
      address: 0x7f,
      endpoint: 0,
      maxLen: 0,
      buffer: 0,
      active: false,
    });
  }

  /** The frame list entry for frame `i` without isochronous TDs: its interrupt skeleton QH. */
  linkForFrame(frame: number): number {
    return qhLink(this.intQh[skeletonIndexForFrame(frame)]!);
  }

  /** Points every frame list entry at its skeleton QH (the idle schedule). */
  fillFrameList(frameList: number): void {
    for (let i = 0; i < FRAME_LIST_ENTRIES; i++) this.memory.write32(frameList + 4 * i, this.linkForFrame(i));
  }

  /** Links an endpoint QH in right after the skeleton QH at `skeletonQh` (uhci-hcd appends it there). */
  hangQhAfter(skeletonQh: number, qh: number): void {
    const head = this.memory.read32(skeletonQh);
    this.memory.write32(qh, head);
    this.memory.write32(skeletonQh, qhLink(qh));
  }

  /** Full-speed bandwidth reclamation as uhci-hcd did it: the terminating QH loops back to FS control. */
  enableFsbr(): void {
    this.memory.write32(this.term, qhLink(this.fsControl));
  }
}

/**
 * One isochronous IN and one isochronous OUT TD per frame list slot (a capture and a playback stream),
 * linked from the frame list ahead of the skeleton, each with its own buffer, IOC on every
 * `iocEvery`-th IN TD (an URB of that many packets).
 */
export class IsoSlots {
  readonly inTd = new Uint32Array(FRAME_LIST_ENTRIES);
  readonly outTd = new Uint32Array(FRAME_LIST_ENTRIES);
  readonly inBuffer = new Uint32Array(FRAME_LIST_ENTRIES);
  readonly outBuffer = new Uint32Array(FRAME_LIST_ENTRIES);
  private readonly inCtrl: Uint32Array = new Uint32Array(FRAME_LIST_ENTRIES);
  private readonly outCtrl: number;

  constructor(
    readonly memory: RamGuestMemory,
    arena: GuestArena,
    skeleton: LinuxSkeleton,
    frameList: number,
    readonly device: number,
    readonly packetBytes: number,
    readonly iocEvery = 8,
    readonly inEndpoint = 1,
    readonly outEndpoint = 2,
  ) {
    const inSpec = (slot: number): TdSpec => ({
      pid: Pid.In,
      address: device,
      endpoint: inEndpoint,
      maxLen: packetBytes,
      buffer: this.inBuffer[slot]!,
      isochronous: true,
      ioc: iocEvery > 0 && slot % iocEvery === iocEvery - 1,
    });
    const outSpec = (slot: number): TdSpec => ({
      pid: Pid.Out,
      address: device,
      endpoint: outEndpoint,
      maxLen: packetBytes,
      buffer: this.outBuffer[slot]!,
      isochronous: true,
    });
    for (let i = 0; i < FRAME_LIST_ENTRIES; i++) {
      this.inTd[i] = arena.node();
      this.outTd[i] = arena.node();
      this.inBuffer[i] = arena.buffer(packetBytes);
      this.outBuffer[i] = arena.buffer(packetBytes);
      for (let b = 0; b < packetBytes; b++) memory.bytes[this.outBuffer[i]! + b] = (i + b) & 0xff;
      writeTd(memory, this.inTd[i]!, { ...inSpec(i), link: tdLink(this.outTd[i]!) });
      writeTd(memory, this.outTd[i]!, { ...outSpec(i), link: skeleton.linkForFrame(i) });
      this.inCtrl[i] = tdCtrlWord(inSpec(i));
      memory.write32(frameList + 4 * i, tdLink(this.inTd[i]!));
    }
    this.outCtrl = tdCtrlWord(outSpec(0));
  }

  /** Whether slot's TDs both ran (inactive, full length moved). */
  completed(slot: number): boolean {
    const s = slot & 0x3ff;
    const full = (this.packetBytes - 1) & 0x7ff;
    const inCtrl = this.memory.read32(this.inTd[s]! + 4);
    const outCtrl = this.memory.read32(this.outTd[s]! + 4);
    return (
      (inCtrl & (1 << 23)) === 0 &&
      (inCtrl & 0x7ff) === full &&
      (outCtrl & (1 << 23)) === 0 &&
      (outCtrl & 0x7ff) === full
    );
  }

  /** The guest gives slot's TDs back to the controller for their next turn (1024 frames later). */
  rearm(slot: number): void {
    const s = slot & 0x3ff;
    this.memory.write32(this.inTd[s]! + 4, this.inCtrl[s]!);
    this.memory.write32(this.outTd[s]! + 4, this.outCtrl);
  }
}

/**
 * A queue of TDs hanging off one QH: `count` TDs linked breadth first (one per visit, as uhci-hcd links
 * interrupt and bulk TDs), each moving `maxLen` bytes. `rearm` resets the consumed ones.
 */
export class TdQueue {
  readonly qh: number;
  readonly tds: Uint32Array;
  private readonly ctrl: number;

  constructor(
    readonly memory: RamGuestMemory,
    arena: GuestArena,
    spec: Omit<TdSpec, "buffer" | "link">,
    count: number,
    sharedBuffer: number,
  ) {
    this.qh = arena.node();
    this.tds = new Uint32Array(count);
    for (let i = 0; i < count; i++) this.tds[i] = arena.node();
    for (let i = 0; i < count; i++) {
      const next = i + 1 < count ? tdLink(this.tds[i + 1]!) : TERM;
      writeTd(memory, this.tds[i]!, { ...spec, buffer: sharedBuffer, link: next });
    }
    this.ctrl = tdCtrlWord({ ...spec, buffer: sharedBuffer });
    writeQh(memory, this.qh, TERM, tdLink(this.tds[0]!));
  }

  /** TDs the controller has completed since the last re-arm (the QH element has moved past them). */
  consumed(): number {
    const element = this.memory.read32(this.qh + 4);
    if (element & 1) return this.tds.length;
    const at = element & ~0xf;
    for (let i = 0; i < this.tds.length; i++) if (this.tds[i] === at) return i;
    return this.tds.length;
  }

  rearm(): number {
    const n = this.consumed();
    for (let i = 0; i < n; i++) this.memory.write32(this.tds[i]! + 4, this.ctrl);
    if (n > 0) this.memory.write32(this.qh + 4, tdLink(this.tds[0]!));
    return n;
  }
}

/** A cycle of `count` TDs (the last links back to the first): a hostile schedule only the link budget ends. */
export function writeTdCycle(
  memory: RamGuestMemory,
  arena: GuestArena,
  count: number,
  spec: Omit<TdSpec, "link">,
): number {
  const tds: number[] = [];
  for (let i = 0; i < count; i++) tds.push(arena.node());
  for (let i = 0; i < count; i++) writeTd(memory, tds[i]!, { ...spec, link: tdLink(tds[(i + 1) % count]!) });
  return tds[0]!;
}
