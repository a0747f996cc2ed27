import { EndpointType, UsbSpeed } from "../../usb/constants.ts";
import { hidDescriptor } from "../../usb/descriptors/hid.ts";
import { type DeviceModel, EndpointDirection, type EndpointModel } from "../../usb/descriptors/model.ts";
import { HID_INTERFACE_CLASS, type HidInterfaceProtocol, type HidSubclass } from "./hid-constants.ts";

/** Where the devices' endpoints live: one interrupt IN, and for a keyboard optionally one interrupt OUT. */
export const HidEndpoint = {
  In: EndpointDirection.In | 1,
  Out: EndpointDirection.Out | 2,
} as const;

/** Each device has one interface, number 0. */
export const HID_INTERFACE_NUMBER = 0;

/** What a person plugging a device in may choose; everything has a default. */
export interface HidDeviceOptions {
  /** A short name for reports and traces. */
  readonly name?: string;
  readonly vendorId?: number;
  readonly productId?: number;
  readonly manufacturer?: string;
  readonly product?: string;
  /** Some hosts (Windows) key per-device settings on the serial number; give each device its own. */
  readonly serialNumber?: string;
  /** bInterval of the interrupt endpoints in frames (ms); 1–255, default 10. */
  readonly interval?: number;
  /**
   * The most input reports waiting for the host (at least 2; default 4096, see HidDevice): beyond it
   * an event is merged into the newest report and counted in `reportsOverflowed`.
   */
  readonly reportQueueLimit?: number;
  /**
   * Full speed (default) or low speed, as most real keyboards and mice are. A low-speed device on a
   * root port shows LSDA in PORTSC, behind a hub PORT_LOW_SPEED, and hears only TDs with the LS bit
   * set (UHCI 3.2.2; behind a hub, the PRE packet: USB 2.0 8.6.5, 11.8.4). Its interrupt endpoints
   * carry at most 8 bytes and are polled every 10–255 ms (USB 2.0 5.7.3, 9.6.6).
   */
  readonly speed?: UsbSpeed;
}

/** What a concrete device contributes to its descriptors. */
export interface HidModelSpec {
  readonly subclass: HidSubclass;
  readonly protocol: HidInterfaceProtocol;
  readonly reportDescriptor: Uint8Array;
  /** wMaxPacketSize of the interrupt IN endpoint: the report-protocol input report length. */
  readonly inputReportLength: number;
  /** wMaxPacketSize of the interrupt OUT endpoint; absent when the device has none. */
  readonly outEndpointLength?: number;
  readonly defaultProductId: number;
  readonly defaultProduct: string;
}

/**
 * Test vendor ID from pid.codes (0x1209), free for test devices. Anyone shipping the devices to users
 * should pass their own vendorId and productId.
 */
export const DEFAULT_VENDOR_ID = 0x1209;
const DEFAULT_INTERVAL_MS = 10;
const LOW_SPEED_MIN_INTERVAL_MS = 10;
const LOW_SPEED_MAX_PACKET = 8;

/**
 * The descriptor tree of a one-interface HID device (HID 1.11 5.1, 7.1): full or low speed, bus powered,
 * remote wakeup advertised so a host may let a keypress or a mouse move wake it (USB 2.0 9.4.1).
 */
export function hidDeviceModel(spec: HidModelSpec, options: HidDeviceOptions): DeviceModel {
  const interval = options.interval ?? DEFAULT_INTERVAL_MS;
  if (!Number.isInteger(interval) || interval < 1 || interval > 255) {
    throw new RangeError(`interval ${interval} must be 1–255 frames (USB 2.0 9.6.6)`);
  }
  if (options.speed === UsbSpeed.Low) {
    if (interval < LOW_SPEED_MIN_INTERVAL_MS) {
      throw new RangeError(
        `a low-speed interrupt endpoint is polled every 10–255 ms, not ${interval} (USB 2.0 9.6.6)`,
      );
    }
    const largest = Math.max(spec.inputReportLength, spec.outEndpointLength ?? 0);
    if (largest > LOW_SPEED_MAX_PACKET) {
      throw new RangeError(
        `a low-speed interrupt endpoint carries at most 8 bytes, not ${largest} (USB 2.0 5.7.3)`,
      );
    }
  }
  const endpoints: EndpointModel[] = [
    {
      address: HidEndpoint.In,
      type: EndpointType.Interrupt,
      maxPacketSize: spec.inputReportLength,
      interval,
    },
  ];
  if (spec.outEndpointLength !== undefined) {
    endpoints.push({
      address: HidEndpoint.Out,
      type: EndpointType.Interrupt,
      maxPacketSize: spec.outEndpointLength,
      interval,
    });
  }
  return {
    // Class 0 at device level: the class is given per interface (HID 1.11 5.1).
    maxPacketSize0: 8,
    vendorId: options.vendorId ?? DEFAULT_VENDOR_ID,
    productId: options.productId ?? spec.defaultProductId,
    manufacturer: options.manufacturer ?? "uhci",
    product: options.product ?? spec.defaultProduct,
    serialNumber: options.serialNumber ?? "1",
    configurations: [
      {
        remoteWakeup: true,
        maxPowerMa: 100,
        interfaces: [
          {
            number: HID_INTERFACE_NUMBER,
            alternates: [
              {
                interfaceClass: HID_INTERFACE_CLASS,
                interfaceSubClass: spec.subclass,
                interfaceProtocol: spec.protocol,
                extra: [hidDescriptor({ reportDescriptor: spec.reportDescriptor })],
                endpoints,
              },
            ],
          },
        ],
      },
    ],
  };
}
