/**
 * The schedules the per-frame benchmarks run, each on its own controller, guest RAM and virtual clock.
 *
 * Each scenario separates the controller's work (what `clock.advance()` runs: frames) from the guest's
 * work between batches (`rearm`: give consumed isochronous, interrupt and bulk TDs back, acknowledge
 * USBSTS), so the timed region contains only controller frames. `rearm` is timed on its own and
 * reported apart, never subtracted.
 */
import { UHCI_EMULATION_SPEED } from "../../src/controller/uhci/uhci-controller.ts";
import { AsyncIsoWrapper } from "../../src/devices/async-host/index.ts";
import { UsbHub } from "../../src/devices/hub/index.ts";
import { RamGuestMemory, VirtualClock } from "../../src/machine/index.ts";
import { SetupPacket } from "../../src/usb/index.ts";
import { PacketHost } from "../../src/usb/testing/packet-host.ts";
import { BulkDevice, HidLikeDevice, NakDevice, SyncAudioDevice } from "./devices.ts";
import { GuestArena, Pid, tdLink } from "./guest-schedule.ts";
import {
  IsoSlots,
  LinuxSkeleton,
  skeletonIndexForInterval,
  TdQueue,
  writeTdCycle,
} from "./linux-schedule.ts";
import { BenchRig, Io, type RigParts } from "./rig.ts";

/** 48 kHz × 2 channels × 16 bits = 192 bytes per 1 ms frame. */
export const AUDIO_PACKET_BYTES = 192;
export const AUDIO_ADDRESS = 2;
export const HID_ADDRESS = 3;
export const BULK_ADDRESS = 4;
export const HOSTILE_ADDRESS = 5;
/** The HID endpoint's bInterval: Linux puts it under skel_int8. */
export const HID_INTERVAL = 10;

export interface FrameScenario {
  readonly name: string;
  readonly description: string;
  /** Frames per timed batch. */
  readonly batchFrames: number;
  readonly clock: VirtualClock;
  readonly rig: BenchRig;
  /** The guest's work since the last call (untimed by the controller measurement). */
  rearm(): void;
  /** Throws when the schedule did not do what the scenario says; returns facts for the report. */
  verify(): Record<string, number>;
}

const RAM_BYTES = 4 * 1024 * 1024;

interface Base {
  memory: RamGuestMemory;
  arena: GuestArena;
  clock: VirtualClock;
  rig: BenchRig;
  skeleton: LinuxSkeleton;
}

/**
 * Where every schedule's virtual clock starts: a fractional time, as the v86 adapter's clock starts at
 * `performance.now()`, so frame due times are fractional too (and a time boxed into a heap object on
 * its way through a call would show as an allocation per frame).
 */
const CLOCK_ORIGIN_MS = 1234.5678;

function base(controllerOptions?: RigParts["controllerOptions"]): Base {
  const memory = new RamGuestMemory(RAM_BYTES);
  const arena = new GuestArena(memory);
  const clock = new VirtualClock(CLOCK_ORIGIN_MS);
  const rig = new BenchRig({
    memory,
    clock,
    ...(controllerOptions === undefined ? {} : { controllerOptions }),
  });
  const skeleton = new LinuxSkeleton(memory, arena);
  skeleton.fillFrameList(arena.frameList);
  return { memory, arena, clock, rig, skeleton };
}

/**
 * What the guest's isochronous bookkeeping does between batches: every frame run since the last call
 * (FRNUM moved on) has its slot checked (both TDs completed?) and re-armed for its next turn.
 * Written without closures so that the untimed guest work allocates nothing either.
 */
class IsoRearmer {
  private last: number;
  missed = 0;
  constructor(
    private readonly rig: BenchRig,
    private readonly iso: IsoSlots,
    /** The newest frames left for the next call: their answers may still be out (an async device). */
    private readonly lagFrames = 0,
  ) {
    this.last = rig.frnum;
  }
  run(): number {
    const upTo = (this.rig.frnum - this.lagFrames) & 0x7ff;
    const n = (upTo - this.last) & 0x7ff;
    for (let i = 0; i < n; i++) {
      const slot = (this.last + i) & 0x3ff;
      if (!this.iso.completed(slot)) this.missed++;
      this.iso.rearm(slot);
    }
    this.last = upTo;
    return n;
  }
}

