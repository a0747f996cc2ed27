import { copyBytes, WordViewCache } from "../../machine/byte-copy.ts";
import { encodeBase64, type JsonValue, openState, type SavedState } from "../../machine/snapshot.ts";
import { EndpointType, Pid, RequestType } from "../../usb/constants.ts";
import { type ControlReply, ControlStatus } from "../../usb/control-pipe.ts";
import { type DeviceModel, EndpointDirection, type EndpointModel } from "../../usb/descriptors/model.ts";
import type { UpstreamPort } from "../../usb/device.ts";
import { UsbDeviceBase } from "../../usb/device-base.ts";
import { PacketStatus, type UsbPacket } from "../../usb/packet.ts";
import type { SetupPacket } from "../../usb/setup-packet.ts";
import { BLOCK_SIZE, type BlockStore, inRange, type StoreCallback, StoreStatus } from "./block-store.ts";
import {
  encodeFixedSense,
  FIXED_SENSE_LENGTH,
  READ_CAPACITY_16_ACTION,
  readU16,
  readU24,
  readU32,
  readU64,
  ScsiOp,
  type Sense,
  Senses,
  writeU16,
  writeU32,
  writeU64,
} from "./scsi.ts";

/** Bulk endpoints: IN 0x81, OUT 0x02, 64 bytes (the largest full-speed bulk packet, USB 2.0 5.8.3). */
export const STORAGE_BULK_IN = 0x81;
export const STORAGE_BULK_OUT = 0x02;
export const STORAGE_MAX_PACKET = 64;

/** Bulk-Only Transport (BOT 1.0) wrappers and class requests. */
export const Bot = {
  CBW_LENGTH: 31,
  CSW_LENGTH: 13,
  /** "USBC" little-endian (BOT 5.1). */
  CBW_SIGNATURE: 0x43425355,
  /** "USBS" little-endian (BOT 5.2). */
  CSW_SIGNATURE: 0x53425355,
  /** Bulk-Only Mass Storage Reset (BOT 3.1): class, interface, host-to-device. */
  RESET_REQUEST: 0xff,
  /** Get Max LUN (BOT 3.2): class, interface, device-to-host, one byte. */
  GET_MAX_LUN_REQUEST: 0xfe,
} as const;

/** bCSWStatus (BOT 5.2, table 5.3). */
export const CswStatus = { Passed: 0, Failed: 1, PhaseError: 2 } as const;

/** Where the device is in the BOT protocol (BOT 5, 6). */
export const BotPhase = {
  /** Waiting for a CBW on bulk OUT. */
  Command: "command",
  DataIn: "data-in",
  DataOut: "data-out",
  /** The CSW waits for the host's IN. */
  Status: "status",
} as const;
export type BotPhase = (typeof BotPhase)[keyof typeof BotPhase];

export interface MassStorageOptions {
  /** The medium; null (or absent) is an empty drive: NOT READY / MEDIUM NOT PRESENT until {@link UsbMassStorage.insert}. */
  readonly store?: BlockStore | null;
  readonly name?: string;
  readonly vendorId?: number;
  readonly productId?: number;
  /** INQUIRY vendor identification, at most 8 ASCII characters. */
  readonly vendor?: string;
  /** INQUIRY product identification (and the USB product string), at most 16 ASCII characters. */
  readonly product?: string;
  /** INQUIRY product revision level, at most 4 ASCII characters. */
  readonly revision?: string;
  /**
   * USB serial number and VPD page 80h. BOT 4.1.1 asks for at least 12 hexadecimal digits; Linux
   * uses it to tell sticks apart.
   */
  readonly serialNumber?: string;
}

/** Test vendor ID from pid.codes, as the other emulated devices use; ship your own IDs. */
const DEFAULT_VENDOR_ID = 0x1209;
const DEFAULT_PRODUCT_ID = 0x000a;

/** Blocks moved per store operation: 64 KiB, more than one Linux request (usb-storage: 240 blocks max → two). */
const CHUNK_BLOCKS = 128;
const CHUNK_BYTES = CHUNK_BLOCKS * BLOCK_SIZE;
/** Room after a chunk for the part of an OUT packet that runs past it (a host using packets that do not divide 512). */
const BUFFER_BYTES = CHUNK_BYTES + STORAGE_MAX_PACKET;

/** Where the relevant data of a data phase comes from or goes to. */
const Source = { None: 0, Buffer: 1, StoreRead: 2, StoreWrite: 3 } as const;
type Source = (typeof Source)[keyof typeof Source];
/** The store operation in flight (QuietFlush: one the device makes itself, on unplug or eject). */
const StoreOp = { None: 0, Read: 1, Write: 2, Flush: 3, QuietFlush: 4 } as const;
type StoreOp = (typeof StoreOp)[keyof typeof StoreOp];

/** The kind and version of the device's saved state ({@link UsbMassStorage.saveState}). */
export const MASS_STORAGE_STATE = "usb-mass-storage";
export const MASS_STORAGE_STATE_VERSION = 1;

/** Counters for reports and tests. */
export interface MassStorageStats {
  commands: number;
  /** Commands that ended with CHECK CONDITION (CSW status 1). */
  failed: number;
  phaseErrors: number;
  /** CBWs refused as not valid or not meaningful (BOT 6.2): both bulk endpoints stalled. */
  invalidCbws: number;
  bytesRead: number;
  bytesWritten: number;
  /** Packets answered NAK because a store operation was out. */
  naksWhileBusy: number;
  /** Store completions that arrived after a reset or medium change and were dropped. */
  staleStoreCompletions: number;
}

function ascii(text: string, length: number): Uint8Array {
  const out = new Uint8Array(length).fill(0x20);
  for (let i = 0; i < Math.min(length, text.length); i++) {
    const c = text.charCodeAt(i);
    out[i] = c >= 0x20 && c < 0x7f ? c : 0x3f;
  }
  return out;
}

/**
 * A USB flash drive: mass storage class, SCSI transparent command set, Bulk-Only Transport
 * (class 08h, subclass 06h, protocol 50h), one LUN, over a {@link BlockStore}.
 *
 * Data phases follow BOT 6.7's thirteen cases without stalling wherever BOT allows a choice, because
 * SeaBIOS "does not recover from USB stalls" (src/hw/blockcmd.c) and GRUB's usbms recovers poorly: a
 * device with less to send than the host asked for pads with zeros (BOT 6.7.2 case 4/5, residue = the
 * unsent relevant data), one with less to receive accepts and discards the rest (case 9/11), and a
 * mismatch of direction or a host expecting less than the command moves ends in a phase error after
 * exactly dCBWDataTransferLength bytes (cases 2, 3, 7, 8, 10, 13). Only a CBW that is not valid or not
 * meaningful stalls, both bulk endpoints, until a Bulk-Only Mass Storage Reset (BOT 6.6.1); clearing
 * the halt before that reset leaves them halted.
 *
 * While the store works on a read, write or flush, the endpoint waiting for it answers NAK and the
 * controller retries the TD in a later frame. Nothing a host sends, and nothing a store answers,
 * makes the device throw.
 */
