import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { Pid } from "./constants.ts";
import {
  ControlPipe,
  type ControlReply,
  type ControlRequestHandler,
  ControlStage,
  ControlStatus,
} from "./control-pipe.ts";
import { PacketStatus, UsbPacket } from "./packet.ts";
import { SetupPacket } from "./setup-packet.ts";

/** A handler that records what reaches it and answers with `reply`. */
class RecordingHandler implements ControlRequestHandler {
  reply: ControlReply = ControlStatus.Ack;
  readonly requests: { setup: string; dataOut: number[] }[] = [];
  completed = 0;

  handleControlRequest(setup: SetupPacket, dataOut: Uint8Array): ControlReply {
    this.requests.push({ setup: setup.toString(), dataOut: Array.from(dataOut) });
    return this.reply;
  }
  controlTransferComplete(): void {
    this.completed++;
  }
}

const MPS = 8;

function setupPacket(
  bmRequestType: number,
  bRequest: number,
  wValue: number,
  wIndex: number,
  wLength: number,
) {
  const packet = new UsbPacket();
  packet.init(Pid.Setup, 0, 0, 8);
  SetupPacket.of(bmRequestType, bRequest, wValue, wIndex, wLength).encode(packet.data);
  return packet;
}

function inPacket(length: number, capacity?: number): UsbPacket {
  const packet = new UsbPacket(capacity);
  packet.init(Pid.In, 0, 0, length);
  packet.data.fill(0xee);
  return packet;
}

function outPacket(bytes: number[]): UsbPacket {
  const packet = new UsbPacket();
  packet.init(Pid.Out, 0, 0, bytes.length);
  packet.data.set(bytes);
  return packet;
}

function received(packet: UsbPacket): number[] {
  return Array.from(packet.data.subarray(0, packet.actualLength));
}

function fixture(bufferSize?: number) {
  const handler = new RecordingHandler();
  const pipe = new ControlPipe(handler, MPS, bufferSize);
  const send = (packet: UsbPacket): UsbPacket => {
    pipe.handle(packet);
    return packet;
  };
  return { handler, pipe, send };
}

const REPLY = Uint8Array.from({ length: 18 }, (_, i) => i + 1);

describe("ControlPipe device-to-host", () => {
  it("answers at SETUP, sends the reply in packets of bMaxPacketSize0 and ends with a short one", () => {
    const { handler, pipe, send } = fixture();
    handler.reply = REPLY;
    assert.equal(send(setupPacket(0x80, 6, 0x0100, 0, 64)).status, PacketStatus.Ack);
    assert.equal(handler.requests.length, 1);
    assert.deepEqual(handler.requests[0]!.dataOut, []);
    assert.equal(pipe.stage, ControlStage.DataIn);
    // The host offers 64 bytes per packet; the device never sends more than its max packet size.
    const first = send(inPacket(64));
    assert.deepEqual(received(first), [1, 2, 3, 4, 5, 6, 7, 8]);
    assert.deepEqual(received(send(inPacket(64))), [9, 10, 11, 12, 13, 14, 15, 16]);
    const last = send(inPacket(64));
    assert.deepEqual(received(last), [17, 18]);
    assert.equal(last.data[2], 0xee, "nothing written past actualLength");
    assert.equal(handler.completed, 0);
    assert.equal(send(outPacket([])).status, PacketStatus.Ack);
    assert.equal(handler.completed, 1);
    assert.equal(pipe.stage, ControlStage.Idle);
  });

  it("cuts the reply to wLength and to what each packet allows", () => {
    const { handler, send } = fixture();
    handler.reply = REPLY;
    send(setupPacket(0x80, 6, 0x0100, 0, 5));
    const small = send(inPacket(3));
    assert.deepEqual(received(small), [1, 2, 3]);
    assert.deepEqual(received(send(inPacket(64))), [4, 5]);
    // wLength reached: the data stage is over, so another IN is out of sequence.
    assert.equal(send(inPacket(64)).status, PacketStatus.Stall);
  });

  it("ends a reply of whole packets shorter than wLength with a zero-length packet", () => {
    const { handler, send } = fixture();
    handler.reply = REPLY.subarray(0, 16);
    send(setupPacket(0x80, 6, 0x0100, 0, 64));
    assert.equal(send(inPacket(8)).actualLength, 8);
    assert.equal(send(inPacket(8)).actualLength, 8);
    const zlp = send(inPacket(8));
    assert.equal(zlp.status, PacketStatus.Ack);
    assert.equal(zlp.actualLength, 0);
    assert.equal(send(inPacket(8)).status, PacketStatus.Stall);
  });

  it("accepts the status stage before all data was read (USB 2.0 8.5.3.2)", () => {
    const { handler, send } = fixture();
    handler.reply = REPLY;
    send(setupPacket(0x80, 6, 0x0100, 0, 64));
    send(inPacket(8));
    assert.equal(send(outPacket([])).status, PacketStatus.Ack);
    assert.equal(handler.completed, 1);
  });

  it("stalls a refused request in its data stage, until the next SETUP", () => {
    const { handler, pipe, send } = fixture();
    handler.reply = ControlStatus.Stall;
    assert.equal(send(setupPacket(0x80, 6, 0x0600, 0, 10)).status, PacketStatus.Ack);
    assert.equal(send(inPacket(8)).status, PacketStatus.Stall);
    assert.equal(send(inPacket(8)).status, PacketStatus.Stall);
    assert.equal(send(outPacket([])).status, PacketStatus.Stall);
    assert.equal(handler.completed, 0);
    handler.reply = REPLY;
    send(setupPacket(0x80, 6, 0x0100, 0, 18));
    assert.equal(pipe.stage, ControlStage.DataIn);
    assert.equal(send(inPacket(8)).status, PacketStatus.Ack);
  });

  it("sends zero bytes for an ACK to a device-to-host request", () => {
    const { send } = fixture();
    send(setupPacket(0xc0, 1, 0, 0, 4));
    const packet = send(inPacket(8));
    assert.equal(packet.status, PacketStatus.Ack);
    assert.equal(packet.actualLength, 0);
  });

  it("stalls a status stage that carries data", () => {
    const { handler, send } = fixture();
    handler.reply = REPLY;
    send(setupPacket(0x80, 6, 0x0100, 0, 18));
    send(inPacket(18));
    assert.equal(send(outPacket([1])).status, PacketStatus.Stall);
    assert.equal(handler.completed, 0);
  });
});

