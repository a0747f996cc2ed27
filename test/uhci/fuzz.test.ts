/**
 * Random schedules: 10,000 seeded memory images with random register setup, each run for a few frames
 * against two scripted devices that answer at random (including babble and async completions).
 *
 * For every image: no exception; at most the configured number of links per frame; every write the
 * controller makes lands where the schedule lets it write (see ScheduleOracle); HSE/HCPE halt the
 * controller and drive the IRQ line; the line is never high without a status bit behind it.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { FuzzRandom } from "../../fuzz/lib/random.ts";
import { randomLink, type ScheduleImage, writeRandomTd } from "../../fuzz/lib/schedule-image.ts";
import type { GuestMemory } from "../../src/machine/guest-memory.ts";
import { PacketStatus, type UsbPacket } from "../../src/usb/packet.ts";
import { FakeDevice, type Reply } from "./helpers/fake-device.ts";
import { RecordingMemory } from "./helpers/recording-memory.ts";
import { Rig } from "./helpers/rig.ts";
import { ScheduleOracle } from "./helpers/schedule-oracle.ts";
import { Cmd, LinkBit, PID, Reg, Sts } from "./helpers/uhci-spec.ts";

const IMAGES = 10_000;
const FRAMES_PER_IMAGE = 4;
const RAM_SIZE = 0x8000;
const BASE_SEED = 0x5eed_0000;
const DEFAULT_LINK_LIMIT = 1024;

function randomReply(rng: FuzzRandom, packet: UsbPacket): Reply {
  const roll = rng.below(100);
  if (roll < 15) return { kind: "nak" };
  if (roll < 20) return { kind: "stall" };
  if (roll < 23) return { kind: "babble" };
  if (roll < 28) return { kind: "io-error" };
  if (roll < 43) return { kind: "defer" };
  if (packet.pid !== PID.IN) return { kind: "ack" };
  return { kind: "ack", data: randomData(rng, packet.length) };
}

function randomData(rng: FuzzRandom, asked: number): Uint8Array {
  const roll = rng.below(10);
  const n = roll < 4 ? asked : roll < 9 ? rng.below(asked + 1) : Math.min(asked + 1 + rng.below(16), 1280);
  const data = new Uint8Array(n);
  data.fill(0xa0 + rng.below(16));
  return data;
}

function completeSome(rng: FuzzRandom, device: FakeDevice): void {
  for (const packet of [...device.inFlight]) {
    if (!rng.chance(0.5)) continue;
    const roll = rng.below(10);
    const status =
      roll < 6
        ? PacketStatus.Ack
        : roll < 7
          ? PacketStatus.Nak
          : roll < 8
            ? PacketStatus.Stall
            : roll < 9
              ? PacketStatus.Babble
              : PacketStatus.IoError;
    device.complete(status, randomData(rng, packet.length), packet);
  }
}

interface Outcome {
  writes: number;
  maxVisits: number;
  halted: boolean;
  frames: number;
}

function runImage(index: number): Outcome {
  const rng = new FuzzRandom(BASE_SEED + index);
  const linkLimit = rng.pick([16, 64, 256, DEFAULT_LINK_LIMIT]);
  let recording: RecordingMemory | null = null;
  const rig = new Rig({
    ramSize: RAM_SIZE,
    maxLinkVisitsPerFrame: linkLimit,
    bandwidthBytesPerFrame: rng.pick([1280, 1280, 64, 4096]),
    wrapMemory: (ram): GuestMemory => {
      recording = new RecordingMemory(ram);
      return recording;
    },
  });
  const memory = recording! as RecordingMemory;
  const ram = rig.ram;

  // ---- The memory image.
  if (rng.chance(0.2)) {
    for (let a = 0; a < RAM_SIZE; a += 4) ram.write32(a, rng.u32());
  }
  const hostility = rng.pick([0, 0.3, 1]);
  const frameList = rng.chance(0.1 * hostility)
    ? rng.chance(0.5)
      ? RAM_SIZE + 0x1000 * rng.below(4)
      : rng.u32() & ~0xfff
    : 0x1000 * rng.below(RAM_SIZE / 0x1000);
  // The same generator as the long-running fuzzer (fuzz/lib/schedule-image.ts), on a node soup.
  const image: ScheduleImage = {
    ramSize: RAM_SIZE,
    frameList,
    nodes: [],
    hostility,
    kind: "soup",
    addresses: [1, 2],
    resubmissions: [],
  };
  const nodeCount = 1 + rng.below(24);
  for (let i = 0; i < nodeCount; i++) {
    const at = rng.chance(0.05) ? RAM_SIZE - 16 : 16 * rng.below(RAM_SIZE / 16);
    image.nodes.push({ address: at, qh: rng.chance(0.3) });
  }
  for (const n of image.nodes) {
    if (n.qh) {
      ram.write32(n.address, randomLink(rng, image, n.address | LinkBit.Q));
      ram.write32(n.address + 4, randomLink(rng, image, n.address | LinkBit.Q));
    } else {
      writeRandomTd(rng, ram, image, n.address);
    }
  }
  const frnum = rng.below(0x800);
  for (let i = 0; i < FRAMES_PER_IMAGE + 1; i++) {
    const entry = frameList + 4 * ((frnum + i) & 0x3ff);
    if (entry + 4 <= RAM_SIZE) ram.write32(entry, randomLink(rng, image, frameList));
  }

  // ---- Devices and registers.
  const devices = [new FakeDevice({ address: 1 }), new FakeDevice({ address: 2 })];
  devices.forEach((device, port) => {
    device.chooser = (packet) => randomReply(rng, packet);
    if (!rng.chance(0.9)) return;
    if (rng.chance(0.85)) rig.plug(port, device);
    else rig.hc.attach(port, device);
    if (rng.chance(0.05)) rig.writePortsc(port, rig.portsc(port) | 0x1000);
  });
  rig.write16(Reg.USBINTR, rng.below(16));
  rig.write16(Reg.FRNUM, frnum);
  rig.write32(Reg.FRBASEADD, frameList);
  if (rng.chance(0.2)) rig.write8(Reg.SOFMOD, rng.below(128));
  const cmd =
    (rng.chance(0.1) ? Cmd.SWDBG : 0) | (rng.chance(0.5) ? Cmd.CF : 0) | (rng.chance(0.5) ? Cmd.MAXP : 0);
  rig.write16(Reg.USBCMD, cmd);

  // ---- Run, judging every write.
  const oracle = new ScheduleOracle(ram);
  memory.observer = oracle;
  rig.write16(Reg.USBCMD, cmd | Cmd.RS);
  let maxVisits = 0;
  let halted = false;
  let frames = 0;
  for (let f = 0; f < FRAMES_PER_IMAGE; f++) {
    const due = rig.clock.nextDueMs();
    if (due === undefined) {
      // Halted (HSE, HCPE or single step): a guest clears the status and sets RS again, sometimes.
      halted = true;
      if (!rng.chance(0.5)) break;
      rig.clearStatus();
      rig.write16(Reg.USBCMD, (rig.usbcmd & ~Cmd.RS) | Cmd.RS);
      continue;
    }
    const base = rig.read32(Reg.FRBASEADD);
    const entry = base + 4 * (rig.frnum & 0x3ff);
    if (entry + 4 <= RAM_SIZE) oracle.addRoot(ram.read32(entry));
    rig.clock.advanceTo(due);
    frames++;

    const visits = rig.hc.lastFrameLinkVisits;
    maxVisits = Math.max(maxVisits, visits);
    assert.ok(visits <= linkLimit, `${visits} links in a frame, limit ${linkLimit}`);
    const sts = rig.usbsts;
    const intr = rig.read16(Reg.USBINTR);
    assert.equal(sts & 0xffc0, 0, "USBSTS reserved bits");
    assert.ok(rig.frnum <= 0x7ff);
    if (sts & (Sts.HSE | Sts.HCPE)) {
      assert.equal(rig.usbcmd & Cmd.RS, 0, "HSE/HCPE clear RS");
      assert.equal(sts & Sts.HCHALTED, Sts.HCHALTED, "HSE/HCPE halt");
      assert.equal(rig.irq.level, true, "HSE/HCPE interrupt regardless of USBINTR");
    }
    if (rig.irq.level) assert.notEqual(sts & 0x1f, 0, "IRQ high with no status bit set");
    if (intr === 0) assert.equal(rig.irq.level, (sts & (Sts.HSE | Sts.HCPE)) !== 0);

    // Between frames: devices complete some deferred requests (isochronous ones write at once), and
    // the guest pokes registers or a device is unplugged and plugged again.
    for (const device of devices) completeSome(rng, device);
    if (rng.chance(0.3)) rig.clearStatus(rng.below(64));
    if (rng.chance(0.05)) rig.hc.ioWrite(rng.below(0x20), rng.pick([1, 2, 4] as const), rng.u32());
    if (rng.chance(0.03)) {
      const port = rng.below(2);
      const device = rig.hc.detach(port) ?? devices[port]!;
      if (rng.chance(0.7)) rig.plug(port, device);
    }
  }
  memory.observer = null;
  assert.deepEqual(oracle.violations, []);
  return { writes: memory.writes, maxVisits, halted, frames };
}

describe("hostile: random memory images", () => {
  it(`${IMAGES} seeded images: no exception, bounded work, no write outside the schedule`, (t) => {
    let writes = 0;
    let halted = 0;
    let busiest = 0;
    let frames = 0;
    for (let i = 0; i < IMAGES; i++) {
      let outcome: Outcome;
      try {
        outcome = runImage(i);
      } catch (error) {
        const message = error instanceof Error ? error.message : String(error);
        assert.fail(`image ${i} (seed 0x${(BASE_SEED + i).toString(16)}): ${message}`);
      }
      writes += outcome.writes;
      frames += outcome.frames;
      busiest = Math.max(busiest, outcome.maxVisits);
      if (outcome.halted) halted++;
    }
    t.diagnostic(
      `${frames} frames, ${writes} checked writes, ${halted} images halted, busiest frame ${busiest} links`,
    );
    // The generator must actually exercise the controller, not only halt it on the first link.
    assert.ok(writes > IMAGES, `only ${writes} writes in ${IMAGES} images`);
    assert.ok(halted < IMAGES * 0.8, `${halted} of ${IMAGES} images halted`);
    assert.ok(busiest > 100, "some frames walk long schedules");
  });
});
