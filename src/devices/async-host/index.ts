/**
 * A device whose data requests complete asynchronously, like real passthrough (USB/IP, WebUSB,
 * libusb): the seam passthrough backends plug into. See README.md in this folder.
 */
export * from "./async-host-device.ts";
export * from "./async-iso-wrapper.ts";
export * from "./completion-schedule.ts";
export * from "./counter-source.ts";
export * from "./default-model.ts";
export * from "./iso-stream.ts";
export * from "./recording-sink.ts";
export * from "./request-timing.ts";
export * from "./seeded-random.ts";
