/**
 * Guest memory images for the frame walker fuzzer: schedules shaped like a real driver's (Linux
 * uhci-hcd: iso TDs first in each frame, then interrupt, control and bulk QHs, with a bandwidth
 * reclamation loop), random node soups as a hostile guest writes them, and pure noise — each then bent
 * by a number of corruptions that grows with the image's hostility.
 */
import type { RamGuestMemory } from "../../src/machine/guest-memory.ts";
import { qhLink, TERM, tdLink, writeQh, writeTd } from "../../test/uhci/helpers/schedule.ts";
import { Ctrl, LinkBit, PID } from "../../test/uhci/helpers/uhci-spec.ts";
import type { FuzzRandom } from "./random.ts";
import { randomSetup } from "./requests.ts";

export interface ImageNode {
  readonly address: number;
  readonly qh: boolean;
}

/** A transfer the guest can submit again: the words it writes (TDs afresh, the QH element back). */
export interface Resubmission {
  readonly words: readonly (readonly [address: number, value: number])[];
  /** An iso TD, which the guest also links into a frame a little ahead. */
  readonly isoTd: number | null;
}

export interface ScheduleImage {
  readonly ramSize: number;
  /** FRBASEADD the guest programs (may lie beyond RAM in a hostile image). */
  readonly frameList: number;
  readonly nodes: ImageNode[];
  /** 0 (a well-behaved guest) … 1 (a hostile one). */
  readonly hostility: number;
  readonly kind: "driver" | "soup" | "noise";
  /** Bus addresses of the devices plugged in: where most TDs are sent. */
  readonly addresses: readonly number[];
  /** Driver images: the transfers as first written, for the guest to submit again. */
  readonly resubmissions: Resubmission[];
}

/** Mostly the address of a device on the bus (0: one not yet addressed), sometimes any. */
function deviceAddress(rng: FuzzRandom, image: ScheduleImage): number {
  return rng.chance(0.9) && image.addresses.length > 0 ? rng.pick(image.addresses) : rng.below(128);
}

/** A link pointer as a hostile guest might write it. */
export function randomLink(rng: FuzzRandom, image: ScheduleImage, self: number): number {
  const size = image.ramSize;
  if (rng.chance(0.12 * image.hostility)) {
    return rng.chance(0.5) ? rng.u32() & ~LinkBit.T : (size + 16 * rng.below(64)) | (rng.below(4) * 2);
  }
  const roll = rng.below(100);
  if (roll < 20 || image.nodes.length === 0) return rng.u32() | LinkBit.T;
  if (roll < 80) {
    const n = rng.pick(image.nodes);
    const asQh = rng.chance(0.92) ? n.qh : !n.qh;
    return (n.address | (asQh ? LinkBit.Q : 0) | (rng.chance(0.5) ? LinkBit.VF : 0)) >>> 0;
  }
  if (roll < 88) return (self | (rng.chance(0.5) ? LinkBit.VF : 0)) >>> 0;
  return (16 * rng.below(size / 16)) | (rng.chance(0.3) ? LinkBit.Q : 0);
}

function randomBuffer(rng: FuzzRandom, image: ScheduleImage): number {
  const size = image.ramSize;
  if (rng.chance(0.15 * image.hostility)) {
    return rng.chance(0.5) ? size - rng.below(80) : (size + rng.below(0x1000)) >>> 0;
  }
  const roll = rng.below(10);
  if (roll < 7) return rng.below(size - 1280);
  if (roll < 9 && image.nodes.length > 0) return rng.pick(image.nodes).address + rng.below(16);
  return (image.frameList + rng.below(0x1000)) >>> 0;
}

/** Writes a random TD (any mix of control bits, PIDs, lengths; hostile ones when the image is). */
export function writeRandomTd(
  rng: FuzzRandom,
  ram: RamGuestMemory,
  image: ScheduleImage,
  address: number,
): void {
  let ctrl = rng.below(4) << Ctrl.CERR_SHIFT;
  if (rng.chance(0.85)) ctrl |= Ctrl.ACTIVE;
  if (rng.chance(0.3)) ctrl |= Ctrl.SPD;
  if (rng.chance(0.15)) ctrl |= Ctrl.IOS;
  if (rng.chance(0.3)) ctrl |= Ctrl.IOC;
  if (rng.chance(0.1)) ctrl |= Ctrl.LS;
  if (rng.chance(0.2)) ctrl |= rng.u32() & 0x007e_07ff; // stale status bits and ActLen
  const pid = rng.chance(0.1 * image.hostility)
    ? rng.below(256)
    : rng.pick([PID.IN, PID.IN, PID.OUT, PID.SETUP]);
  const lenRoll = rng.below(10);
  const maxLen = rng.chance(0.08 * image.hostility)
    ? 0x500 + rng.below(0x2ff)
    : lenRoll < 5
      ? rng.below(64)
      : lenRoll < 7
        ? 0x7ff
        : rng.below(0x500);
  const token =
    ((maxLen << 21) |
      (rng.below(2) << 19) |
      (rng.below(16) << 15) |
      (deviceAddress(rng, image) << 8) |
      pid) >>>
    0;
  ram.write32(address, randomLink(rng, image, address));
  ram.write32(address + 4, ctrl >>> 0);
  ram.write32(address + 8, token);
  ram.write32(address + 12, randomBuffer(rng, image) >>> 0);
}

