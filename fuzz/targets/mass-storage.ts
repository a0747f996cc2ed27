/**
 * The USB stick's Bulk-Only Transport and SCSI parser, driven with UsbPacket objects as a host
 * controller delivers them: CBWs (real commands with bent fields, random opcodes and CDBs, wrong
 * lengths, signatures, flags, LUNs and CB lengths, every direction and dCBWDataTransferLength),
 * data and status packets in and out of sequence and of any length, class requests (Bulk-Only Mass
 * Storage Reset, GET MAX LUN) and CLEAR_FEATURE(HALT) with right and wrong fields, bus resets and
 * SET_CONFIGURATION, and a medium that answers late, fails, answers twice, throws, is read-only, is
 * ejected or changed, plus snapshot round trips into a fresh device.
 *
 * After every packet and store answer:
 * - nothing was thrown; the status is ACK, NAK or STALL; nothing was written past `packet.length`
 *   and `actualLength ≤ min(length, 64)`;
 * - a bulk STALL only after an invalid CBW (BOT 6.6.1: nothing else stalls);
 * - a CSW is 13 bytes, "USBS", the last CBW's tag, status 0–2, residue ≤ dCBWDataTransferLength;
 * - the medium is written only inside the range of the WRITE command in progress, never when it is
 *   read-only; data of a READ that the device sends as relevant data equals the medium's bytes;
 * - a restored device saves the same state it was restored from.
 */
import {
  BLOCK_SIZE,
  type BlockStore,
  MemoryBlockStore,
  ReadOnlyBlockStore,
  type StoreCallback,
  StoreStatus,
} from "../../src/devices/storage/block-store.ts";
import { CowBlockStore } from "../../src/devices/storage/cow-store.ts";
import { Bot, BotPhase, UsbMassStorage } from "../../src/devices/storage/mass-storage.ts";
import { cbw } from "../../src/devices/storage/testing/bot-host.ts";
import { Pid } from "../../src/usb/constants.ts";
import { PacketStatus } from "../../src/usb/packet.ts";
import { SetupPacket } from "../../src/usb/setup-packet.ts";
import { PacketHost } from "../../src/usb/testing/packet-host.ts";
import { FuzzRandom } from "../lib/random.ts";
import { check, type FuzzTarget, type Trace } from "../lib/target.ts";

const CANARY = 0xc5;
const OPCODES = [
  0x00, 0x03, 0x08, 0x0a, 0x12, 0x15, 0x1a, 0x1b, 0x1e, 0x23, 0x25, 0x28, 0x2a, 0x2f, 0x35, 0x55, 0x5a, 0x88,
  0x8a, 0x8f, 0x91, 0x9e, 0xa0, 0xa8, 0xaa, 0xaf, 0xa1, 0x85,
];

/** A store the fuzzer controls: late, failing, repeated or throwing answers; every write checked. */
class FuzzStore implements BlockStore {
  held: (() => void) | null = null;
  /** The writable range of the WRITE in progress, [from, to) in blocks; writes elsewhere are findings. */
  allowFrom = 0;
  allowTo = 0;
  constructor(
    readonly inner: BlockStore,
    private readonly rng: FuzzRandom,
    private readonly mode: "sync" | "late" | "chaos",
  ) {}
  get blockCount(): number {
    return this.inner.blockCount;
  }
  get readOnly(): boolean {
    return this.inner.readOnly;
  }
  read(lba: number, blocks: number, into: Uint8Array, done: StoreCallback): void {
    this.answer(done, (cb) => this.inner.read(lba, blocks, into, cb));
  }
  write(lba: number, blocks: number, from: Uint8Array, done: StoreCallback): void {
    check(!this.inner.readOnly || this.inner instanceof CowBlockStore, "a write reached a read-only medium");
    check(
      lba >= this.allowFrom && lba + blocks <= this.allowTo,
      () => `write ${lba}+${blocks} outside the command's ${this.allowFrom}..${this.allowTo}`,
    );
    this.answer(done, (cb) => this.inner.write(lba, blocks, from, cb));
  }
  flush(done: StoreCallback): void {
    this.answer(done, (cb) => this.inner.flush(cb));
  }
  private answer(done: StoreCallback, run: (cb: StoreCallback) => void): void {
    if (this.mode === "chaos" && this.rng.below(20) === 0) throw new Error("store throws");
    const go = () => {
      const roll = this.mode === "chaos" ? this.rng.below(10) : 9;
      if (roll === 0) done(StoreStatus.MediumError);
      else if (roll === 1) {
        run(done);
        done(StoreStatus.Ok); // a second answer
      } else run(done);
    };
    if (this.mode === "sync" || this.rng.below(3) === 0) go();
    else this.held = go;
  }
  release(): void {
    const go = this.held;
    this.held = null;
    go?.();
  }
}