export class UsbMassStorage extends UsbDeviceBase {
  readonly stats: MassStorageStats = {
    commands: 0,
    failed: 0,
    phaseErrors: 0,
    invalidCbws: 0,
    bytesRead: 0,
    bytesWritten: 0,
    naksWhileBusy: 0,
    staleStoreCompletions: 0,
  };
  private storeNow: BlockStore | null;
  /** START STOP UNIT with LoEj can unload the medium the host inserted (the guest's `eject`). */
  private loaded = true;
  private preventRemoval = false;
  /** The sense data of the last command that failed; REQUEST SENSE reports it once. */
  private sense: Sense = Senses.None;
  private senseInfo = -1;
  /** A unit attention waiting for the next command (SPC-4 5.14: medium changed). */
  private unitAttention: Sense = Senses.None;

  // ---- BOT state --------------------------------------------------------------------------------
  private phaseNow: BotPhase = BotPhase.Command;
  /** A CBW was not valid or not meaningful: bulk endpoints stay halted until a class reset. */
  private awaitingReset = false;
  private tag = 0;
  /** dCBWDataTransferLength, and whether it is an IN transfer. */
  private hostLength = 0;
  /** Bytes moved on the bus in this data phase. */
  private moved = 0;
  /** Bytes of relevant data (the command's own, not padding) this phase moves, and how many moved well. */
  private relevant = 0;
  private relevantDone = 0;
  private source: Source = Source.None;
  private cswStatus: number = CswStatus.Passed;
  /** SYNCHRONIZE CACHE: the flush runs before the CSW. */
  private flushWanted = false;

  // ---- data engine ------------------------------------------------------------------------------
  private readonly buffer = new Uint8Array(BUFFER_BYTES);
  /** Next block to read or write, and blocks of the command still to go to or come from the store. */
  private ioLba = 0;
  private ioBlocks = 0;
  /** Bytes valid in `buffer` (read, response) or expected there before a write (write). */
  private chunkLength = 0;
  /** Bytes of the chunk sent (read, response) or received (write). */
  private chunkPos = 0;
  private op: StoreOp = StoreOp.None;
  private opLba = 0;
  private opBlocks = 0;
  /** The store's answer to the operation in flight will be dropped (a reset or medium change came). */
  private opStale = false;
  private readonly afterRead: StoreCallback = (status) => this.readDone(status);
  private readonly afterWrite: StoreCallback = (status) => this.writeDone(status);
  private readonly afterFlush: StoreCallback = (status) => this.flushDone(status);
  private readonly afterQuietFlush: StoreCallback = () => this.quietFlushDone();
  /** A store to flush once the operation in flight returns (the store takes one operation at a time). */
  private owedFlush: BlockStore | null = null;
  private readonly reply = new Uint8Array(1);
  private readonly csw = new Uint8Array(Bot.CSW_LENGTH);
  private readonly views = new WordViewCache();
  /** A store operation to issue again once the stale one still out returns (a restore came meanwhile). */
  private reissue: StoreOp = StoreOp.None;
  private readonly inquiryVendor: Uint8Array;
  private readonly inquiryProduct: Uint8Array;
  private readonly inquiryRevision: Uint8Array;
  private readonly serial: Uint8Array;

  constructor(options: MassStorageOptions = {}) {
    const product = options.product ?? "USB Flash Drive";
    const serialNumber = options.serialNumber ?? "0123456789AB";
    super({
      name: options.name ?? "mass-storage",
      descriptors: storageModel(options, product, serialNumber),
    });
    this.storeNow = options.store ?? null;
    this.inquiryVendor = ascii(options.vendor ?? "uhci", 8);
    this.inquiryProduct = ascii(product, 16);
    this.inquiryRevision = ascii(options.revision ?? "1.00", 4);
    this.serial = ascii(serialNumber, Math.min(serialNumber.length, 64));
  }

  // ---- the host side of the medium ----------------------------------------------------------------

  get store(): BlockStore | null {
    return this.storeNow;
  }

  /** Where the BOT protocol stands (for tests and snapshots). */
  get phase(): BotPhase {
    return this.phaseNow;
  }

  /** A medium is present and loaded: commands that touch it can succeed. */
  get mediumReady(): boolean {
    return this.storeNow !== null && this.loaded;
  }

  /**
   * Inserts a medium (replacing any): the next command sees UNIT ATTENTION / MEDIUM CHANGED (28/00), as
   * a card reader reports a new card, so the guest re-reads capacity and partitions.
   */
  insert(store: BlockStore): void {
    this.dropMedium();
    this.storeNow = store;
    this.loaded = true;
    this.unitAttention = Senses.MediumChanged;
  }

  /**
   * Takes the medium out (after asking it to flush): commands that need it fail with NOT READY /
   * MEDIUM NOT PRESENT (3A/00). A transfer in progress ends with a failed CSW. Returns the medium.
   */
  eject(): BlockStore | null {
    const store = this.storeNow;
    this.dropMedium();
    this.storeNow = null;
    return store;
  }

  /** Unplugged: the medium is asked to flush (a file store fsyncs), so what the guest wrote lasts. */
  override setUpstream(upstream: UpstreamPort | null): void {
    super.setUpstream(upstream);
    if (upstream === null) this.flushQuietly();
  }

  // ---- USB ----------------------------------------------------------------------------------------

  protected override handleClassRequest(setup: SetupPacket, _dataOut: Uint8Array): ControlReply {
    const type = setup.bmRequestType & ~RequestType.DirectionIn;
    if (type !== (RequestType.TypeClass | RequestType.RecipientInterface) || setup.wIndex !== 0)
      return ControlStatus.Stall;
    if (setup.bRequest === Bot.RESET_REQUEST) {
      // BOT 3.1: wValue 0, wLength 0, host-to-device.
      if (setup.isDeviceToHost || setup.wValue !== 0 || setup.wLength !== 0) return ControlStatus.Stall;
      this.resetBot();
      this.awaitingReset = false;
      return ControlStatus.Ack;
    }
    if (setup.bRequest === Bot.GET_MAX_LUN_REQUEST) {
      // BOT 3.2: wValue 0, wLength 1, device-to-host; one LUN, so 0.
      if (!setup.isDeviceToHost || setup.wValue !== 0 || setup.wLength !== 1) return ControlStatus.Stall;
      this.reply[0] = 0;
      return this.reply;
    }
    return ControlStatus.Stall;
  }