function checkEqual(what: string, got: number, want: number): void {
  if (got !== want) throw new Error(`${what}: got ${got}, expected ${want}`);
}

/** Skeleton only: devices plugged in, nothing queued. */
export function idleScenario(): FrameScenario {
  const b = base();
  const audio = new SyncAudioDevice(AUDIO_ADDRESS, AUDIO_PACKET_BYTES);
  const hid = new HidLikeDevice(HID_ADDRESS, 4);
  b.rig.plug([audio, hid]);
  b.rig.start(b.arena.frameList, Io.INTR_IOC | Io.INTR_SHORT | Io.INTR_TIMEOUT);
  return {
    name: "idle",
    description:
      "Linux skeleton only (int128…int1, LS/FS control, bulk, term QH + inactive term TD), no TDs queued",
    batchFrames: 128,
    clock: b.clock,
    rig: b.rig,
    rearm() {
      b.rig.acknowledge();
    },
    verify() {
      b.rig.assertHealthy("idle");
      checkEqual("idle: packets seen by devices", audio.packets + hid.packets, 0);
      return {
        framesRun: b.rig.controller.framesRun,
        lastFrameLinkVisits: b.rig.controller.lastFrameLinkVisits,
      };
    },
  };
}

/**
 * The audio schedule: per frame one isochronous IN and one OUT TD of 192 bytes ahead of the skeleton,
 * plus a low-speed HID interrupt IN endpoint (bInterval 10 → skel_int8) answering every `hidAnswerEvery`
 * polls and NAKing otherwise.
 */
export function audioScenario(hidAnswerEvery = 4): FrameScenario {
  const b = base();
  const audio = new SyncAudioDevice(AUDIO_ADDRESS, AUDIO_PACKET_BYTES);
  const hid = new HidLikeDevice(HID_ADDRESS, hidAnswerEvery);
  const iso = new IsoSlots(
    b.memory,
    b.arena,
    b.skeleton,
    b.arena.frameList,
    AUDIO_ADDRESS,
    AUDIO_PACKET_BYTES,
  );
  const hidQueue = new TdQueue(
    b.memory,
    b.arena,
    { pid: Pid.In, address: HID_ADDRESS, endpoint: 1, maxLen: 8, lowSpeed: true, ioc: true },
    64,
    b.arena.buffer(8),
  );
  b.skeleton.hangQhAfter(b.skeleton.intQh[skeletonIndexForInterval(HID_INTERVAL)]!, hidQueue.qh);
  b.rig.plug([audio, hid]);
  b.rig.start(b.arena.frameList, Io.INTR_IOC | Io.INTR_SHORT | Io.INTR_TIMEOUT);
  const rearmer = new IsoRearmer(b.rig, iso);
  return {
    name: "audio",
    description:
      "skeleton + 1 iso IN + 1 iso OUT TD (192 B, 48 kHz stereo 16-bit) per frame ahead of it + LS HID interrupt IN (interval 10 → skel_int8, answers 1 poll in 4, NAKs the rest)",
    batchFrames: 128,
    clock: b.clock,
    rig: b.rig,
    rearm() {
      b.rig.acknowledge();
      rearmer.run();
      hidQueue.rearm();
    },
    verify() {
      b.rig.assertHealthy("audio");
      checkEqual("audio: iso slots not completed", rearmer.missed, 0);
      checkEqual("audio: iso IN packets", audio.inPackets, b.rig.controller.framesRun);
      checkEqual("audio: iso OUT packets", audio.outPackets, b.rig.controller.framesRun);
      if (b.rig.controller.framesRun >= 64 && hid.reports === 0) throw new Error("audio: HID never answered");
      return {
        framesRun: b.rig.controller.framesRun,
        isoInPackets: audio.inPackets,
        isoOutPackets: audio.outPackets,
        hidPolls: hid.packets,
        hidReports: hid.reports,
        hidNaks: hid.naks,
        lastFrameLinkVisits: b.rig.controller.lastFrameLinkVisits,
        lastFrameBytes: b.rig.controller.lastFrameBytes,
      };
    },
  };
}