describe("ControlPipe host-to-device", () => {
  it("collects OUT data up to wLength and handles the request at the status stage", () => {
    const { handler, send } = fixture();
    assert.equal(send(setupPacket(0x21, 9, 0x0200, 0, 10)).status, PacketStatus.Ack);
    assert.equal(handler.requests.length, 0, "not before the data is in");
    assert.equal(send(outPacket([1, 2, 3, 4, 5, 6, 7, 8])).actualLength, 8);
    send(outPacket([9, 10]));
    assert.equal(handler.requests.length, 0);
    const status = send(inPacket(8));
    assert.equal(status.status, PacketStatus.Ack);
    assert.equal(status.actualLength, 0);
    assert.deepEqual(handler.requests, [
      { setup: "setup 21 09 0200 0000 000a", dataOut: [1, 2, 3, 4, 5, 6, 7, 8, 9, 10] },
    ]);
    assert.equal(handler.completed, 1);
  });

  it("handles a no-data request at the status IN, whatever its direction bit", () => {
    const { handler, send } = fixture();
    send(setupPacket(0x00, 9, 1, 0, 0));
    assert.equal(send(inPacket(0)).status, PacketStatus.Ack);
    send(setupPacket(0x80, 0, 0, 0, 0));
    assert.equal(send(inPacket(0)).status, PacketStatus.Ack);
    assert.equal(handler.requests.length, 2);
    assert.equal(handler.completed, 2);
  });

  it("stalls the status stage when the handler refuses, and does not complete", () => {
    const { handler, send } = fixture();
    handler.reply = ControlStatus.Stall;
    send(setupPacket(0x00, 9, 7, 0, 0));
    assert.equal(send(inPacket(0)).status, PacketStatus.Stall);
    assert.equal(handler.completed, 0);
  });

  it("stalls OUT data beyond wLength without copying any of it", () => {
    const { handler, send } = fixture();
    send(setupPacket(0x21, 9, 0, 0, 4));
    assert.equal(send(outPacket([1, 2, 3])).status, PacketStatus.Ack);
    const over = send(outPacket([4, 5]));
    assert.equal(over.status, PacketStatus.Stall);
    assert.equal(over.actualLength, 0);
    // The transfer is dead: its status stage stalls too and the handler never runs.
    assert.equal(send(inPacket(0)).status, PacketStatus.Stall);
    assert.equal(handler.requests.length, 0);
  });
});

