/** Hub class constants (USB 2.0 chapter 11; a USB 1.1 hub uses the same values, USB 1.1 chapter 11). */

/** bDeviceClass / bInterfaceClass of a hub (USB 2.0 11.23.1). */
export const HUB_CLASS = 0x09;
/** bDescriptorType of the hub class descriptor (USB 2.0 11.23.2.1, table 11-13). */
export const HUB_DESCRIPTOR_TYPE = 0x29;

/** bRequest values of the hub class requests (USB 2.0 table 11-16). */
export const HubRequest = {
  GetStatus: 0,
  ClearFeature: 1,
  /** USB 1.1 only (USB 1.1 11.16.2.3); reserved in USB 2.0. */
  GetState: 2,
  SetFeature: 3,
  GetDescriptor: 6,
  SetDescriptor: 7,
  /** High-speed hubs' transaction translator requests (USB 2.0 11.24.2.3, .9, .11, .12): not a 1.1 hub's. */
  ClearTtBuffer: 8,
  ResetTt: 9,
  GetTtState: 10,
  StopTt: 11,
} as const;

/** Hub feature selectors (USB 2.0 table 11-17, recipient hub). */
export const HubFeature = {
  CHubLocalPower: 0,
  CHubOverCurrent: 1,
} as const;

/** Port feature selectors (USB 2.0 table 11-17, recipient port). */
export const PortFeature = {
  Connection: 0,
  Enable: 1,
  Suspend: 2,
  OverCurrent: 3,
  Reset: 4,
  Power: 8,
  LowSpeed: 9,
  CConnection: 16,
  CEnable: 17,
  CSuspend: 18,
  COverCurrent: 19,
  CReset: 20,
  Test: 21,
  Indicator: 22,
} as const;

/** wPortStatus bits (USB 2.0 11.24.2.7.1, table 11-21). */
export const PortStatus = {
  Connection: 1 << 0,
  Enable: 1 << 1,
  Suspend: 1 << 2,
  OverCurrent: 1 << 3,
  Reset: 1 << 4,
  Power: 1 << 8,
  LowSpeed: 1 << 9,
} as const;

/** wPortChange bits (USB 2.0 11.24.2.7.2, table 11-22): the C_PORT_* features, at bit (selector − 16). */
export const PortChange = {
  Connection: 1 << 0,
  Enable: 1 << 1,
  Suspend: 1 << 2,
  OverCurrent: 1 << 3,
  Reset: 1 << 4,
} as const;

/** wHubCharacteristics (USB 2.0 11.23.2.1, table 11-13). */
export const HubCharacteristics = {
  /** Bits 1:0 = 01: each port's power is switched on its own. */
  IndividualPowerSwitching: 0x0001,
  /** Bits 4:3 = 01: over-current is reported per port. */
  IndividualOverCurrent: 0x0008,
} as const;