/**
 * The audio streams on the asynchronous path, as passthrough (USB/IP, WebUSB) would run them: the audio
 * device sits behind `AsyncIsoWrapper`, so every isochronous packet, IN and OUT, is deferred and
 * completed 0.5 ms later from the wrapper's timer on the same virtual clock, and written to guest
 * memory inside that completion (the seed's point 3). The guest checks each slot one frame late, once
 * its answers are in.
 */
export function asyncAudioScenario(): FrameScenario {
  const b = base();
  const audio = new SyncAudioDevice(AUDIO_ADDRESS, AUDIO_PACKET_BYTES);
  const wrapper = new AsyncIsoWrapper(audio, {
    clock: b.clock,
    timing: { firstIsoDelayMs: 0, isoLatencyMs: 0.5, jitterMs: 0 },
  });
  const iso = new IsoSlots(
    b.memory,
    b.arena,
    b.skeleton,
    b.arena.frameList,
    AUDIO_ADDRESS,
    AUDIO_PACKET_BYTES,
  );
  b.rig.plug([wrapper]);
  b.rig.start(b.arena.frameList, Io.INTR_IOC | Io.INTR_SHORT | Io.INTR_TIMEOUT);
  const rearmer = new IsoRearmer(b.rig, iso, 1);
  return {
    name: "audio-async",
    description:
      "skeleton + 1 iso IN + 1 iso OUT TD (192 B) per frame, the device behind AsyncIsoWrapper: every iso packet deferred and completed 0.5 ms later, written to guest memory inside the completion",
    batchFrames: 128,
    clock: b.clock,
    rig: b.rig,
    rearm() {
      b.rig.acknowledge();
      rearmer.run();
    },
    verify() {
      b.rig.assertHealthy("audio-async");
      const frames = b.rig.controller.framesRun;
      checkEqual("audio-async: iso slots not completed", rearmer.missed, 0);
      checkEqual("audio-async: stale completions", b.rig.controller.staleCompletions, 0);
      // Every frame's two packets, but the newest frame's, whose answers may still be out.
      if (wrapper.stats.completed < 2 * (frames - 1))
        throw new Error(`audio-async: ${wrapper.stats.completed} completions in ${frames} frames`);
      return {
        framesRun: frames,
        deferred: wrapper.stats.deferred,
        completed: wrapper.stats.completed,
        isoInPackets: audio.inPackets,
        isoOutPackets: audio.outPackets,
      };
    },
  };
}

/**
 * The bandwidth-capped frame: the audio streams plus a bulk IN queue of 64-byte TDs with uhci-hcd's
 * full-speed bandwidth reclamation loop (term QH → FS control QH), so every frame goes round the async
 * schedule until 1280 bytes have moved (384 B iso + 14 × 64 B bulk) and ends on the cap.
 */
