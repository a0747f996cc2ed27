import type { GuestMemory } from "../machine/guest-memory.ts";
import type { DmaAllocator } from "./dma-allocator.ts";
import {
  encodeTdControl,
  encodeTdToken,
  LINK_TERMINATE,
  linkToQh,
  linkToTd,
  QhLayout,
  TdLayout,
  writeQh,
  writeTd,
} from "./schedule-encoding.ts";

/**
 * The frame list and the skeleton of queue heads that every endpoint queue hangs from, built the way
 * Linux uhci-hcd builds it (UHCI 3.4 describes how the controller walks it):
 *
 * ```
 * frame f ─► [iso TDs of frame f] ─► skel int(2^k) ─► [int QHs] ─┐      (k from f, see below)
 *                                                                 ▼
 *            skel int1 ─► [int1 QHs] ─► skel LS control ─► [QHs] ─► skel FS control ─► [QHs]
 *              ─► skel bulk ─► [QHs] ─► skel term ─► T            (term's element: one inactive TD)
 * ```
 *
 * Every interrupt skeleton of period N ≥ 2 links straight to int1, and frame f enters at the skeleton of
 * period 2 << (trailing zeros of f): odd frames at int2, frames ≡ 2 (mod 4) at int4 … frames ≡ 64
 * (mod 128) at int128, and frames ≡ 0 (mod 128) at int1. So a period-N queue runs exactly once every
 * N frames and a frame visits at most two interrupt skeletons, which spreads the periodic load.
 *
 * Isochronous TDs sit between a frame list entry and its skeleton QH, so they run first in their
 * frame (UHCI 3.4.1); {@link Schedule.linkIsoTd} maintains those per-frame chains.
 *
 * All addresses are guest physical; skeleton QHs never have TDs of their own (element = T).
 */

/** Frames in the frame list (UHCI 2.1.5). */
export const FRAME_LIST_ENTRIES = 1024;
/** The frame list is 1024 dwords on a 4 KiB boundary (UHCI 2.1.5, 3.1). */
export const FRAME_LIST_BYTES = FRAME_LIST_ENTRIES * 4;
export const FRAME_LIST_ALIGN = 4096;

/** Interrupt periods served by the skeleton: 1, 2, 4 … 128 frames (as in Linux uhci-hcd). */
export const INTERRUPT_PERIODS = [1, 2, 4, 8, 16, 32, 64, 128] as const;
export const MAX_INTERRUPT_PERIOD = 128;

/** Where an endpoint QH is linked. */
export type QueuePlacement =
  | {
      readonly kind: "interrupt" /** Polling interval in frames; rounded down to a power of two ≤ 128. */;
      readonly interval: number;
    }
  | { readonly kind: "control"; readonly lowSpeed: boolean }
  | { readonly kind: "bulk" };

/** The skeleton lists in schedule order after the interrupt tree (UHCI 3.4.2 horizontal order). */
const ASYNC_LISTS = ["int1", "lsControl", "fsControl", "bulk", "term"] as const;
type AsyncList = (typeof ASYNC_LISTS)[number];

/** One skeleton QH and the endpoint QHs linked after it (in order). */
interface SkeletonList {
  readonly name: string;
  readonly qh: number;
  readonly members: number[];
  /** What the last member (or the skeleton itself when empty) links to. */
  readonly next: () => number;
}

/** The interrupt period a requested interval gets: the largest power of two ≤ interval, capped at 128. */
export function interruptPeriod(interval: number): number {
  let period = 1;
  while (period * 2 <= Math.min(interval, MAX_INTERRUPT_PERIOD)) period *= 2;
  return period;
}

/** The interrupt period whose skeleton frame `frame` enters at (see the picture above). */
export function framePeriod(frame: number): number {
  const f = (frame & (FRAME_LIST_ENTRIES - 1)) | FRAME_LIST_ENTRIES;
  let zeros = 0;
  while (((f >>> zeros) & 1) === 0) zeros++;
  const period = 2 << zeros;
  return period > MAX_INTERRUPT_PERIOD ? 1 : period;
}

export class Schedule {
  /** Guest physical address of the frame list (what FRBASEADD gets). */
  readonly frameListAddress: number;
  /** The inactive TD under the terminating QH. */
  readonly terminatingTd: number;
  private readonly lists = new Map<string, SkeletonList>();
  /** Which list each endpoint QH is on. */
  private readonly listOf = new Map<number, SkeletonList>();
  /** Per frame, the isochronous TDs in execution order. */
  private readonly isoChains: (number[] | undefined)[] = new Array(FRAME_LIST_ENTRIES);

  constructor(
    private readonly memory: GuestMemory,
    allocator: DmaAllocator,
  ) {
    this.frameListAddress = allocator.alloc(FRAME_LIST_BYTES, FRAME_LIST_ALIGN);
    const qhs = new Map<string, number>();
    for (const period of INTERRUPT_PERIODS) qhs.set(`int${period}`, allocator.alloc(QhLayout.Size));
    for (const name of ASYNC_LISTS) if (!qhs.has(name)) qhs.set(name, allocator.alloc(QhLayout.Size));
    const qhAt = (name: string): number => qhs.get(name)!;

    for (const period of INTERRUPT_PERIODS) {
      if (period === 1) continue;
      this.addList(`int${period}`, qhAt(`int${period}`), () => linkToQh(qhAt("int1")));
    }
    ASYNC_LISTS.forEach((name: AsyncList, i) => {
      const following = ASYNC_LISTS[i + 1];
      this.addList(name, qhAt(name), () =>
        following === undefined ? LINK_TERMINATE : linkToQh(qhAt(following)),
      );
    });
    for (const list of this.lists.values()) writeQh(memory, list.qh, list.next(), LINK_TERMINATE);

    // Linux uhci-hcd parks one never-active TD under the last QH to work around Intel PIIX controllers;
    // doing the same shows a controller the schedule shape a Linux guest produces.
    this.terminatingTd = allocator.alloc(TdLayout.Size);
    writeTd(memory, this.terminatingTd, {
      link: LINK_TERMINATE,
      controlStatus: encodeTdControl({ active: false, errorCount: 0 }),
      token: encodeTdToken({ pid: 0x69, deviceAddress: 0x7f, endpoint: 0, toggle: 0, maxLength: 0 }),
      buffer: 0,
    });
    writeQh(memory, qhAt("term"), LINK_TERMINATE, linkToTd(this.terminatingTd));

    for (let frame = 0; frame < FRAME_LIST_ENTRIES; frame++) {
      memory.write32(this.frameListAddress + frame * 4, this.skeletonLink(frame));
    }
  }

