import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { DEFAULT_ASYNC_HOST_TIMING, RequestTiming } from "./request-timing.ts";

const IN1 = 16 | 1;
const OUT2 = 2;

describe("RequestTiming", () => {
  it("an iso stream: the first request 10 ms out, each later one the next frame", () => {
    const t = new RequestTiming(DEFAULT_ASYNC_HOST_TIMING);
    assert.deepEqual(
      [0, 1, 2, 3].map((now) => t.dueMs(IN1, true, 100 + now)),
      [110, 111, 112, 113],
    );
    assert.equal(t.streamStarts, 1);
  });

  it("a buffered backend: after the first-request delay, each request completes isoLatencyMs after it was made", () => {
    const t = new RequestTiming({ ...DEFAULT_ASYNC_HOST_TIMING, isoLatencyMs: 0.5 });
    assert.deepEqual(
      [0, 1, 5, 9, 10, 11, 12].map((now) => t.dueMs(IN1, true, 100 + now)),
      [110.5, 110.5, 110.5, 110.5, 110.5, 111.5, 112.5],
    );
    assert.equal(t.streamStarts, 1);
  });

  it("requests submitted in a burst still occupy consecutive frames", () => {
    const t = new RequestTiming(DEFAULT_ASYNC_HOST_TIMING);
    assert.deepEqual(
      [0, 0, 0].map((now) => t.dueMs(IN1, true, now)),
      [10, 11, 12],
    );
  });

  it("a request after the stream's next frame has passed restarts the stream", () => {
    const t = new RequestTiming(DEFAULT_ASYNC_HOST_TIMING);
    t.dueMs(IN1, true, 0); // frame 10; next frame 11
    assert.equal(t.dueMs(IN1, true, 11), 11, "just in time");
    assert.equal(t.dueMs(IN1, true, 12.5), 22.5, "late: a new stream, 10 ms out");
    assert.equal(t.streamStarts, 2);
  });

  it("endpoints are separate streams; endStream makes the next request a first one", () => {
    const t = new RequestTiming(DEFAULT_ASYNC_HOST_TIMING);
    t.dueMs(IN1, true, 0);
    assert.equal(t.dueMs(OUT2, true, 1), 11);
    assert.equal(t.dueMs(IN1, true, 1), 11);
    t.endStream(IN1);
    assert.equal(t.dueMs(IN1, true, 2), 12);
    assert.equal(t.dueMs(OUT2, true, 2), 12);
  });

  it("bulk and interrupt requests take nonIsoDelayMs", () => {
    const t = new RequestTiming({ ...DEFAULT_ASYNC_HOST_TIMING, nonIsoDelayMs: 2 });
    assert.equal(t.dueMs(3, false, 7), 9);
  });

  it("jitter stays within bounds and never puts an endpoint's request before its predecessor", () => {
    const t = new RequestTiming({ ...DEFAULT_ASYNC_HOST_TIMING, jitterMs: 5, seed: 9 });
    let last = 0;
    for (let k = 0; k < 1000; k++) {
      const due = t.dueMs(IN1, true, k);
      assert.ok(due >= 10 + k && due >= last);
      assert.ok(due <= 10 + k + 5 || due === last);
      last = due;
    }
  });

  it("refuses negative or non-finite timing", () => {
    assert.throws(() => new RequestTiming({ ...DEFAULT_ASYNC_HOST_TIMING, jitterMs: -1 }), RangeError);
    assert.throws(
      () => new RequestTiming({ ...DEFAULT_ASYNC_HOST_TIMING, firstIsoDelayMs: Number.NaN }),
      RangeError,
    );
  });
});
