import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { RamGuestMemory } from "../machine/guest-memory.ts";
import {
  decodeLink,
  decodeTdStatus,
  decodeTdToken,
  encodeTdControl,
  encodeTdToken,
  LINK_TERMINATE,
  linkToQh,
  linkToTd,
  readTd,
  TdStatus,
  writeTd,
} from "./schedule-encoding.ts";

describe("link pointers (UHCI 3.1)", () => {
  it("mark QHs with Q, depth-first TDs with Vf, and the end with T", () => {
    assert.equal(linkToQh(0x1230), 0x1232);
    assert.equal(linkToTd(0x1230), 0x1230);
    assert.equal(linkToTd(0x1230, true), 0x1234);
    assert.equal(LINK_TERMINATE, 1);
    assert.deepEqual(decodeLink(0xfffffff6), {
      terminate: false,
      queueHead: true,
      depthFirst: true,
      address: 0xfffffff0,
    });
  });
});

describe("TD control/status (UHCI 3.2.2)", () => {
  it("places each field where the design guide puts it", () => {
    const value = encodeTdControl({
      active: true,
      errorCount: 3,
      lowSpeed: true,
      interruptOnComplete: true,
      shortPacketDetect: true,
    });
    // SPD(29) | C_ERR=3 (28:27) | LS(26) | IOC(24) | Active(23) | ActLen 0x7FF
    assert.equal(value, (1 << 29) | (3 << 27) | (1 << 26) | (1 << 24) | (1 << 23) | 0x7ff);
    assert.equal(encodeTdControl({ active: false, errorCount: 0, isochronous: true }), (1 << 25) | 0x7ff);
    assert.throws(() => encodeTdControl({ active: true, errorCount: 4 }), RangeError);
  });

  it("decodes ActLen as n − 1 with 0x7FF meaning zero bytes", () => {
    assert.equal(decodeTdStatus(0x7ff).actualLength, 0);
    assert.equal(decodeTdStatus(0x000).actualLength, 1);
    assert.equal(decodeTdStatus(0x03f).actualLength, 64);
    const s = decodeTdStatus(TdStatus.Stalled | TdStatus.CrcTimeout | (2 << 27) | 7);
    assert.equal(s.stalled, true);
    assert.equal(s.crcTimeout, true);
    assert.equal(s.active, false);
    assert.equal(s.errorCount, 2);
    assert.equal(s.actualLength, 8);
  });
});

describe("TD token (UHCI 3.2.3)", () => {
  it("round-trips MaxLen, toggle, endpoint, address and PID", () => {
    const token = encodeTdToken({ pid: 0x69, deviceAddress: 5, endpoint: 1, toggle: 1, maxLength: 8 });
    // MaxLen 7 (31:21) | D (19) | EndPt 1 (18:15) | addr 5 (14:8) | IN
    assert.equal(token, ((7 << 21) | (1 << 19) | (1 << 15) | (5 << 8) | 0x69) >>> 0);
    assert.deepEqual(decodeTdToken(token), {
      pid: 0x69,
      deviceAddress: 5,
      endpoint: 1,
      toggle: 1,
      maxLength: 8,
    });
  });

  it("encodes a zero-length packet as MaxLen 0x7FF", () => {
    const token = encodeTdToken({ pid: 0xe1, deviceAddress: 0, endpoint: 0, toggle: 0, maxLength: 0 });
    assert.equal(token >>> 21, 0x7ff);
    assert.equal(decodeTdToken(token).maxLength, 0);
  });

  it("refuses what the hardware cannot express", () => {
    const base = { pid: 0x69, deviceAddress: 1, endpoint: 1, toggle: 0 as const };
    assert.throws(() => encodeTdToken({ ...base, maxLength: 1281 }), RangeError);
    assert.throws(() => encodeTdToken({ ...base, maxLength: 8, deviceAddress: 128 }), RangeError);
    assert.throws(() => encodeTdToken({ ...base, maxLength: 8, endpoint: 16 }), RangeError);
  });
});

describe("writeTd / readTd", () => {
  it("store the four dwords little-endian at 0, 4, 8, 12", () => {
    const memory = new RamGuestMemory(0x100);
    writeTd(memory, 0x40, { link: 0x11223344, controlStatus: 0x00800000, token: 0xdeadbeef, buffer: 0x1000 });
    assert.deepEqual([...memory.bytes.subarray(0x40, 0x44)], [0x44, 0x33, 0x22, 0x11]);
    assert.deepEqual(readTd(memory, 0x40), {
      link: 0x11223344,
      controlStatus: 0x00800000,
      token: 0xdeadbeef,
      buffer: 0x1000,
    });
  });
});
