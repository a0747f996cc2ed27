import { usKeystrokes } from "../devices/hid/us-layout.ts";
import { AbsCode, BtnCode, EvType, linuxKeycode } from "./linux-input.ts";

/** One input event as Linux's evdev reports it, reduced to what a comparison needs. */
export interface InputEvent {
  readonly type: number;
  readonly code: number;
  readonly value: number;
}

/** The evdev key events Linux should report for `text` typed on the emulated US keyboard. */
export function expectedKeyEvents(text: string): InputEvent[] {
  const shift = linuxKeycode(0xe1)!;
  const events: InputEvent[] = [];
  for (const stroke of usKeystrokes(text)) {
    const code = linuxKeycode(stroke.usage);
    if (code === undefined)
      throw new RangeError(`no Linux keycode known for usage 0x${stroke.usage.toString(16)}`);
    if (stroke.shift) events.push({ type: EvType.KEY, code: shift, value: 1 });
    events.push({ type: EvType.KEY, code, value: 1 }, { type: EvType.KEY, code, value: 0 });
    if (stroke.shift) events.push({ type: EvType.KEY, code: shift, value: 0 });
  }
  return events;
}

/** A tablet action the host performs, in order. */
export type TabletAction = { kind: "move"; x: number; y: number } | { kind: "click" };

/**
 * The evdev events Linux should report for tablet actions starting from (0, 0), all given at once: an
 * axis event for each coordinate that changed (evdev drops unchanged values), and BTN_LEFT down/up for
 * a click. A move followed directly by another move never reaches the guest: the tablet replaces the
 * waiting position (UsbTablet.moveTo), so only the last of a run of moves is reported.
 */
export function expectedTabletEvents(actions: readonly TabletAction[]): InputEvent[] {
  const events: InputEvent[] = [];
  let x = 0;
  let y = 0;
  for (const [i, action] of actions.entries()) {
    if (action.kind === "move" && actions[i + 1]?.kind === "move") continue;
    if (action.kind === "click") {
      events.push(
        { type: EvType.KEY, code: BtnCode.LEFT, value: 1 },
        { type: EvType.KEY, code: BtnCode.LEFT, value: 0 },
      );
      continue;
    }
    if (action.x !== x) events.push({ type: EvType.ABS, code: AbsCode.X, value: action.x });
    if (action.y !== y) events.push({ type: EvType.ABS, code: AbsCode.Y, value: action.y });
    x = action.x;
    y = action.y;
  }
  return events;
}

/** Keeps the events a comparison is about: key, relative and absolute; drops SYN, MSC and autorepeat. */
export function meaningfulEvents(events: readonly InputEvent[]): InputEvent[] {
  return events.filter(
    (e) => (e.type === EvType.KEY && e.value !== 2) || e.type === EvType.REL || e.type === EvType.ABS,
  );
}

export interface InputComparison {
  sent: number;
  received: number;
  /** Sent events that never arrived (or arrived out of order, after a later one). */
  lost: number;
  /** Events that arrived but were never sent. */
  unexpected: number;
  /** Every sent event arrived, in the order sent, and nothing else did. */
  exact: boolean;
  /** The first position where the streams differ, for a report. */
  firstDifference: { index: number; expected?: InputEvent; received?: InputEvent } | null;
}

const same = (a: InputEvent, b: InputEvent) => a.type === b.type && a.code === b.code && a.value === b.value;

/**
 * Compares what was sent with what the guest reported. Matching is in order: an event that arrives
 * before one sent earlier than it counts the skipped one as lost, so reordering shows as loss.
 */
export function compareInput(
  expected: readonly InputEvent[],
  receivedAll: readonly InputEvent[],
): InputComparison {
  const received = meaningfulEvents(receivedAll);
  let r = 0;
  let matched = 0;
  for (const e of expected) {
    let k = r;
    while (k < received.length && !same(received[k]!, e)) k++;
    if (k < received.length) {
      matched++;
      r = k + 1;
    }
  }
  let firstDifference: InputComparison["firstDifference"] = null;
  const n = Math.max(expected.length, received.length);
  for (let i = 0; i < n; i++) {
    const e = expected[i];
    const g = received[i];
    if (e === undefined || g === undefined || !same(e, g)) {
      firstDifference = { index: i, ...(e && { expected: e }), ...(g && { received: g }) };
      break;
    }
  }
  return {
    sent: expected.length,
    received: received.length,
    lost: expected.length - matched,
    unexpected: received.length - matched,
    exact: firstDifference === null,
    firstDifference,
  };
}
