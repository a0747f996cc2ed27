/**
 * Issue 13, item 5: the Linux guest in v86 uses devices of a real USB/IP server (Linux usbip-host +
 * Debian usbipd in the peer VM, test/usbip/peer/), imported by our client and plugged into the
 * emulated UHCI's root ports.
 * - Keyboard and tablet (interrupt IN, behind QEMU's hub on the server): keys injected on the server
 *   side with QMP send-key reach the guest's evdev in order, none lost; absolute moves arrive as the
 *   positions sent.
 * - Mass storage (bulk): the guest's usb-storage + sd_mod read the disk's first sector and all 8 MiB,
 *   whose sha256 equals the host's disk.img.
 * One peer boot, two guest boots.
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import type { GuestEvent } from "../../src/cli/guest-vm/guest-serial.ts";
import { bootGuestWithPeer, eventsNamed, guestDone } from "./peer/guest.ts";
import { sha256File, UsbipPeer } from "./peer/peer.ts";

/** QEMU qcodes typed, and the Linux key codes (input-event-codes.h) each must arrive as. */
const TYPED: readonly (readonly [string, number])[] = [
  ["u", 22],
  ["s", 31],
  ["b", 48],
  ["i", 23],
  ["p", 25],
  ["spc", 57],
  ["k", 37],
  ["e", 18],
  ["y", 21],
  ["s", 31],
  ["spc", 57],
  ["1", 2],
  ["2", 3],
  ["3", 4],
  ["0", 11],
  ["ret", 28],
  ["q", 16],
  ["w", 17],
  ["z", 44],
  ["x", 45],
  ["m", 50],
  ["l", 38],
];
/** Absolute positions sent to the tablet (QEMU's 0…0x7fff range, which usb-tablet reports as is). */
const MOVES: readonly (readonly [number, number])[] = [
  [0x1000, 0x2000],
  [0x4000, 0x0800],
  [0x7000, 0x6000],
  [0x0100, 0x7f00],
];
const EV_KEY = 1;
const EV_ABS = 3;
const ABS_X = 0;
const ABS_Y = 1;

const num = (e: GuestEvent, key: string): number =>
  typeof e[key] === "number" ? (e[key] as number) : Number.NaN;

describe("the Linux guest in v86 with devices of a real USB/IP server", () => {
  let peer: UsbipPeer;
  before(async () => {
    peer = await UsbipPeer.start({ devices: ["audio", "kbd", "tablet", "storage"] });
  });
  after(async () => {
    await peer?.stop(true);
  });

  it("receives keys injected on the server in order, none lost, and the tablet's moves", async () => {
    const kbd = peer.devices.find((d) => d.product === "QEMU USB Keyboard")?.busid ?? "";
    const tablet = peer.devices.find((d) => d.product === "QEMU USB Tablet")?.busid ?? "";
    const guest = await bootGuestWithPeer({ peer, busids: [kbd, tablet], plan: "hid:25:2" });
    try {
      await guest.vm.waitForEvent((e) => e.event === "input-open", 180_000);
      const qmp = await peer.qmp();
      for (const [qcode] of TYPED) await qmp.sendKey([qcode], 30);
      for (const [x, y] of MOVES) {
        await qmp.movePointer(x, y);
        // A move is a report's position, replaced by the next if both wait for one poll (the tablet's
        // coalescing): space them past its 10 ms interval, and the round trip through the server.
        await new Promise((r) => setTimeout(r, 300));
      }
      await guestDone(guest.vm, 120_000);
    } finally {
      await guest.stop();
    }
    const nodes = eventsNamed(guest.vm, "input-device");
    const nodeOf = (name: string) => nodes.find((e) => String(e["name"]).includes(name))?.["node"];
    const kbdNode = nodeOf("Keyboard");
    const tabletNode = nodeOf("Tablet");
    assert.ok(kbdNode !== undefined && tabletNode !== undefined, JSON.stringify(nodes));
    const input = eventsNamed(guest.vm, "input");
    const presses = input
      .filter((e) => e["node"] === kbdNode && num(e, "type") === EV_KEY && num(e, "value") === 1)
      .map((e) => num(e, "code"));
    const releases = input.filter(
      (e) => e["node"] === kbdNode && num(e, "type") === EV_KEY && num(e, "value") === 0,
    ).length;
    assert.deepEqual(
      presses,
      TYPED.map(([, code]) => code),
    );
    assert.equal(releases, TYPED.length);
    // The tablet: each position the guest saw, in order (an axis that did not change is not sent again).
    const positions: [number, number][] = [];
    let x = -1;
    let y = -1;
    for (const e of input) {
      if (e["node"] !== tabletNode) continue;
      if (num(e, "type") === EV_ABS && num(e, "code") === ABS_X) x = num(e, "value");
      if (num(e, "type") === EV_ABS && num(e, "code") === ABS_Y) y = num(e, "value");
      if (num(e, "type") === 0) positions.push([x, y]); // EV_SYN ends a report
    }
    assert.deepEqual(
      positions.filter(([px, py]) => MOVES.some(([mx, my]) => mx === px && my === py)),
      MOVES.map(([mx, my]) => [mx, my]),
      JSON.stringify(positions),
    );
  });

  it("reads the server's disk: its first sector, and a sha256 of all 8 MiB equal to the host's file", async () => {
    const storage = peer.devices.find((d) => d.product === "QEMU USB HARDDRIVE")?.busid ?? "";
    const guest = await bootGuestWithPeer({ peer, busids: [storage], plan: "wait:1", end: "shell" });
    try {
      await guest.vm.waitForEvent((e) => e.event === "shell", 180_000);
      // The disk has no partition table: sd_mod gives the whole disk as /dev/sda. The answer comes back
      // as a protocol line, so the terminal's echo of the command is never mistaken for it.
      guest.vm.sendSerial(
        "i=0; while [ ! -b /dev/sda ] && [ $i -lt 300 ]; do usleep 100000; i=$((i+1)); done; " +
          'h=$(head -c 27 /dev/sda); s=$(sha256sum /dev/sda | cut -d" " -f1); echo "@@UHCI {\\"event\\":\\"disk\\",\\"head\\":\\"$h\\",\\"sha256\\":\\"$s\\",\\"bytes\\":$(cat /sys/block/sda/size)}"\n',
      );
      const disk = await guest.vm.waitForEvent((e) => e.event === "disk", 240_000);
      assert.equal(disk["head"], "USBIP-PEER TEST DISK, LBA 0");
      assert.equal(num(disk, "bytes") * 512, 8 * 1024 * 1024);
      assert.equal(disk["sha256"], sha256File(peer.images.disk));
      const stats = guest.devices[0]?.stats;
      assert.ok(
        stats !== undefined && stats.dataUrbs + stats.bulkReadAhead.urbs > 0,
        "bulk went through the client",
      );
    } finally {
      await guest.stop();
    }
  });
});
