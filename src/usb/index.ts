export * from "./constants.ts";
export * from "./control-pipe.ts";
export * from "./descriptors/index.ts";
export * from "./device.ts";
export * from "./device-base.ts";
export * from "./packet.ts";
export * from "./port.ts";
export * from "./setup-packet.ts";
