import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { FrameRing, H_READ, H_WRITE } from "./frame-ring.ts";

const frames = (n: number, first: number, channels = 2): Float32Array =>
  Float32Array.from(
    { length: n * channels },
    (_, i) => first + Math.floor(i / channels) + (i % channels) / 10,
  );

describe("FrameRing", () => {
  it("is a FIFO of whole frames that cuts writes at its capacity and reads at its fill", () => {
    const ring = FrameRing.create(2, 6, false);
    assert.equal(ring.capacityFrames, 8, "rounded up to a power of two");
    assert.equal(ring.write(frames(5, 0), 0, 5), 5);
    assert.equal(ring.write(frames(5, 5), 0, 5), 3, "only three fit");
    assert.equal(ring.availableFrames, 8);
    const out = new Float32Array(20);
    assert.equal(ring.read(out, 0, 10), 8);
    assert.deepEqual(Array.from(out.subarray(0, 16)), Array.from(frames(8, 0)));
    assert.equal(ring.availableFrames, 0);
  });

  it("wraps its storage and its 32-bit counters without losing a frame", () => {
    const ring = FrameRing.create(2, 8, true);
    // Both counters just below 2^31 and then past 2^32: the fill is their difference either way.
    for (const start of [0x7ffffffc, -6]) {
      ring.header[H_WRITE] = start;
      ring.header[H_READ] = start;
      const out = new Float32Array(2 * 5);
      for (let round = 0; round < 6; round++) {
        assert.equal(ring.write(frames(5, round * 5), 0, 5), 5);
        assert.equal(ring.availableFrames, 5);
        assert.equal(ring.read(out, 0, 5), 5);
        assert.deepEqual(Array.from(out), Array.from(frames(5, round * 5)));
      }
    }
  });

  it("skips frames, and a corrupted header cannot make it read or write out of range", () => {
    const ring = FrameRing.create(1, 4, false);
    ring.write(Float32Array.of(1, 2, 3), 0, 3);
    assert.equal(ring.skip(2), 2);
    const out = new Float32Array(4);
    assert.equal(ring.read(out, 0, 4), 1);
    assert.equal(out[0], 3);
    ring.header[H_WRITE] = 1000; // a hostile page writing the shared header
    assert.equal(ring.availableFrames, 4);
    ring.header[H_WRITE] = -1000;
    assert.equal(ring.availableFrames, 0);
    assert.equal(ring.freeFrames, 4);
    assert.throws(() => new FrameRing(new ArrayBuffer(1024), 1, 6), RangeError);
  });
});
