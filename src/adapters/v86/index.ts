/**
 * `uhci/v86`: attach a UHCI controller to a v86 emulator (browser or Node). Nothing here imports the
 * `v86` package at run time — the adapter takes the emulator instance you created — so `v86` is an
 * optional peer dependency and this entry bundles for a browser without it.
 */
export * from "./pause-free-v86.ts";
export * from "./uhci-v86.ts";
export * from "./v86-guest-memory.ts";
export * from "./v86-shim.ts";
export * from "./v86-state.ts";
