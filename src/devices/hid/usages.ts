/**
 * The few usage pages and usages these devices name in their report descriptors (HID Usage Tables
 * 1.12: §3 usage pages, §4 Generic Desktop, §11 LEDs, §12 Button). The Keyboard/Keypad page (§10)
 * has its own table in keyboard-usages.ts.
 */

/** Usage page IDs (HID Usage Tables §3, table 1). */
export const UsagePage = {
  GenericDesktop: 0x01,
  KeyboardKeypad: 0x07,
  Led: 0x08,
  Button: 0x09,
} as const;

/** Generic Desktop usages (HID Usage Tables §4). */
export const GenericDesktopUsage = {
  Pointer: 0x01,
  Mouse: 0x02,
  Keyboard: 0x06,
  X: 0x30,
  Y: 0x31,
  Wheel: 0x38,
} as const;

/** LED usages (HID Usage Tables §11); the boot keyboard's output report holds the first five. */
export const LedUsage = {
  NumLock: 0x01,
  CapsLock: 0x02,
  ScrollLock: 0x03,
  Compose: 0x04,
  Kana: 0x05,
} as const;
