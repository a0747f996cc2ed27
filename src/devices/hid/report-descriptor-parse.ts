import type { ParseResult } from "../../usb/descriptors/model.ts";
import { GlobalTag, ItemType, LocalTag, MainTag } from "./report-descriptor.ts";

/**
 * Reads a report descriptor back into the fields it declares (HID 1.11 6.2.2, 8.4): where each field
 * sits in its report, how big it is, what it means. For tests that check descriptors by meaning rather
 * than by bytes, and for host-side code that decodes report-protocol reports. Never throws.
 */

/** One short item as it sits in the descriptor (HID 1.11 6.2.2.2). */
export interface DecodedItem {
  /** Byte offset of the prefix. */
  readonly offset: number;
  /** bType: 0 main, 1 global, 2 local, 3 reserved. */
  readonly type: number;
  readonly tag: number;
  /** Data bytes: 0, 1, 2 or 4. */
  readonly size: number;
  /** The data as an unsigned little-endian number. */
  readonly data: number;
}

export const FieldKind = {
  Input: "input",
  Output: "output",
  Feature: "feature",
} as const;
export type FieldKind = (typeof FieldKind)[keyof typeof FieldKind];

/** One Input, Output or Feature main item with the state that applied to it. */
export interface ReportField {
  readonly kind: FieldKind;
  /** The item's data: {@link FieldFlag} bits. */
  readonly flags: number;
  /** 0 when the descriptor declares no report IDs. */
  readonly reportId: number;
  /** Bit offset in the report, not counting a report ID byte (HID 1.11 5.6). */
  readonly bitOffset: number;
  /** Report Size: bits per value. */
  readonly size: number;
  /** Report Count: values. */
  readonly count: number;
  /** Usages named one by one, as extended usages (page << 16 | id). */
  readonly usages: readonly number[];
  /** A usage range, as extended usages; undefined when none was given. */
  readonly usageMinimum: number | undefined;
  readonly usageMaximum: number | undefined;
  readonly logicalMinimum: number;
  readonly logicalMaximum: number;
}

/** The prefix of a long item (HID 1.11 6.2.2.3). */
const LONG_ITEM_PREFIX = 0xfe;
const DATA_SIZES = [0, 1, 2, 4] as const;

/** Splits a descriptor into its short items; long items are skipped (none are defined). */
export function decodeItems(bytes: Uint8Array): ParseResult<DecodedItem[]> {
  const items: DecodedItem[] = [];
  let at = 0;
  while (at < bytes.length) {
    const prefix = bytes[at]!;
    if (prefix === LONG_ITEM_PREFIX) {
      const dataSize = bytes[at + 1];
      if (dataSize === undefined || at + 3 + dataSize > bytes.length) {
        return { ok: false, error: `long item at ${at} runs past the end` };
      }
      at += 3 + dataSize;
      continue;
    }
    const size = DATA_SIZES[prefix & 0x03]!;
    if (at + 1 + size > bytes.length) return { ok: false, error: `item at ${at} runs past the end` };
    let data = 0;
    for (let i = 0; i < size; i++) data += bytes[at + 1 + i]! * 2 ** (8 * i);
    items.push({ offset: at, type: (prefix >> 2) & 0x03, tag: prefix >> 4, size, data });
    at += 1 + size;
  }
  return { ok: true, value: items };
}

/** The item's data read as two's complement of its own size. */
function signed(item: DecodedItem): number {
  if (item.size === 0) return 0;
  const bits = 8 * item.size;
  return item.data >= 2 ** (bits - 1) ? item.data - 2 ** bits : item.data;
}

interface GlobalState {
  usagePage: number;
  logicalMinimum: number;
  logicalMaximum: number;
  /** The maximum as written, unsigned, for the sign fix-up below. */
  logicalMaximumUnsigned: number;
  reportSize: number;
  reportCount: number;
  reportId: number;
}

/** A usage item's data as an extended usage: 4-byte usages carry their own page (HID 1.11 6.2.2.8). */
function extendedUsage(item: DecodedItem, page: number): number {
  return item.size === 4 ? item.data : page * 0x10000 + item.data;
}

const MAIN_KINDS: Readonly<Record<number, FieldKind>> = {
  [MainTag.Input]: FieldKind.Input,
  [MainTag.Output]: FieldKind.Output,
  [MainTag.Feature]: FieldKind.Feature,
};

