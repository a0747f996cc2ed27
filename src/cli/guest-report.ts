import type { GuestEvent } from "./guest-vm/guest-serial.ts";
import type { InputComparison, InputEvent } from "./input-check.ts";

/** A USB device as the guest's sysfs describes it (the bundled guest's `usb-device` event). */
export interface GuestUsbDevice {
  path: string;
  vendorId: string;
  productId: string;
  manufacturer: string;
  product: string;
  /** Mbit/s as sysfs gives it: "1.5" or "12". */
  speed: string;
  /** Drivers bound to the device, its interfaces and HID devices below them ("usb", "usbhid", "hid-generic"). */
  drivers: string[];
}

const text = (value: unknown): string => (typeof value === "string" ? value : "");
const num = (value: unknown): number => (typeof value === "number" && Number.isFinite(value) ? value : 0);

/**
 * The non-root-hub USB devices from the guest's `usb-device` events. A plan may list the bus more than
 * once (an `enum:now` after the streams sees drivers that bound late on a loaded host: /init's wait
 * stops waiting for unbound interfaces 3 s after the devices appear); the last listing is the truth.
 */
export function guestUsbDevices(events: readonly GuestEvent[]): GuestUsbDevice[] {
  const devices = new Map<string, GuestUsbDevice>();
  for (const e of events) {
    if (e.event === "item-begin" && text(e["item"]).startsWith("enum")) devices.clear();
    if (e.event !== "usb-device" || e["roothub"] === true) continue;
    const drivers = new Set<string>();
    if (text(e["driver"])) drivers.add(text(e["driver"]));
    const interfaces = Array.isArray(e["interfaces"]) ? (e["interfaces"] as unknown[]) : [];
    for (const i of interfaces) {
      if (typeof i !== "object" || i === null) continue;
      const { driver, hidDriver } = i as { driver?: unknown; hidDriver?: unknown };
      if (text(driver)) drivers.add(text(driver));
      if (text(hidDriver)) drivers.add(text(hidDriver));
    }
    devices.set(text(e["path"]), {
      path: text(e["path"]),
      vendorId: text(e["idVendor"]),
      productId: text(e["idProduct"]),
      manufacturer: text(e["manufacturer"]),
      product: text(e["product"]),
      speed: text(e["speed"]),
      drivers: [...drivers],
    });
  }
  return [...devices.values()];
}

/** Input nodes (event0…) the guest found, with the USB vendor/product they belong to. */
export function guestInputNodes(
  events: readonly GuestEvent[],
): { node: string; vendor: string; product: string; name: string }[] {
  return events
    .filter((e) => e.event === "input-device")
    .map((e) => ({
      node: text(e["node"]),
      vendor: text(e["vendor"]),
      product: text(e["product"]),
      name: text(e["name"]),
    }));
}

/** The evdev events the guest read from one node, in order. */
export function guestInputEvents(events: readonly GuestEvent[], node: string): InputEvent[] {
  return events
    .filter((e) => e.event === "input" && e["node"] === node)
    .map((e) => ({ type: num(e["type"]), code: num(e["code"]), value: num(e["value"]) }));
}

/** The input node of the USB device with this product ID, if the guest found one. */
export function inputNodeOf(
  nodes: readonly { node: string; product: string }[],
  productId: number,
): string | undefined {
  const hex = productId.toString(16).padStart(4, "0");
  return nodes.find((n) => n.product === hex)?.node;
}

/** One line about an input comparison, for the human-readable reports. */
export function describeInput(c: InputComparison): string {
  const order = c.exact ? "all in order" : "NOT as sent";
  return `sent ${c.sent} events, guest received ${c.received}, lost ${c.lost}, unexpected ${c.unexpected} — ${order}`;
}

/**
 * What a guest tool wrote to its standard error, line by line: the bundled /init sends arecord's and
 * aplay's stderr as `log` events with `source` "arecord" / "aplay" after the tool ends, so a failure
 * carries the tool's own words ("arecord: pcm_read: read error: Input/output error").
 */
export function guestToolOutput(events: readonly GuestEvent[], tool: string): string[] {
  return events
    .filter((e) => e.event === "log" && e["source"] === tool)
    .map((e) => text(e["line"]).trim())
    .filter((line) => line !== "");
}

export const roundSeconds = (seconds: number) => Math.round(seconds * 100) / 100;
