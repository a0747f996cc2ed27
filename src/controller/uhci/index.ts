export * from "./async-queue.ts";
export * from "./controller-state.ts";
export * from "./link-pointer.ts";
export * from "./pci-identity.ts";
export * from "./queue-head.ts";
export * from "./registers.ts";
export * from "./transfer-descriptor.ts";
export * from "./uhci-controller.ts";
