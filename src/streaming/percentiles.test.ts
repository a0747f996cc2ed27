import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { Percentiles, quantileSorted } from "./percentiles.ts";

describe("percentiles (nearest rank)", () => {
  it("picks the smallest value with at least q of the sample at or below it", () => {
    // The textbook nearest-rank example: {15, 20, 35, 40, 50}.
    const sorted = [15, 20, 35, 40, 50];
    assert.equal(quantileSorted(sorted, 0.05), 15);
    assert.equal(quantileSorted(sorted, 0.3), 20);
    assert.equal(quantileSorted(sorted, 0.4), 20);
    assert.equal(quantileSorted(sorted, 0.5), 35);
    assert.equal(quantileSorted(sorted, 1), 50);
    assert.equal(quantileSorted(sorted, 0), 15, "q = 0 is the minimum, not out of range");
    assert.ok(Number.isNaN(quantileSorted([], 0.5)));
  });

  it("summarises unsorted values past its first buffer; an empty sample reports zeros", () => {
    assert.deepEqual(new Percentiles().summary(), { count: 0, p50: 0, p99: 0, max: 0 });
    const p = new Percentiles();
    // 1..3000 in a scrambled order (2003 is prime to 3000, so i·2003 mod 3000 visits every residue).
    for (let i = 0; i < 3000; i++) p.add(((i * 2003) % 3000) + 1);
    assert.equal(p.count, 3000);
    assert.deepEqual(p.summary(), { count: 3000, p50: 1500, p99: 2970, max: 3000 });
  });
});
