/**
 * The USB/IP wire format, version 1.1.1 (0x0111): Linux Documentation/usb/usbip_protocol.rst.
 * Every field is big-endian. Encoders write into buffers the caller owns; decoders never throw — they
 * answer "need more bytes", a value, or an error string — and trust no length a server declares beyond
 * the request it answers.
 */

/** The protocol version both sides send in operation headers (0x0111). */
export const USBIP_VERSION = 0x0111;
/** The port usbipd listens on by default. */
export const USBIP_DEFAULT_PORT = 3240;

/** Operation codes (usbip_protocol.rst, "OP_REQ_DEVLIST" … "OP_REP_IMPORT"). */
export const OpCode = {
  ReqDevlist: 0x8005,
  RepDevlist: 0x0005,
  ReqImport: 0x8003,
  RepImport: 0x0003,
} as const;

/** Commands of the URB phase (usbip_protocol.rst, "USBIP_CMD_SUBMIT" … "USBIP_RET_UNLINK"). */
export const UsbipCommand = {
  CmdSubmit: 1,
  CmdUnlink: 2,
  RetSubmit: 3,
  RetUnlink: 4,
} as const;

/** transfer_flags bits as Linux's URB flags (include/linux/usb.h), which the protocol carries. */
export const TransferFlag = {
  ShortNotOk: 0x0001,
  IsoAsap: 0x0002,
  ZeroPacket: 0x0040,
  DirIn: 0x0200,
} as const;

/** Linux errno values a server reports in `status` (negated). */
export const Errno = {
  ENOENT: 2,
  EXDEV: 18,
  ENODEV: 19,
  EPIPE: 32,
  ETIME: 62,
  EPROTO: 71,
  EOVERFLOW: 75,
  EILSEQ: 84,
  ECONNRESET: 104,
  ESHUTDOWN: 108,
  EREMOTEIO: 121,
} as const;

/** Operation header: version u16, code u16, status u32. */
export const OP_HEADER_LENGTH = 8;
/** The 32-byte busid field of OP_REQ_IMPORT and of a device record. */
export const BUSID_LENGTH = 32;
/** A device record of OP_REP_DEVLIST / OP_REP_IMPORT: path[256], busid[32], 6 × u32/u16 fields, 6 bytes. */
export const DEVICE_RECORD_LENGTH = 312;
/** An interface record of OP_REP_DEVLIST: class, subclass, protocol, padding. */
export const INTERFACE_RECORD_LENGTH = 4;
/** Every URB-phase message starts with a 48-byte header. */
export const URB_HEADER_LENGTH = 48;
/** An iso packet descriptor: offset, length, actual_length, status (u32 each). */
export const ISO_DESCRIPTOR_LENGTH = 16;
/** The most iso packets in one URB (Linux USBIP_MAX_ISO_PACKETS). More is an absurd reply. */
export const MAX_ISO_PACKETS = 1024;
/** The most devices a device list may declare; beyond it the reply is refused as absurd. */
export const MAX_LISTED_DEVICES = 4096;

/** USB speeds as Linux's `enum usb_device_speed` (the device record's `speed`). */
export const UsbipSpeed = {
  Unknown: 0,
  Low: 1,
  Full: 2,
  High: 3,
  Wireless: 4,
  Super: 5,
  SuperPlus: 6,
} as const;

const SPEED_NAMES = ["unknown", "low", "full", "high", "wireless", "super", "super-plus"];

/** A speed code as a word (`full`, `high`…); codes beyond the table say so. */
export function speedName(speed: number): string {
  return SPEED_NAMES[speed] ?? `speed ${speed}`;
}

/** One exported device, as OP_REP_DEVLIST and OP_REP_IMPORT describe it. */
export interface UsbipDeviceInfo {
  readonly path: string;
  readonly busid: string;
  readonly busnum: number;
  readonly devnum: number;
  readonly speed: number;
  readonly idVendor: number;
  readonly idProduct: number;
  readonly bcdDevice: number;
  readonly deviceClass: number;
  readonly deviceSubClass: number;
  readonly deviceProtocol: number;
  readonly configurationValue: number;
  readonly numConfigurations: number;
  readonly numInterfaces: number;
  /** OP_REP_DEVLIST only: each interface's class, subclass and protocol. */
  readonly interfaces: readonly {
    readonly cls: number;
    readonly subClass: number;
    readonly protocol: number;
  }[];
}

/** `devid` of the URB headers: busnum << 16 | devnum (usbip_protocol.rst, USBIP_CMD_SUBMIT). */
export function devidOf(info: UsbipDeviceInfo): number {
  return ((info.busnum << 16) | (info.devnum & 0xffff)) >>> 0;
}

