/**
 * Key names for the Keyboard/Keypad usage page (HID Usage Tables 1.12 §10). A usage names a
 * key position, not a character: "A" is the key labelled A on a US keyboard, whatever layout the guest
 * has loaded.
 */
export const KeyUsage = {
  A: 0x04,
  B: 0x05,
  C: 0x06,
  D: 0x07,
  E: 0x08,
  F: 0x09,
  G: 0x0a,
  H: 0x0b,
  I: 0x0c,
  J: 0x0d,
  K: 0x0e,
  L: 0x0f,
  M: 0x10,
  N: 0x11,
  O: 0x12,
  P: 0x13,
  Q: 0x14,
  R: 0x15,
  S: 0x16,
  T: 0x17,
  U: 0x18,
  V: 0x19,
  W: 0x1a,
  X: 0x1b,
  Y: 0x1c,
  Z: 0x1d,
  "1": 0x1e,
  "2": 0x1f,
  "3": 0x20,
  "4": 0x21,
  "5": 0x22,
  "6": 0x23,
  "7": 0x24,
  "8": 0x25,
  "9": 0x26,
  "0": 0x27,
  Enter: 0x28,
  Escape: 0x29,
  Backspace: 0x2a,
  Tab: 0x2b,
  Space: 0x2c,
  Minus: 0x2d,
  Equal: 0x2e,
  LeftBracket: 0x2f,
  RightBracket: 0x30,
  Backslash: 0x31,
  /** The key left of Enter on ISO keyboards (# and ~ on a UK layout). */
  NonUsHash: 0x32,
  Semicolon: 0x33,
  Quote: 0x34,
  Grave: 0x35,
  Comma: 0x36,
  Period: 0x37,
  Slash: 0x38,
  CapsLock: 0x39,
  F1: 0x3a,
  F2: 0x3b,
  F3: 0x3c,
  F4: 0x3d,
  F5: 0x3e,
  F6: 0x3f,
  F7: 0x40,
  F8: 0x41,
  F9: 0x42,
  F10: 0x43,
  F11: 0x44,
  F12: 0x45,
  PrintScreen: 0x46,
  ScrollLock: 0x47,
  Pause: 0x48,
  Insert: 0x49,
  Home: 0x4a,
  PageUp: 0x4b,
  /** Delete Forward; the key labelled Backspace is {@link KeyUsage.Backspace}. */
  Delete: 0x4c,
  End: 0x4d,
  PageDown: 0x4e,
  Right: 0x4f,
  Left: 0x50,
  Down: 0x51,
  Up: 0x52,
  NumLock: 0x53,
  KeypadDivide: 0x54,
  KeypadMultiply: 0x55,
  KeypadMinus: 0x56,
  KeypadPlus: 0x57,
  KeypadEnter: 0x58,
  Keypad1: 0x59,
  Keypad2: 0x5a,
  Keypad3: 0x5b,
  Keypad4: 0x5c,
  Keypad5: 0x5d,
  Keypad6: 0x5e,
  Keypad7: 0x5f,
  Keypad8: 0x60,
  Keypad9: 0x61,
  Keypad0: 0x62,
  KeypadPeriod: 0x63,
  /** The extra key right of left Shift on ISO keyboards (\ and | on a UK layout). */
  NonUsBackslash: 0x64,
  /** The Windows "menu" key. */
  Application: 0x65,
  Power: 0x66,
  KeypadEqual: 0x67,
  F13: 0x68,
  F14: 0x69,
  F15: 0x6a,
  F16: 0x6b,
  F17: 0x6c,
  F18: 0x6d,
  F19: 0x6e,
  F20: 0x6f,
  F21: 0x70,
  F22: 0x71,
  F23: 0x72,
  F24: 0x73,
  Mute: 0x7f,
  VolumeUp: 0x80,
  VolumeDown: 0x81,
  /** Japanese Ro (\ and _). */
  International1: 0x87,
  /** Japanese Katakana/Hiragana. */
  International2: 0x88,
  /** Japanese Yen. */
  International3: 0x89,
  /** Japanese Henkan. */
  International4: 0x8a,
  /** Japanese Muhenkan. */
  International5: 0x8b,
  /** Korean Hangul/English toggle. */
  Lang1: 0x90,
  /** Korean Hanja conversion. */
  Lang2: 0x91,
  LeftControl: 0xe0,
  LeftShift: 0xe1,
  LeftAlt: 0xe2,
  /** The left Windows / Command / Super key. */
  LeftGui: 0xe3,
  RightControl: 0xe4,
  RightShift: 0xe5,
  RightAlt: 0xe6,
  RightGui: 0xe7,
} as const;
export type KeyName = keyof typeof KeyUsage;

/** Usage 0x01 fills every key slot when more keys are down than the report holds (HID Usage Tables §10). */
export const USAGE_ERROR_ROLL_OVER = 0x01;

/** The lowest usage that is a key: 0x00–0x03 are "no event" and error codes (HID Usage Tables §10). */
export const FIRST_KEY_USAGE = 0x04;
/**
 * The highest non-modifier usage the page defines (Keypad Hexadecimal); 0xDE–0xDF are reserved and
 * 0xE0–0xE7 are the modifiers, which have their own bits (HID 1.11 8.3).
 */
export const LAST_KEY_USAGE = 0xdd;
export const FIRST_MODIFIER_USAGE = 0xe0;
export const LAST_MODIFIER_USAGE = 0xe7;

export function isModifierUsage(usage: number): boolean {
  return usage >= FIRST_MODIFIER_USAGE && usage <= LAST_MODIFIER_USAGE;
}

/** A key usage the keyboard can report: a key (0x04–0xDD) or a modifier (0xE0–0xE7). */
export function isKeyUsage(usage: number): boolean {
  return (
    Number.isInteger(usage) &&
    ((usage >= FIRST_KEY_USAGE && usage <= LAST_KEY_USAGE) || isModifierUsage(usage))
  );
}

/**
 * The usage of a key given by name or number. Throws for the API caller's mistakes (an unknown name,
 * a number that is no key), never for anything a guest does.
 */
export function keyUsageOf(key: KeyName | number): number {
  if (typeof key === "number") {
    if (!isKeyUsage(key)) {
      throw new RangeError(
        `usage ${key} is not a key: use 0x04–0xDD (keys) or 0xE0–0xE7 (modifiers) from HID Usage Tables §10`,
      );
    }
    return key;
  }
  const usage: number | undefined = Object.hasOwn(KeyUsage, key) ? KeyUsage[key] : undefined;
  if (usage === undefined) throw new RangeError(`unknown key name ${JSON.stringify(key)}; see KeyUsage`);
  return usage;
}
