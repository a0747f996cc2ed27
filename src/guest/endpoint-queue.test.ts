import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { RamGuestMemory } from "../machine/guest-memory.ts";
import { DmaAllocator } from "./dma-allocator.ts";
import type { DriverContext } from "./driver-context.ts";
import { EndpointQueue } from "./endpoint-queue.ts";
import { Schedule } from "./schedule.ts";
import {
  decodeLink,
  decodeTdStatus,
  decodeTdToken,
  encodeLengthField,
  QhLayout,
  TdLayout,
  TdStatus,
} from "./schedule-encoding.ts";
import { TransferStatus } from "./transfer-result.ts";
import { TransferKind, type Urb } from "./urb.ts";

/**
 * The endpoint queue against a hand-played controller: the test writes TD status words and the QH
 * element pointer the way UHCI 3.2.2/3.4.2 says a controller would, then lets the queue scan.
 */
function rig() {
  const memory = new RamGuestMemory(0x40000);
  const dma = new DmaAllocator(memory, 0x1000, 0x30000);
  const schedule = new Schedule(memory, dma);
  const anomalies: string[] = [];
  let halt: string | null = null;
  const ctx: DriverContext = {
    memory,
    dma,
    schedule,
    elapsedMs: 0,
    frameNumber: () => 0,
    defaultTimeoutMs: 100,
    get haltReason() {
      return halt;
    },
    releaseAfterFrame: (address) => dma.release(address),
    runUntil: () => false,
    addScanTarget: () => {},
    removeScanTarget: () => {},
    noteAnomaly: (message) => anomalies.push(message),
  };
  const device = { address: 5, lowSpeed: false };
  return {
    memory,
    dma,
    ctx,
    device,
    anomalies,
    halt: (reason: string) => {
      halt = reason;
    },
  };
}

type Rig = ReturnType<typeof rig>;

function element(r: Rig, queue: EndpointQueue): number {
  return decodeLink(r.memory.read32(queue.qh + QhLayout.Element)).address;
}

/** The controller finished a TD: Active cleared, ActLen = bytes, optional error bits. */
function finishTd(r: Rig, td: number, bytes: number, errorBits = 0): void {
  const status = r.memory.read32(td + TdLayout.ControlStatus);
  const done =
    (status & ~(TdStatus.Active | TdStatus.ActualLengthMask)) | encodeLengthField(bytes) | errorBits;
  r.memory.write32(td + TdLayout.ControlStatus, done >>> 0);
}

/** The controller advanced the queue past a TD (UHCI 3.4.2: element = the TD's link). */
function advance(r: Rig, queue: EndpointQueue, td: number): void {
  r.memory.write32(queue.qh + QhLayout.Element, r.memory.read32(td + TdLayout.Link));
}

function toggles(r: Rig, urb: Urb): number[] {
  return urb.tds.map((td) => decodeTdToken(r.memory.read32(td.address + TdLayout.Token)).toggle);
}

