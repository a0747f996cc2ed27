import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { PortSc } from "./registers.ts";
import { decodePortStatus, portValueToClear, portValueToSet } from "./root-hub.ts";

describe("PORTSC writes (UHCI 2.1.7)", () => {
  // Connected, enabled, both change bits pending, low speed.
  const current =
    PortSc.CurrentConnect |
    PortSc.ConnectChange |
    PortSc.Enable |
    PortSc.EnableChange |
    PortSc.AlwaysOne |
    PortSc.LowSpeed;

  it("setting a bit never writes 1 to a change bit", () => {
    const value = portValueToSet(current, PortSc.Suspend);
    assert.equal(value & (PortSc.ConnectChange | PortSc.EnableChange), 0);
    assert.ok(value & PortSc.Suspend);
    assert.ok(value & PortSc.Enable, "PE is kept as read");
  });

  it("clearing a R/W bit writes it as 0 and leaves the change bits alone", () => {
    const value = portValueToClear(current | PortSc.Reset, PortSc.Reset);
    assert.equal(value & PortSc.Reset, 0);
    assert.equal(value & (PortSc.ConnectChange | PortSc.EnableChange), 0);
    assert.ok(value & PortSc.Enable);
  });

  it("clearing a change bit writes exactly that bit as 1", () => {
    const value = portValueToClear(current, PortSc.ConnectChange);
    assert.equal(value & PortSc.ConnectChange, PortSc.ConnectChange);
    assert.equal(value & PortSc.EnableChange, 0);
  });

  it("never writes the reserved bits 15:13", () => {
    assert.equal(portValueToSet(0xffff, 0) & 0xe000, 0);
    assert.equal(portValueToClear(0xffff, 0) & 0xe000, 0);
  });

  it("decodes the status bits", () => {
    const s = decodePortStatus(current);
    assert.equal(s.connected, true);
    assert.equal(s.connectChanged, true);
    assert.equal(s.enabled, true);
    assert.equal(s.lowSpeed, true);
    assert.equal(s.suspended, false);
  });
});