export function writeRandomQh(
  rng: FuzzRandom,
  ram: RamGuestMemory,
  image: ScheduleImage,
  address: number,
): void {
  ram.write32(address, randomLink(rng, image, (address | LinkBit.Q) >>> 0));
  ram.write32(address + 4, randomLink(rng, image, (address | LinkBit.Q) >>> 0));
}

/**
 * Builds an image in `ram`. `frnum` is the frame the run starts at, so that the frames that will run
 * are the ones given iso TDs; `addresses` are the devices' bus addresses, which most TDs are sent to.
 */
export function buildImage(
  rng: FuzzRandom,
  ram: RamGuestMemory,
  frnum: number,
  addresses: readonly number[],
): ScheduleImage {
  const kind = rng.pick(["driver", "driver", "driver", "soup", "soup", "noise"] as const);
  const hostility = rng.pick([0, 0, 0.3, 1]);
  const size = ram.size;
  const hostileBase = rng.chance(0.1 * hostility);
  // A driver keeps its frame list apart from its buffers (the upper half); anything goes otherwise.
  const pages = kind === "driver" ? size / 0x2000 - 1 : size / 0x1000;
  const frameList = hostileBase
    ? rng.chance(0.5)
      ? size + 0x1000 * rng.below(4)
      : (rng.u32() & ~0xfff) >>> 0
    : 0x1000 * rng.below(pages);
  const image: ScheduleImage = {
    ramSize: size,
    frameList,
    nodes: [],
    hostility,
    kind,
    addresses,
    resubmissions: [],
  };
  if (kind === "noise" || rng.chance(0.1)) {
    for (let a = 0; a < size; a += 4) ram.write32(a, rng.u32());
  }
  if (kind === "driver") buildDriverSchedule(rng, ram, image, frnum);
  else if (kind === "soup") buildSoup(rng, ram, image, frnum);
  else {
    // Noise: a few nodes to aim mutations at, and frame list entries that point somewhere.
    for (let i = 0; i < 8; i++) image.nodes.push({ address: 16 * rng.below(size / 16), qh: rng.chance(0.3) });
  }
  corrupt(rng, ram, image);
  return image;
}

/** Where a node of 16 bytes may go: anywhere 16-aligned in RAM, rarely its very end. */
function nodeAddress(rng: FuzzRandom, size: number): number {
  return rng.chance(0.05) ? size - 16 : 16 * rng.below(size / 16);
}

function setEntry(ram: RamGuestMemory, image: ScheduleImage, index: number, link: number): void {
  const at = image.frameList + 4 * (index & 0x3ff);
  if (at + 4 <= image.ramSize) ram.write32(at, link);
}

function buildSoup(rng: FuzzRandom, ram: RamGuestMemory, image: ScheduleImage, frnum: number): void {
  const count = 1 + rng.below(24);
  for (let i = 0; i < count; i++)
    image.nodes.push({ address: nodeAddress(rng, image.ramSize), qh: rng.chance(0.3) });
  for (const n of image.nodes) {
    if (n.qh) writeRandomQh(rng, ram, image, n.address);
    else writeRandomTd(rng, ram, image, n.address);
  }
  for (let i = 0; i < 80; i++) setEntry(ram, image, frnum + i, randomLink(rng, image, image.frameList));
}

/**
 * A schedule as Linux uhci-hcd builds one:
 *
 *   frame list[f] -> iso TD … -> QH int -> QH ctrl -> QH bulk -> QH term -> T   (or bulk -> ctrl: FSBR loop)
 *                                   |          |          \-> (element) bulk TDs
 *                                   |          \-> (element) SETUP -Vf-> DATA… -Vf-> STATUS -> T
 *                                   \-> (element) interrupt IN TD
 */
