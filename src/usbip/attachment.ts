import type { Clock } from "../machine/clock.ts";
import type { UsbDevice } from "../usb/device.ts";
import { DEFAULT_OP_TIMEOUT_MS, importUsbipDevice, type UsbipError } from "./connection.ts";
import type { UsbipConnect } from "./transport.ts";
import { UsbipDevice, type UsbipDeviceOptions } from "./usbip-device.ts";

export interface UsbipAttachmentOptions {
  /** Opens a stream to the server (`connectUsbipTcp(host, port)` in Node). */
  readonly connect: UsbipConnect;
  /** The exported device's busid (`uhci usbip list` shows them). */
  readonly busid: string;
  /** The controller's clock. */
  readonly clock: Clock;
  /** Plugs the imported device in (`controller.attach(port, device)`, a hub port…). */
  readonly plug: (device: UsbDevice) => void;
  /** Unplugs it (`controller.detach(port)`). */
  readonly unplug: (device: UsbDevice) => void;
  readonly device?: Omit<UsbipDeviceOptions, "clock">;
  readonly timeoutMs?: number;
}

/**
 * One imported device's life on a port: import and plug in; when the server closes the connection,
 * vanishes or sends a reply that does not parse, unplug it (the guest sees a disconnect, as when a
 * cable is pulled) and keep the reason; {@link connect} again on request. The emulator never sees an
 * exception from any of it: requests the guest had out die with the unplug (their tickets are
 * cancelled by the controller), so nothing that arrives later is written.
 */
export class UsbipAttachment {
  /** The device while plugged in. */
  device: UsbipDevice | null = null;
  /** Why the last connection ended (null: still up, never up, or closed from this side). */
  lastError: UsbipError | null = null;
  /** Called after the device was unplugged because its connection ended. */
  onDisconnect: ((error: UsbipError | null) => void) | null = null;
  /** Imports so far (reconnects included). */
  imports = 0;

  constructor(private readonly options: UsbipAttachmentOptions) {}

  /** Imports the device and plugs it in (unplugging the previous one first). Rejects with a UsbipError. */
  async connect(): Promise<UsbipDevice> {
    this.close();
    const o = this.options;
    const connection = await importUsbipDevice(o.connect, o.busid, o.timeoutMs ?? DEFAULT_OP_TIMEOUT_MS);
    const device = new UsbipDevice(connection, { ...o.device, clock: o.clock });
    device.onGone = (error) => {
      if (this.device !== device) return;
      this.device = null;
      this.lastError = error;
      o.unplug(device);
      this.onDisconnect?.(error);
    };
    this.device = device;
    this.lastError = null;
    this.imports++;
    o.plug(device);
    return device;
  }

  /** Unplugs the device and closes its connection (the server makes the device exportable again). */
  close(): void {
    const device = this.device;
    if (device === null) return;
    this.device = null;
    this.options.unplug(device);
    device.close();
  }
}
