/** The public API of uhci: the machine parts, the USB core, the UHCI controller, devices, the software
 * guest driver and the v86 adapter. */
export * from "./adapters/v86/index.ts";
export * from "./controller/uhci/index.ts";
export * from "./devices/async-host/index.ts";
export * from "./devices/audio/index.ts";
export * from "./devices/hid/index.ts";
/** The software guest driver has its own register names (as an OS driver would): a namespace. */
export * as guest from "./guest/index.ts";
export * from "./machine/index.ts";
export * from "./usb/index.ts";