function buildDriverSchedule(
  rng: FuzzRandom,
  ram: RamGuestMemory,
  image: ScheduleImage,
  frnum: number,
): void {
  const size = image.ramSize;
  // Nodes from 0x2000 (or the page after the frame list), buffers from the middle of RAM.
  let next = image.frameList + 0x1000 < size / 2 ? image.frameList + 0x1000 : 0x400;
  const alloc = (qh: boolean): number => {
    const at = next;
    next += 16;
    image.nodes.push({ address: at, qh });
    return at;
  };
  let buffer = size / 2;
  const allocBuffer = (n: number): number => {
    const at = buffer;
    buffer = Math.min(buffer + Math.max(16, (n + 15) & ~15), size - 0x500);
    return at;
  };
  const [intQh, ctrlQh, bulkQh, termQh] = [alloc(true), alloc(true), alloc(true), alloc(true)];

  // Interrupt endpoint: one IN TD polled every frame.
  const intTd = alloc(false);
  writeTd(ram, intTd, {
    pid: PID.IN,
    devAddr: deviceAddress(rng, image),
    endpoint: 1 + rng.below(3),
    maxLen: rng.pick([4, 8, 64]),
    buffer: allocBuffer(64),
    ioc: true,
    spd: rng.chance(0.5),
    toggle: rng.chance(0.5),
  });
  writeQh(ram, intQh, qhLink(ctrlQh), rng.chance(0.8) ? tdLink(intTd) : TERM);
  remember(ram, image, [intTd], [intQh + 4, tdLink(intTd)]);

  // A control transfer: SETUP, data stage in max-packet pieces, status in the other direction.
  const setup = randomSetup(rng);
  const setupBuffer = allocBuffer(8);
  const setupBytes = new Uint8Array(8);
  setup.encode(setupBytes);
  ram.write(setupBuffer, setupBytes, 8);
  const addr = deviceAddress(rng, image);
  const maxPacket = rng.pick([8, 64]);
  const isIn = setup.isDeviceToHost;
  const dataLength = Math.min(setup.wLength, 4 * maxPacket);
  const chain: number[] = [];
  const setupTd = alloc(false);
  writeTd(ram, setupTd, { pid: PID.SETUP, devAddr: addr, maxLen: 8, buffer: setupBuffer });
  chain.push(setupTd);
  let toggle = true;
  for (let offset = 0; offset < dataLength; offset += maxPacket) {
    const td = alloc(false);
    const n = Math.min(maxPacket, dataLength - offset);
    const data = allocBuffer(n);
    if (!isIn) ram.write(data, rng.bytes(n), n);
    writeTd(ram, td, {
      pid: isIn ? PID.IN : PID.OUT,
      devAddr: addr,
      maxLen: n,
      buffer: data,
      toggle,
      spd: isIn,
    });
    chain.push(td);
    toggle = !toggle;
  }
  const statusTd = alloc(false);
  // The status stage runs opposite to the data (an IN when there is no data stage), USB 2.0 8.5.3.
  const statusPid = isIn && setup.wLength > 0 ? PID.OUT : PID.IN;
  writeTd(ram, statusTd, { pid: statusPid, devAddr: addr, toggle: true, ioc: true });
  chain.push(statusTd);
  for (let i = 0; i + 1 < chain.length; i++) ram.write32(chain[i]!, tdLink(chain[i + 1]!, true));
  writeQh(ram, ctrlQh, qhLink(bulkQh), tdLink(setupTd));
  remember(ram, image, chain, [ctrlQh + 4, tdLink(setupTd)]);

  // Bulk: a few TDs, depth first, IN or OUT.
  const bulkTds: number[] = [];
  const bulkCount = rng.below(5);
  for (let i = 0; i < bulkCount; i++) {
    const td = alloc(false);
    const pid = rng.chance(0.5) ? PID.IN : PID.OUT;
    const n = rng.pick([0, 1, 63, 64, 512, 1023, 1280]);
    const data = allocBuffer(n);
    writeTd(ram, td, {
      pid,
      devAddr: deviceAddress(rng, image),
      endpoint: rng.below(16),
      maxLen: n,
      buffer: data,
      spd: pid === PID.IN && rng.chance(0.7),
      ioc: i === bulkCount - 1,
      toggle: (i & 1) === 1,
      cerr: rng.below(4),
    });
    bulkTds.push(td);
  }
  for (let i = 0; i + 1 < bulkTds.length; i++)
    ram.write32(bulkTds[i]!, tdLink(bulkTds[i + 1]!, rng.chance(0.8)));
  // Full-speed bandwidth reclamation: the last QH loops back to the control QH (Linux FSBR).
  const fsbr = rng.chance(0.3);
  writeQh(
    ram,
    bulkQh,
    fsbr ? qhLink(ctrlQh) : qhLink(termQh),
    bulkTds.length > 0 ? tdLink(bulkTds[0]!) : TERM,
  );
  if (bulkTds.length > 0) remember(ram, image, bulkTds, [bulkQh + 4, tdLink(bulkTds[0]!)]);
  const termTd = alloc(false);
  writeTd(ram, termTd, { pid: PID.IN, active: false, ioc: rng.chance(0.3) });
  writeQh(ram, termQh, TERM, tdLink(termTd));

  // Iso TDs in front of the skeleton for the frames about to run; some TDs and buffers are shared.
  const isoTds: number[] = [];
  const isoCount = rng.chance(0.7) ? 1 + rng.below(16) : 0;
  for (let i = 0; i < isoCount; i++) {
    const td = alloc(false);
    const pid = rng.chance(0.6) ? PID.IN : PID.OUT;
    const n = rng.pick([0, 44 * 4, 45 * 4, 192, 1023]);
    writeTd(ram, td, {
      pid,
      devAddr: deviceAddress(rng, image),
      endpoint: rng.below(4),
      maxLen: n,
      buffer: allocBuffer(n),
      ios: true,
      ioc: rng.chance(0.3),
    });
    isoTds.push(td);
  }
  for (const td of isoTds) {
    ram.write32(td, qhLink(intQh));
    remember(ram, image, [td], null, true);
  }
  for (let i = 0; i < 1024; i++) setEntry(ram, image, i, qhLink(intQh));
  for (let f = 0; f < 80 && isoTds.length > 0; f++) {
    if (!rng.chance(0.6)) continue;
    const td = rng.chance(0.7) ? isoTds[f % isoTds.length]! : rng.pick(isoTds);
    setEntry(ram, image, frnum + f, tdLink(td));
  }
}