/** Every Input, Output and Feature field of a report descriptor, in order. */
export function parseReportDescriptor(bytes: Uint8Array): ParseResult<ReportField[]> {
  const decoded = decodeItems(bytes);
  if (!decoded.ok) return decoded;
  const fields: ReportField[] = [];
  let global: GlobalState = {
    usagePage: 0,
    logicalMinimum: 0,
    logicalMaximum: 0,
    logicalMaximumUnsigned: 0,
    reportSize: 0,
    reportCount: 0,
    reportId: 0,
  };
  const stack: GlobalState[] = [];
  let usages: DecodedItem[] = [];
  let usageMinimum: DecodedItem | undefined;
  let usageMaximum: DecodedItem | undefined;
  /** Next free bit per kind and report ID. */
  const offsets = new Map<string, number>();
  let depth = 0;

  for (const item of decoded.value) {
    if (item.type === ItemType.Main) {
      const kind = MAIN_KINDS[item.tag];
      if (kind !== undefined) {
        const key = `${kind}:${global.reportId}`;
        const bitOffset = offsets.get(key) ?? 0;
        offsets.set(key, bitOffset + global.reportSize * global.reportCount);
        // Extents are signed (HID 1.11 6.2.2.7), but a maximum such as 255 is often written in one byte
        // as 0xFF; with a minimum that is not negative, hosts read the maximum as unsigned.
        const logicalMaximum =
          global.logicalMinimum >= 0 && global.logicalMaximum < 0
            ? global.logicalMaximumUnsigned
            : global.logicalMaximum;
        const page = global.usagePage;
        fields.push({
          kind,
          flags: item.data,
          reportId: global.reportId,
          bitOffset,
          size: global.reportSize,
          count: global.reportCount,
          usages: usages.map((u) => extendedUsage(u, page)),
          usageMinimum: usageMinimum === undefined ? undefined : extendedUsage(usageMinimum, page),
          usageMaximum: usageMaximum === undefined ? undefined : extendedUsage(usageMaximum, page),
          logicalMinimum: global.logicalMinimum,
          logicalMaximum,
        });
      } else if (item.tag === MainTag.Collection) {
        depth++;
      } else if (item.tag === MainTag.EndCollection) {
        if (depth === 0) return { ok: false, error: `End Collection at ${item.offset} closes nothing` };
        depth--;
      } else {
        return { ok: false, error: `unknown main item tag ${item.tag} at ${item.offset}` };
      }
      // Local items last until the next main item (HID 1.11 6.2.2.8).
      usages = [];
      usageMinimum = undefined;
      usageMaximum = undefined;
    } else if (item.type === ItemType.Global) {
      switch (item.tag) {
        case GlobalTag.UsagePage:
          global.usagePage = item.data;
          break;
        case GlobalTag.LogicalMinimum:
          global.logicalMinimum = signed(item);
          break;
        case GlobalTag.LogicalMaximum:
          global.logicalMaximum = signed(item);
          global.logicalMaximumUnsigned = item.data;
          break;
        case GlobalTag.ReportSize:
          global.reportSize = item.data;
          break;
        case GlobalTag.ReportCount:
          global.reportCount = item.data;
          break;
        case GlobalTag.ReportId:
          if (item.data === 0) return { ok: false, error: `Report ID 0 at ${item.offset} is reserved` };
          global.reportId = item.data;
          break;
        case GlobalTag.Push:
          stack.push({ ...global });
          break;
        case GlobalTag.Pop: {
          const popped = stack.pop();
          if (popped === undefined) return { ok: false, error: `Pop at ${item.offset} with nothing pushed` };
          global = popped;
          break;
        }
        default:
          // Physical extents, units: not needed to place fields.
          break;
      }
    } else if (item.type === ItemType.Local) {
      if (item.tag === LocalTag.Usage) usages.push(item);
      else if (item.tag === LocalTag.UsageMinimum) usageMinimum = item;
      else if (item.tag === LocalTag.UsageMaximum) usageMaximum = item;
    }
  }
  if (depth !== 0) return { ok: false, error: `${depth} collection(s) left open` };
  return { ok: true, value: fields };
}
