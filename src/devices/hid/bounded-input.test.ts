/**
 * Input a person makes cannot grow a device's report queue without bound (issue 9, item 5): pointer
 * motion coalesces into the waiting report as a real mouse accumulates it between polls (HID 1.11
 * Appendix B.2: 8-bit relative fields), key and button changes each keep a report of their own below
 * the queue's bound, and at the bound the newest report takes the current state and the event is counted.
 * Everything through the devices' public API and the packet test host.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { PortEvent, UsbPort } from "../../usb/port.ts";
import { PacketHost } from "../../usb/testing/packet-host.ts";
import type { HidDevice } from "./hid-device.ts";
import { UsbKeyboard } from "./keyboard.ts";
import { UsbMouse } from "./mouse.ts";
import { MouseButton } from "./pointer-device.ts";
import { DEFAULT_REPORT_QUEUE_LIMIT } from "./report-queue.ts";
import { UsbTablet } from "./tablet.ts";
import { hidRequests as req } from "./testing/requests.ts";

function ready<T extends HidDevice>(device: T): { device: T; host: PacketHost } {
  const host = new PacketHost(device);
  host.enumerate();
  return { device, host };
}

const signed = (byte: number): number => (byte << 24) >> 24;
/** A mouse report as [buttons, dx, dy, wheel] with signed motion. */
const motion = (r: readonly number[]): number[] => [r[0]!, signed(r[1]!), signed(r[2]!), signed(r[3]!)];
const xy = (r: readonly number[]): [number, number] => [r[1]! | (r[2]! << 8), r[3]! | (r[4]! << 8)];

function countersAddUp(device: HidDevice): void {
  assert.equal(device.reportsQueued, device.reportsSent + device.reportsDiscarded + device.pendingReports);
}

describe("relative mouse: motion coalesces between polls", () => {
  it("moves made before the host polls add up in one report; after a poll a new report starts", () => {
    const { device, host } = ready(new UsbMouse());
    for (let i = 0; i < 10; i++) device.move(3, -4);
    assert.equal(device.pendingReports, 1);
    assert.deepEqual(host.drain().map(motion), [[0, 30, -40, 0]]);
    device.move(1, 1);
    device.move(2, 2);
    assert.deepEqual(host.drain().map(motion), [[0, 3, 3, 0]]);
    countersAddUp(device);
  });

  it("splits at the ±127 limit only as needed: the waiting report is filled, the rest starts a new one", () => {
    const { device, host } = ready(new UsbMouse());
    device.move(100, -20);
    device.move(100, -20);
    device.move(-10, 0);
    const reports = host.drain().map(motion);
    assert.deepEqual(reports, [
      [0, 127, -40, 0],
      [0, 63, 0, 0],
    ]);
    assert.deepEqual(
      reports.reduce(([x, y], r) => [x! + r[1]!, y! + r[2]!], [0, 0]),
      [190, -40],
    );
  });

  it("a million small moves while the host does not poll need only the reports their net motion fills", () => {
    const { device: jitter, host: jitterHost } = ready(new UsbMouse());
    for (let i = 0; i < 1_000_000; i++) jitter.move(i % 2 === 0 ? 5 : -5, i % 2 === 0 ? -2 : 2);
    assert.equal(jitter.pendingReports, 1, "back and forth: the report never fills");
    assert.deepEqual(jitterHost.drain().map(motion), [[0, 0, 0, 0]]);

    const { device, host } = ready(new UsbMouse());
    // Net 500,000 right and 333,334 down: ceil(500,000 / 127) = 3,938 reports, not a million.
    for (let i = 0; i < 1_000_000; i++) device.move(i % 2 === 0 ? 7 : -6, i % 3 === 0 ? 1 : 0);
    assert.equal(device.pendingReports, 3938);
    assert.equal(device.reportsOverflowed, 0);
    const reports = host.drain().map(motion);
    assert.deepEqual(
      reports.reduce(([x, y], r) => [x! + r[1]!, y! + r[2]!], [0, 0]),
      [500_000, 333_334],
    );
    for (const r of reports) assert.ok(Math.abs(r[1]!) <= 127 && Math.abs(r[2]!) <= 127);
  });

  it("a long one-way drift fills reports of ±127 up to the bound, then is merged and counted, never beyond", () => {
    const limit = 16;
    const { device, host } = ready(new UsbMouse({ reportQueueLimit: limit }));
    for (let i = 0; i < 10_000; i++) device.move(5, 0);
    assert.equal(device.pendingReports, limit);
    assert.ok(device.reportsOverflowed > 0);
    const reports = host.drain().map(motion);
    assert.equal(reports.length, limit);
    for (const r of reports) assert.deepEqual(r, [0, 127, 0, 0]);
    countersAddUp(device);
  });

  it("a button change always gets its own report: a press lands where the pointer was, drags stay exact", () => {
    const { device, host } = ready(new UsbMouse());
    device.move(5, 0);
    device.move(5, 0);
    device.buttonDown(MouseButton.Left);
    device.move(7, 0);
    device.move(0, 2);
    device.buttonUp(MouseButton.Left);
    device.move(1, 1);
    assert.deepEqual(host.drain().map(motion), [
      [0, 10, 0, 0],
      [1, 0, 0, 0],
      [1, 7, 2, 0],
      [0, 0, 0, 0],
      [0, 1, 1, 0],
    ]);
  });

  it("wheel turns coalesce with wheel turns only, so motion and scrolling keep their order", () => {
    const { device, host } = ready(new UsbMouse());
    device.wheel(1);
    device.wheel(2);
    device.move(4, 0);
    device.wheel(-1);
    device.wheel(-200);
    assert.deepEqual(host.drain().map(motion), [
      [0, 0, 0, 3],
      [0, 4, 0, 0],
      [0, 0, 0, -127],
      [0, 0, 0, -74],
    ]);
  });

  it("a report the host asked for too short (babble, resent) still takes more motion, as a real mouse's does", () => {
    const { device, host } = ready(new UsbMouse());
    device.move(7, 0);
    assert.equal(host.poll(1, 2).status, "babble");
    device.move(1, 0);
    assert.deepEqual(host.drain().map(motion), [[0, 8, 0, 0]]);
    assert.equal(device.reportsSent, 1);
  });
});

