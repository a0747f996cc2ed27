import { LAST_KEY_USAGE } from "./keyboard-usages.ts";
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
import { GenericDesktopUsage, LedUsage, UsagePage } from "./usages.ts";

/**
 * The report descriptors of the three devices, as data, and the report layouts they define. No report
 * IDs anywhere: each device has one input report (and the keyboard one output report), which keeps the
 * boot layout at byte 0 of the report-protocol report.
 */

const DATA_VARIABLE_ABSOLUTE = FieldFlag.Data | FieldFlag.Variable | FieldFlag.Absolute;
const DATA_VARIABLE_RELATIVE = FieldFlag.Data | FieldFlag.Variable | FieldFlag.Relative;
const DATA_ARRAY_ABSOLUTE = FieldFlag.Data | FieldFlag.Array | FieldFlag.Absolute;

/** Key slots in the keyboard input report (HID 1.11 Appendix B.1). */
export const KEYBOARD_KEY_SLOTS = 6;
/** Modifier byte, reserved byte, key slots: the same 8 bytes in boot and report protocol. */
export const KEYBOARD_REPORT_LENGTH = 2 + KEYBOARD_KEY_SLOTS;
/** One byte of LED bits (HID 1.11 Appendix B.1). */
export const KEYBOARD_OUTPUT_REPORT_LENGTH = 1;

/**
 * The boot keyboard (HID 1.11 Appendix B.1), item for item, with one deliberate change: the key array
 * runs to usage 0xDD instead of 101 (0x65). Report-protocol hosts ignore array values above the
 * logical maximum, which would silently lose F13–F24, the international and language keys; 0xDD is
 * the last non-modifier key usage (HID Usage Tables §10). Boot-protocol hosts read the bytes as they are.
 */
export const KEYBOARD_REPORT_DESCRIPTOR = reportDescriptor(
  usagePage(UsagePage.GenericDesktop),
  usage(GenericDesktopUsage.Keyboard),
  collection(CollectionType.Application),
  // Byte 0: one bit per modifier key, LeftControl (0xE0) to RightGui (0xE7).
  reportSize(1),
  reportCount(8),
  usagePage(UsagePage.KeyboardKeypad),
  usageMinimum(0xe0),
  usageMaximum(0xe7),
  logicalMinimum(0),
  logicalMaximum(1),
  input(DATA_VARIABLE_ABSOLUTE),
  // Byte 1: reserved for OEM use, always 0.
  reportCount(1),
  reportSize(8),
  input(FieldFlag.Constant),
  // Output byte: the five LEDs, then three bits of padding.
  reportCount(5),
  reportSize(1),
  usagePage(UsagePage.Led),
  usageMinimum(LedUsage.NumLock),
  usageMaximum(LedUsage.Kana),
  output(DATA_VARIABLE_ABSOLUTE),
  reportCount(1),
  reportSize(3),
  output(FieldFlag.Constant),
  // Bytes 2–7: the usages of the keys held down, 0 in unused slots.
  reportCount(KEYBOARD_KEY_SLOTS),
  reportSize(8),
  logicalMinimum(0),
  logicalMaximum(LAST_KEY_USAGE),
  usagePage(UsagePage.KeyboardKeypad),
  usageMinimum(0),
  usageMaximum(LAST_KEY_USAGE),
  input(DATA_ARRAY_ABSOLUTE),
  endCollection(),
);

/** Buttons 1–5 are bits 0–4 of byte 0 of both pointer reports. */
export const POINTER_BUTTON_COUNT = 5;
/** Relative fields are 8-bit and symmetric, as in the boot mouse (HID 1.11 Appendix B.2). */
export const RELATIVE_MIN = -127;
export const RELATIVE_MAX = 127;

/** Buttons, X, Y, wheel. */
export const MOUSE_REPORT_LENGTH = 4;
/** Buttons, X, Y: the boot mouse report (HID 1.11 Appendix B.2); the wheel byte follows it. */
export const MOUSE_BOOT_REPORT_LENGTH = 3;

/** The five pointer buttons and three bits of padding: byte 0 of both pointer reports. */
const POINTER_BUTTONS = [
  reportCount(POINTER_BUTTON_COUNT),
  reportSize(1),
  usagePage(UsagePage.Button),
  usageMinimum(1),
  usageMaximum(POINTER_BUTTON_COUNT),
  logicalMinimum(0),
  logicalMaximum(1),
  input(DATA_VARIABLE_ABSOLUTE),
  reportCount(1),
  reportSize(8 - POINTER_BUTTON_COUNT),
  input(FieldFlag.Constant),
] as const;

/**
 * The boot mouse (HID 1.11 Appendix B.2) with five buttons instead of three (bits 3–7 of byte 0 are
 * device-specific in the boot report) and a wheel byte after X and Y, where a boot host stops reading.
 */
export const MOUSE_REPORT_DESCRIPTOR = reportDescriptor(
  usagePage(UsagePage.GenericDesktop),
  usage(GenericDesktopUsage.Mouse),
  collection(CollectionType.Application),
  usage(GenericDesktopUsage.Pointer),
  collection(CollectionType.Physical),
  ...POINTER_BUTTONS,
  // Bytes 1–3: X, Y and wheel, relative, -127..127.
  usagePage(UsagePage.GenericDesktop),
  usage(GenericDesktopUsage.X),
  usage(GenericDesktopUsage.Y),
  usage(GenericDesktopUsage.Wheel),
  logicalMinimum(RELATIVE_MIN),
  logicalMaximum(RELATIVE_MAX),
  reportSize(8),
  reportCount(3),
  input(DATA_VARIABLE_RELATIVE),
  endCollection(),
  endCollection(),
);

/** Largest absolute coordinate of the tablet: 15 bits, so the 16-bit fields are never negative. */
export const TABLET_MAX_COORDINATE = 0x7fff;
/** Buttons, X (16-bit little-endian), Y (16-bit little-endian), wheel. */
export const TABLET_REPORT_LENGTH = 6;

/**
 * An absolute pointer: the mouse's buttons, X and Y as absolute 0..32767, and a relative wheel. Declared
 * as a Mouse application collection, so hosts bind their ordinary pointer driver and see absolute axes
 * (the same shape as QEMU's usb-tablet, which guests already handle).
 */
export const TABLET_REPORT_DESCRIPTOR = reportDescriptor(
  usagePage(UsagePage.GenericDesktop),
  usage(GenericDesktopUsage.Mouse),
  collection(CollectionType.Application),
  usage(GenericDesktopUsage.Pointer),
  collection(CollectionType.Physical),
  ...POINTER_BUTTONS,
  // Bytes 1–4: X and Y, absolute, 16 bits each. No physical extent: it defaults to the logical one
  // (HID 1.11 6.2.2.7).
  usagePage(UsagePage.GenericDesktop),
  usage(GenericDesktopUsage.X),
  usage(GenericDesktopUsage.Y),
  logicalMinimum(0),
  logicalMaximum(TABLET_MAX_COORDINATE),
  reportSize(16),
  reportCount(2),
  input(DATA_VARIABLE_ABSOLUTE),
  // Byte 5: wheel, relative.
  usage(GenericDesktopUsage.Wheel),
  logicalMinimum(RELATIVE_MIN),
  logicalMaximum(RELATIVE_MAX),
  reportSize(8),
  reportCount(1),
  input(DATA_VARIABLE_RELATIVE),
  endCollection(),
  endCollection(),
);
