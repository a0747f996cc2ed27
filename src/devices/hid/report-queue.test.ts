import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { ReportQueue } from "./report-queue.ts";

describe("ReportQueue", () => {
  it("keeps FIFO order across wrap-around and growth", () => {
    const queue = new ReportQueue(2, 4);
    const out = new Uint8Array(2);
    const received: number[] = [];
    let next = 0;
    // Fill, drain some (the head moves), then overfill so the ring grows while wrapped.
    for (let i = 0; i < 3; i++) queue.push(Uint8Array.of(next++, 0xaa));
    for (let i = 0; i < 2; i++) {
      assert.ok(queue.copyOldest(out, 2));
      received.push(out[0]!);
      queue.shift();
    }
    for (let i = 0; i < 20; i++) queue.push(Uint8Array.of(next++, 0xaa));
    assert.equal(queue.length, 21);
    while (queue.copyOldest(out, 2)) {
      assert.equal(out[1], 0xaa);
      received.push(out[0]!);
      queue.shift();
    }
    assert.deepEqual(
      received,
      Array.from({ length: next }, (_, i) => i),
    );
    assert.equal(queue.shift(), false);
  });

  it("copies no more than asked, and clear reports how many it dropped", () => {
    const queue = new ReportQueue(4);
    queue.push(Uint8Array.of(1, 2, 3, 4, 5));
    const out = new Uint8Array(4);
    queue.copyOldest(out, 3);
    assert.deepEqual(Array.from(out), [1, 2, 3, 0]);
    queue.push(Uint8Array.of(6, 7, 8, 9));
    assert.equal(queue.clear(), 2);
    assert.equal(queue.copyOldest(out, 4), false);
    assert.throws(() => queue.push(Uint8Array.of(1)), RangeError);
    assert.throws(() => new ReportQueue(0), RangeError);
  });
});
