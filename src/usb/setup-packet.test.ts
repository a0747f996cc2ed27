import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { DescriptorType, StandardRequest } from "./constants.ts";
import { Recipient, RequestKind, SetupPacket } from "./setup-packet.ts";

describe("SetupPacket", () => {
  it("parses GET_DESCRIPTOR(configuration) and names its fields", () => {
    const setup = new SetupPacket();
    assert.equal(setup.parse(Uint8Array.of(0x80, 0x06, 0x00, 0x02, 0x00, 0x00, 0xff, 0x00)), true);
    assert.equal(setup.bmRequestType, 0x80);
    assert.equal(setup.bRequest, StandardRequest.GetDescriptor);
    assert.equal(setup.wValue, 0x0200);
    assert.equal(setup.wIndex, 0);
    assert.equal(setup.wLength, 255);
    assert.equal(setup.isDeviceToHost, true);
    assert.equal(setup.kind, RequestKind.Standard);
    assert.equal(setup.recipient, Recipient.Device);
    assert.equal(setup.descriptorType, DescriptorType.Configuration);
    assert.equal(setup.descriptorIndex, 0);
  });

  it("decodes class, vendor and reserved kinds and every recipient", () => {
    const setup = new SetupPacket();
    // HID SET_REPORT: host-to-device, class, interface; wIndex and wLength little-endian.
    setup.parse(Uint8Array.of(0x21, 0x09, 0x00, 0x02, 0x01, 0x00, 0x01, 0x00));
    assert.equal(setup.isDeviceToHost, false);
    assert.equal(setup.kind, RequestKind.Class);
    assert.equal(setup.recipient, Recipient.Interface);
    assert.equal(setup.wIndex, 1);
    assert.equal(SetupPacket.of(0xc2, 0).kind, RequestKind.Vendor);
    assert.equal(SetupPacket.of(0xc2, 0).recipient, Recipient.Endpoint);
    assert.equal(SetupPacket.of(0x63, 0).kind, RequestKind.Reserved);
    assert.equal(SetupPacket.of(0x63, 0).recipient, Recipient.Other);
    assert.equal(SetupPacket.of(0x1f, 0).recipient, Recipient.Reserved);
  });

  it("reuses one object and leaves it unchanged when the bytes are too short", () => {
    const setup = new SetupPacket();
    const bytes = new Uint8Array(16);
    bytes.set([0x00, 0x05, 0x07, 0x00, 0x00, 0x00, 0x00, 0x00], 4);
    assert.equal(setup.parse(bytes, 4), true);
    assert.equal(setup.wValue, 7);
    assert.equal(setup.parse(bytes, 9), false);
    assert.equal(setup.parse(new Uint8Array(7)), false);
    assert.equal(setup.parse(bytes, -1), false);
    assert.equal(setup.bRequest, StandardRequest.SetAddress);
    assert.equal(setup.wValue, 7);
  });

  it("encodes what it parses", () => {
    const bytes = Uint8Array.of(0xa1, 0x01, 0x34, 0x12, 0x78, 0x56, 0xbc, 0x9a);
    const setup = new SetupPacket();
    setup.parse(bytes);
    const out = new Uint8Array(8);
    assert.equal(setup.encode(out), true);
    assert.deepEqual(out, bytes);
    assert.equal(setup.encode(new Uint8Array(7)), false);
    const copy = new SetupPacket();
    copy.copyFrom(setup);
    assert.deepEqual(copy, setup);
    assert.equal(setup.toString(), "setup a1 01 1234 5678 9abc");
  });
});
