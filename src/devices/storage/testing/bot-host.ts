import type { GuestDevice } from "../../../guest/guest-device.ts";
import { bootGuest } from "../../../guest/testing/boot.ts";
import { type TransferResult, TransferStatus } from "../../../guest/transfer-result.ts";
import {
  Bot,
  type MassStorageOptions,
  STORAGE_BULK_IN,
  STORAGE_BULK_OUT,
  UsbMassStorage,
} from "../mass-storage.ts";

/**
 * A Bulk-Only Transport host on the software guest, shaped like Linux's usb-storage transport
 * (drivers/usb/storage/transport.c): CBW on bulk OUT, the data phase, the CSW on bulk IN; a STALL in
 * the data phase or on the first CSW read is cleared (CLEAR_FEATURE HALT) and the CSW read again; a
 * CBW or second CSW that stalls, a bad CSW, or a phase error leads to Reset Recovery (BOT 5.3.4: the
 * class reset, then CLEAR_FEATURE HALT on bulk IN and bulk OUT).
 */

export interface Csw {
  readonly signature: number;
  readonly tag: number;
  readonly residue: number;
  readonly status: number;
}

export interface BotResult {
  /** The CSW received, or null when the exchange ended in Reset Recovery without one. */
  readonly csw: Csw | null;
  /** Data received (IN) — all of it, padding included. */
  readonly data: Uint8Array;
  /** What happened on the bus, in order: "cbw-stall", "data-stall", "csw-stall", "reset-recovery"… */
  readonly events: readonly string[];
}

export interface CommandOptions {
  /** IN data phase of this many bytes (dCBWDataTransferLength). */
  readonly dataIn?: number;
  /** OUT data phase with these bytes. */
  readonly dataOut?: Uint8Array;
  /** dCBWDataTransferLength when it should differ from the data moved (0 with dataIn: "Hn"). */
  readonly tag?: number;
  readonly lun?: number;
  /** bmCBWFlags to send instead of the right one. */
  readonly flags?: number;
  /** bCBWCBLength; the CDB's length by default. */
  readonly cbLength?: number;
  /** Frames each transfer may take. */
  readonly timeoutMs?: number;
}

export function cbw(
  cdb: ArrayLike<number>,
  length: number,
  flags: number,
  tag: number,
  lun = 0,
  cbLength = cdb.length,
): Uint8Array {
  const b = new Uint8Array(Bot.CBW_LENGTH);
  const v = new DataView(b.buffer);
  v.setUint32(0, Bot.CBW_SIGNATURE, true);
  v.setUint32(4, tag >>> 0, true);
  v.setUint32(8, length >>> 0, true);
  b[12] = flags;
  b[13] = lun;
  b[14] = cbLength;
  b.set(Array.from(cdb).slice(0, 16), 15);
  return b;
}

export function parseCsw(data: Uint8Array): Csw | null {
  if (data.length !== Bot.CSW_LENGTH) return null;
  const v = new DataView(data.buffer, data.byteOffset, data.byteLength);
  return {
    signature: v.getUint32(0, true),
    tag: v.getUint32(4, true),
    residue: v.getUint32(8, true),
    status: data[12]!,
  };
}

export class BotHost {
  private nextTag = 1;

  constructor(
    readonly device: GuestDevice,
    readonly bulkIn = STORAGE_BULK_IN,
    readonly bulkOut = STORAGE_BULK_OUT,
  ) {}

