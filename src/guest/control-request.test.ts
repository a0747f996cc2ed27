import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { encodeSetupPacket } from "./control-request.ts";

describe("encodeSetupPacket (USB 2.0 9.3)", () => {
  it("lays out GET_DESCRIPTOR(device, 18) little-endian", () => {
    const packet = encodeSetupPacket({ requestType: 0x80, request: 6, value: 0x0100, index: 0, length: 18 });
    assert.deepEqual([...packet], [0x80, 6, 0x00, 0x01, 0, 0, 18, 0]);
  });

  it("takes wLength of an OUT request from its data", () => {
    const packet = encodeSetupPacket({
      requestType: 0x21,
      request: 9,
      value: 0x0200,
      index: 1,
      data: new Uint8Array(3),
    });
    assert.deepEqual([...packet], [0x21, 9, 0x00, 0x02, 1, 0, 3, 0]);
  });

  it("rejects misuse", () => {
    assert.throws(
      () => encodeSetupPacket({ requestType: 0x80, request: 6, value: 0x10000, index: 0 }),
      RangeError,
    );
    assert.throws(() =>
      encodeSetupPacket({ requestType: 0x80, request: 6, value: 0, index: 0, data: new Uint8Array(1) }),
    );
    assert.throws(() => encodeSetupPacket({ requestType: 0x00, request: 9, value: 0, index: 0, length: 4 }));
  });
});
