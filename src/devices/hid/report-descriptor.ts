/**
 * A small builder for HID report descriptors (HID 1.11 6.2.2), so that descriptors read as the item
 * lists the spec prints rather than as bytes. Each helper returns the bytes of one short item;
 * {@link reportDescriptor} joins them.
 */

/** bType, bits 3:2 of a short item's prefix (HID 1.11 6.2.2.2). */
export const ItemType = {
  Main: 0,
  Global: 1,
  Local: 2,
} as const;
export type ItemType = (typeof ItemType)[keyof typeof ItemType];

/** Main item tags (HID 1.11 6.2.2.4). */
export const MainTag = {
  Input: 0x8,
  Output: 0x9,
  Collection: 0xa,
  Feature: 0xb,
  EndCollection: 0xc,
} as const;

/** Global item tags (HID 1.11 6.2.2.7). */
export const GlobalTag = {
  UsagePage: 0x0,
  LogicalMinimum: 0x1,
  LogicalMaximum: 0x2,
  PhysicalMinimum: 0x3,
  PhysicalMaximum: 0x4,
  UnitExponent: 0x5,
  Unit: 0x6,
  ReportSize: 0x7,
  ReportId: 0x8,
  ReportCount: 0x9,
  Push: 0xa,
  Pop: 0xb,
} as const;

/** Local item tags (HID 1.11 6.2.2.8). */
export const LocalTag = {
  Usage: 0x0,
  UsageMinimum: 0x1,
  UsageMaximum: 0x2,
} as const;

/** Collection item data (HID 1.11 6.2.2.6). */
export const CollectionType = {
  Physical: 0x00,
  Application: 0x01,
  Logical: 0x02,
} as const;
export type CollectionType = (typeof CollectionType)[keyof typeof CollectionType];

/**
 * Bits of the Input, Output and Feature item data (HID 1.11 6.2.2.5). The zero values are named too,
 * so a field reads like the spec's "Input (Data, Variable, Absolute)".
 */
export const FieldFlag = {
  Data: 0x00,
  Constant: 0x01,
  Array: 0x00,
  Variable: 0x02,
  Absolute: 0x00,
  Relative: 0x04,
  Wrap: 0x08,
  NonLinear: 0x10,
  NoPreferredState: 0x20,
  NullState: 0x40,
  Volatile: 0x80,
} as const;

/** The bytes of one item. */
export type ReportItem = readonly number[];

/** bSize codes for 0, 1, 2 and 4 data bytes (HID 1.11 6.2.2.2). */
const SIZE_CODE: Readonly<Record<number, number>> = { 0: 0, 1: 1, 2: 2, 4: 3 };

function shortItem(type: ItemType, tag: number, value: number, size: number): ReportItem {
  const bytes = [(tag << 4) | (type << 2) | SIZE_CODE[size]!];
  for (let i = 0; i < size; i++) bytes.push((value >>> (8 * i)) & 0xff);
  return bytes;
}

/**
 * An item whose data is unsigned (usages, sizes, counts). Always at least one data byte, as every
 * example in the spec writes even a zero (HID 1.11 Appendix B).
 */
function unsignedItem(type: ItemType, tag: number, value: number): ReportItem {
  if (!Number.isInteger(value) || value < 0 || value > 0xffffffff) {
    throw new RangeError(`item value ${value} is not an unsigned 32-bit integer`);
  }
  const size = value <= 0xff ? 1 : value <= 0xffff ? 2 : 4;
  return shortItem(type, tag, value, size);
}

/**
 * An item whose data is signed two's complement (logical and physical extents, HID 1.11 6.2.2.7).
 * The shortest encoding that keeps the sign: 255 needs two bytes, since one byte 0xFF reads as -1.
 */
function signedItem(type: ItemType, tag: number, value: number): ReportItem {
  if (!Number.isInteger(value) || value < -0x80000000 || value > 0x7fffffff) {
    throw new RangeError(`item value ${value} is not a signed 32-bit integer`);
  }
  const size = value >= -0x80 && value <= 0x7f ? 1 : value >= -0x8000 && value <= 0x7fff ? 2 : 4;
  return shortItem(type, tag, value, size);
}

// ---- main items (HID 1.11 6.2.2.4) -----------------------------------------------------------------

/** Input (flags): a field the device sends. `flags` ORs {@link FieldFlag} values. */
export const input = (flags: number): ReportItem => unsignedItem(ItemType.Main, MainTag.Input, flags);
/** Output (flags): a field the host sends. */
export const output = (flags: number): ReportItem => unsignedItem(ItemType.Main, MainTag.Output, flags);
/** Feature (flags): a configuration field read or written on the control pipe. */
export const feature = (flags: number): ReportItem => unsignedItem(ItemType.Main, MainTag.Feature, flags);
export const collection = (type: CollectionType): ReportItem =>
  unsignedItem(ItemType.Main, MainTag.Collection, type);
/** End Collection has no data (HID 1.11 6.2.2.4). */
export const endCollection = (): ReportItem => shortItem(ItemType.Main, MainTag.EndCollection, 0, 0);

// ---- global items (HID 1.11 6.2.2.7) ---------------------------------------------------------------

export const usagePage = (page: number): ReportItem =>
  unsignedItem(ItemType.Global, GlobalTag.UsagePage, page);
export const logicalMinimum = (value: number): ReportItem =>
  signedItem(ItemType.Global, GlobalTag.LogicalMinimum, value);
export const logicalMaximum = (value: number): ReportItem =>
  signedItem(ItemType.Global, GlobalTag.LogicalMaximum, value);
export const physicalMinimum = (value: number): ReportItem =>
  signedItem(ItemType.Global, GlobalTag.PhysicalMinimum, value);
export const physicalMaximum = (value: number): ReportItem =>
  signedItem(ItemType.Global, GlobalTag.PhysicalMaximum, value);
/** Report Size: bits per field. */
export const reportSize = (bits: number): ReportItem =>
  unsignedItem(ItemType.Global, GlobalTag.ReportSize, bits);
/** Report Count: fields per main item. */
export const reportCount = (count: number): ReportItem =>
  unsignedItem(ItemType.Global, GlobalTag.ReportCount, count);
export const reportId = (id: number): ReportItem => unsignedItem(ItemType.Global, GlobalTag.ReportId, id);

// ---- local items (HID 1.11 6.2.2.8) ----------------------------------------------------------------

export const usage = (id: number): ReportItem => unsignedItem(ItemType.Local, LocalTag.Usage, id);
export const usageMinimum = (id: number): ReportItem =>
  unsignedItem(ItemType.Local, LocalTag.UsageMinimum, id);
export const usageMaximum = (id: number): ReportItem =>
  unsignedItem(ItemType.Local, LocalTag.UsageMaximum, id);

/** Joins items into a report descriptor. */
export function reportDescriptor(...items: readonly ReportItem[]): Uint8Array {
  return Uint8Array.from(items.flat());
}
