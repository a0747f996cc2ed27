import { type KeyName, KeyUsage } from "../src/index.ts";

/**
 * A DOM `KeyboardEvent.code` (a key position, like a HID usage: "KeyA" is the key labelled A on a US
 * keyboard whatever the layout) → its Keyboard page usage (HID Usage Tables §10). Positions, not
 * characters, so the guest applies its own layout as it would to a real keyboard.
 */
const NAMED: Readonly<Record<string, KeyName>> = {
  Enter: "Enter",
  Escape: "Escape",
  Backspace: "Backspace",
  Tab: "Tab",
  Space: "Space",
  Minus: "Minus",
  Equal: "Equal",
  BracketLeft: "LeftBracket",
  BracketRight: "RightBracket",
  Backslash: "Backslash",
  IntlBackslash: "NonUsBackslash",
  Semicolon: "Semicolon",
  Quote: "Quote",
  Backquote: "Grave",
  Comma: "Comma",
  Period: "Period",
  Slash: "Slash",
  CapsLock: "CapsLock",
  PrintScreen: "PrintScreen",
  ScrollLock: "ScrollLock",
  Pause: "Pause",
  Insert: "Insert",
  Home: "Home",
  PageUp: "PageUp",
  Delete: "Delete",
  End: "End",
  PageDown: "PageDown",
  ArrowRight: "Right",
  ArrowLeft: "Left",
  ArrowDown: "Down",
  ArrowUp: "Up",
  NumLock: "NumLock",
  NumpadDivide: "KeypadDivide",
  NumpadMultiply: "KeypadMultiply",
  NumpadSubtract: "KeypadMinus",
  NumpadAdd: "KeypadPlus",
  NumpadEnter: "KeypadEnter",
  NumpadDecimal: "KeypadPeriod",
  ContextMenu: "Application",
  ControlLeft: "LeftControl",
  ShiftLeft: "LeftShift",
  AltLeft: "LeftAlt",
  MetaLeft: "LeftGui",
  ControlRight: "RightControl",
  ShiftRight: "RightShift",
  AltRight: "RightAlt",
  MetaRight: "RightGui",
};

/** The usage of a DOM key code, or undefined for keys a boot keyboard does not have. */
export function usageOfCode(code: string): number | undefined {
  const letter = /^Key([A-Z])$/.exec(code);
  if (letter !== null) return KeyUsage[letter[1] as KeyName];
  const digit = /^Digit([0-9])$/.exec(code);
  if (digit !== null) return KeyUsage[digit[1] as KeyName];
  const numpad = /^Numpad([0-9])$/.exec(code);
  if (numpad !== null) return KeyUsage[`Keypad${numpad[1]}` as KeyName];
  const fn = /^F([1-9]|1[0-9]|2[0-4])$/.exec(code);
  if (fn !== null) return KeyUsage[`F${fn[1]}` as KeyName];
  const name = NAMED[code];
  return name === undefined ? undefined : KeyUsage[name];
}