  protected override onEndpointHalt(address: number, halted: boolean): void {
    // BOT 6.6.1: after an invalid CBW both bulk endpoints stay stalled until a Reset Recovery; a
    // CLEAR_FEATURE before the class reset does not release them.
    if (!halted && this.awaitingReset) this.setEndpointHalt(address, true);
  }

  protected override onReset(): void {
    this.resetBot();
    this.awaitingReset = false;
  }

  protected override onConfigured(_value: number): void {
    this.resetBot();
    this.awaitingReset = false;
  }

  protected override handleData(packet: UsbPacket, _endpoint: EndpointModel): void {
    packet.actualLength = 0;
    this.serviceOwedFlush();
    if (packet.pid === Pid.Out) this.handleOut(packet);
    else this.handleIn(packet);
  }

  private handleOut(packet: UsbPacket): void {
    if (packet.length > STORAGE_MAX_PACKET) {
      // More than wMaxPacketSize in one packet: the stick's 64-byte receive buffer overflows and it
      // gives no handshake; the controller sees a time-out (USB 2.0 8.4.6.1). Nothing is taken.
      packet.status = PacketStatus.IoError;
      return;
    }
    if (this.phaseNow === BotPhase.Command) {
      this.command(packet);
      return;
    }
    if (this.phaseNow !== BotPhase.DataOut || this.op !== StoreOp.None) {
      // Data for a phase that does not take any, or the store is still writing: try again later.
      if (this.op !== StoreOp.None) this.stats.naksWhileBusy++;
      packet.status = PacketStatus.Nak;
      return;
    }
    const take = Math.min(packet.length, this.hostLength - this.moved);
    if (this.source === Source.StoreWrite) {
      // Relevant bytes go into the chunk; the rest of the phase is accepted and dropped (BOT 6.7.3).
      const into = Math.min(take, this.relevant - this.received());
      if (into > 0) {
        // Word copies through cached views: no view is made per packet on this path.
        copyBytes(this.views.of(packet.data), 0, this.views.of(this.buffer), this.chunkPos, into);
        this.chunkPos += into;
      }
    }
    this.moved += take;
    packet.status = PacketStatus.Ack;
    if (this.source === Source.StoreWrite && this.chunkPos >= this.chunkLength && this.chunkLength > 0)
      this.issueWrite();
    this.maybeEndDataOut();
  }

  private handleIn(packet: UsbPacket): void {
    if (this.op !== StoreOp.None) {
      this.stats.naksWhileBusy++;
      packet.status = PacketStatus.Nak;
      return;
    }
    if (this.phaseNow === BotPhase.Status) {
      if (this.flushWanted) {
        this.issueFlush();
        if (this.op !== StoreOp.None) {
          this.stats.naksWhileBusy++;
          packet.status = PacketStatus.Nak;
          return;
        }
      }
      this.sendCsw(packet);
      return;
    }
    if (this.phaseNow !== BotPhase.DataIn) {
      // Nothing to send (no command, or a data-out phase): a real device NAKs.
      packet.status = PacketStatus.Nak;
      return;
    }
    let n = Math.min(packet.length, STORAGE_MAX_PACKET, this.hostLength - this.moved);
    const relevantLeft = this.relevant - this.relevantDone;
    if (relevantLeft > 0 && this.chunkPos >= this.chunkLength) {
      if (this.source === Source.StoreRead) {
        this.issueRead();
        if (this.op !== StoreOp.None) {
          this.stats.naksWhileBusy++;
          packet.status = PacketStatus.Nak;
          return;
        }
      }
    }
    const data = packet.data;
    let at = 0;
    const fromChunk = Math.min(n, this.relevant - this.relevantDone, this.chunkLength - this.chunkPos);
    if (fromChunk > 0) {
      copyBytes(this.views.of(this.buffer), this.chunkPos, this.views.of(data), 0, fromChunk);
      this.chunkPos += fromChunk;
      this.relevantDone += fromChunk;
      at = fromChunk;
      // A packet ends at the chunk's end while relevant data goes on (only with host packets that do not
      // divide 512): the rest comes in the next packet.
      if (this.relevantDone < this.relevant) n = at;
    }
    if (at < n) data.fill(0, at, n); // padding (BOT 6.7.2 case 4/5, 7/8)
    if (this.source === Source.StoreRead && fromChunk > 0) this.stats.bytesRead += fromChunk;
    packet.actualLength = n;
    packet.status = PacketStatus.Ack;
    this.moved += n;
    if (this.moved >= this.hostLength) this.phaseNow = BotPhase.Status;
  }

  private sendCsw(packet: UsbPacket): void {
    const d = packet.data;
    const n = Math.min(packet.length, Bot.CSW_LENGTH);
    const residue = Math.max(0, this.hostLength - this.relevantDone);
    const csw = this.csw;
    const at = 0;
    csw[at] = 0x55;
    csw[at + 1] = 0x53;
    csw[at + 2] = 0x42;
    csw[at + 3] = 0x53;
    csw[at + 4] = this.tag & 0xff;
    csw[at + 5] = (this.tag >>> 8) & 0xff;
    csw[at + 6] = (this.tag >>> 16) & 0xff;
    csw[at + 7] = (this.tag >>> 24) & 0xff;
    csw[at + 8] = residue & 0xff;
    csw[at + 9] = (residue >>> 8) & 0xff;
    csw[at + 10] = (residue >>> 16) & 0xff;
    csw[at + 11] = (residue >>> 24) & 0xff;
    csw[at + 12] = this.cswStatus;
    for (let i = 0; i < n; i++) d[i] = csw[at + i]!;
    packet.actualLength = n;
    packet.status = PacketStatus.Ack;
    if (this.cswStatus === CswStatus.Failed) this.stats.failed++;
    if (this.cswStatus === CswStatus.PhaseError) this.stats.phaseErrors++;
    this.phaseNow = BotPhase.Command;
  }

  // ---- CBW ----------------------------------------------------------------------------------------

