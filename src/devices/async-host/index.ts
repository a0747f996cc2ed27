/**
 * A device whose data requests complete asynchronously, like real passthrough (USB/IP, WebUSB,
 * libusb): the seam passthrough backends plug into. See README.md in this folder. The test patterns
 * (CounterSource, RecordingSink), the seeded PRNG and the completion ring are internals and test tools,
 * not public API.
 */
export * from "./async-host-device.ts";
export * from "./async-iso-wrapper.ts";
export * from "./default-model.ts";
export * from "./iso-stream.ts";
export * from "./request-timing.ts";
