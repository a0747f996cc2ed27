export * from "./bundled-guest.ts";
export * from "./guest-serial.ts";
export * from "./guest-vm.ts";
export * from "./uhci-v86.ts";
export * from "./v86-guest-memory.ts";
export * from "./v86-state.ts";