  /** A packet on bulk OUT in the Command phase: a CBW, or not (BOT 6.2). */
  private command(packet: UsbPacket): void {
    packet.status = PacketStatus.Ack;
    const d = packet.data;
    const valid =
      packet.length === Bot.CBW_LENGTH &&
      (d[0]! | (d[1]! << 8) | (d[2]! << 16) | (d[3]! << 24)) >>> 0 === Bot.CBW_SIGNATURE;
    const flags = d[12]!;
    const lun = d[13]!;
    const cbLength = d[14]!;
    // Meaningful (BOT 6.2.2): reserved bits zero, an existing LUN, a CB length of 1–16.
    const meaningful = valid && (flags & 0x7f) === 0 && lun === 0 && cbLength >= 1 && cbLength <= 16;
    if (!meaningful) {
      this.stats.invalidCbws++;
      this.awaitingReset = true;
      this.setEndpointHalt(STORAGE_BULK_IN, true);
      this.setEndpointHalt(STORAGE_BULK_OUT, true);
      return;
    }
    this.stats.commands++;
    this.tag = (d[4]! | (d[5]! << 8) | (d[6]! << 16) | (d[7]! << 24)) >>> 0;
    this.hostLength = (d[8]! | (d[9]! << 8) | (d[10]! << 16) | (d[11]! << 24)) >>> 0;
    const hostIn = (flags & 0x80) !== 0;
    this.moved = 0;
    this.relevant = 0;
    this.relevantDone = 0;
    this.chunkLength = 0;
    this.chunkPos = 0;
    this.ioBlocks = 0;
    this.flushWanted = false;
    this.source = Source.None;
    this.cswStatus = CswStatus.Passed;
    // The CDB is copied out of the packet: the host reuses its buffer.
    const cdb = this.cdb;
    cdb.fill(0);
    cdb.set(d.subarray(15, 15 + cbLength), 0);
    const intent = this.plan(cdb);
    this.startDataPhase(intent, hostIn);
  }

  private readonly cdb = new Uint8Array(16);
  /** What the plan decided: the device's data direction (BOT's Dn/Di/Do) and length. */
  private planLength = 0;

  /** Matches the host's expectation with the device's (BOT 6.7, the thirteen cases). */
  private startDataPhase(intent: Intent, hostIn: boolean): void {
    const h = this.hostLength;
    const d = this.planLength;
    if (h === 0) {
      // Cases 1–3: Hn. A device that wanted to move data reports a phase error and moves nothing.
      if (intent !== Intent.None) {
        this.phaseError();
        return;
      }
      this.phaseNow = BotPhase.Status;
      return;
    }
    if (hostIn) {
      this.phaseNow = BotPhase.DataIn;
      if (intent === Intent.In) {
        // Case 6 (Hi = Di), case 5 (Hi > Di: pad), case 7 (Hi < Di: send Hi, phase error).
        this.relevant = Math.min(h, d);
        if (h < d) this.cswStatus = CswStatus.PhaseError;
        if (this.source === Source.StoreRead) this.ioBlocks = Math.ceil(this.relevant / BLOCK_SIZE);
      } else {
        // Case 4 (Hi > Dn: pad, residue Hi) and case 8 (Hi <> Do: pad, phase error).
        this.source = Source.None;
        this.relevant = 0;
        if (intent === Intent.Out) this.cswStatus = CswStatus.PhaseError;
      }
      return;
    }
    this.phaseNow = BotPhase.DataOut;
    if (intent === Intent.Out && h >= d) {
      // Case 12 (Ho = Do) and 11 (Ho > Do: accept and discard the rest, residue Ho − Do).
      this.relevant = d;
      this.chunkLength = Math.min(this.ioBlocks, CHUNK_BLOCKS) * BLOCK_SIZE;
    } else {
      // Case 9 (Ho > Dn), 10 (Ho <> Di) and 13 (Ho < Do): accept and discard; 10 and 13 are phase errors.
      if (intent !== Intent.None) this.cswStatus = CswStatus.PhaseError;
      this.source = Source.None;
      this.relevant = 0;
      this.ioBlocks = 0;
    }
  }

  private phaseError(): void {
    this.cswStatus = CswStatus.PhaseError;
    this.source = Source.None;
    this.relevant = 0;
    this.ioBlocks = 0;
    this.flushWanted = false;
    this.phaseNow = BotPhase.Status;
  }

  private received(): number {
    // Relevant bytes that arrived: those written, those in the chunk.
    return this.relevantDone + this.chunkPos;
  }

  private maybeEndDataOut(): void {
    if (this.phaseNow !== BotPhase.DataOut || this.op !== StoreOp.None) return;
    if (this.moved < this.hostLength) return;
    if (this.source === Source.StoreWrite && this.chunkPos > 0 && this.ioBlocks > 0) {
      // Cannot happen with whole blocks, but never leave received data unwritten.
      this.issueWrite();
      if (this.op !== StoreOp.None) return;
    }
    this.phaseNow = BotPhase.Status;
  }

  // ---- store operations -----------------------------------------------------------------------------

  private issueRead(): void {
    const store = this.storeNow;
    const blocks = Math.min(this.ioBlocks, CHUNK_BLOCKS);
    if (store === null || !this.loaded || blocks <= 0) {
      this.mediumLostDuringTransfer();
      return;
    }
    this.op = StoreOp.Read;
    this.opLba = this.ioLba;
    this.opBlocks = blocks;
    this.callStore(store, StoreOp.Read);
  }

  private issueWrite(): void {
    const store = this.storeNow;
    const blocks = Math.min(this.ioBlocks, CHUNK_BLOCKS, Math.floor(this.chunkPos / BLOCK_SIZE));
    if (store === null || !this.loaded || blocks <= 0) {
      this.mediumLostDuringTransfer();
      return;
    }
    this.op = StoreOp.Write;
    this.opLba = this.ioLba;
    this.opBlocks = blocks;
    this.callStore(store, StoreOp.Write);
  }

  private issueFlush(): void {
    this.flushWanted = false;
    const store = this.storeNow;
    if (store === null || !this.loaded) {
      this.fail(Senses.MediumNotPresent, -1);
      return;
    }
    this.op = StoreOp.Flush;
    this.callStore(store, StoreOp.Flush);
  }

  /** One store call, with a store that throws (against its contract) taken as a medium error. */
  private callStore(store: BlockStore, op: StoreOp): void {
    try {
      if (op === StoreOp.Read) store.read(this.opLba, this.opBlocks, this.buffer, this.afterRead);
      else if (op === StoreOp.Write) store.write(this.opLba, this.opBlocks, this.buffer, this.afterWrite);
      else if (op === StoreOp.Flush) store.flush(this.afterFlush);
      else store.flush(this.afterQuietFlush);
    } catch {
      // As if the store had answered MEDIUM ERROR (a store that answered and then threw: a stale answer).
      if (op === StoreOp.Read) this.readDone(StoreStatus.MediumError);
      else if (op === StoreOp.Write) this.writeDone(StoreStatus.MediumError);
      else if (op === StoreOp.Flush) this.flushDone(StoreStatus.MediumError);
      else this.quietFlushDone();
    }
  }

  /** True (and the operation is forgotten) when a completion is not the one the device waits for. */
  private staleCompletion(op: StoreOp): boolean {
    if (this.op !== op) {
      // A second answer to one operation, or an answer to nothing: dropped.
      this.stats.staleStoreCompletions++;
      return true;
    }
    this.op = StoreOp.None;
    if (this.opStale) {
      this.opStale = false;
      this.stats.staleStoreCompletions++;
      const again = this.reissue;
      this.reissue = StoreOp.None;
      if (again !== StoreOp.None && this.storeNow !== null) {
        this.op = again;
        this.callStore(this.storeNow, again);
      } else {
        this.serviceOwedFlush();
      }
      return true;
    }
    return false;
  }