  /** One SCSI command through BOT, with Linux's error recovery. */
  command(cdb: ArrayLike<number>, options: CommandOptions = {}): BotResult {
    const events: string[] = [];
    const timeoutMs = options.timeoutMs ?? 2000;
    const tag = options.tag ?? this.nextTag++;
    const dataOut = options.dataOut;
    const length = dataOut?.length ?? options.dataIn ?? 0;
    const flags = options.flags ?? (options.dataIn !== undefined && options.dataIn > 0 ? 0x80 : 0);
    const sent = this.device.bulkOut(
      this.bulkOut,
      cbw(cdb, length, flags, tag, options.lun ?? 0, options.cbLength),
      {
        timeoutMs,
      },
    );
    if (sent.status !== TransferStatus.Ok) {
      events.push(`cbw-${sent.status}`);
      this.resetRecovery(events);
      return { csw: null, data: new Uint8Array(0), events };
    }
    let data: Uint8Array = new Uint8Array(0);
    if (length > 0) {
      const result: TransferResult =
        dataOut !== undefined
          ? this.device.bulkOut(this.bulkOut, dataOut, { timeoutMs })
          : this.device.bulkIn(this.bulkIn, length, { timeoutMs });
      data = result.data;
      if (result.status === TransferStatus.Stall) {
        events.push("data-stall");
        this.device.clearHalt(dataOut !== undefined ? this.bulkOut : this.bulkIn);
      } else if (result.status !== TransferStatus.Ok) {
        events.push(`data-${result.status}`);
        this.resetRecovery(events);
        return { csw: null, data, events };
      }
    }
    let csw = this.readCsw(events, timeoutMs);
    if (csw === "stall") {
      this.device.clearHalt(this.bulkIn);
      csw = this.readCsw(events, timeoutMs);
    }
    if (csw === "stall" || csw === null) {
      this.resetRecovery(events);
      return { csw: null, data, events };
    }
    if (csw.signature !== Bot.CSW_SIGNATURE || csw.tag !== tag) events.push("bad-csw");
    if (csw.status === 2) this.resetRecovery(events);
    return { csw, data, events };
  }

  /** Bulk-Only Mass Storage Reset, then CLEAR_FEATURE(HALT) on both bulk endpoints (BOT 5.3.4). */
  resetRecovery(events: string[] = []): void {
    events.push("reset-recovery");
    this.classReset();
    this.device.clearHalt(this.bulkIn);
    this.device.clearHalt(this.bulkOut);
  }

  classReset(): TransferResult {
    return this.device.control({ requestType: 0x21, request: Bot.RESET_REQUEST, value: 0, index: 0 });
  }

  getMaxLun(): TransferResult {
    return this.device.control({
      requestType: 0xa1,
      request: Bot.GET_MAX_LUN_REQUEST,
      value: 0,
      index: 0,
      length: 1,
    });
  }

  private readCsw(events: string[], timeoutMs: number): Csw | "stall" | null {
    const result = this.device.bulkIn(this.bulkIn, Bot.CSW_LENGTH, { timeoutMs });
    if (result.status === TransferStatus.Stall) {
      events.push("csw-stall");
      return "stall";
    }
    if (result.status !== TransferStatus.Ok) {
      events.push(`csw-${result.status}`);
      return null;
    }
    const csw = parseCsw(result.data);
    if (csw === null) events.push(`csw-length-${result.data.length}`);
    return csw;
  }
}

/** A stick on root port 0 of a controller under the software guest, enumerated and configured. */
export function bootStick(options: MassStorageOptions = {}, timeoutMs = 2000) {
  const stick = new UsbMassStorage(options);
  const rig = bootGuest([stick], timeoutMs);
  const result = rig.driver.enumerate(0);
  if (!result.ok) throw new Error(`enumeration failed: ${result.stage}: ${result.error}`);
  return { ...rig, stick, guest: result.device, host: new BotHost(result.device) };
}