describe("ControlPipe bounds and sequencing", () => {
  it("refuses a SETUP whose wLength exceeds the buffer before any data moves (QEMU CVE-2020-14364)", () => {
    const { handler, pipe, send } = fixture(64);
    assert.equal(pipe.bufferSize, 64);
    // Device-to-host: the handler is never asked, the data stage stalls.
    handler.reply = new Uint8Array(4096).fill(0x55);
    assert.equal(send(setupPacket(0x80, 6, 0x0200, 0, 65)).status, PacketStatus.Ack);
    assert.equal(handler.requests.length, 0);
    const packet = inPacket(64);
    assert.equal(send(packet).status, PacketStatus.Stall);
    assert.equal(packet.actualLength, 0);
    assert.ok(
      packet.data.every((b) => b === 0xee),
      "nothing written into the host's buffer",
    );
    // Host-to-device: every OUT stalls and nothing is accepted.
    send(setupPacket(0x21, 9, 0, 0, 0xffff));
    for (let i = 0; i < 20; i++) {
      const out = send(outPacket(new Array(64).fill(i)));
      assert.equal(out.status, PacketStatus.Stall);
      assert.equal(out.actualLength, 0);
    }
    assert.equal(send(inPacket(0)).status, PacketStatus.Stall);
    assert.equal(handler.requests.length, 0);
    // wLength equal to the buffer is fine.
    handler.reply = new Uint8Array(100).fill(0x55);
    send(setupPacket(0x80, 6, 0x0200, 0, 64));
    let total = 0;
    for (let i = 0; i < 8; i++) total += send(inPacket(64)).actualLength;
    assert.equal(total, 64);
  });

  it("aborts a transfer in progress on a new SETUP (USB 2.0 8.5.3)", () => {
    const { handler, send } = fixture();
    handler.reply = REPLY;
    send(setupPacket(0x80, 6, 0x0100, 0, 18));
    send(inPacket(8));
    // The host gives up mid-data and starts over: the new reply starts from its first byte.
    handler.reply = Uint8Array.of(0xa0, 0xa1);
    send(setupPacket(0x80, 6, 0x0300, 0, 2));
    assert.deepEqual(received(send(inPacket(8))), [0xa0, 0xa1]);
    // An OUT transfer abandoned halfway never reaches the handler.
    send(setupPacket(0x21, 9, 0, 0, 4));
    send(outPacket([1, 2]));
    handler.reply = REPLY;
    send(setupPacket(0x80, 6, 0x0100, 0, 8));
    assert.deepEqual(received(send(inPacket(8))), [1, 2, 3, 4, 5, 6, 7, 8]);
    assert.equal(send(outPacket([])).status, PacketStatus.Ack);
    assert.deepEqual(
      handler.requests.map((r) => r.setup),
      ["setup 80 06 0100 0000 0012", "setup 80 06 0300 0000 0002", "setup 80 06 0100 0000 0008"],
    );
    assert.equal(handler.completed, 1);
  });

  it("stalls out-of-sequence tokens and malformed SETUPs", () => {
    const { handler, pipe, send } = fixture();
    assert.equal(send(inPacket(8)).status, PacketStatus.Stall);
    assert.equal(send(outPacket([])).status, PacketStatus.Stall);
    const short = new UsbPacket();
    short.init(Pid.Setup, 0, 0, 7);
    assert.equal(send(short).status, PacketStatus.Stall);
    const odd = new UsbPacket();
    odd.init(0x5a, 0, 0, 0);
    assert.equal(send(odd).status, PacketStatus.Stall);
    assert.equal(pipe.stage, ControlStage.Idle);
    // After a completed transfer, only a SETUP is in sequence.
    handler.reply = REPLY;
    send(setupPacket(0x80, 6, 0x0100, 0, 2));
    send(inPacket(8));
    send(outPacket([]));
    assert.equal(send(outPacket([])).status, PacketStatus.Stall);
    assert.equal(send(inPacket(8)).status, PacketStatus.Stall);
    pipe.reset();
    assert.equal(pipe.stage, ControlStage.Idle);
  });

  it("never writes past a packet buffer smaller than the packet length would allow", () => {
    const { handler, send } = fixture();
    handler.reply = REPLY;
    send(setupPacket(0x80, 6, 0x0100, 0, 18));
    const tiny = inPacket(2, 2);
    send(tiny);
    assert.equal(tiny.actualLength, 2);
    assert.deepEqual(received(tiny), [1, 2]);
  });
});
