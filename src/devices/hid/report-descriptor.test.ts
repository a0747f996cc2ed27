import assert from "node:assert/strict";
import { describe, it } from "node:test";
import {
  CollectionType,
  collection,
  endCollection,
  FieldFlag,
  input,
  logicalMaximum,
  logicalMinimum,
  output,
  reportCount,
  reportDescriptor,
  reportSize,
  usage,
  usageMaximum,
  usageMinimum,
  usagePage,
} from "./report-descriptor.ts";
import { decodeItems, FieldKind, parseReportDescriptor } from "./report-descriptor-parse.ts";
import { APPENDIX_B1_KEYBOARD, APPENDIX_B2_MOUSE } from "./testing/appendix-b.ts";

describe("report descriptor items (HID 1.11 6.2.2)", () => {
  it("encodes short items with the smallest size that keeps the value", () => {
    assert.deepEqual(usagePage(0x01), [0x05, 0x01]);
    assert.deepEqual(usage(0x0106), [0x0a, 0x06, 0x01]);
    assert.deepEqual(usage(0x000c00e9), [0x0b, 0xe9, 0x00, 0x0c, 0x00]);
    assert.deepEqual(input(FieldFlag.Data | FieldFlag.Variable | FieldFlag.Relative), [0x81, 0x06]);
    assert.deepEqual(output(FieldFlag.Constant), [0x91, 0x01]);
    assert.deepEqual(collection(CollectionType.Physical), [0xa1, 0x00]);
    assert.deepEqual(endCollection(), [0xc0]);
    // Zero still carries one byte, as every descriptor in the spec writes it.
    assert.deepEqual(logicalMinimum(0), [0x15, 0x00]);
  });

  it("keeps the sign of logical extents: 255 needs two bytes, -127 fits one", () => {
    assert.deepEqual(logicalMaximum(127), [0x25, 0x7f]);
    assert.deepEqual(logicalMaximum(255), [0x26, 0xff, 0x00]);
    assert.deepEqual(logicalMinimum(-127), [0x15, 0x81]);
    assert.deepEqual(logicalMaximum(32767), [0x26, 0xff, 0x7f]);
    assert.deepEqual(logicalMinimum(-32769), [0x17, 0xff, 0x7f, 0xff, 0xff]);
  });

  it("refuses values that no item can hold", () => {
    assert.throws(() => usage(-1), RangeError);
    assert.throws(() => reportSize(1.5), RangeError);
    assert.throws(() => logicalMaximum(2 ** 31), RangeError);
  });

  it("reproduces Appendix B.1 byte for byte from named items", () => {
    const built = reportDescriptor(
      usagePage(0x01),
      usage(0x06),
      collection(CollectionType.Application),
      reportSize(1),
      reportCount(8),
      usagePage(0x07),
      usageMinimum(224),
      usageMaximum(231),
      logicalMinimum(0),
      logicalMaximum(1),
      input(FieldFlag.Data | FieldFlag.Variable | FieldFlag.Absolute),
      reportCount(1),
      reportSize(8),
      input(FieldFlag.Constant),
      reportCount(5),
      reportSize(1),
      usagePage(0x08),
      usageMinimum(1),
      usageMaximum(5),
      output(FieldFlag.Data | FieldFlag.Variable | FieldFlag.Absolute),
      reportCount(1),
      reportSize(3),
      output(FieldFlag.Constant),
      reportCount(6),
      reportSize(8),
      logicalMinimum(0),
      logicalMaximum(101),
      usagePage(0x07),
      usageMinimum(0),
      usageMaximum(101),
      input(FieldFlag.Data | FieldFlag.Array | FieldFlag.Absolute),
      endCollection(),
    );
    assert.deepEqual(built, APPENDIX_B1_KEYBOARD);
  });
});

describe("report descriptor parser", () => {
  it("places the fields of Appendix B.1 where the spec's report layout has them", () => {
    const parsed = parseReportDescriptor(APPENDIX_B1_KEYBOARD);
    assert.ok(parsed.ok, parsed.ok ? "" : parsed.error);
    const summary = parsed.value.map((f) => [f.kind, f.bitOffset, f.size, f.count, f.flags]);
    assert.deepEqual(summary, [
      [FieldKind.Input, 0, 1, 8, 0x02],
      [FieldKind.Input, 8, 8, 1, 0x01],
      [FieldKind.Output, 0, 1, 5, 0x02],
      [FieldKind.Output, 5, 3, 1, 0x01],
      [FieldKind.Input, 16, 8, 6, 0x00],
    ]);
    const keys = parsed.value[4]!;
    assert.equal(keys.usageMinimum, 0x070000);
    assert.equal(keys.usageMaximum, 0x070065);
    assert.equal(keys.logicalMaximum, 101);
  });

  it("reads signed extents, and a one-byte 0xFF maximum over a zero minimum as 255", () => {
    const mouse = parseReportDescriptor(APPENDIX_B2_MOUSE);
    assert.ok(mouse.ok);
    const xy = mouse.value[2]!;
    assert.deepEqual([xy.logicalMinimum, xy.logicalMaximum], [-127, 127]);
    assert.deepEqual(xy.usages, [0x010030, 0x010031]);
    const sloppy = parseReportDescriptor(
      Uint8Array.of(0x15, 0x00, 0x25, 0xff, 0x75, 0x08, 0x95, 0x01, 0x81, 0x00),
    );
    assert.ok(sloppy.ok);
    assert.equal(sloppy.value[0]!.logicalMaximum, 255);
  });

  it("reports malformed descriptors instead of throwing", () => {
    assert.equal(decodeItems(Uint8Array.of(0x26, 0xff)).ok, false);
    assert.equal(parseReportDescriptor(Uint8Array.of(0xa1, 0x01)).ok, false);
    assert.equal(parseReportDescriptor(Uint8Array.of(0xc0)).ok, false);
    assert.equal(parseReportDescriptor(Uint8Array.of(0xb4)).ok, false);
    assert.equal(parseReportDescriptor(Uint8Array.of(0x85, 0x00)).ok, false);
    // A long item (HID 1.11 6.2.2.3) is skipped whole.
    const long = decodeItems(Uint8Array.of(0xfe, 0x02, 0x10, 0xaa, 0xbb, 0x05, 0x01));
    assert.ok(long.ok);
    assert.equal(long.value.length, 1);
  });
});