  private readDone(status: StoreStatus): void {
    if (this.staleCompletion(StoreOp.Read)) return;
    if (status !== StoreStatus.Ok) {
      // What was read so far stays relevant; the rest of the phase is padding (BOT 6.7.2), CSW failed.
      this.fail(
        status === StoreStatus.OutOfRange ? Senses.LbaOutOfRange : Senses.UnrecoveredReadError,
        this.opLba,
      );
      this.relevant = this.relevantDone;
      this.ioBlocks = 0;
      this.chunkLength = 0;
      this.chunkPos = 0;
      this.serviceOwedFlush();
      return;
    }
    this.chunkLength = this.opBlocks * BLOCK_SIZE;
    this.chunkPos = 0;
    this.ioLba += this.opBlocks;
    this.ioBlocks -= this.opBlocks;
    this.serviceOwedFlush();
  }

  private writeDone(status: StoreStatus): void {
    if (this.staleCompletion(StoreOp.Write)) return;
    const bytes = this.opBlocks * BLOCK_SIZE;
    if (status !== StoreStatus.Ok) {
      this.fail(
        status === StoreStatus.WriteProtected
          ? Senses.WriteProtected
          : status === StoreStatus.OutOfRange
            ? Senses.LbaOutOfRange
            : Senses.WriteError,
        this.opLba,
      );
      // Nothing more reaches the store; the rest of the phase is accepted and dropped.
      this.relevant = this.relevantDone;
      this.source = Source.None;
      this.ioBlocks = 0;
      this.chunkPos = 0;
      this.chunkLength = 0;
    } else {
      this.relevantDone += bytes;
      this.stats.bytesWritten += bytes;
      this.ioLba += this.opBlocks;
      this.ioBlocks -= this.opBlocks;
      // Bytes of a packet that ran past the chunk move to the front of the next one.
      const carry = this.chunkPos - bytes;
      if (carry > 0) this.buffer.copyWithin(0, bytes, this.chunkPos);
      this.chunkPos = Math.max(0, carry);
      this.chunkLength = Math.min(this.ioBlocks, CHUNK_BLOCKS) * BLOCK_SIZE;
      if (this.chunkLength > 0 && this.chunkPos >= this.chunkLength) {
        this.issueWrite();
        return;
      }
    }
    this.maybeEndDataOut();
    this.serviceOwedFlush();
  }

  private flushDone(status: StoreStatus): void {
    if (this.staleCompletion(StoreOp.Flush)) return;
    if (status !== StoreStatus.Ok) this.fail(Senses.WriteError, -1);
    this.serviceOwedFlush();
  }

  private quietFlushDone(): void {
    if (this.staleCompletion(StoreOp.QuietFlush)) return;
    this.serviceOwedFlush();
  }

  /** Issues a flush owed to a store (unplug or eject came while another operation was out). */
  private serviceOwedFlush(): void {
    const store = this.owedFlush;
    if (store === null || this.op !== StoreOp.None) return;
    this.owedFlush = null;
    this.op = StoreOp.QuietFlush;
    this.callStore(store, StoreOp.QuietFlush);
  }

  /** The medium went away while a command used it: the command fails, NOT READY. */
  private mediumLostDuringTransfer(): void {
    this.fail(Senses.MediumNotPresent, -1);
    this.relevant = this.relevantDone;
    this.source = Source.None;
    this.ioBlocks = 0;
    this.chunkLength = 0;
    this.chunkPos = 0;
    this.maybeEndDataOut();
  }

  private fail(sense: Sense, information: number): void {
    this.sense = sense;
    this.senseInfo = information;
    if (this.cswStatus === CswStatus.Passed) this.cswStatus = CswStatus.Failed;
  }

  /** Back to waiting for a CBW (class reset, bus reset, SET_CONFIGURATION); a store answer still out is dropped. */
  private resetBot(): void {
    this.phaseNow = BotPhase.Command;
    this.source = Source.None;
    this.moved = 0;
    this.hostLength = 0;
    this.relevant = 0;
    this.relevantDone = 0;
    this.chunkLength = 0;
    this.chunkPos = 0;
    this.ioBlocks = 0;
    this.flushWanted = false;
    this.cswStatus = CswStatus.Passed;
    this.markOpStale();
  }

  /** The answer to the command's store operation in flight will be dropped (a device flush is kept). */
  private markOpStale(): void {
    if (this.op !== StoreOp.None && this.op !== StoreOp.QuietFlush) this.opStale = true;
  }

  private dropMedium(): void {
    this.markOpStale();
    this.flushQuietly();
    if (this.phaseNow === BotPhase.DataIn || this.phaseNow === BotPhase.DataOut)
      this.mediumLostDuringTransfer();
    this.preventRemoval = false;
  }

  /** Asks the medium to flush, now or (one operation at a time) once the one in flight returns. */
  private flushQuietly(): void {
    const store = this.storeNow;
    if (store === null) return;
    this.owedFlush = store;
    this.serviceOwedFlush();
  }

  // ---- SCSI ---------------------------------------------------------------------------------------