export const massStorageTarget: FuzzTarget = {
  name: "mass-storage",
  summary:
    "USB stick BOT/SCSI: bent CBWs and CDBs, packets out of sequence, class requests, late/failing stores, snapshots",
  run(seed: number, trace: Trace): void {
    const rng = new FuzzRandom(seed);
    const blocks = rng.weighted([3, 3, 1]) === 0 ? rng.int(1, 8) : rng.int(1, 600);
    const memory = new MemoryBlockStore(blocks);
    const kind = rng.below(4);
    const inner: BlockStore =
      kind === 0
        ? new ReadOnlyBlockStore(memory)
        : kind === 1
          ? new CowBlockStore(new ReadOnlyBlockStore(memory))
          : memory;
    const store = new FuzzStore(inner, rng, (["sync", "late", "chaos"] as const)[rng.below(3)]!);
    let stick = new UsbMassStorage({ store });
    let host = new PacketHost(stick, 64);
    host.enumerate(1);
    let tag = 0;
    let everInvalid = false;
    let hostLength = 0;
    let readLba = -1;
    let offset = 0;
    const steps = rng.int(20, 160);
    for (let step = 0; step < steps; step++) {
      const action = rng.weighted([6, 8, 3, 2, 1, 1, 1, 1]);
      if (action === 0) {
        // A CBW: mostly well formed around a known opcode.
        const cdb = rng.bytes(16);
        cdb[0] = rng.below(5) === 0 ? rng.u32() & 0xff : OPCODES[rng.below(OPCODES.length)]!;
        if (rng.below(2) === 0) cdb[1] = 0;
        if (rng.below(2) === 0) {
          // A plausible range: LBA near the medium, a few blocks.
          const lba = rng.below(blocks + 2);
          cdb.set([0, 0, lba >> 8, lba & 0xff], 2);
          cdb[6] = 0;
          cdb[7] = 0;
          cdb[8] = rng.int(0, 4);
        }
        const op = cdb[0]!;
        const count = cdb[7]! * 256 + cdb[8]!;
        const length =
          rng.weighted([2, 3, 1]) === 0
            ? 0
            : rng.weighted([3, 1]) === 0
              ? count * BLOCK_SIZE
              : rng.int(0, 3000);
        const flags = rng.below(8) === 0 ? rng.u32() & 0xff : rng.below(2) === 0 ? 0x80 : 0;
        const cbwTag = rng.u32();
        let bytes = cbw(
          cdb,
          length,
          flags,
          cbwTag,
          rng.below(10) === 0 ? rng.int(0, 15) : 0,
          rng.below(8) === 0 ? rng.int(0, 20) : rng.int(6, 16),
        );
        if (rng.below(12) === 0) bytes = bytes.subarray(0, rng.int(0, 31));
        if (rng.below(12) === 0) {
          const at = rng.below(4);
          bytes[at] = bytes[at]! ^ (1 << rng.below(8));
        }
        const wasCommand = stick.phase === BotPhase.Command;
        const packet = send(host, Pid.Out, 2, bytes, trace);
        everInvalid ||= stick.stats.invalidCbws > 0;
        if (wasCommand && packet === PacketStatus.Ack && stick.phase !== BotPhase.Command) {
          // A command was taken: it may write only the blocks it names.
          const range = writeRange(cdb);
          store.allowFrom = range[0];
          store.allowTo = range[1];
          hostLength = length;
          tag = cbwTag;
          readLba = op === 0x28 && flags === 0x80 ? readU32(cdb, 2) : -1;
          offset = 0;
        } else if (wasCommand && packet === PacketStatus.Ack) {
          hostLength = length;
          tag = cbwTag;
          readLba = -1;
        }
      } else if (action === 1) {
        // IN on bulk: data or CSW.
        const phase = stick.phase;
        const length =
          rng.weighted([4, 1, 1]) === 0 ? 64 : rng.weighted([1, 1]) === 0 ? Bot.CSW_LENGTH : rng.int(0, 200);
        const p = host.packet;
        p.init(Pid.In, stick.address, 1, length);
        p.data.fill(CANARY);
        stick.handlePacket(p);
        everInvalid ||= stick.stats.invalidCbws > 0;
        checkPacket(p.status, p.actualLength, length, p.data, everInvalid || stick.configuration === 0);
        if (p.status === PacketStatus.Ack && phase === BotPhase.Status) {
          check(
            p.actualLength === Math.min(length, Bot.CSW_LENGTH),
            "a CSW is 13 bytes (or what the host allowed)",
          );
          if (length >= Bot.CSW_LENGTH) {
            const d = p.data;
            const sig = (d[0]! | (d[1]! << 8) | (d[2]! << 16) | (d[3]! << 24)) >>> 0;
            const cswTag = (d[4]! | (d[5]! << 8) | (d[6]! << 16) | (d[7]! << 24)) >>> 0;
            const residue = (d[8]! | (d[9]! << 8) | (d[10]! << 16) | (d[11]! << 24)) >>> 0;
            check(sig === Bot.CSW_SIGNATURE, "CSW signature");
            check(cswTag === tag, () => `CSW tag ${cswTag} for CBW tag ${tag}`);
            check(d[12]! <= 2, "CSW status 0–2");
            check(residue <= hostLength, () => `residue ${residue} > dCBWDataTransferLength ${hostLength}`);
          }
        }
        if (p.status === PacketStatus.Ack && phase === BotPhase.DataIn && readLba >= 0 && kind !== 1) {
          // Relevant READ data equals the medium (padding is zeros and is not compared: it follows a failure).
          const at = readLba * BLOCK_SIZE + offset;
          for (let i = 0; i < p.actualLength && at + i < memory.bytes.length; i++) {
            if (p.data[i] !== memory.bytes[at + i] && p.data[i] !== 0) {
              check(
                false,
                () => `READ byte ${offset + i} is ${p.data[i]}, the medium holds ${memory.bytes[at + i]}`,
              );
            }
          }
        }
        if (p.status === PacketStatus.Ack && phase === BotPhase.DataIn) offset += p.actualLength;
      } else if (action === 2) {
        // OUT on bulk: data of any length.
        const bytes = rng.bytes(rng.weighted([4, 1]) === 0 ? 64 : rng.int(0, 200));
        send(host, Pid.Out, 2, bytes, trace);
        const p = host.packet;
        everInvalid ||= stick.stats.invalidCbws > 0;
        checkPacket(p.status, p.actualLength, bytes.length, null, everInvalid || stick.configuration === 0);
      } else if (action === 3) {
        // Class and standard requests with right and bent fields.
        const which = rng.below(5);
        const setup =
          which === 0
            ? SetupPacket.of(0x21, 0xff, rng.below(4) === 0 ? 1 : 0, rng.below(4) === 0 ? 1 : 0, 0)
            : which === 1
              ? SetupPacket.of(0xa1, 0xfe, 0, 0, rng.below(4) === 0 ? 2 : 1)
              : which === 2
                ? SetupPacket.of(0x02, 1, 0, rng.below(2) === 0 ? 0x81 : 0x02)
                : which === 3
                  ? SetupPacket.of(0x00, 9, rng.int(0, 2))
                  : SetupPacket.of(
                      rng.u32() & 0xff,
                      rng.u32() & 0xff,
                      rng.u32() & 0xffff,
                      rng.u32() & 0xffff,
                      rng.int(0, 16),
                    );
        const result = host.control(setup);
        trace?.(
          `control ${setup.bmRequestType.toString(16)}/${setup.bRequest.toString(16)} → ${result.status}`,
        );
      } else if (action === 4) {
        store.release();
        trace?.("store answers");
      } else if (action === 5) {
        if (rng.below(2) === 0) stick.eject();
        else stick.insert(store);
        trace?.("medium changed");
      } else if (action === 6) {
        // Snapshot round trip into a fresh device on the same medium.
        const state = JSON.parse(JSON.stringify(stick.saveState()));
        const fresh = new UsbMassStorage({ store: stick.store === null ? null : store });
        if (stick.store === null) fresh.eject();
        fresh.restoreState(state);
        const again = JSON.parse(JSON.stringify(fresh.saveState()));
        check(JSON.stringify(again.usb) === JSON.stringify(state.usb), "restored USB state differs");
        check(again.phase === state.phase && again.tag === state.tag, "restored BOT state differs");
        stick = fresh;
        host = new PacketHost(fresh, 64);
        trace?.("snapshot round trip");
      } else {
        stick.reset();
        host.enumerate(1);
        trace?.("bus reset");
      }
    }
  },
};

