import { EndpointType } from "../../usb/constants.ts";
import { type DeviceModel, EndpointDirection, IsoSync } from "../../usb/descriptors/model.ts";

/** The endpoints of {@link asyncHostModel}. */
export const AsyncHostEndpoint = {
  IsoIn: EndpointDirection.In | 1,
  IsoOut: EndpointDirection.Out | 2,
  BulkIn: EndpointDirection.In | 3,
  BulkOut: EndpointDirection.Out | 4,
} as const;

/** Interface numbers of {@link asyncHostModel}. */
export const AsyncHostInterface = {
  /** Alternate 0 has no endpoints; alternate 1 streams. */
  Iso: 0,
  Bulk: 1,
} as const;

export interface AsyncHostModelOptions {
  /** wMaxPacketSize of both iso endpoints; default 192 (48 kHz, 16 bit, stereo: one frame's samples). */
  readonly isoPacketSize?: number;
  readonly vendorId?: number;
  readonly productId?: number;
}

/**
 * A vendor-class device shaped like a USB audio streaming function, for tests and as a stand-in until a
 * passthrough backend supplies the real device's descriptors. Interface 0 has a zero-bandwidth
 * alternate 0 and a streaming alternate 1 (as UAC 1.0 streaming interfaces do, so the host selects
 * alternate 1 to start a stream); interface 1 holds a bulk pair.
 */
export function asyncHostModel(options: AsyncHostModelOptions = {}): DeviceModel {
  const isoPacketSize = options.isoPacketSize ?? 192;
  return {
    maxPacketSize0: 64,
    // pid.codes test VID (free for test devices).
    vendorId: options.vendorId ?? 0x1209,
    productId: options.productId ?? 0x0001,
    manufacturer: "uhci",
    product: "Async host device",
    configurations: [
      {
        maxPowerMa: 100,
        interfaces: [
          {
            alternates: [
              { interfaceClass: 0xff },
              {
                interfaceClass: 0xff,
                endpoints: [
                  {
                    address: AsyncHostEndpoint.IsoIn,
                    type: EndpointType.Isochronous,
                    sync: IsoSync.Asynchronous,
                    maxPacketSize: isoPacketSize,
                    interval: 1,
                  },
                  {
                    address: AsyncHostEndpoint.IsoOut,
                    type: EndpointType.Isochronous,
                    sync: IsoSync.Adaptive,
                    maxPacketSize: isoPacketSize,
                    interval: 1,
                  },
                ],
              },
            ],
          },
          {
            alternates: [
              {
                interfaceClass: 0xff,
                endpoints: [
                  {
                    address: AsyncHostEndpoint.BulkIn,
                    type: EndpointType.Bulk,
                    maxPacketSize: 64,
                    interval: 0,
                  },
                  {
                    address: AsyncHostEndpoint.BulkOut,
                    type: EndpointType.Bulk,
                    maxPacketSize: 64,
                    interval: 0,
                  },
                ],
              },
            ],
          },
        ],
      },
    ],
  };
}