export function bulkCapScenario(): FrameScenario {
  const b = base();
  const audio = new SyncAudioDevice(AUDIO_ADDRESS, AUDIO_PACKET_BYTES);
  const bulk = new BulkDevice(BULK_ADDRESS);
  const iso = new IsoSlots(
    b.memory,
    b.arena,
    b.skeleton,
    b.arena.frameList,
    AUDIO_ADDRESS,
    AUDIO_PACKET_BYTES,
  );
  const batchFrames = 64;
  const perFrame = Math.ceil((1280 - 2 * AUDIO_PACKET_BYTES) / 64);
  const bulkQueue = new TdQueue(
    b.memory,
    b.arena,
    { pid: Pid.In, address: BULK_ADDRESS, endpoint: 2, maxLen: 64 },
    batchFrames * perFrame + 64,
    b.arena.buffer(64),
  );
  b.skeleton.hangQhAfter(b.skeleton.bulk, bulkQueue.qh);
  b.skeleton.enableFsbr();
  b.rig.plug([audio, bulk]);
  b.rig.start(b.arena.frameList, Io.INTR_IOC | Io.INTR_SHORT | Io.INTR_TIMEOUT);
  const rearmer = new IsoRearmer(b.rig, iso);
  let cappedFrames = 0;
  let batches = 0;
  return {
    name: "bulk-cap",
    description:
      "audio streams + bulk IN queue of 64 B TDs with FSBR (term QH → FS control): every frame ends on the 1280-byte cap",
    batchFrames,
    clock: b.clock,
    rig: b.rig,
    rearm() {
      b.rig.acknowledge();
      rearmer.run();
      if (b.rig.controller.lastFrameBytes === 1280) cappedFrames++;
      batches++;
      const consumed = bulkQueue.rearm();
      if (consumed >= bulkQueue.tds.length)
        throw new Error("bulk-cap: the bulk queue ran dry within a batch");
    },
    verify() {
      b.rig.assertHealthy("bulk-cap");
      checkEqual("bulk-cap: iso slots not completed", rearmer.missed, 0);
      checkEqual("bulk-cap: last frame bytes", b.rig.controller.lastFrameBytes, 1280);
      checkEqual("bulk-cap: batches whose last frame hit the cap", cappedFrames, batches);
      return {
        framesRun: b.rig.controller.framesRun,
        bulkBytesPerFrame: bulk.bytes / Math.max(1, b.rig.controller.framesRun),
        lastFrameBytes: b.rig.controller.lastFrameBytes,
        lastFrameLinkVisits: b.rig.controller.lastFrameLinkVisits,
      };
    },
  };
}

/** usb-storage's largest request on uhci-hcd: 120 KiB, 1920 TDs of 64 bytes in one queue. */
const STORAGE_REQUEST_TDS = 1920;
/**
 * The cap lifted for emulation, as the stick benchmark's uncapped setting (bench/stick-dd.ts): 64 KiB per
 * frame, and a link budget of 8192 so that the budget does not end the frame first.
 */
const UNCAPPED_BYTES_PER_FRAME = UHCI_EMULATION_SPEED.bandwidthBytesPerFrame;
const UNCAPPED_LINK_VISITS = UHCI_EMULATION_SPEED.maxLinkVisitsPerFrame;

/**
 * A long bulk queue with the bandwidth cap lifted (issue 12: a stick read at emulation speed): two
 * usb-storage requests' worth of 64-byte IN TDs queued under one QH, breadth-first as uhci-hcd links
 * them, with FSBR. Each TD executed costs a trip round the reclamation loop (QH, TD, the skeleton QHs
 * back to it: 6 links), so the default budget of 1024 links ended the frame after ~170 TDs (~11 KB);
 * with the uncapped setting's 8192 links the 64 KiB per frame ends it, after 1024 TDs (6144 links):
 * what one frame of a stick read at emulation speed costs the host (docs/benchmarks.md, section 6).
 */
export function bulkUncappedScenario(): FrameScenario {
  const b = base({
    bandwidthBytesPerFrame: UNCAPPED_BYTES_PER_FRAME,
    maxLinkVisitsPerFrame: UNCAPPED_LINK_VISITS,
  });
  const bulk = new BulkDevice(BULK_ADDRESS);
  const batchFrames = 1;
  const bulkQueue = new TdQueue(
    b.memory,
    b.arena,
    { pid: Pid.In, address: BULK_ADDRESS, endpoint: 2, maxLen: 64 },
    2 * STORAGE_REQUEST_TDS,
    b.arena.buffer(64),
  );
  b.skeleton.hangQhAfter(b.skeleton.bulk, bulkQueue.qh);
  b.skeleton.enableFsbr();
  b.rig.plug([bulk]);
  b.rig.start(b.arena.frameList, Io.INTR_IOC | Io.INTR_SHORT | Io.INTR_TIMEOUT);
  let tdsPerFrame = 0;
  let batches = 0;
  return {
    name: "bulk-uncapped",
    description: `bulk IN queue of ${2 * STORAGE_REQUEST_TDS} × 64 B TDs (two 120 KiB usb-storage requests) with FSBR, cap lifted to ${UNCAPPED_BYTES_PER_FRAME} B/frame and ${UNCAPPED_LINK_VISITS} links/frame: the 64 KiB ends each frame`,
    batchFrames,
    clock: b.clock,
    rig: b.rig,
    rearm() {
      b.rig.acknowledge();
      batches++;
      const consumed = bulkQueue.rearm();
      tdsPerFrame += consumed;
      if (consumed >= bulkQueue.tds.length)
        throw new Error("bulk-uncapped: the bulk queue ran dry within a batch");
    },
    verify() {
      b.rig.assertHealthy("bulk-uncapped");
      const perFrame = tdsPerFrame / Math.max(1, batches);
      // 64 KiB of 64-byte TDs per frame (the capped schedule moves 20): the lifted cap ends each frame,
      // not the link budget.
      checkEqual("bulk-uncapped: TDs per frame", perFrame, UNCAPPED_BYTES_PER_FRAME / 64);
      return {
        framesRun: b.rig.controller.framesRun,
        bulkBytesPerFrame: bulk.bytes / Math.max(1, b.rig.controller.framesRun),
        tdsPerFrame: perFrame,
        lastFrameLinkVisits: b.rig.controller.lastFrameLinkVisits,
      };
    },
  };
}