/** The result of a decoder: more bytes needed, a value and the bytes it took, or why the input is bad. */
export type Decoded<T> =
  | { readonly kind: "more" }
  | { readonly kind: "ok"; readonly value: T; readonly consumed: number }
  | { readonly kind: "error"; readonly error: string };

const MORE = { kind: "more" } as const;

function fail(error: string): { readonly kind: "error"; readonly error: string } {
  return { kind: "error", error };
}

function view(bytes: Uint8Array): DataView {
  return new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

// ---- operations ---------------------------------------------------------------------------------

/** OP_REQ_DEVLIST: the 8-byte request for the exported devices. */
export function encodeDevlistRequest(): Uint8Array {
  const out = new Uint8Array(OP_HEADER_LENGTH);
  const v = view(out);
  v.setUint16(0, USBIP_VERSION);
  v.setUint16(2, OpCode.ReqDevlist);
  return out;
}

/**
 * OP_REQ_IMPORT for `busid` (printable ASCII, at most 31 bytes so that the field stays NUL-terminated).
 * Returns an error string for a busid that cannot be sent.
 */
export function encodeImportRequest(busid: string): Uint8Array | string {
  if (busid.length === 0 || busid.length >= BUSID_LENGTH || !/^[\x21-\x7e]+$/.test(busid)) {
    return `busid '${busid}' must be 1–31 printable ASCII characters`;
  }
  const out = new Uint8Array(OP_HEADER_LENGTH + BUSID_LENGTH);
  const v = view(out);
  v.setUint16(0, USBIP_VERSION);
  v.setUint16(2, OpCode.ReqImport);
  for (let i = 0; i < busid.length; i++) out[OP_HEADER_LENGTH + i] = busid.charCodeAt(i);
  return out;
}

/** A NUL-terminated string field; bytes outside printable ASCII are shown as '?'. */
function cString(bytes: Uint8Array, at: number, length: number): string {
  let s = "";
  for (let i = 0; i < length; i++) {
    const c = bytes[at + i]!;
    if (c === 0) break;
    s += c >= 0x20 && c < 0x7f ? String.fromCharCode(c) : "?";
  }
  return s;
}

function checkOpHeader(bytes: Uint8Array, at: number, code: number, what: string): string | null {
  const v = view(bytes);
  const version = v.getUint16(at);
  const got = v.getUint16(at + 2);
  if (got !== code) {
    return `${what}: expected reply code 0x${code.toString(16).padStart(4, "0")}, got 0x${got.toString(16).padStart(4, "0")}`;
  }
  if (version !== USBIP_VERSION) {
    return `${what}: server speaks USB/IP version 0x${version.toString(16)}, not 0x0111`;
  }
  return null;
}

function readDevice(bytes: Uint8Array, at: number): Omit<UsbipDeviceInfo, "interfaces"> {
  const v = view(bytes);
  const f = at + 256 + BUSID_LENGTH;
  return {
    path: cString(bytes, at, 256),
    busid: cString(bytes, at + 256, BUSID_LENGTH),
    busnum: v.getUint32(f),
    devnum: v.getUint32(f + 4),
    speed: v.getUint32(f + 8),
    idVendor: v.getUint16(f + 12),
    idProduct: v.getUint16(f + 14),
    bcdDevice: v.getUint16(f + 16),
    deviceClass: bytes[f + 18]!,
    deviceSubClass: bytes[f + 19]!,
    deviceProtocol: bytes[f + 20]!,
    configurationValue: bytes[f + 21]!,
    numConfigurations: bytes[f + 22]!,
    numInterfaces: bytes[f + 23]!,
  };
}

/** OP_REP_DEVLIST: header, ndev (u32), then each device record followed by its interface records. */
export function decodeDevlistReply(bytes: Uint8Array): Decoded<UsbipDeviceInfo[]> {
  if (bytes.length < OP_HEADER_LENGTH + 4) return MORE;
  const header = checkOpHeader(bytes, 0, OpCode.RepDevlist, "device list");
  if (header !== null) return fail(header);
  const v = view(bytes);
  const status = v.getUint32(4);
  if (status !== 0) return fail(`device list: server answered status ${status}`);
  const count = v.getUint32(OP_HEADER_LENGTH);
  if (count > MAX_LISTED_DEVICES)
    return fail(`device list: ${count} devices declared (more than ${MAX_LISTED_DEVICES})`);
  const devices: UsbipDeviceInfo[] = [];
  let at = OP_HEADER_LENGTH + 4;
  for (let i = 0; i < count; i++) {
    if (bytes.length < at + DEVICE_RECORD_LENGTH) return MORE;
    const device = readDevice(bytes, at);
    at += DEVICE_RECORD_LENGTH;
    const end = at + device.numInterfaces * INTERFACE_RECORD_LENGTH;
    if (bytes.length < end) return MORE;
    const interfaces = [];
    for (; at < end; at += INTERFACE_RECORD_LENGTH) {
      interfaces.push({ cls: bytes[at]!, subClass: bytes[at + 1]!, protocol: bytes[at + 2]! });
    }
    devices.push({ ...device, interfaces });
  }
  return { kind: "ok", value: devices, consumed: at };
}

/** Import statuses (usbip_common.h's op_status_*), for a clear refusal. */
const IMPORT_STATUS: Record<number, string> = {
  1: "the server refused the request (NA)",
  2: "the device is busy (exported to another client)",
  3: "the device is in an error state",
  4: "no device with that busid",
  5: "unexpected response",
};

/** OP_REP_IMPORT: header, then (status 0 only) the device record without interfaces. */
export function decodeImportReply(bytes: Uint8Array, busid: string): Decoded<UsbipDeviceInfo> {
  if (bytes.length < OP_HEADER_LENGTH) return MORE;
  const header = checkOpHeader(bytes, 0, OpCode.RepImport, "import");
  if (header !== null) return fail(header);
  const status = view(bytes).getUint32(4);
  if (status !== 0) {
    return fail(`import of ${busid}: ${IMPORT_STATUS[status] ?? `server answered status ${status}`}`);
  }
  if (bytes.length < OP_HEADER_LENGTH + DEVICE_RECORD_LENGTH) return MORE;
  const device = readDevice(bytes, OP_HEADER_LENGTH);
  if (device.busid !== busid) {
    return fail(`import of ${busid}: the server answered for busid '${device.busid}'`);
  }
  return {
    kind: "ok",
    value: { ...device, interfaces: [] },
    consumed: OP_HEADER_LENGTH + DEVICE_RECORD_LENGTH,
  };
}

// ---- URB phase ----------------------------------------------------------------------------------

/** What USBIP_CMD_SUBMIT carries besides its data and iso descriptors. */
export interface SubmitFields {
  seqnum: number;
  devid: number;
  dirIn: boolean;
  endpoint: number;
  transferFlags: number;
  transferBufferLength: number;
  startFrame: number;
  /** Iso packets; 0 for other transfers (as Linux's vhci-hcd sends). */
  numberOfPackets: number;
  interval: number;
}

/**
 * Writes a USBIP_CMD_SUBMIT header at `at` of `out` (48 bytes); `setup` (8 bytes at `setupAt`) or
 * zeros. The caller appends the OUT data and the iso descriptors.
 */
export function writeSubmitHeader(
  out: DataView,
  at: number,
  f: SubmitFields,
  setup: Uint8Array | null,
  setupAt = 0,
): void {
  out.setUint32(at, UsbipCommand.CmdSubmit);
  out.setUint32(at + 4, f.seqnum >>> 0);
  out.setUint32(at + 8, f.devid >>> 0);
  out.setUint32(at + 12, f.dirIn ? 1 : 0);
  out.setUint32(at + 16, f.endpoint & 0x0f);
  out.setUint32(at + 20, f.transferFlags >>> 0);
  out.setInt32(at + 24, f.transferBufferLength | 0);
  out.setInt32(at + 28, f.startFrame | 0);
  out.setInt32(at + 32, f.numberOfPackets | 0);
  out.setInt32(at + 36, f.interval | 0);
  for (let i = 0; i < 8; i++) out.setUint8(at + 40 + i, setup === null ? 0 : (setup[setupAt + i] ?? 0));
}

/** Writes an iso packet descriptor (offset, length; actual_length and status 0) at `at`. */
export function writeIsoDescriptor(out: DataView, at: number, offset: number, length: number): void {
  out.setUint32(at, offset >>> 0);
  out.setUint32(at + 4, length >>> 0);
  out.setUint32(at + 8, 0);
  out.setUint32(at + 12, 0);
}

/** Writes a USBIP_CMD_UNLINK (48 bytes) asking the server to unlink the URB `unlinkSeqnum`. */
export function writeUnlink(
  out: DataView,
  at: number,
  seqnum: number,
  devid: number,
  dirIn: boolean,
  endpoint: number,
  unlinkSeqnum: number,
): void {
  out.setUint32(at, UsbipCommand.CmdUnlink);
  out.setUint32(at + 4, seqnum >>> 0);
  out.setUint32(at + 8, devid >>> 0);
  out.setUint32(at + 12, dirIn ? 1 : 0);
  out.setUint32(at + 16, endpoint & 0x0f);
  out.setUint32(at + 20, unlinkSeqnum >>> 0);
  for (let i = 24; i < URB_HEADER_LENGTH; i++) out.setUint8(at + i, 0);
}
