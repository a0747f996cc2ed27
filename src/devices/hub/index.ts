export * from "./hub-constants.ts";
export * from "./usb-hub.ts";
