import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { decodeBase64, encodeBase64, openState, SnapshotError } from "./snapshot.ts";

describe("saved-state helpers", () => {
  it("base64 round-trips every length and byte value, and matches RFC 4648's examples", () => {
    for (let length = 0; length < 300; length++) {
      const bytes = Uint8Array.from({ length }, (_, i) => (i * 97 + length) & 0xff);
      assert.deepEqual(decodeBase64(encodeBase64(bytes)), bytes);
      assert.equal(encodeBase64(bytes), Buffer.from(bytes).toString("base64"));
    }
    const text = (s: string) => new TextEncoder().encode(s);
    assert.equal(encodeBase64(text("foobar")), "Zm9vYmFy");
    assert.equal(encodeBase64(text("fo")), "Zm8=");
    assert.equal(encodeBase64(text("f")), "Zg==");
  });

  it("base64 refuses anything but canonical padded text", () => {
    for (const bad of ["Zg", "Zg=", "Z===", "====", "Zh==", "Zm9=", "Zm 9v", "Zm9v\n", "Zm9ö", "Zg==Zg=="]) {
      assert.equal(decodeBase64(bad), null, bad);
    }
  });

  it("openState names the kind and both versions when it refuses", () => {
    assert.throws(
      () => openState({ kind: "usb-keyboard", version: 3 }, "usb-keyboard", 1),
      (e: unknown) =>
        e instanceof SnapshotError &&
        e.message === "cannot restore usb-keyboard from version 3: this build reads usb-keyboard version 1",
    );
    assert.throws(
      () => openState({ kind: "usb-mouse", version: 1 }, "usb-keyboard", 1),
      /cannot restore usb-keyboard from a state of kind "usb-mouse"/,
    );
    assert.throws(() => openState([], "usb-keyboard", 1), /is an array, not an object/);
    assert.throws(() => openState({ kind: "usb-keyboard" }, "usb-keyboard", 1), /without a version/);
  });

  it("field readers check type and range and name the field", () => {
    const r = openState(
      { kind: "k", version: 1, n: 5, f: 1.5, b: true, s: "x", list: [1, 2, 300], bytes: "AAE=", nested: {} },
      "k",
      1,
    );
    assert.equal(r.int("n", 0, 5), 5);
    assert.throws(() => r.int("n", 0, 4), /k\.n must be an integer in 0\.\.4, not 5/);
    assert.throws(() => r.int("f", 0, 4), /not 1\.5/);
    assert.equal(r.number("f", 0, 2), 1.5);
    assert.equal(r.bool("b"), true);
    assert.throws(() => r.bool("n"), /k\.n must be true or false/);
    assert.equal(r.string("s"), "x");
    assert.throws(() => r.ints("list", 0, 255, 8), /k\.list\[2\] must be an integer in 0\.\.255, not 300/);
    assert.throws(() => r.ints("list", 0, 300, 2), /has 3 entries; at most 2/);
    assert.deepEqual([...r.bytes("bytes", 2)], [0, 1]);
    assert.throws(() => r.bytes("bytes", 1), /holds 2 bytes; at most 1/);
    assert.throws(() => r.bytes("s", 1), /is not valid base64/);
    assert.throws(() => r.object("missing"), /k\.missing must be an object, not missing/);
    assert.throws(() => r.object("nested").int("x", 0, 1), /k\.nested\.x must be an integer/);
    assert.equal(r.oneOf("s", ["x", "y"]), "x");
    assert.throws(() => r.oneOf("s", ["y"]), /must be one of "y", not "x"/);
  });
});