  /**
   * Decides what the command in `cdb` does: checks it, builds a response in the buffer (Intent.In with
   * `planLength` bytes), or prepares a store transfer (`ioLba`, `ioBlocks`, `source`). A command that
   * fails sets its sense and is Intent.None with CSW status 1.
   */
  private plan(cdb: Uint8Array): Intent {
    const op = cdb[0]!;
    this.planLength = 0;
    if (op !== ScsiOp.RequestSense) {
      this.sense = Senses.None;
      this.senseInfo = -1;
    }
    // A unit attention answers any command but INQUIRY, REQUEST SENSE and REPORT LUNS (SPC-4 5.14).
    if (
      this.unitAttention !== Senses.None &&
      op !== ScsiOp.Inquiry &&
      op !== ScsiOp.RequestSense &&
      op !== ScsiOp.ReportLuns
    ) {
      const ua = this.unitAttention;
      this.unitAttention = Senses.None;
      return this.check(ua);
    }
    switch (op) {
      case ScsiOp.TestUnitReady:
        return this.mediumReady ? Intent.None : this.check(Senses.MediumNotPresent);
      case ScsiOp.RequestSense:
        return this.requestSense(cdb);
      case ScsiOp.Inquiry:
        return this.inquiry(cdb);
      case ScsiOp.ModeSense6:
        return this.modeSense(cdb, false);
      case ScsiOp.ModeSense10:
        return this.modeSense(cdb, true);
      case ScsiOp.StartStopUnit:
        return this.startStop(cdb);
      case ScsiOp.PreventAllowMediumRemoval:
        this.preventRemoval = (cdb[4]! & 0x03) !== 0;
        return Intent.None;
      case ScsiOp.ReadFormatCapacities:
        return this.readFormatCapacities(cdb);
      case ScsiOp.ReadCapacity10:
        return this.readCapacity10(cdb);
      case ScsiOp.ServiceActionIn16:
        if ((cdb[1]! & 0x1f) !== READ_CAPACITY_16_ACTION) return this.check(Senses.InvalidFieldInCdb);
        return this.readCapacity16(cdb);
      case ScsiOp.ReportLuns:
        return this.reportLuns(cdb);
      case ScsiOp.Read6:
        return this.transfer(readU24(cdb, 1) & 0x1f_ffff, cdb[4]! === 0 ? 256 : cdb[4]!, false);
      case ScsiOp.Read10:
        return this.transfer(readU32(cdb, 2), readU16(cdb, 7), false, cdb[1]!);
      case ScsiOp.Read12:
        return this.transfer(readU32(cdb, 2), readU32(cdb, 6), false, cdb[1]!);
      case ScsiOp.Read16:
        return this.transfer(readU64(cdb, 2), readU32(cdb, 10), false, cdb[1]!);
      case ScsiOp.Write6:
        return this.transfer(readU24(cdb, 1) & 0x1f_ffff, cdb[4]! === 0 ? 256 : cdb[4]!, true);
      case ScsiOp.Write10:
        return this.transfer(readU32(cdb, 2), readU16(cdb, 7), true, cdb[1]!);
      case ScsiOp.Write12:
        return this.transfer(readU32(cdb, 2), readU32(cdb, 6), true, cdb[1]!);
      case ScsiOp.Write16:
        return this.transfer(readU64(cdb, 2), readU32(cdb, 10), true, cdb[1]!);
      case ScsiOp.Verify10:
        return this.verify(cdb, readU32(cdb, 2), readU16(cdb, 7));
      case ScsiOp.Verify12:
        return this.verify(cdb, readU32(cdb, 2), readU32(cdb, 6));
      case ScsiOp.Verify16:
        return this.verify(cdb, readU64(cdb, 2), readU32(cdb, 10));
      case ScsiOp.SynchronizeCache10:
        return this.synchronizeCache(readU32(cdb, 2), readU16(cdb, 7));
      case ScsiOp.SynchronizeCache16:
        return this.synchronizeCache(readU64(cdb, 2), readU32(cdb, 10));
      default:
        // MODE SELECT, SEND DIAGNOSTIC, ATA PASS-THROUGH (smartctl, hdparm) and the rest.
        return this.check(Senses.InvalidOpcode);
    }
  }

  private check(sense: Sense, information = -1): Intent {
    this.fail(sense, information);
    return Intent.None;
  }

  /** A response of `length` bytes now in the buffer, cut to the CDB's allocation length. */
  private respond(length: number, allocation: number): Intent {
    this.source = Source.Buffer;
    this.chunkLength = Math.min(length, allocation);
    this.chunkPos = 0;
    this.planLength = this.chunkLength;
    return this.planLength > 0 ? Intent.In : Intent.None;
  }

  private requestSense(cdb: Uint8Array): Intent {
    // Descriptor-format sense (DESC bit) is optional; refusing it is what SPC-4 6.29 prescribes.
    if ((cdb[1]! & 0x01) !== 0) return this.check(Senses.InvalidFieldInCdb);
    let sense = this.sense;
    let info = this.senseInfo;
    if (sense === Senses.None && this.unitAttention !== Senses.None) {
      sense = this.unitAttention;
      this.unitAttention = Senses.None;
      info = -1;
    } else if (sense === Senses.None && !this.mediumReady) {
      // With nothing else to say, the state a TEST UNIT READY would report (SeaBIOS stops waiting on 3A).
      sense = Senses.MediumNotPresent;
    }
    encodeFixedSense(this.buffer, sense, info);
    this.sense = Senses.None;
    this.senseInfo = -1;
    return this.respond(FIXED_SENSE_LENGTH, cdb[4]!);
  }

  private inquiry(cdb: Uint8Array): Intent {
    const b = this.buffer;
    const evpd = (cdb[1]! & 0x01) !== 0;
    const page = cdb[2]!;
    // SPC-3 on: a 16-bit allocation length; SCSI-2 hosts (SeaBIOS) leave byte 3 at 0.
    const allocation = readU16(cdb, 3);
    if (!evpd) {
      if (page !== 0) return this.check(Senses.InvalidFieldInCdb);
      b.fill(0, 0, 36);
      b[0] = 0x00; // direct-access block device, connected
      b[1] = 0x80; // RMB: removable medium, as every USB stick says
      b[2] = 0x04; // SPC-2: Linux's sd then keeps to the commands above (no VPD probing, READ CAPACITY(10) first)
      b[3] = 0x02; // response data format 2
      b[4] = 36 - 5;
      b.set(this.inquiryVendor, 8);
      b.set(this.inquiryProduct, 16);
      b.set(this.inquiryRevision, 32);
      return this.respond(36, allocation);
    }
    if (page === 0x00) {
      // Supported VPD pages (SPC-4 7.8.16).
      b.set([0x00, 0x00, 0x00, 2, 0x00, 0x80], 0);
      return this.respond(6, allocation);
    }
    if (page === 0x80) {
      // Unit serial number (SPC-4 7.8.17).
      b[0] = 0x00;
      b[1] = 0x80;
      b[2] = 0;
      b[3] = this.serial.length;
      b.set(this.serial, 4);
      return this.respond(4 + this.serial.length, allocation);
    }
    return this.check(Senses.InvalidFieldInCdb);
  }