describe("EndpointQueue", () => {
  it("builds a bulk IN URB as a depth-first TD chain ending in an inactive dummy", () => {
    const r = rig();
    const queue = new EndpointQueue(r.ctx, r.device, {
      kind: TransferKind.Bulk,
      endpoint: 3,
      direction: "in",
      maxPacketSize: 64,
    });
    const urb = queue.submitData(150);
    //   QH.element ─► TD0 (64, DATA0, SPD) ═► TD1 (64, DATA1, SPD) ═► TD2 (22, DATA0, IOC) ═► dummy (inactive)
    assert.equal(urb.tds.length, 3);
    assert.equal(element(r, queue), urb.tds[0]!.address);
    const fields = urb.tds.map((td) => ({
      token: decodeTdToken(r.memory.read32(td.address + TdLayout.Token)),
      status: decodeTdStatus(r.memory.read32(td.address + TdLayout.ControlStatus)),
      link: decodeLink(r.memory.read32(td.address + TdLayout.Link)),
    }));
    assert.deepEqual(
      fields.map((f) => [
        f.token.maxLength,
        f.token.toggle,
        f.token.deviceAddress,
        f.token.endpoint,
        f.token.pid,
      ]),
      [
        [64, 0, 5, 3, 0x69],
        [64, 1, 5, 3, 0x69],
        [22, 0, 5, 3, 0x69],
      ],
    );
    assert.deepEqual(
      fields.map((f) => [
        f.status.active,
        f.status.shortPacketDetect,
        f.status.interruptOnComplete,
        f.status.errorCount,
      ]),
      [
        [true, true, false, 3],
        [true, true, false, 3],
        [true, false, true, 3],
      ],
    );
    assert.ok(fields.every((f) => f.link.depthFirst && !f.link.terminate && !f.link.queueHead));
    assert.equal(fields[0]!.link.address, urb.tds[1]!.address);
    const dummy = fields[2]!.link.address;
    assert.equal(decodeTdStatus(r.memory.read32(dummy + TdLayout.ControlStatus)).active, false);
    assert.equal(queue.toggle, 1);
  });

  it("restarts the queue after a short packet and renumbers the toggles behind it", () => {
    const r = rig();
    const queue = new EndpointQueue(r.ctx, r.device, {
      kind: TransferKind.Bulk,
      endpoint: 1,
      direction: "in",
      maxPacketSize: 64,
    });
    const a = queue.submitData(128);
    const b = queue.submitData(128);
    assert.deepEqual(
      [toggles(r, a), toggles(r, b)],
      [
        [0, 1],
        [0, 1],
      ],
    );
    // A's first TD is short with SPD: the controller leaves the element on it (UHCI 3.2.2).
    finishTd(r, a.tds[0]!.address, 10);
    queue.scan();
    assert.equal(a.result?.status, TransferStatus.Ok);
    assert.equal(a.result?.actualLength, 10);
    assert.equal(a.result?.short, true);
    assert.equal(element(r, queue), b.tds[0]!.address, "queue restarted at B");
    assert.deepEqual(toggles(r, b), [1, 0], "B continues from DATA1");
    // B: one full packet, then a short last TD (no SPD, the controller advances past it).
    finishTd(r, b.tds[0]!.address, 64);
    advance(r, queue, b.tds[0]!.address);
    finishTd(r, b.tds[1]!.address, 5);
    advance(r, queue, b.tds[1]!.address);
    queue.scan();
    assert.equal(b.result?.actualLength, 69);
    assert.equal(queue.toggle, 1);
    assert.equal(queue.pending.length, 0);
    assert.deepEqual(r.anomalies, []);
  });

  it("resumes a short control read at the status stage", () => {
    const r = rig();
    const queue = new EndpointQueue(r.ctx, r.device, {
      kind: TransferKind.Control,
      endpoint: 0,
      direction: "out",
      maxPacketSize: 8,
    });
    const setup = Uint8Array.of(0x80, 6, 0, 1, 0, 0, 24, 0);
    const urb = queue.submitControl(setup, 24);
    //   SETUP (DATA0) ─► IN 8 (DATA1) ─► IN 8 (DATA0) ─► IN 8 (DATA1) ─► OUT 0 (DATA1, IOC)
    assert.deepEqual(
      urb.tds.map((td) => [td.stage, td.pid, td.maxLength, td.toggle]),
      [
        ["setup", 0x2d, 8, 0],
        ["data", 0x69, 8, 1],
        ["data", 0x69, 8, 0],
        ["data", 0x69, 8, 1],
        ["status", 0xe1, 0, 1],
      ],
    );
    for (const i of [0, 1]) {
      finishTd(r, urb.tds[i]!.address, 8);
      advance(r, queue, urb.tds[i]!.address);
    }
    finishTd(r, urb.tds[2]!.address, 3);
    queue.scan();
    assert.equal(urb.done, false);
    assert.equal(element(r, queue), urb.tds[4]!.address, "element moved to the status TD");
    finishTd(r, urb.tds[4]!.address, 0);
    advance(r, queue, urb.tds[4]!.address);
    queue.scan();
    assert.equal(urb.result?.status, TransferStatus.Ok);
    assert.equal(urb.result?.actualLength, 11);
    assert.equal(urb.result?.short, true);
    assert.deepEqual(r.anomalies, []);
  });

  it("flags a controller that advances past a short packet despite SPD", () => {
    const r = rig();
    const queue = new EndpointQueue(r.ctx, r.device, {
      kind: TransferKind.Control,
      endpoint: 0,
      direction: "out",
      maxPacketSize: 8,
    });
    const urb = queue.submitControl(Uint8Array.of(0x80, 6, 0, 1, 0, 0, 16, 0), 16);
    finishTd(r, urb.tds[0]!.address, 8);
    advance(r, queue, urb.tds[0]!.address);
    finishTd(r, urb.tds[1]!.address, 2);
    advance(r, queue, urb.tds[1]!.address);
    queue.scan();
    assert.equal(r.anomalies.length, 1);
    assert.match(r.anomalies[0]!, /SPD/);
  });

  it("ends a failed URB with its error and restarts at the next one with the failed TD's toggle", () => {
    const r = rig();
    const queue = new EndpointQueue(r.ctx, r.device, {
      kind: TransferKind.Bulk,
      endpoint: 2,
      direction: "out",
      maxPacketSize: 64,
    });
    const a = queue.submitData(new Uint8Array(100));
    const b = queue.submitData(new Uint8Array(10));
    assert.deepEqual(toggles(r, b), [0]);
    finishTd(r, a.tds[0]!.address, 0, TdStatus.Stalled);
    queue.scan();
    assert.equal(a.result?.status, TransferStatus.Stall);
    assert.equal(element(r, queue), b.tds[0]!.address);
    assert.deepEqual(toggles(r, b), [0], "the stalled DATA0 never went through");
    assert.equal(queue.toggle, 1);
  });

  it("maps error bits with uhci-hcd's priority", () => {
    const r = rig();
    const queue = new EndpointQueue(r.ctx, r.device, {
      kind: TransferKind.Bulk,
      endpoint: 2,
      direction: "in",
      maxPacketSize: 64,
    });
    const cases: [number, string][] = [
      [TdStatus.Stalled | TdStatus.CrcTimeout, TransferStatus.CrcTimeout],
      [TdStatus.Stalled | TdStatus.Babble, TransferStatus.Babble],
      [TdStatus.Stalled | TdStatus.Bitstuff | TdStatus.CrcTimeout, TransferStatus.Bitstuff],
      [TdStatus.DataBufferError, TransferStatus.DataBuffer],
      [TdStatus.Stalled, TransferStatus.Stall],
    ];
    for (const [bits, expected] of cases) {
      const urb = queue.submitData(8);
      finishTd(r, urb.tds[0]!.address, 0, bits);
      queue.scan();
      assert.equal(urb.result?.status, expected);
    }
  });

  it("cancels a URB in the middle of the queue: relinks around it and fixes the toggles behind", () => {
    const r = rig();
    const queue = new EndpointQueue(r.ctx, r.device, {
      kind: TransferKind.Bulk,
      endpoint: 1,
      direction: "in",
      maxPacketSize: 8,
    });
    const a = queue.submitData(8);
    const b = queue.submitData(8);
    const c = queue.submitData(16);
    assert.deepEqual(toggles(r, c), [0, 1]);
    b.cancel();
    assert.equal(b.result?.status, TransferStatus.Cancelled);
    const aLink = decodeLink(r.memory.read32(a.tds[0]!.address + TdLayout.Link));
    assert.equal(aLink.address, c.tds[0]!.address, "A now leads to C");
    assert.deepEqual(toggles(r, c), [1, 0]);
    assert.equal(queue.pending.length, 2);
  });

  it("cancels the URB at the head with partial data", () => {
    const r = rig();
    const queue = new EndpointQueue(r.ctx, r.device, {
      kind: TransferKind.Bulk,
      endpoint: 1,
      direction: "in",
      maxPacketSize: 8,
    });
    const a = queue.submitData(24);
    finishTd(r, a.tds[0]!.address, 8);
    advance(r, queue, a.tds[0]!.address);
    r.memory.write(a.dataAddress, Uint8Array.of(1, 2, 3, 4, 5, 6, 7, 8), 8);
    queue.cancel(a, TransferStatus.Timeout);
    assert.equal(a.result?.status, TransferStatus.Timeout);
    assert.deepEqual([...(a.result?.data ?? [])], [1, 2, 3, 4, 5, 6, 7, 8]);
    const dummy = element(r, queue);
    assert.equal(decodeTdStatus(r.memory.read32(dummy + TdLayout.ControlStatus)).active, false);
    assert.equal(queue.toggle, 1, "the second TD (DATA1) never went out");
  });

  it("fails everything when the controller halts, and refuses new work at once", () => {
    const r = rig();
    const queue = new EndpointQueue(r.ctx, r.device, {
      kind: TransferKind.Bulk,
      endpoint: 1,
      direction: "in",
      maxPacketSize: 8,
    });
    const a = queue.submitData(8);
    r.halt("HSE");
    queue.controllerHalted();
    assert.equal(a.result?.status, TransferStatus.ControllerHalted);
    const b = queue.submitData(8);
    assert.equal(b.result?.status, TransferStatus.ControllerHalted);
  });

  it("frees every block it allocated once closed", () => {
    const r = rig();
    const before = r.dma.blockCount;
    const queue = new EndpointQueue(r.ctx, r.device, {
      kind: TransferKind.Interrupt,
      endpoint: 1,
      direction: "in",
      maxPacketSize: 8,
      interval: 10,
    });
    queue.submitData(8);
    queue.submitData(8);
    queue.close();
    assert.equal(r.dma.blockCount, before);
    assert.equal(queue.isClosed, true);
  });
});