/**
 * A hostile guest: every frame list entry points into a cycle of 64 TDs with no QH, so only the link
 * budget (1024 per frame) ends the frame. `active`: each TD is an active IN to a device that NAKs
 * (1024 device calls and status write-backs per frame); otherwise the TDs are inactive (1024 fetches).
 */
export function hostileScenario(active: boolean): FrameScenario {
  const b = base();
  const nak = new NakDevice(HOSTILE_ADDRESS);
  const first = writeTdCycle(b.memory, b.arena, 64, {
    pid: Pid.In,
    address: HOSTILE_ADDRESS,
    endpoint: 1,
    maxLen: 64,
    buffer: b.arena.buffer(64),
    active,
  });
  for (let i = 0; i < 1024; i++) b.memory.write32(b.arena.frameList + 4 * i, tdLink(first));
  b.rig.plug([nak]);
  b.rig.start(b.arena.frameList, Io.INTR_IOC | Io.INTR_SHORT | Io.INTR_TIMEOUT);
  const name = active ? "hostile-nak-cycle" : "hostile-inactive-cycle";
  return {
    name,
    description: active
      ? "hostile: a cycle of 64 active IN TDs (no QH) to a NAKing device; the 1024-link budget ends each frame"
      : "hostile: a cycle of 64 inactive TDs (no QH); the 1024-link budget ends each frame",
    batchFrames: 8,
    clock: b.clock,
    rig: b.rig,
    rearm() {
      b.rig.acknowledge();
    },
    verify() {
      b.rig.assertHealthy(name);
      checkEqual(`${name}: last frame link visits`, b.rig.controller.lastFrameLinkVisits, 1024);
      if (active) checkEqual(`${name}: device calls`, nak.packets, 1024 * b.rig.controller.framesRun);
      return {
        framesRun: b.rig.controller.framesRun,
        lastFrameLinkVisits: b.rig.controller.lastFrameLinkVisits,
        deviceCallsPerFrame: nak.packets / Math.max(1, b.rig.controller.framesRun),
      };
    },
  };
}

/** The hub's bus address in {@link hubScenario}; the NAKing devices behind it take the next ones. */
export const HUB_ADDRESS = 1;
const HUB_NAK_DEVICES = 5;

/**
 * The audio schedule with every device behind a 7-port hub on root port 0: the audio device, the
 * low-speed HID device, five devices whose interrupt IN endpoints are polled every frame and NAK, and
 * the hub's own status change endpoint (NAK: nothing changes). Each TD's device is found through the
 * address table; it must not be rebuilt while the schedule runs.
 */