  private modeSense(cdb: Uint8Array, ten: boolean): Intent {
    const control = cdb[2]!;
    const pageControl = control >>> 6;
    const page = control & 0x3f;
    const subpage = cdb[3]!;
    const allocation = ten ? readU16(cdb, 7) : cdb[4]!;
    // Saved values are not kept (SPC-4 6.11: SAVING PARAMETERS NOT SUPPORTED).
    if (pageControl === 3) return this.check(Senses.SavingParametersNotSupported);
    if (subpage !== 0 && !(page === 0x3f && subpage === 0xff)) return this.check(Senses.InvalidFieldInCdb);
    const b = this.buffer;
    const header = ten ? 8 : 4;
    b.fill(0, 0, header + 20);
    let length = header;
    if (page === 0x08 || page === 0x3f) {
      // Caching page (SBC-3 6.4.5). WCE is set: a completed write has reached the store, not
      // necessarily stable storage (a file store fsyncs on SYNCHRONIZE CACHE), so a host that reads
      // this page flushes. Linux's usb-storage skips it (skip_ms_page_8) and assumes write-through.
      b[length] = 0x08;
      b[length + 1] = 0x12;
      if (pageControl !== 1) b[length + 2] = 0x04; // WCE; the changeable mask (PC 1) is all zero
      length += 20;
    } else if (page !== 0x00) {
      // Page 0 (vendor specific, no page format): the header alone, which Linux asks for when 3Fh fails.
      return this.check(Senses.InvalidFieldInCdb);
    }
    // Device-specific parameter: WP (SBC-3 6.4.1); Linux's sd reads it with 3Fh and mounts read-only.
    const writeProtect = this.storeNow?.readOnly === true ? 0x80 : 0x00;
    if (ten) {
      writeU16(b, 0, length - 2);
      b[3] = writeProtect;
    } else {
      b[0] = length - 1;
      b[2] = writeProtect;
    }
    return this.respond(length, allocation);
  }

  private startStop(cdb: Uint8Array): Intent {
    const loadEject = (cdb[4]! & 0x02) !== 0;
    const start = (cdb[4]! & 0x01) !== 0;
    // Power conditions (bits 7:4) and START without LoEj need nothing of a stick.
    if (!loadEject || (cdb[4]! & 0xf0) !== 0) return Intent.None;
    if (start) {
      if (this.storeNow === null) return this.check(Senses.MediumNotPresent);
      this.loaded = true;
      return Intent.None;
    }
    if (this.preventRemoval) return this.check(Senses.MediumRemovalPrevented);
    // The guest's `eject`: the medium is unloaded (the host keeps it; insert() or a LOAD brings it back).
    this.flushQuietly();
    this.loaded = false;
    return Intent.None;
  }

  private readFormatCapacities(cdb: Uint8Array): Intent {
    // UFI/MMC READ FORMAT CAPACITIES (Windows asks it of every stick): a list header and the current
    // capacity descriptor, type 2 (formatted media) or 3 (no media, maximum capacity).
    const b = this.buffer;
    b.fill(0, 0, 12);
    b[3] = 8;
    const ready = this.mediumReady;
    writeU32(b, 4, ready ? Math.min(this.storeNow!.blockCount, 0xffff_ffff) : 0xffff_ffff);
    b[8] = ready ? 0x02 : 0x03;
    b[9] = 0;
    writeU16(b, 10, BLOCK_SIZE);
    return this.respond(12, readU16(cdb, 7));
  }

  private readCapacity10(cdb: Uint8Array): Intent {
    if (!this.mediumReady) return this.check(Senses.MediumNotPresent);
    // SBC-3 5.15: without PMI the LOGICAL BLOCK ADDRESS field must be 0.
    if ((cdb[8]! & 0x01) === 0 && readU32(cdb, 2) !== 0) return this.check(Senses.InvalidFieldInCdb);
    const last = this.storeNow!.blockCount - 1;
    const b = this.buffer;
    // Beyond 2^32 blocks FFFFFFFFh sends the host to READ CAPACITY(16).
    writeU32(b, 0, last > 0xffff_fffe ? 0xffff_ffff : last);
    writeU32(b, 4, BLOCK_SIZE);
    return this.respond(8, 8);
  }

  private readCapacity16(cdb: Uint8Array): Intent {
    if (!this.mediumReady) return this.check(Senses.MediumNotPresent);
    const b = this.buffer;
    b.fill(0, 0, 32);
    writeU64(b, 0, this.storeNow!.blockCount - 1);
    writeU32(b, 8, BLOCK_SIZE);
    return this.respond(32, readU32(cdb, 10));
  }

  private reportLuns(cdb: Uint8Array): Intent {
    const b = this.buffer;
    b.fill(0, 0, 16);
    b[3] = 8; // one LUN, 0
    return this.respond(16, readU32(cdb, 6));
  }

  /** READ/WRITE(6/10/12/16): checks, then a store transfer of `blocks` blocks from `lba`. */
  private transfer(lba: number, blocks: number, write: boolean, flags = 0): Intent {
    if (!this.mediumReady) return this.check(Senses.MediumNotPresent);
    // RDPROTECT/WRPROTECT (bits 7:5): there is no protection information to check.
    if ((flags & 0xe0) !== 0) return this.check(Senses.InvalidFieldInCdb);
    const store = this.storeNow!;
    if (!inRange(lba, blocks, store.blockCount))
      return this.check(Senses.LbaOutOfRange, lba <= 0xffff_ffff ? lba : -1);
    if (write && store.readOnly) return this.check(Senses.WriteProtected);
    // A transfer length of 0 moves nothing and is not an error (SBC-3 5.8).
    if (blocks === 0) return Intent.None;
    this.ioLba = lba;
    this.ioBlocks = blocks;
    this.planLength = blocks * BLOCK_SIZE;
    this.source = write ? Source.StoreWrite : Source.StoreRead;
    return write ? Intent.Out : Intent.In;
  }

  private verify(cdb: Uint8Array, lba: number, blocks: number): Intent {
    if (!this.mediumReady) return this.check(Senses.MediumNotPresent);
    // BYTCHK (bits 2:1) asks to compare data sent by the host; not supported.
    if ((cdb[1]! & 0x06) !== 0) return this.check(Senses.InvalidFieldInCdb);
    if (!inRange(lba, blocks, this.storeNow!.blockCount))
      return this.check(Senses.LbaOutOfRange, lba <= 0xffff_ffff ? lba : -1);
    return Intent.None;
  }

  private synchronizeCache(lba: number, blocks: number): Intent {
    if (!this.mediumReady) return this.check(Senses.MediumNotPresent);
    // NUMBER OF BLOCKS 0 means "to the end of the medium" (SBC-3 5.22).
    const count = this.storeNow!.blockCount;
    if (!inRange(lba, blocks === 0 ? 0 : blocks, count) || lba > count)
      return this.check(Senses.LbaOutOfRange, lba <= 0xffff_ffff ? lba : -1);
    this.flushWanted = true;
    return Intent.None;
  }

  // ---- snapshots ------------------------------------------------------------------------------------

  override get stateKind(): string {
    return MASS_STORAGE_STATE;
  }

