import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { FieldFlag } from "./report-descriptor.ts";
import { FieldKind, parseReportDescriptor, type ReportField } from "./report-descriptor-parse.ts";
import {
  KEYBOARD_OUTPUT_REPORT_LENGTH,
  KEYBOARD_REPORT_DESCRIPTOR,
  KEYBOARD_REPORT_LENGTH,
  MOUSE_BOOT_REPORT_LENGTH,
  MOUSE_REPORT_DESCRIPTOR,
  MOUSE_REPORT_LENGTH,
  TABLET_REPORT_DESCRIPTOR,
  TABLET_REPORT_LENGTH,
} from "./report-descriptors.ts";
import { APPENDIX_B1_KEYBOARD, APPENDIX_B2_MOUSE } from "./testing/appendix-b.ts";

function fields(descriptor: Uint8Array): ReportField[] {
  const parsed = parseReportDescriptor(descriptor);
  assert.ok(parsed.ok, parsed.ok ? "" : parsed.error);
  return parsed.value;
}

interface Placement {
  readonly bit: number;
  readonly size: number;
  readonly min: number;
  readonly max: number;
  readonly flags: number;
}

/** Where each usage of the variable data fields of one kind sits (HID 1.11 6.2.2.8: usages map in order). */
function variableUsages(all: readonly ReportField[], kind: FieldKind): Map<number, Placement> {
  const map = new Map<number, Placement>();
  for (const f of all) {
    if (f.kind !== kind || (f.flags & FieldFlag.Constant) !== 0 || (f.flags & FieldFlag.Variable) === 0)
      continue;
    const list =
      f.usages.length > 0
        ? f.usages
        : Array.from({ length: f.usageMaximum! - f.usageMinimum! + 1 }, (_, i) => f.usageMinimum! + i);
    for (let i = 0; i < f.count; i++) {
      // With fewer usages than values, the last usage repeats.
      const u = list[Math.min(i, list.length - 1)]!;
      map.set(u, {
        bit: f.bitOffset + i * f.size,
        size: f.size,
        min: f.logicalMinimum,
        max: f.logicalMaximum,
        flags: f.flags,
      });
    }
  }
  return map;
}

function arrays(all: readonly ReportField[], kind: FieldKind): ReportField[] {
  return all.filter(
    (f) => f.kind === kind && (f.flags & FieldFlag.Constant) === 0 && (f.flags & FieldFlag.Variable) === 0,
  );
}

/** Bits a kind of report spans, constants included. */
function reportBits(all: readonly ReportField[], kind: FieldKind): number {
  return all
    .filter((f) => f.kind === kind)
    .reduce((end, f) => Math.max(end, f.bitOffset + f.size * f.count), 0);
}

/** Every data usage of the boot descriptor is in ours, at the same bit, size, range and flags. */
function assertBootSemantics(ours: readonly ReportField[], boot: readonly ReportField[]): void {
  for (const kind of [FieldKind.Input, FieldKind.Output]) {
    const mine = variableUsages(ours, kind);
    for (const [u, placement] of variableUsages(boot, kind)) {
      assert.deepEqual(mine.get(u), placement, `${kind} usage 0x${u.toString(16)}`);
    }
  }
}

describe("boot keyboard report descriptor", () => {
  const ours = fields(KEYBOARD_REPORT_DESCRIPTOR);
  const boot = fields(APPENDIX_B1_KEYBOARD);

  it("places modifiers and LEDs exactly as HID 1.11 Appendix B.1", () => {
    assertBootSemantics(ours, boot);
    // And nothing else is a variable field.
    assert.equal(variableUsages(ours, FieldKind.Input).size, 8);
    assert.equal(variableUsages(ours, FieldKind.Output).size, 5);
  });

  it("has the same six-slot key array, over at least the boot range of usages", () => {
    const [mine] = arrays(ours, FieldKind.Input);
    const [spec] = arrays(boot, FieldKind.Input);
    assert.ok(mine !== undefined && spec !== undefined);
    assert.deepEqual([mine.bitOffset, mine.size, mine.count], [spec.bitOffset, spec.size, spec.count]);
    assert.equal(mine.logicalMinimum, spec.logicalMinimum);
    assert.equal(mine.usageMinimum, spec.usageMinimum);
    assert.ok(mine.logicalMaximum >= spec.logicalMaximum);
    assert.equal(mine.usageMaximum! - mine.usageMinimum!, mine.logicalMaximum - mine.logicalMinimum);
    // Widened to the last key usage, never into the modifiers (which have their own bits).
    assert.equal(mine.logicalMaximum, 0xdd);
  });

  it("declares 8-byte input and 1-byte output reports, the same length as the boot ones", () => {
    assert.equal(reportBits(ours, FieldKind.Input), KEYBOARD_REPORT_LENGTH * 8);
    assert.equal(reportBits(boot, FieldKind.Input), KEYBOARD_REPORT_LENGTH * 8);
    assert.equal(reportBits(ours, FieldKind.Output), KEYBOARD_OUTPUT_REPORT_LENGTH * 8);
  });
});

describe("boot mouse report descriptor", () => {
  const ours = fields(MOUSE_REPORT_DESCRIPTOR);
  const boot = fields(APPENDIX_B2_MOUSE);

  it("places buttons 1–3, X and Y exactly as HID 1.11 Appendix B.2", () => {
    assertBootSemantics(ours, boot);
    assert.equal(reportBits(boot, FieldKind.Input), MOUSE_BOOT_REPORT_LENGTH * 8);
  });

  it("adds buttons 4–5 in the boot padding and a relative wheel after the boot bytes", () => {
    const inputs = variableUsages(ours, FieldKind.Input);
    assert.equal(inputs.get(0x090004)?.bit, 3);
    assert.equal(inputs.get(0x090005)?.bit, 4);
    assert.deepEqual(inputs.get(0x010038), {
      bit: MOUSE_BOOT_REPORT_LENGTH * 8,
      size: 8,
      min: -127,
      max: 127,
      flags: FieldFlag.Variable | FieldFlag.Relative,
    });
    assert.equal(reportBits(ours, FieldKind.Input), MOUSE_REPORT_LENGTH * 8);
    assert.equal(reportBits(ours, FieldKind.Output), 0);
  });
});

describe("tablet report descriptor", () => {
  const ours = fields(TABLET_REPORT_DESCRIPTOR);

  it("has five buttons, absolute 16-bit X and Y over 0..32767 and a relative wheel", () => {
    const inputs = variableUsages(ours, FieldKind.Input);
    for (let b = 1; b <= 5; b++) assert.equal(inputs.get(0x090000 + b)?.bit, b - 1);
    const absolute = { size: 16, min: 0, max: 32767, flags: FieldFlag.Variable };
    assert.deepEqual(inputs.get(0x010030), { bit: 8, ...absolute });
    assert.deepEqual(inputs.get(0x010031), { bit: 24, ...absolute });
    assert.deepEqual(inputs.get(0x010038), {
      bit: 40,
      size: 8,
      min: -127,
      max: 127,
      flags: FieldFlag.Variable | FieldFlag.Relative,
    });
    assert.equal(reportBits(ours, FieldKind.Input), TABLET_REPORT_LENGTH * 8);
  });
});
