/**
 * Emulated USB HID devices: a boot keyboard, a boot relative mouse and an absolute tablet, on a shared
 * {@link HidDevice} base that any further HID device can extend. Input queues are bounded and pointer
 * motion coalesces between polls; see README.md in this folder.
 */
export * from "./device-model.ts";
export * from "./hid-constants.ts";
export * from "./hid-device.ts";
export * from "./keyboard.ts";
export * from "./keyboard-usages.ts";
export * from "./mouse.ts";
export { MouseButton, PointerDevice } from "./pointer-device.ts";
/** The item helpers (`usagePage`, `usage`, `input`…) under one name, for authors of new descriptors. */
export * as reportItems from "./report-descriptor.ts";
export { CollectionType, FieldFlag, type ReportItem, reportDescriptor } from "./report-descriptor.ts";
export * from "./report-descriptor-parse.ts";
export * from "./report-descriptors.ts";
export * from "./tablet.ts";
export { type Keystroke, usKeystroke, usKeystrokes } from "./us-layout.ts";
export * from "./usages.ts";
