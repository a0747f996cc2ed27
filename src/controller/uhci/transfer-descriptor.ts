/** UHCI 3.2: the 16-byte transfer descriptor. DW0 link, DW1 control/status, DW2 token, DW3 buffer. */
export const TD_SIZE = 16;
export const TD_CTRL_OFFSET = 4;

/** UHCI 3.2.2: TD control and status (DW1). */
export const TdCtrl = {
  /** Short Packet Detect: a short IN stops the queue (the QH element is not advanced). */
  SPD: 1 << 29,
  /** Error counter C_ERR, bits 28:27. */
  CERR_SHIFT: 27,
  CERR_MASK: 3 << 27,
  /** Low Speed device. */
  LS: 1 << 26,
  /** Isochronous Select. */
  IOS: 1 << 25,
  /** Interrupt On Complete. */
  IOC: 1 << 24,
  /** Active: the HC executes this TD. */
  ACTIVE: 1 << 23,
  /** Stalled: the device stalled, or babble / C_ERR exhaustion made the error final. */
  STALLED: 1 << 22,
  /** Data Buffer Error: the HC could not move the data in time (overrun/underrun). */
  DATA_BUFFER_ERROR: 1 << 21,
  /** Babble Detected: the device sent more than MaxLen. */
  BABBLE: 1 << 20,
  /** NAK Received. */
  NAK: 1 << 19,
  /** CRC/Time Out error. */
  CRC_TIMEOUT: 1 << 18,
  /** Bitstuff error. */
  BITSTUFF: 1 << 17,
  /** Actual length, n−1 encoded (0x7FF = nothing moved), bits 10:0. */
  ACTLEN_MASK: 0x7ff,
  /** All status bits the HC rewrites on completion (22:17). */
  STATUS_MASK: 0x7e << 16,
} as const;

/** UHCI 3.2.3: TD token (DW2). */
export const TdToken = {
  MAXLEN_SHIFT: 21,
  /** MaxLen 0x7FF encodes a zero-length packet. */
  MAXLEN_NULL: 0x7ff,
  /** MaxLen 0x500..0x7FE are illegal (longer than 1280 bytes): a consistency error. */
  MAXLEN_FIRST_ILLEGAL: 0x500,
  DATA_TOGGLE: 1 << 19,
  ENDPOINT_SHIFT: 15,
  ADDRESS_SHIFT: 8,
  PID_MASK: 0xff,
} as const;

/** Encodes a byte count as the n−1 ActLen/MaxLen field (0 → 0x7FF). */
export function encodeLength(bytes: number): number {
  return (bytes - 1) & 0x7ff;
}

/** Decodes an n−1 length field (0x7FF → 0). */
export function decodeLength(field: number): number {
  return (field + 1) & 0x7ff;
}

export function tokenMaxLenField(token: number): number {
  return (token >>> TdToken.MAXLEN_SHIFT) & 0x7ff;
}
export function tokenEndpoint(token: number): number {
  return (token >>> TdToken.ENDPOINT_SHIFT) & 0xf;
}
export function tokenAddress(token: number): number {
  return (token >>> TdToken.ADDRESS_SHIFT) & 0x7f;
}
export function tokenPid(token: number): number {
  return token & TdToken.PID_MASK;
}
export function ctrlErrorCount(ctrl: number): number {
  return (ctrl & TdCtrl.CERR_MASK) >>> TdCtrl.CERR_SHIFT;
}
