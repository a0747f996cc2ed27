import { encodeBase64, type JsonValue, type StateReader } from "../machine/snapshot.ts";
import { Pid } from "./constants.ts";
import { PacketStatus, type UsbPacket } from "./packet.ts";
import { SETUP_PACKET_LENGTH, SetupPacket } from "./setup-packet.ts";

/** A request handler's verdict when it has no data to return. */
export const ControlStatus = {
  /** Request accepted (no data, or zero bytes of data for a device-to-host request). */
  Ack: "ack",
  /** Request error: the pipe returns STALL in the data or status stage (USB 2.0 8.5.3.4, 9.2.7). */
  Stall: "stall",
} as const;
export type ControlStatus = (typeof ControlStatus)[keyof typeof ControlStatus];

/**
 * What a control request handler returns: the data for a device-to-host request (the pipe copies it
 * and cuts it to wLength, so a handler may return a reused buffer), or a {@link ControlStatus}.
 * Room is left for an async verdict later: a new member here, completed through the pipe.
 */
export type ControlReply = Uint8Array | ControlStatus;

export interface ControlRequestHandler {
  /**
   * Answers one request. Device-to-host requests with a data stage are answered at SETUP time (with
   * `dataOut` empty); all others once the host has sent its data, at the status stage. `setup` and
   * `dataOut` are the pipe's own buffers, valid only during the call.
   */
  handleControlRequest(setup: SetupPacket, dataOut: Uint8Array): ControlReply;
  /** The status stage of the request finished successfully (SET_ADDRESS acts only now, USB 2.0 9.4.6). */
  controlTransferComplete(setup: SetupPacket): void;
}

/** Where the pipe is in a control transfer (USB 2.0 8.5.3). */
export const ControlStage = {
  /** No transfer, or the last one ended or stalled: only a SETUP is in sequence. */
  Idle: "idle",
  /** Sending reply data on IN; a zero-length OUT is the status stage. */
  DataIn: "data-in",
  /** Receiving data on OUT (none when wLength is 0); an IN is the status stage. */
  DataOut: "data-out",
} as const;
export type ControlStage = (typeof ControlStage)[keyof typeof ControlStage];

/** Largest data stage the pipe accepts; a SETUP asking for more is stalled (QEMU CVE-2020-14364). */
export const DEFAULT_CONTROL_BUFFER_SIZE = 4096;

const EMPTY = new Uint8Array(0);

/**
 * The SETUP / DATA / STATUS stage machine of a default control pipe, written once for every device.
 *
 * Every byte moved is bounded three ways: by wLength, by the pipe's own buffer (a SETUP whose wLength
 * exceeds it is refused before any data moves), and by what the host's packet allows. A device must
 * always accept a SETUP (USB 2.0 8.5.3), so a refused request is ACKed at SETUP and its next data or
 * status token is STALLed, as real hardware does; a new SETUP always abandons the transfer in progress.
 */
export class ControlPipe {
  /** The request of the transfer in progress (or the last one). */
  readonly setup = new SetupPacket();
  private readonly buffer: Uint8Array;
  private stageNow: ControlStage = ControlStage.Idle;
  /** DataIn: bytes of reply in `buffer`. DataOut: bytes received into `buffer`. */
  private filled = 0;
  /** DataIn: bytes already sent. */
  private sent = 0;
  /** DataIn: the device ended the data stage (short packet or wLength reached). */
  private dataInDone = false;

  constructor(
    private readonly handler: ControlRequestHandler,
    /** bMaxPacketSize0: the most the device puts in one data packet. */
    private readonly maxPacketSize: number,
    bufferSize = DEFAULT_CONTROL_BUFFER_SIZE,
  ) {
    this.buffer = new Uint8Array(bufferSize);
  }

  get stage(): ControlStage {
    return this.stageNow;
  }

  /** The largest wLength the pipe accepts. */
  get bufferSize(): number {
    return this.buffer.length;
  }

  /** Drops any transfer in progress (bus reset). */
  reset(): void {
    this.stageNow = ControlStage.Idle;
  }

  /**
   * The transfer in progress as data (part of a device's saved state): a snapshot may fall between the
   * stages of a control transfer, which spans several TDs and possibly several frames.
   */
  saveState(): { [key: string]: JsonValue } {
    const setup = new Uint8Array(SETUP_PACKET_LENGTH);
    this.setup.encode(setup);
    return {
      stage: this.stageNow,
      setup: encodeBase64(setup),
      /** DataIn: the reply; DataOut: what the host has sent so far. */
      data: encodeBase64(this.buffer.subarray(0, this.filled)),
      // Meaningful only while sending reply data; otherwise left over from an earlier transfer.
      sent: this.stageNow === ControlStage.DataIn ? this.sent : 0,
      dataInDone: this.stageNow === ControlStage.DataIn && this.dataInDone,
    };
  }

