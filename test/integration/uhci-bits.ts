/** USBSTS bits (UHCI 2.1.2), restated for the integration tests. */
export const UsbStsBits = {
  USBINT: 1 << 0,
  USBERRINT: 1 << 1,
  HSE: 1 << 3,
  HCPE: 1 << 4,
  HCHALTED: 1 << 5,
} as const;