  /**
   * The device's state: the standard USB state, the BOT phase with the CBW in flight (tag, lengths, bytes
   * moved, CSW status), the data engine's position and the bytes it holds (a response, or written data
   * not yet in the store), the sense data, unit attention, prevent and load state. The medium's contents
   * are not in it: they live in the store, which the host saves and restores itself (a memory store's
   * bytes, a file). A store operation in flight is re-issued on restore (a read re-reads, a write
   * rewrites the same bytes, a flush flushes), so the guest's transfer carries on.
   */
  override saveState(): SavedState {
    // The command's operation in flight: not a stale one (its answer will be dropped) nor the device's own flush.
    const op = this.opStale ? this.reissue : this.op === StoreOp.QuietFlush ? StoreOp.None : this.op;
    const held =
      op === StoreOp.Read ? 0 : this.source === Source.StoreWrite ? this.chunkPos : this.chunkLength;
    return {
      kind: MASS_STORAGE_STATE,
      version: MASS_STORAGE_STATE_VERSION,
      usb: super.saveState(),
      phase: this.phaseNow,
      awaitingReset: this.awaitingReset,
      tag: this.tag,
      hostLength: this.hostLength,
      moved: this.moved,
      relevant: this.relevant,
      relevantDone: this.relevantDone,
      source: this.source,
      cswStatus: this.cswStatus,
      flushWanted: this.flushWanted,
      ioLba: this.ioLba,
      ioBlocks: this.ioBlocks,
      chunkLength: this.chunkLength,
      chunkPos: this.chunkPos,
      op,
      opLba: this.opLba,
      opBlocks: this.opBlocks,
      buffer: encodeBase64(this.buffer.subarray(0, Math.min(held, BUFFER_BYTES))),
      sense: this.sense,
      senseInfo: this.senseInfo,
      unitAttention: this.unitAttention,
      preventRemoval: this.preventRemoval,
      loaded: this.loaded,
      blockCount: this.storeNow?.blockCount ?? -1,
    } satisfies { [key: string]: JsonValue };
  }

  override prepareRestore(state: unknown): () => void {
    const r = openState(state, MASS_STORAGE_STATE, MASS_STORAGE_STATE_VERSION);
    const applyUsb = super.prepareRestore(r.raw("usb"));
    const phase = r.oneOf("phase", Object.values(BotPhase));
    const awaitingReset = r.bool("awaitingReset");
    const tag = r.int("tag", 0, 0xffff_ffff);
    const hostLength = r.int("hostLength", 0, 0xffff_ffff);
    const moved = r.int("moved", 0, hostLength);
    const relevant = r.int("relevant", 0, hostLength);
    const relevantDone = r.int("relevantDone", 0, relevant);
    const source = r.int("source", 0, 3) as Source;
    const cswStatus = r.int("cswStatus", 0, 2);
    const flushWanted = r.bool("flushWanted");
    const ioLba = r.number("ioLba", 0, Number.MAX_SAFE_INTEGER);
    const ioBlocks = r.int("ioBlocks", 0, 0xffff_ffff);
    const chunkLength = r.int("chunkLength", 0, CHUNK_BYTES);
    const chunkPos = r.int("chunkPos", 0, BUFFER_BYTES);
    const op = r.int("op", 0, 3) as StoreOp;
    const opLba = r.number("opLba", 0, Number.MAX_SAFE_INTEGER);
    const opBlocks = r.int("opBlocks", 0, CHUNK_BLOCKS);
    const buffer = r.bytes("buffer", BUFFER_BYTES);
    const sense = r.int("sense", 0, 0xff_ffff);
    const senseInfo = r.number("senseInfo", -1, 0xffff_ffff);
    const unitAttention = r.int("unitAttention", 0, 0xff_ffff);
    const preventRemoval = r.bool("preventRemoval");
    const loaded = r.bool("loaded");
    const blockCount = r.number("blockCount", -1, Number.MAX_SAFE_INTEGER);
    // The bytes the engine will send or write must all be there (a read in flight refills them).
    const needed = op === StoreOp.Read ? 0 : source === Source.StoreWrite ? chunkPos : chunkLength;
    if (buffer.length < needed)
      throw r.error("buffer", `holds ${buffer.length} bytes; the saved position needs ${needed}`);
    const mediumChanged = blockCount !== (this.storeNow?.blockCount ?? -1);
    return () => {
      applyUsb();
      this.phaseNow = phase;
      this.awaitingReset = awaitingReset;
      this.tag = tag;
      this.hostLength = hostLength;
      this.moved = moved;
      this.relevant = relevant;
      this.relevantDone = relevantDone;
      this.source = source;
      this.cswStatus = cswStatus;
      this.flushWanted = flushWanted;
      this.ioLba = ioLba;
      this.ioBlocks = ioBlocks;
      this.chunkLength = chunkLength;
      this.chunkPos = chunkPos;
      this.buffer.set(buffer, 0);
      this.sense = sense;
      this.senseInfo = senseInfo;
      this.unitAttention = mediumChanged && this.storeNow !== null ? Senses.MediumChanged : unitAttention;
      this.preventRemoval = preventRemoval;
      this.loaded = loaded;
      this.reissue = StoreOp.None;
      if (op === StoreOp.None) {
        // An answer still out from before the restore belongs to another timeline: dropped.
        if (this.op !== StoreOp.None) this.opStale = true;
        return;
      }
      this.opLba = opLba;
      this.opBlocks = opBlocks;
      if (this.storeNow === null) {
        if (this.op !== StoreOp.None) this.opStale = true;
        this.mediumLostDuringTransfer();
      } else if (this.op !== StoreOp.None) {
        // The store still works on an operation of before the restore: drop its answer, then re-issue.
        this.opStale = true;
        this.reissue = op;
      } else {
        this.op = op;
        this.callStore(this.storeNow, op);
      }
    };
  }
}

/** The device's data intention for one command (BOT 6.7: Dn, Di, Do). */
const Intent = { None: 0, In: 1, Out: 2 } as const;
type Intent = (typeof Intent)[keyof typeof Intent];

function storageModel(options: MassStorageOptions, product: string, serialNumber: string): DeviceModel {
  return {
    maxPacketSize0: 64,
    vendorId: options.vendorId ?? DEFAULT_VENDOR_ID,
    productId: options.productId ?? DEFAULT_PRODUCT_ID,
    manufacturer: "uhci",
    product,
    serialNumber,
    configurations: [
      {
        maxPowerMa: 100,
        interfaces: [
          {
            alternates: [
              {
                interfaceClass: 0x08, // mass storage
                interfaceSubClass: 0x06, // SCSI transparent command set
                interfaceProtocol: 0x50, // Bulk-Only Transport
                endpoints: [
                  {
                    address: EndpointDirection.In | (STORAGE_BULK_IN & 0x0f),
                    type: EndpointType.Bulk,
                    maxPacketSize: STORAGE_MAX_PACKET,
                    interval: 0,
                  },
                  {
                    address: EndpointDirection.Out | STORAGE_BULK_OUT,
                    type: EndpointType.Bulk,
                    maxPacketSize: STORAGE_MAX_PACKET,
                    interval: 0,
                  },
                ],
              },
            ],
          },
        ],
      },
    ],
  };
}