/** Remembers TDs (their four words) and a QH element value as a transfer the guest may submit again. */
function remember(
  ram: RamGuestMemory,
  image: ScheduleImage,
  tds: readonly number[],
  qhElement: [number, number] | null,
  iso = false,
): void {
  const words: [number, number][] = [];
  for (const td of tds) for (let i = 0; i < 16; i += 4) words.push([td + i, ram.read32(td + i)]);
  if (qhElement !== null) words.push(qhElement);
  image.resubmissions.push({ words, isoTd: iso ? tds[0]! : null });
}

/** Bends an image: each corruption is a thing a buggy or hostile guest writes into a schedule. */
function corrupt(rng: FuzzRandom, ram: RamGuestMemory, image: ScheduleImage): void {
  const count = Math.round(image.hostility * rng.below(10));
  for (let i = 0; i < count && image.nodes.length > 0; i++) {
    const n = rng.pick(image.nodes);
    if (n.address + 16 > image.ramSize) continue;
    switch (rng.below(7)) {
      case 0: // a word of garbage anywhere in the node
        ram.write32(n.address + 4 * rng.below(4), rng.garbage32());
        break;
      case 1: // a link to itself
        ram.write32(
          n.address,
          (n.address | (n.qh ? LinkBit.Q : 0) | (rng.chance(0.5) ? LinkBit.VF : 0)) >>> 0,
        );
        break;
      case 2: // a link beyond RAM
        ram.write32(
          n.address + (n.qh ? 4 * rng.below(2) : 0),
          (image.ramSize + 16 * rng.below(1 << 12)) >>> 0,
        );
        break;
      case 3: // an invalid PID
        if (!n.qh) ram.write32(n.address + 8, ((ram.read32(n.address + 8) & ~0xff) | rng.below(256)) >>> 0);
        break;
      case 4: // an illegal MaxLen (0x500..0x7FE)
        if (!n.qh)
          ram.write32(
            n.address + 8,
            ((ram.read32(n.address + 8) & 0x1f_ffff) | ((0x500 + rng.below(0x2ff)) << 21)) >>> 0,
          );
        break;
      case 5: // a QH cycle / a link to another node of the other type
        ram.write32(n.address, randomLink(rng, image, n.address));
        break;
      default: // a buffer pointer at the end of RAM, beyond it, or into the schedule
        if (!n.qh) ram.write32(n.address + 12, randomBuffer(rng, { ...image, hostility: 1 }) >>> 0);
    }
  }
}
