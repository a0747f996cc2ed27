import { type JsonValue, openState, type SavedState, SnapshotError } from "../../machine/snapshot.ts";

/**
 * What the adapter adds to a v86 snapshot: one JSON string in the CPU state array (see
 * `V86_UHCI_STATE_ENTRY` in v86-shim.ts), holding the state of every UHCI controller attached to the
 * emulator, by PCI devfn:
 *
 * ```jsonc
 * { "kind": "uhci-v86", "version": 1, "controllers": { "10": { "kind": "uhci-controller", … } } }
 * ```
 *
 * v86 saves the rest: guest RAM, the PCI configuration space (and re-maps the BAR on restore), the
 * interrupt controllers. A string rather than a nested object because v86's state writer only takes
 * numbers, strings, typed arrays and objects with a `get_state` method.
 */
export const UHCI_V86_STATE = "uhci-v86";
export const UHCI_V86_STATE_VERSION = 1;

/** The entry with `state` added for the controller at `devfn` (keeping other controllers' states). */
export function withControllerState(entry: unknown, devfn: number, state: SavedState): string {
  const controllers: { [key: string]: JsonValue } = {};
  if (typeof entry === "string") {
    // Another controller on the same emulator wrote first.
    Object.assign(controllers, readControllers(entry));
  }
  controllers[String(devfn)] = state;
  return JSON.stringify({ kind: UHCI_V86_STATE, version: UHCI_V86_STATE_VERSION, controllers });
}

/**
 * The saved state of the controller at `devfn`, or null when the snapshot has none (it was made
 * without USB, or without this controller). Throws {@link SnapshotError} for an entry of another kind
 * or version.
 */
export function controllerStateIn(entry: unknown, devfn: number): unknown {
  if (entry === undefined || entry === null) return null;
  if (typeof entry !== "string") {
    throw new SnapshotError(`cannot restore ${UHCI_V86_STATE}: the snapshot's entry is not a JSON string`);
  }
  return readControllers(entry)[String(devfn)] ?? null;
}

function readControllers(text: string): { [key: string]: JsonValue } {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    throw new SnapshotError(`cannot restore ${UHCI_V86_STATE}: the snapshot's entry is not valid JSON`);
  }
  const r = openState(parsed, UHCI_V86_STATE, UHCI_V86_STATE_VERSION);
  const controllers = r.raw("controllers");
  if (typeof controllers !== "object" || controllers === null || Array.isArray(controllers)) {
    throw r.error("controllers", "must be an object of controller states by devfn");
  }
  return controllers as { [key: string]: JsonValue };
}