  /** Address of a skeleton QH: `int1` … `int128`, `lsControl`, `fsControl`, `bulk`, `term`. */
  skeletonQh(name: string): number {
    const list = this.lists.get(name);
    if (list === undefined) throw new Error(`no skeleton QH ${name}`);
    return list.qh;
  }

  /** The link to the skeleton QH frame `frame` enters at (after its isochronous TDs). */
  skeletonLink(frame: number): number {
    return linkToQh(this.skeletonQh(`int${framePeriod(frame)}`));
  }

  /**
   * Links an endpoint QH at the end of its skeleton's list. The QH's own element must already be set;
   * its head is written here. The new QH is complete before the predecessor points at it.
   */
  linkQh(qh: number, placement: QueuePlacement): void {
    if (this.listOf.has(qh)) throw new Error(`QH 0x${qh.toString(16)} is already linked`);
    const list = this.listFor(placement);
    const predecessor = list.members.length === 0 ? list.qh : list.members[list.members.length - 1]!;
    this.memory.write32(qh + QhLayout.Head, this.memory.read32(predecessor + QhLayout.Head) >>> 0);
    this.memory.write32(predecessor + QhLayout.Head, linkToQh(qh));
    list.members.push(qh);
    this.listOf.set(qh, list);
  }

  /**
   * Takes an endpoint QH out of the schedule. The controller may still be looking at it in the current
   * frame, so the caller must let a frame boundary pass before reusing its memory (as uhci-hcd does).
   */
  unlinkQh(qh: number): void {
    const list = this.listOf.get(qh);
    if (list === undefined) throw new Error(`QH 0x${qh.toString(16)} is not linked`);
    const index = list.members.indexOf(qh);
    const predecessor = index === 0 ? list.qh : list.members[index - 1]!;
    this.memory.write32(predecessor + QhLayout.Head, this.memory.read32(qh + QhLayout.Head) >>> 0);
    list.members.splice(index, 1);
    this.listOf.delete(qh);
  }

  /** The endpoint QHs on one skeleton list, in schedule order. */
  members(name: string): readonly number[] {
    return this.lists.get(name)?.members ?? [];
  }

  /**
   * Appends an isochronous TD to frame `frame`'s chain, before the skeleton QHs (UHCI 3.4.1: the
   * controller runs a frame's isochronous TDs first). Writes the TD's link dword.
   */
  linkIsoTd(frame: number, td: number): void {
    const index = frame & (FRAME_LIST_ENTRIES - 1);
    const chain = this.isoChains[index] ?? [];
    this.isoChains[index] = chain;
    const tail = chain[chain.length - 1];
    const tailLinkAt = tail === undefined ? this.frameListAddress + index * 4 : tail + TdLayout.Link;
    this.memory.write32(td + TdLayout.Link, this.memory.read32(tailLinkAt) >>> 0);
    this.memory.write32(tailLinkAt, linkToTd(td));
    chain.push(td);
  }

  /** Removes an isochronous TD from its frame's chain; reuse its memory only after a frame boundary. */
  unlinkIsoTd(frame: number, td: number): void {
    const index = frame & (FRAME_LIST_ENTRIES - 1);
    const chain = this.isoChains[index];
    const at = chain?.indexOf(td) ?? -1;
    if (chain === undefined || at < 0) throw new Error(`TD 0x${td.toString(16)} is not in frame ${index}`);
    const before = chain[at - 1];
    const linkAt = before === undefined ? this.frameListAddress + index * 4 : before + TdLayout.Link;
    this.memory.write32(linkAt, this.memory.read32(td + TdLayout.Link) >>> 0);
    // Shifted by hand: splice would allocate a result array on every unlink (once per iso packet).
    for (let i = at; i < chain.length - 1; i++) chain[i] = chain[i + 1]!;
    chain.pop();
  }

  /** The isochronous TDs of a frame, in execution order. */
  isoTds(frame: number): readonly number[] {
    return this.isoChains[frame & (FRAME_LIST_ENTRIES - 1)] ?? [];
  }

  private addList(name: string, qh: number, next: () => number): void {
    this.lists.set(name, { name, qh, members: [], next });
  }

  private listFor(placement: QueuePlacement): SkeletonList {
    let name: string;
    switch (placement.kind) {
      case "interrupt":
        name = `int${interruptPeriod(placement.interval)}`;
        break;
      case "control":
        // Linux gives low-speed control its own list ahead of full speed (UHCI 3.4.2 leaves order to software).
        name = placement.lowSpeed ? "lsControl" : "fsControl";
        break;
      case "bulk":
        name = "bulk";
        break;
    }
    return this.lists.get(name)!;
  }
}