describe("absolute tablet: the waiting position is replaced", () => {
  it("a thousand points before a poll are one report of the last point; polled each time, every point", () => {
    const { device, host } = ready(new UsbTablet());
    for (let i = 1; i <= 1000; i++) device.moveTo(i * 30, 32767 - i * 30);
    assert.equal(device.pendingReports, 1);
    assert.deepEqual(host.drain().map(xy), [[30_000, 2767]]);
    const seen: [number, number][] = [];
    for (let i = 1; i <= 100; i++) {
      device.moveTo(i, 2 * i);
      seen.push(...host.drain().map(xy));
    }
    assert.deepEqual(
      seen,
      Array.from({ length: 100 }, (_, k) => [k + 1, 2 * (k + 1)]),
    );
    countersAddUp(device);
  });

  it("buttons and wheel keep their own reports at the point they happened", () => {
    const { device, host } = ready(new UsbTablet());
    device.moveTo(100, 100);
    device.moveTo(200, 200);
    device.buttonDown(MouseButton.Left);
    device.moveTo(300, 300);
    device.moveTo(400, 400);
    device.wheel(1);
    device.wheel(1);
    device.moveTo(500, 500);
    device.buttonUp(MouseButton.Left);
    // [buttons, x, y, wheel] of each report.
    const point = (r: readonly number[]) => [r[0]!, ...xy(r), signed(r[5]!)];
    assert.deepEqual(host.drain().map(point), [
      [0, 200, 200, 0],
      [1, 200, 200, 0],
      [1, 400, 400, 0],
      [1, 400, 400, 2],
      [1, 500, 500, 0],
      [0, 500, 500, 0],
    ]);
    assert.deepEqual(point(host.control(req.getReport(1, 0, 8)).data), [0, 500, 500, 0]);
  });
});

