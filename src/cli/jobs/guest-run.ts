import type { UhciOnV86 } from "../../adapters/v86/uhci-v86.ts";
import { BUNDLED_GUEST_CMDLINE, type GuestImages } from "../../node/bundled-guest.ts";
import type { UsbDevice } from "../../usb/device.ts";
import type { GuestEvent } from "../guest-vm/guest-serial.ts";
import { GuestVm } from "../guest-vm/guest-vm.ts";

export interface GuestRunOptions {
  images: GuestImages;
  /** The guest's test plan (guest-image/README.md). */
  plan: string;
  /** Devices on root ports 1 and 2. */
  usb: readonly (UsbDevice | null)[];
  onProgress: (message: string) => void;
  /** Called once the controller exists, before the guest runs (USB/IP devices need its clock). */
  onUhci?: (handle: UhciOnV86) => void;
  /** A progress line for a guest event, or undefined to say nothing. */
  describe?: (event: GuestEvent) => string | undefined;
}

/** Progress lines every job shows. */
function commonProgress(event: GuestEvent): string | undefined {
  if (event.event === "begin") return "Linux is running /init; loading modules…";
  if (event.event === "modules") return "modules loaded; waiting for USB devices…";
  if (event.event === "usb-device" && event["roothub"] !== true)
    return `guest enumerated ${String(event["product"])}`;
  return undefined;
}

/**
 * Boots the bundled guest with `plan`, shows progress, runs `body` against the machine, and always
 * stops it. An error carries the last console lines, which usually say why the guest got stuck.
 */
export async function withGuest<T>(options: GuestRunOptions, body: (vm: GuestVm) => Promise<T>): Promise<T> {
  const progress = options.onProgress;
  progress("starting v86…");
  const vm = await GuestVm.boot({
    images: options.images,
    cmdline: `${BUNDLED_GUEST_CMDLINE} uhci.plan=${options.plan}`,
    usb: options.usb,
    ...(options.onUhci === undefined ? {} : { onUhci: options.onUhci }),
    onEvent: (event) => {
      const line = options.describe?.(event) ?? commonProgress(event);
      if (line !== undefined) progress(line);
    },
  });
  const ticker = setInterval(() => {
    if (vm.serial.events.length === 0) progress("booting Linux…");
  }, 1000);
  try {
    return await body(vm);
  } catch (error) {
    const tail = vm.serial.consoleLines.slice(-15).join("\n");
    throw new Error(
      `${error instanceof Error ? error.message : String(error)}${tail ? `\nlast console lines:\n${tail}` : ""}`,
    );
  } finally {
    clearInterval(ticker);
    await vm.stop();
  }
}

/** The kernel release the guest reported in its `begin` event. */
export function kernelOf(begin: GuestEvent): string {
  return typeof begin["kernel"] === "string" ? begin["kernel"] : "";
}
