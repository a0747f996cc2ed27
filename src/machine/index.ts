export * from "./clock.ts";
export * from "./guest-memory.ts";
export * from "./irq-line.ts";
export * from "./pause-free-time.ts";
export * from "./register-block.ts";
export * from "./snapshot.ts";
