import type { Restorable } from "../machine/snapshot.ts";
import type { UsbDevice } from "./device.ts";

/**
 * How a restore treats a device (design guide rule 11):
 * - `in-place`: the device's whole state is data (an emulated keyboard, a microphone): it is saved with
 *   the controller and restored into the device plugged into the same port, and the guest carries on
 *   as if nothing happened.
 * - `reattach`: the device's state lives outside the emulator (passthrough: a real device behind
 *   USB/IP, WebUSB, libusb; the async-host model of one). Its requests in flight cannot be saved, and
 *   the real device has moved on meanwhile, so a restore is a surprise removal and a fresh connect:
 *   outstanding requests are cancelled, the device is reset, and the port shows the disconnect and the
 *   connect (CSC) so that the guest re-enumerates it.
 */
export const SnapshotMode = {
  InPlace: "in-place",
  Reattach: "reattach",
} as const;
export type SnapshotMode = (typeof SnapshotMode)[keyof typeof SnapshotMode];

/** A device that can take part in a snapshot; any other {@link UsbDevice} is re-attached on restore. */
export interface SnapshotDevice extends UsbDevice, Restorable {
  readonly snapshotMode: SnapshotMode;
  /** The `kind` of the states {@link saveState} makes ("usb-keyboard"): a device restores only its own. */
  readonly stateKind: string;
}

/** True for a device that saves its state and restores it in place. */
export function restoresInPlace(device: UsbDevice): device is SnapshotDevice {
  const candidate = device as Partial<SnapshotDevice>;
  return (
    candidate.snapshotMode === SnapshotMode.InPlace &&
    typeof candidate.saveState === "function" &&
    typeof candidate.prepareRestore === "function" &&
    typeof candidate.stateKind === "string"
  );
}