  /** Validates a {@link saveState} object; returns what applies it. */
  prepareRestore(state: StateReader): () => void {
    const stage = state.oneOf("stage", [ControlStage.Idle, ControlStage.DataIn, ControlStage.DataOut]);
    const setupBytes = state.bytes("setup", SETUP_PACKET_LENGTH);
    const setup = new SetupPacket();
    if (!setup.parse(setupBytes)) throw state.error("setup", `must hold ${SETUP_PACKET_LENGTH} bytes`);
    const data = state.bytes("data", this.buffer.length);
    if (stage !== ControlStage.Idle && data.length > setup.wLength) {
      throw state.error("data", `holds ${data.length} bytes, more than wLength ${setup.wLength}`);
    }
    const sent = state.int("sent", 0, data.length);
    const dataInDone = state.bool("dataInDone");
    return () => {
      this.stageNow = stage;
      this.setup.copyFrom(setup);
      this.buffer.set(data);
      this.filled = data.length;
      this.sent = sent;
      this.dataInDone = dataInDone;
    };
  }

  /** Handles one SETUP, IN or OUT transaction on endpoint 0; sets `packet.status` and never throws. */
  handle(packet: UsbPacket): void {
    packet.actualLength = 0;
    switch (packet.pid) {
      case Pid.Setup:
        this.onSetup(packet);
        return;
      case Pid.In:
        this.onIn(packet);
        return;
      case Pid.Out:
        this.onOut(packet);
        return;
      default:
        this.stall(packet);
    }
  }

  private stall(packet: UsbPacket): void {
    packet.status = PacketStatus.Stall;
    this.stageNow = ControlStage.Idle;
  }

  private onSetup(packet: UsbPacket): void {
    // Whatever was in progress is abandoned: the host has moved on (USB 2.0 8.5.3).
    this.stageNow = ControlStage.Idle;
    if (packet.length !== SETUP_PACKET_LENGTH || !this.setup.parse(packet.data)) {
      packet.status = PacketStatus.Stall;
      return;
    }
    packet.status = PacketStatus.Ack;
    packet.actualLength = SETUP_PACKET_LENGTH;
    const setup = this.setup;
    // Refuse before any data moves: the buffer bounds every stage (QEMU CVE-2020-14364).
    if (setup.wLength > this.buffer.length) return;
    this.filled = 0;
    if (!setup.isDeviceToHost || setup.wLength === 0) {
      // Host-to-device (or no data): collect the data; the request is handled at the status stage.
      this.stageNow = ControlStage.DataOut;
      return;
    }
    const reply = this.handler.handleControlRequest(setup, EMPTY);
    if (reply === ControlStatus.Stall) return;
    if (reply !== ControlStatus.Ack) {
      const length = Math.min(reply.length, setup.wLength);
      for (let i = 0; i < length; i++) this.buffer[i] = reply[i]!;
      this.filled = length;
    }
    this.sent = 0;
    this.dataInDone = false;
    this.stageNow = ControlStage.DataIn;
  }

  private onIn(packet: UsbPacket): void {
    if (this.stageNow === ControlStage.DataIn) {
      this.sendData(packet);
    } else if (this.stageNow === ControlStage.DataOut) {
      this.statusIn(packet);
    } else {
      this.stall(packet);
    }
  }

  private onOut(packet: UsbPacket): void {
    if (this.stageNow === ControlStage.DataOut) {
      this.receiveData(packet);
    } else if (this.stageNow === ControlStage.DataIn) {
      // Status stage of a device-to-host transfer: a zero-length OUT, which the host may send before
      // it has read all the data (USB 2.0 8.5.3.2). Data here is a protocol error.
      if (packet.length !== 0) {
        this.stall(packet);
        return;
      }
      packet.status = PacketStatus.Ack;
      this.stageNow = ControlStage.Idle;
      this.handler.controlTransferComplete(this.setup);
    } else {
      this.stall(packet);
    }
  }

  private sendData(packet: UsbPacket): void {
    if (this.dataInDone) {
      this.stall(packet);
      return;
    }
    const room = Math.min(packet.length, packet.data.length);
    const chunk = Math.min(this.filled - this.sent, room, this.maxPacketSize);
    const data = packet.data;
    for (let i = 0; i < chunk; i++) data[i] = this.buffer[this.sent + i]!;
    this.sent += chunk;
    packet.actualLength = chunk;
    packet.status = PacketStatus.Ack;
    // A packet shorter than both wMaxPacketSize and what the host asked for ends the data stage, as
    // does reaching wLength (USB 2.0 5.5.3); a reply of a whole number of packets ends with a zero-length one.
    if (chunk < Math.min(this.maxPacketSize, room) || this.sent >= this.setup.wLength) this.dataInDone = true;
  }

  private receiveData(packet: UsbPacket): void {
    const length = packet.length;
    // More than wLength (or than the packet holds) is refused whole; nothing is copied.
    if (length > packet.data.length || this.filled + length > this.setup.wLength) {
      this.stall(packet);
      return;
    }
    const data = packet.data;
    for (let i = 0; i < length; i++) this.buffer[this.filled + i] = data[i]!;
    this.filled += length;
    packet.actualLength = length;
    packet.status = PacketStatus.Ack;
  }

  private statusIn(packet: UsbPacket): void {
    const reply = this.handler.handleControlRequest(this.setup, this.buffer.subarray(0, this.filled));
    if (reply === ControlStatus.Stall) {
      this.stall(packet);
      return;
    }
    packet.status = PacketStatus.Ack;
    this.stageNow = ControlStage.Idle;
    this.handler.controlTransferComplete(this.setup);
  }
}
