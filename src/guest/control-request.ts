import { RequestType } from "../usb/constants.ts";

/**
 * A control request as the caller writes it (USB 2.0 9.3). For IN requests `length` is wLength; for
 * OUT requests `data` is the data stage and wLength is its length.
 */
export interface ControlSetup {
  /** bmRequestType: direction (bit 7), type (6:5), recipient (4:0). */
  readonly requestType: number;
  readonly request: number;
  readonly value: number;
  readonly index: number;
  /** IN: bytes asked for (wLength). OUT: ignored when `data` is given. */
  readonly length?: number;
  /** OUT: the data stage. */
  readonly data?: Uint8Array;
}

/** The 8-byte SETUP packet for a request (USB 2.0 table 9-2). Throws on fields that do not fit. */
export function encodeSetupPacket(setup: ControlSetup): Uint8Array {
  const isIn = (setup.requestType & RequestType.DirectionIn) !== 0;
  if (isIn && setup.data !== undefined) throw new TypeError("an IN request cannot carry data");
  const length = isIn ? (setup.length ?? 0) : (setup.data?.length ?? 0);
  if (!isIn && setup.data === undefined && (setup.length ?? 0) !== 0) {
    throw new TypeError("an OUT request with wLength > 0 needs its data");
  }
  const fields: [string, number, number][] = [
    ["bmRequestType", setup.requestType, 0xff],
    ["bRequest", setup.request, 0xff],
    ["wValue", setup.value, 0xffff],
    ["wIndex", setup.index, 0xffff],
    ["wLength", length, 0xffff],
  ];
  for (const [name, value, max] of fields) {
    if (!Number.isInteger(value) || value < 0 || value > max)
      throw new RangeError(`${name} ${value} out of range`);
  }
  return Uint8Array.of(
    setup.requestType,
    setup.request,
    setup.value & 0xff,
    setup.value >> 8,
    setup.index & 0xff,
    setup.index >> 8,
    length & 0xff,
    length >> 8,
  );
}
