import { RequestType } from "./constants.ts";

/** The data of a SETUP transaction is always 8 bytes (USB 2.0 9.3). */
export const SETUP_PACKET_LENGTH = 8;

/** Request types by name, from bmRequestType bits 6:5 (USB 2.0 table 9-2). */
export const RequestKind = {
  Standard: "standard",
  Class: "class",
  Vendor: "vendor",
  Reserved: "reserved",
} as const;
export type RequestKind = (typeof RequestKind)[keyof typeof RequestKind];

/** Recipients by name, from bmRequestType bits 4:0 (USB 2.0 table 9-2). */
export const Recipient = {
  Device: "device",
  Interface: "interface",
  Endpoint: "endpoint",
  Other: "other",
  Reserved: "reserved",
} as const;
export type Recipient = (typeof Recipient)[keyof typeof Recipient];

const KINDS: readonly RequestKind[] = [
  RequestKind.Standard,
  RequestKind.Class,
  RequestKind.Vendor,
  RequestKind.Reserved,
];
const RECIPIENTS: readonly Recipient[] = [
  Recipient.Device,
  Recipient.Interface,
  Recipient.Endpoint,
  Recipient.Other,
];

/**
 * The 8-byte SETUP data as a typed, reusable object (USB 2.0 table 9-2). Parsing writes into the same
 * object each time, so a control pipe holds one and allocates nothing per request.
 */
export class SetupPacket {
  bmRequestType = 0;
  bRequest = 0;
  wValue = 0;
  wIndex = 0;
  /** Bytes in the data stage: the most the device may send (IN) or the host will send (OUT). */
  wLength = 0;

  /** Builds a packet from fields (for hosts and tests). */
  static of(bmRequestType: number, bRequest: number, wValue = 0, wIndex = 0, wLength = 0): SetupPacket {
    const setup = new SetupPacket();
    setup.bmRequestType = bmRequestType & 0xff;
    setup.bRequest = bRequest & 0xff;
    setup.wValue = wValue & 0xffff;
    setup.wIndex = wIndex & 0xffff;
    setup.wLength = wLength & 0xffff;
    return setup;
  }

  /** Reads 8 bytes at `offset` into this object; false (and unchanged) if fewer than 8 are there. */
  parse(bytes: Uint8Array, offset = 0): boolean {
    if (offset < 0 || offset + SETUP_PACKET_LENGTH > bytes.length) return false;
    this.bmRequestType = bytes[offset]!;
    this.bRequest = bytes[offset + 1]!;
    this.wValue = bytes[offset + 2]! | (bytes[offset + 3]! << 8);
    this.wIndex = bytes[offset + 4]! | (bytes[offset + 5]! << 8);
    this.wLength = bytes[offset + 6]! | (bytes[offset + 7]! << 8);
    return true;
  }

  /** Writes the 8 bytes at `offset`; false if they do not fit. */
  encode(into: Uint8Array, offset = 0): boolean {
    if (offset < 0 || offset + SETUP_PACKET_LENGTH > into.length) return false;
    into[offset] = this.bmRequestType;
    into[offset + 1] = this.bRequest;
    into[offset + 2] = this.wValue & 0xff;
    into[offset + 3] = this.wValue >> 8;
    into[offset + 4] = this.wIndex & 0xff;
    into[offset + 5] = this.wIndex >> 8;
    into[offset + 6] = this.wLength & 0xff;
    into[offset + 7] = this.wLength >> 8;
    return true;
  }

  /** Copies another packet's fields into this one. */
  copyFrom(other: SetupPacket): void {
    this.bmRequestType = other.bmRequestType;
    this.bRequest = other.bRequest;
    this.wValue = other.wValue;
    this.wIndex = other.wIndex;
    this.wLength = other.wLength;
  }

  /** Data stage, if any, flows device-to-host (bmRequestType bit 7). */
  get isDeviceToHost(): boolean {
    return (this.bmRequestType & RequestType.DirectionIn) !== 0;
  }

  get kind(): RequestKind {
    return KINDS[(this.bmRequestType & RequestType.TypeMask) >> 5]!;
  }

  get recipient(): Recipient {
    return RECIPIENTS[this.bmRequestType & RequestType.RecipientMask] ?? Recipient.Reserved;
  }

  /** GET_DESCRIPTOR: the descriptor type in wValue's high byte (USB 2.0 9.4.3). */
  get descriptorType(): number {
    return this.wValue >> 8;
  }

  /** GET_DESCRIPTOR: the descriptor index in wValue's low byte (USB 2.0 9.4.3). */
  get descriptorIndex(): number {
    return this.wValue & 0xff;
  }

  toString(): string {
    const hex = (v: number, digits: number): string => v.toString(16).padStart(digits, "0");
    return `setup ${hex(this.bmRequestType, 2)} ${hex(this.bRequest, 2)} ${hex(this.wValue, 4)} ${hex(this.wIndex, 4)} ${hex(this.wLength, 4)}`;
  }
}