/** The blocks a write command names, [from, to); [0, 0) for anything else. */
function writeRange(cdb: Uint8Array): [number, number] {
  const op = cdb[0]!;
  let lba = 0;
  let count = 0;
  if (op === 0x0a) {
    lba = ((cdb[1]! & 0x1f) << 16) | (cdb[2]! << 8) | cdb[3]!;
    count = cdb[4]! === 0 ? 256 : cdb[4]!;
  } else if (op === 0x2a) {
    lba = readU32(cdb, 2);
    count = (cdb[7]! << 8) | cdb[8]!;
  } else if (op === 0xaa) {
    lba = readU32(cdb, 2);
    count = readU32(cdb, 6);
  } else if (op === 0x8a) {
    lba = readU32(cdb, 2) * 0x1_0000_0000 + readU32(cdb, 6);
    count = readU32(cdb, 10);
  } else return [0, 0];
  return [lba, lba + count];
}

function readU32(b: Uint8Array, at: number): number {
  return ((b[at]! << 24) | (b[at + 1]! << 16) | (b[at + 2]! << 8) | b[at + 3]!) >>> 0;
}

function send(
  host: PacketHost,
  pid: number,
  endpoint: number,
  bytes: Uint8Array,
  trace: Trace,
): PacketStatus {
  const p = host.packet;
  p.init(pid, host.device.address, endpoint, bytes.length);
  p.data.set(bytes);
  host.device.handlePacket(p);
  trace?.(`${pid === Pid.Out ? "OUT" : "IN"} ${bytes.length} → ${p.status}`);
  return p.status;
}

function checkPacket(
  status: PacketStatus,
  actual: number,
  length: number,
  data: Uint8Array | null,
  /** An invalid CBW was sent at some point (halts survive snapshots), or the device is unconfigured. */
  mayStall: boolean,
): void {
  // A time-out only for an OUT packet beyond wMaxPacketSize (the stick gives no handshake).
  check(
    status === PacketStatus.Ack ||
      status === PacketStatus.Nak ||
      status === PacketStatus.Stall ||
      (status === PacketStatus.IoError && data === null && length > 64),
    () => `status ${status} for a packet of ${length}`,
  );
  check(actual <= Math.min(length, 64), () => `actualLength ${actual} for a packet of ${length}`);
  if (data !== null) {
    for (let i = length; i < length + 16 && i < data.length; i++)
      check(data[i] === CANARY, () => `byte ${i} written past the packet's length ${length}`);
  }
  check(status !== PacketStatus.Stall || mayStall, "a bulk STALL with no invalid CBW ever sent");
}
