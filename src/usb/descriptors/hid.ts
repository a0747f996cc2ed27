import { DescriptorType } from "../constants.ts";
import type { ExtraDescriptor } from "./model.ts";

export interface HidDescriptorOptions {
  /** The report descriptor the interface serves; only its length goes into the HID descriptor. */
  readonly reportDescriptor: Uint8Array;
  /** bcdHID; defaults to 0x0111 (HID 1.11). */
  readonly hidVersion?: number;
  /** bCountryCode; 0 = not localised (HID 1.11 6.2.1). */
  readonly countryCode?: number;
}

/**
 * The HID class descriptor that follows a HID interface descriptor (HID 1.11 6.2.1), describing one
 * report descriptor. wDescriptorLength comes from the report descriptor itself, never a hand count.
 */
export function hidDescriptor(options: HidDescriptorOptions): ExtraDescriptor {
  const version = options.hidVersion ?? 0x0111;
  const length = options.reportDescriptor.length;
  if (length > 0xffff)
    throw new RangeError(`report descriptor of ${length} bytes does not fit wDescriptorLength`);
  return {
    type: DescriptorType.Hid,
    body: Uint8Array.of(
      version & 0xff,
      (version >> 8) & 0xff,
      options.countryCode ?? 0,
      1, // bNumDescriptors: the report descriptor
      DescriptorType.HidReport,
      length & 0xff,
      length >> 8,
    ),
  };
}
