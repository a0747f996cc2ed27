/**
 * `uhci/node`: the parts that need Node's file system — WAV files as an audio source or sink, and the
 * Linux guest image bundled with the package (SeaBIOS, kernel, initramfs) with the kernel command line
 * it boots with. Everything else is in `uhci` (browser-safe) and `uhci/v86`.
 */
export * from "./boot-stick.ts";
export * from "./bundled-guest.ts";
export * from "./file-block-store.ts";
export * from "./usbip-tcp.ts";
export * from "./usbip-ws-relay.ts";
export * from "./wav-file-sink.ts";
export * from "./wav-file-source.ts";