describe("the queue's bound", () => {
  it("defaults to 4096 reports, is readable, and must hold at least two", () => {
    assert.equal(DEFAULT_REPORT_QUEUE_LIMIT, 4096);
    assert.equal(new UsbKeyboard().reportQueueLimit, 4096);
    assert.equal(new UsbTablet({ reportQueueLimit: 10 }).reportQueueLimit, 10);
    assert.throws(() => new UsbMouse({ reportQueueLimit: 1 }), RangeError);
    assert.throws(() => new UsbMouse({ reportQueueLimit: 2.5 }), RangeError);
  });

  it("keyboard: below the bound no key change is dropped; beyond it the newest report takes the current keys, counted", () => {
    const limit = 8;
    const { device, host } = ready(new UsbKeyboard({ reportQueueLimit: limit }));
    // 6 reports: A down/up, B down/up, C down/up.
    device.typeText("abc");
    device.keyDown("D");
    device.keyDown("E"); // the 8th report: the queue is full now
    device.keyUp("D"); // merged: the newest report becomes "E held"
    device.keyUp("E"); // merged: the newest report becomes "nothing held"
    assert.equal(device.pendingReports, limit);
    assert.equal(device.reportsOverflowed, 2);
    const key = (...usages: number[]) => [0, 0, ...usages, ...Array(6 - usages.length).fill(0)];
    assert.deepEqual(host.drain(), [
      key(0x04),
      key(),
      key(0x05),
      key(),
      key(0x06),
      key(),
      key(0x07),
      key(), // was "D and E held": overwritten by the final state, so no key is left stuck down
    ]);
    countersAddUp(device);
    // Room again: every change is its own report.
    device.press("F");
    assert.deepEqual(host.drain(), [key(0x09), key()]);
    assert.equal(device.reportsOverflowed, 2);
  });

  it("mouse: clicks beyond the bound end in the current button state; motion merged there adds up, clipped", () => {
    const limit = 4;
    const { device, host } = ready(new UsbMouse({ reportQueueLimit: limit }));
    device.click(MouseButton.Left); // 2 reports
    device.move(10, 0); // 3
    device.buttonDown(MouseButton.Right); // 4: full
    device.move(20, 5); // merged into the newest: right held, (20, 5)
    device.click(MouseButton.Left); // merged twice: still right held, left up again
    device.move(120, 0); // merged: 20 + 120 clipped to 127
    assert.equal(device.pendingReports, limit);
    assert.equal(device.reportsOverflowed, 4);
    assert.deepEqual(host.drain().map(motion), [
      [MouseButton.Left, 0, 0, 0],
      [0, 0, 0, 0],
      [0, 10, 0, 0],
      [MouseButton.Right, 127, 5, 0],
    ]);
    assert.equal(device.buttons, MouseButton.Right);
    countersAddUp(device);
  });

  it("a bus reset discards what waits, and the next motion starts a fresh report", () => {
    const { device, host } = ready(new UsbMouse());
    device.move(3, 3);
    host.enumerate(); // resets the device
    assert.equal(device.reportsDiscarded, 1);
    device.move(1, 0);
    assert.deepEqual(host.drain().map(motion), [[0, 1, 0, 0]]);
  });
});

describe("saved state", () => {
  const roundTrip = <T>(value: T): T => JSON.parse(JSON.stringify(value)) as T;

  it("keeps the overflow count and lets motion go on coalescing into the restored waiting report", () => {
    const { device: mouse } = ready(new UsbMouse({ reportQueueLimit: 3 }));
    mouse.click(MouseButton.Left);
    mouse.move(5, 0);
    mouse.click(MouseButton.Right); // both merged at the bound
    mouse.move(2, 0); // merged too (the newest report holds a button change), and now holds motion
    const fresh = new UsbMouse({ reportQueueLimit: 3 });
    fresh.restoreState(roundTrip(mouse.saveState()));
    assert.equal(fresh.reportsOverflowed, 3);
    // Coalesced (not merged, not counted) into the restored newest report, as in the original.
    fresh.move(3, 1);
    mouse.move(3, 1);
    assert.deepEqual(fresh.saveState(), mouse.saveState());
    assert.equal(fresh.reportsOverflowed, 3);
    // Restored configured: a host polls it at once.
    assert.deepEqual(new PacketHost(fresh).drain().map(motion), [
      [MouseButton.Left, 0, 0, 0],
      [0, 0, 0, 0],
      [0, 10, 1, 0],
    ]);
  });

  it("a state saved before queues had a bound (no overflow count, no report kind) still restores", () => {
    const tablet = new UsbTablet();
    tablet.moveTo(10, 20);
    const state = roundTrip(tablet.saveState()) as unknown as { pointer: { hid: Record<string, unknown> } };
    delete state.pointer.hid.reportsOverflowed;
    delete state.pointer.hid.newestKind;
    const fresh = new UsbTablet();
    fresh.restoreState(state);
    assert.equal(fresh.reportsOverflowed, 0);
    assert.equal(fresh.pendingReports, 1);
    // The restored report is not known to be motion: a new point gets a report of its own.
    fresh.moveTo(30, 40);
    assert.equal(fresh.pendingReports, 2);
  });
});

describe("remote wakeup on coalesced input (USB 2.0 9.4.1)", () => {
  it("a move folded into a waiting report still wakes a suspended host that enabled remote wakeup", () => {
    const device = new UsbMouse();
    let wakeups = 0;
    const port = new UsbPort(0, (_port, event) => {
      if (event === PortEvent.RemoteWakeup) wakeups++;
    });
    port.attach(device);
    port.setEnabled(true);
    const host = new PacketHost(device);
    host.enumerate();
    host.control(req.setRemoteWakeup(true));
    device.move(1, 0);
    port.setSuspended(true);
    device.move(1, 0);
    assert.equal(device.pendingReports, 1, "coalesced");
    assert.equal(wakeups, 1);
  });
});
