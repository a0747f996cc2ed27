import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { CounterSource } from "./counter-source.ts";
import { RecordingSink } from "./recording-sink.ts";

describe("CounterSource", () => {
  it("stamps consecutive packets that check() recognises", () => {
    const source = new CounterSource(192);
    const buf = new Uint8Array(1280);
    for (let seq = 0; seq < 300; seq++) {
      assert.equal(source.fill(buf, 192), 192);
      assert.equal(CounterSource.check(buf, 0, 192), seq);
    }
  });

  it("never writes more than asked; check() rejects a damaged or shifted packet", () => {
    const source = new CounterSource(192);
    const buf = new Uint8Array(256).fill(0xaa);
    assert.equal(source.fill(buf, 100), 100);
    assert.equal(buf[100], 0xaa);
    CounterSource.write(5, buf, 192);
    buf[150] = (buf[150]! + 1) & 0xff;
    assert.equal(CounterSource.check(buf, 0, 192), -1);
    CounterSource.write(5, buf, 192);
    assert.equal(CounterSource.check(buf, 1, 191), -1);
    assert.equal(CounterSource.check(buf, 0, 3), -1);
  });
});

describe("RecordingSink", () => {
  it("keeps a copy of the first `length` bytes of each packet", () => {
    const sink = new RecordingSink();
    const data = Uint8Array.of(1, 2, 3, 4);
    sink.consume(data, 3);
    data[0] = 9;
    sink.consume(data, 1);
    assert.deepEqual(
      sink.packets.map((p) => [...p]),
      [[1, 2, 3], [9]],
    );
    assert.equal(sink.bytes, 4);
  });
});
