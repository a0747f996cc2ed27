import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { ReportQueue } from "./report-queue.ts";

describe("ReportQueue", () => {
  it("keeps FIFO order across wrap-around and growth", () => {
    const queue = new ReportQueue(2, 1000, 4);
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

  it("holds at most its limit: push refuses at the bound, the newest report can be read and replaced", () => {
    const queue = new ReportQueue(2, 3, 1);
    assert.equal(queue.copyNewest(new Uint8Array(2)), false);
    assert.equal(queue.replaceNewest(Uint8Array.of(9, 9)), false);
    for (let i = 0; i < 3; i++) assert.equal(queue.push(Uint8Array.of(i, i)), true);
    assert.equal(queue.full, true);
    assert.equal(queue.push(Uint8Array.of(7, 7)), false);
    assert.equal(queue.length, 3);
    const newest = new Uint8Array(2);
    assert.ok(queue.copyNewest(newest));
    assert.deepEqual([...newest], [2, 2]);
    assert.ok(queue.replaceNewest(Uint8Array.of(5, 6)));
    assert.deepEqual([...queue.contents()], [0, 0, 1, 1, 5, 6]);
    queue.shift();
    assert.equal(queue.full, false);
    assert.equal(queue.push(Uint8Array.of(8, 8)), true, "wrapped round the ring");
    assert.deepEqual([...queue.contents()], [1, 1, 5, 6, 8, 8]);
    assert.throws(() => new ReportQueue(2, 1), RangeError);
  });

  it("a restored queue longer than the limit keeps every report and takes no more until drained below it", () => {
    const queue = new ReportQueue(1, 2);
    queue.replaceWith(Uint8Array.of(1, 2, 3, 4));
    assert.equal(queue.length, 4);
    assert.equal(queue.push(Uint8Array.of(5)), false);
    const out = new Uint8Array(1);
    const got: number[] = [];
    while (queue.copyOldest(out, 1)) {
      got.push(out[0]!);
      queue.shift();
      if (got.length === 3) assert.equal(queue.push(Uint8Array.of(9)), true);
    }
    assert.deepEqual(got, [1, 2, 3, 4, 9]);
  });
});