/** CDBs as hosts build them (SPC-4, SBC-3). */
export const Cdb = {
  testUnitReady: () => [0x00, 0, 0, 0, 0, 0],
  requestSense: (allocation = 18, desc = false) => [0x03, desc ? 1 : 0, 0, 0, allocation, 0],
  inquiry: (allocation = 36, evpd = false, page = 0) => [
    0x12,
    evpd ? 1 : 0,
    page,
    (allocation >> 8) & 0xff,
    allocation & 0xff,
    0,
  ],
  modeSense6: (page: number, allocation: number, pc = 0, dbd = false) => [
    0x1a,
    dbd ? 8 : 0,
    (pc << 6) | page,
    0,
    allocation,
    0,
  ],
  modeSense10: (page: number, allocation: number, pc = 0) => [
    0x5a,
    0,
    (pc << 6) | page,
    0,
    0,
    0,
    0,
    (allocation >> 8) & 0xff,
    allocation & 0xff,
    0,
  ],
  preventAllow: (prevent: boolean) => [0x1e, 0, 0, 0, prevent ? 1 : 0, 0],
  startStop: (loadEject: boolean, start: boolean) => [
    0x1b,
    0,
    0,
    0,
    (loadEject ? 2 : 0) | (start ? 1 : 0),
    0,
  ],
  readFormatCapacities: (allocation = 12) => [
    0x23,
    0,
    0,
    0,
    0,
    0,
    0,
    (allocation >> 8) & 0xff,
    allocation & 0xff,
    0,
  ],
  readCapacity10: () => [0x25, 0, 0, 0, 0, 0, 0, 0, 0, 0],
  readCapacity16: (allocation = 32) => [0x9e, 0x10, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, allocation, 0, 0],
  reportLuns: (allocation = 16) => [0xa0, 0, 0, 0, 0, 0, 0, 0, 0, allocation, 0, 0],
  read6: (lba: number, blocks: number) => [
    0x08,
    (lba >> 16) & 0x1f,
    (lba >> 8) & 0xff,
    lba & 0xff,
    blocks & 0xff,
    0,
  ],
  write6: (lba: number, blocks: number) => [
    0x0a,
    (lba >> 16) & 0x1f,
    (lba >> 8) & 0xff,
    lba & 0xff,
    blocks & 0xff,
    0,
  ],
  read10: (lba: number, blocks: number) => rw10(0x28, lba, blocks),
  write10: (lba: number, blocks: number) => rw10(0x2a, lba, blocks),
  verify10: (lba: number, blocks: number, bytchk = false) => {
    const c = rw10(0x2f, lba, blocks);
    c[1] = bytchk ? 2 : 0;
    return c;
  },
  read12: (lba: number, blocks: number) => rw12(0xa8, lba, blocks),
  write12: (lba: number, blocks: number) => rw12(0xaa, lba, blocks),
  read16: (lba: number, blocks: number) => rw16(0x88, lba, blocks),
  write16: (lba: number, blocks: number) => rw16(0x8a, lba, blocks),
  synchronizeCache10: (lba = 0, blocks = 0) => rw10(0x35, lba, blocks),
} as const;

function rw10(op: number, lba: number, blocks: number): number[] {
  return [
    op,
    0,
    (lba >>> 24) & 0xff,
    (lba >>> 16) & 0xff,
    (lba >>> 8) & 0xff,
    lba & 0xff,
    0,
    (blocks >> 8) & 0xff,
    blocks & 0xff,
    0,
  ];
}
function rw12(op: number, lba: number, blocks: number): number[] {
  return [op, 0, ...be32(lba), ...be32(blocks), 0, 0];
}
function rw16(op: number, lba: number, blocks: number): number[] {
  return [op, 0, ...be32(Math.floor(lba / 0x1_0000_0000)), ...be32(lba >>> 0), ...be32(blocks), 0, 0];
}
function be32(v: number): number[] {
  return [(v >>> 24) & 0xff, (v >>> 16) & 0xff, (v >>> 8) & 0xff, v & 0xff];
}

/** Sense key, ASC, ASCQ of fixed-format sense data. */
export function senseOf(data: Uint8Array): { key: number; asc: number; ascq: number; info: number | null } {
  const valid = (data[0]! & 0x80) !== 0;
  return {
    key: data[2]! & 0x0f,
    asc: data[12]!,
    ascq: data[13]!,
    info: valid ? new DataView(data.buffer, data.byteOffset).getUint32(3) : null,
  };
}
