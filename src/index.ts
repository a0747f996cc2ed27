/**
 * `uhci`: the machine parts, the USB core, the UHCI controller and the devices. Nothing reachable from
 * here imports a Node built-in or another package, so this entry runs unchanged in a browser, a Worker
 * and Node (`scripts/check-layers.ts` enforces it; `test/package/pack.test.ts` bundles it for a browser).
 *
 * The other entries: `uhci/v86` (the v86 adapter), `uhci/web` (the WebAudio bridge: a page's microphone
 * and speakers, browser-only), `uhci/guest` (the software guest driver, for device authors' tests),
 * `uhci/node` (WAV files, file-backed sticks, USB/IP over TCP and its WebSocket relay, the bundled
 * guest image).
 */
export * from "./controller/uhci/index.ts";
export * from "./devices/async-host/index.ts";
export * from "./devices/audio/index.ts";
export * from "./devices/hid/index.ts";
export * from "./devices/hub/index.ts";
export * from "./devices/storage/index.ts";
export * from "./machine/index.ts";
export * from "./usb/index.ts";
export * from "./usbip/index.ts";
