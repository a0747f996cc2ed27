/**
 * The other half of the proof: the project's Linux guest booted in v86 (src/cli/guest-vm/) with the
 * peer's devices imported by our USB/IP client (`UsbipAttachment` over `connectUsbipTcp`) and plugged
 * into the emulated UHCI's root ports, as `uhci start --usbip` does. The guest runs a test plan
 * (guest-image/README.md) and reports on its serial console.
 */
import type { GuestEvent } from "../../../src/cli/guest-vm/guest-serial.ts";
import { GuestVm } from "../../../src/cli/guest-vm/guest-vm.ts";
import { BUNDLED_GUEST_CMDLINE, loadGuestImages } from "../../../src/node/bundled-guest.ts";
import { connectUsbipTcp } from "../../../src/node/usbip-tcp.ts";
import {
  UsbipAttachment,
  type UsbipConnect,
  type UsbipDevice,
  type UsbipDeviceOptions,
} from "../../../src/usbip/index.ts";
import type { UsbipPeer } from "./peer.ts";

export interface GuestWithPeerOptions {
  peer: UsbipPeer;
  /** Bus ids to import, one per root port (port 0, port 1). */
  busids: readonly string[];
  /** The guest's test plan. */
  plan: string;
  /** What /init does after the plan: "shell" leaves a shell on the serial console (uhci.end). */
  end?: "shell";
  /** Seconds the guest's items wait for a device or a sound card (uhci.timeout). */
  guestTimeoutS?: number;
  device?: Omit<UsbipDeviceOptions, "clock">;
  onEvent?: (event: GuestEvent) => void;
  /** Wraps each TCP connect, e.g. to record the traffic a failure came from. */
  wrapConnect?: (connect: UsbipConnect) => UsbipConnect;
}

export interface GuestWithPeer {
  vm: GuestVm;
  attachments: UsbipAttachment[];
  devices: UsbipDevice[];
  /** Stops the guest and closes the imports (the server resets the devices and exports them again). */
  stop(): Promise<void>;
}

/**
 * Boots the guest with an empty controller, imports each busid and plugs it into its root port. The
 * guest's kernel takes ~10 s to reach /init in v86, so the devices are there before uhci-hcd loads.
 */
export async function bootGuestWithPeer(options: GuestWithPeerOptions): Promise<GuestWithPeer> {
  const vm = await GuestVm.boot({
    images: loadGuestImages(),
    cmdline: `${BUNDLED_GUEST_CMDLINE} uhci.timeout=${options.guestTimeoutS ?? 60} uhci.plan=${options.plan}${options.end === undefined ? "" : ` uhci.end=${options.end}`}`,
    usb: [null, null],
    ...(options.onEvent === undefined ? {} : { onEvent: options.onEvent }),
  });
  const uhci = vm.uhci;
  if (uhci === null) {
    await vm.stop();
    throw new Error("the guest VM has no UHCI controller");
  }
  const [host = "127.0.0.1", port = "3240"] = options.peer.address.split(":");
  const attachments: UsbipAttachment[] = [];
  const devices: UsbipDevice[] = [];
  try {
    for (const [index, busid] of options.busids.entries()) {
      const attachment = new UsbipAttachment({
        connect:
          options.wrapConnect?.(connectUsbipTcp(host, Number(port))) ?? connectUsbipTcp(host, Number(port)),
        busid,
        clock: uhci.clock,
        plug: (device) => uhci.controller.attach(index, device),
        unplug: () => uhci.controller.detach(index),
        ...(options.device === undefined ? {} : { device: options.device }),
      });
      attachments.push(attachment);
      devices.push(await attachment.connect());
    }
  } catch (error) {
    for (const a of attachments) a.close();
    await vm.stop();
    throw error;
  }
  return {
    vm,
    attachments,
    devices,
    stop: async () => {
      for (const a of attachments) a.close();
      await vm.stop();
    },
  };
}

/** Resolves with the guest's `done` event (the plan ran to its end), or rejects with its last lines. */
export async function guestDone(vm: GuestVm, timeoutMs: number): Promise<GuestEvent> {
  try {
    return await vm.waitForEvent((e) => e.event === "done", timeoutMs);
  } catch (error) {
    const tail = vm.serial.consoleLines.slice(-25).join("\n");
    throw new Error(
      `${error instanceof Error ? error.message : String(error)}; last console lines:\n${tail}`,
    );
  }
}

/** The guest's events named `name`. */
export function eventsNamed(vm: GuestVm, name: string): GuestEvent[] {
  return vm.serial.events.filter((e) => e.event === name);
}
