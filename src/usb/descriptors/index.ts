export * from "./encode.ts";
export * from "./hid.ts";
export * from "./model.ts";
export * from "./parse.ts";
export * from "./strings.ts";