export function hubScenario(): FrameScenario {
  const b = base();
  const audio = new SyncAudioDevice(AUDIO_ADDRESS, AUDIO_PACKET_BYTES);
  const hid = new HidLikeDevice(HID_ADDRESS, 4);
  const naks = Array.from({ length: HUB_NAK_DEVICES }, (_, i) => new NakDevice(HUB_ADDRESS + 10 + i));
  const hub = new UsbHub({ ports: 7 });
  b.rig.plug([hub]);
  // The hub enumerated and its ports powered and reset, as a host's hub driver leaves them.
  const host = new PacketHost(hub);
  host.enumerate(HUB_ADDRESS);
  [audio, hid, ...naks].forEach((device, i) => {
    hub.attach(i, device);
    host.control(SetupPacket.of(0x23, 3, 8, i + 1)); // SET_FEATURE(PORT_POWER)
    host.control(SetupPacket.of(0x23, 3, 4, i + 1)); // SET_FEATURE(PORT_RESET)
    host.control(SetupPacket.of(0x23, 1, 16, i + 1)); // CLEAR_FEATURE(C_PORT_CONNECTION)
    host.control(SetupPacket.of(0x23, 1, 20, i + 1)); // CLEAR_FEATURE(C_PORT_RESET)
  });
  const iso = new IsoSlots(
    b.memory,
    b.arena,
    b.skeleton,
    b.arena.frameList,
    AUDIO_ADDRESS,
    AUDIO_PACKET_BYTES,
  );
  const hidQueue = new TdQueue(
    b.memory,
    b.arena,
    { pid: Pid.In, address: HID_ADDRESS, endpoint: 1, maxLen: 8, lowSpeed: true, ioc: true },
    64,
    b.arena.buffer(8),
  );
  b.skeleton.hangQhAfter(b.skeleton.intQh[skeletonIndexForInterval(HID_INTERVAL)]!, hidQueue.qh);
  const pollers = [HUB_ADDRESS, ...naks.map((d) => d.address)].map((address) => {
    const queue = new TdQueue(
      b.memory,
      b.arena,
      { pid: Pid.In, address, endpoint: 1, maxLen: 8, ioc: true },
      1,
      b.arena.buffer(8),
    );
    b.skeleton.hangQhAfter(b.skeleton.intQh[7]!, queue.qh);
    return queue;
  });
  b.rig.start(b.arena.frameList, Io.INTR_IOC | Io.INTR_SHORT | Io.INTR_TIMEOUT);
  const rearmer = new IsoRearmer(b.rig, iso);
  const table = b.rig.controller.rootHub.devices;
  // The first frame finds the table stale (ports were written); from then on nothing may rebuild it.
  let rebuildsAfterFirstBatch = -1;
  return {
    name: "hub",
    description:
      "the audio schedule with its devices behind a 7-port hub, plus 5 devices behind it whose interrupt IN endpoints are polled every frame and NAK, and the hub's status change endpoint (NAK)",
    batchFrames: 128,
    clock: b.clock,
    rig: b.rig,
    rearm() {
      if (rebuildsAfterFirstBatch < 0) rebuildsAfterFirstBatch = table.rebuildCount;
      b.rig.acknowledge();
      rearmer.run();
      hidQueue.rearm();
    },
    verify() {
      b.rig.assertHealthy("hub");
      const frames = b.rig.controller.framesRun;
      checkEqual("hub: iso slots not completed", rearmer.missed, 0);
      checkEqual("hub: iso IN packets", audio.inPackets, frames);
      for (const nak of naks) checkEqual(`hub: polls of device ${nak.address}`, nak.packets, frames);
      for (const queue of pollers) checkEqual("hub: a NAKed poll completed", queue.consumed(), 0);
      checkEqual("hub: address table rebuilds while running", table.rebuildCount, rebuildsAfterFirstBatch);
      if (frames >= 64 && hid.reports === 0) throw new Error("hub: HID never answered");
      return {
        framesRun: frames,
        devicesBehindHub: 2 + naks.length,
        isoInPackets: audio.inPackets,
        hidReports: hid.reports,
        lastFrameLinkVisits: b.rig.controller.lastFrameLinkVisits,
      };
    },
  };
}

export const SCENARIOS: readonly (() => FrameScenario)[] = [
  idleScenario,
  () => audioScenario(),
  asyncAudioScenario,
  bulkCapScenario,
  bulkUncappedScenario,
  () => hostileScenario(true),
  () => hostileScenario(false),
  hubScenario,
];
