import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { IsoFrameCounter } from "./iso-frame-counter.ts";

describe("IsoFrameCounter", () => {
  it("keeps counting across FRNUM's 11-bit wrap", () => {
    let frnum = 2040;
    const counter = new IsoFrameCounter(() => frnum);
    assert.equal(counter.now(), 2040);
    frnum = 2047;
    assert.equal(counter.now(), 2047);
    frnum = 3; // wrapped: 2048 + 3
    assert.equal(counter.now(), 2051);
    frnum = 1000;
    assert.equal(counter.now(), 3048);
    assert.equal(counter.last, 3048);
  });

  it("ignores the bits above 10 and stands still while the controller does", () => {
    let frnum = 0xf800 | 5;
    const counter = new IsoFrameCounter(() => frnum);
    assert.equal(counter.now(), 5);
    assert.equal(counter.now(), 5);
    frnum = 6;
    assert.equal(counter.now(), 6);
  });
});
