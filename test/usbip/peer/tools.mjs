#!/usr/bin/env node
// Small build helpers for the USB/IP peer VM, in Node so that a fresh CI machine needs no python3,
// readelf or cpio (only what build.sh names):
//   node tools.mjs moddeps MODDIR MODULE...   the modules' dependency closure (`.modinfo` depends=),
//                                             dependencies first, as paths relative to MODDIR
//   node tools.mjs needed ELF                 an ELF64's DT_NEEDED libraries, one a line
//   node tools.mjs disk FILE                  the 8 MiB test disk (sector 0 "USBIP-PEER TEST DISK, LBA 0",
//                                             sector n "LBA n"), NUL-padded to 512 bytes
import { readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join, relative } from "node:path";

/** Section headers of an ELF64 little-endian file (the amd64 kernel's modules and usbipd are). */
function sections(data) {
  if (data.readUInt32BE(0) !== 0x7f454c46 || data[4] !== 2 || data[5] !== 1)
    throw new Error("not an ELF64 LE file");
  const shoff = Number(data.readBigUInt64LE(0x28));
  const shentsize = data.readUInt16LE(0x3a);
  const shnum = data.readUInt16LE(0x3c);
  const shstrndx = data.readUInt16LE(0x3e);
  const list = [];
  for (let i = 0; i < shnum; i++) {
    const at = shoff + i * shentsize;
    list.push({
      name: data.readUInt32LE(at),
      type: data.readUInt32LE(at + 4),
      offset: Number(data.readBigUInt64LE(at + 0x18)),
      size: Number(data.readBigUInt64LE(at + 0x20)),
      link: data.readUInt32LE(at + 0x28),
    });
  }
  const names = list[shstrndx];
  const cstr = (off) => data.toString("latin1", off, data.indexOf(0, off));
  for (const s of list) s.label = cstr(names.offset + s.name);
  return { list, cstr };
}

function modinfo(path) {
  const data = readFileSync(path);
  const { list } = sections(data);
  const info = new Map();
  const section = list.find((s) => s.label === ".modinfo");
  if (section === undefined) return info;
  for (const kv of data.toString("utf8", section.offset, section.offset + section.size).split("\0")) {
    const eq = kv.indexOf("=");
    if (eq > 0) info.set(kv.slice(0, eq), [...(info.get(kv.slice(0, eq)) ?? []), kv.slice(eq + 1)]);
  }
  return info;
}

function moddeps(moddir, wanted) {
  const norm = (n) => n.replaceAll("-", "_");
  const index = new Map();
  const walk = (dir) => {
    for (const e of readdirSync(dir, { withFileTypes: true })) {
      const p = join(dir, e.name);
      if (e.isDirectory()) walk(p);
      else if (e.name.endsWith(".ko")) index.set(norm(e.name.slice(0, -3)), relative(moddir, p));
    }
  };
  walk(join(moddir, "kernel"));
  let builtin = new Set();
  try {
    builtin = new Set(
      readFileSync(join(moddir, "modules.builtin"), "utf8")
        .split("\n")
        .filter(Boolean)
        .map((l) => norm(l.split("/").pop().slice(0, -3))),
    );
  } catch {}
  const order = [];
  const seen = new Set();
  const visit = (name, chain) => {
    const n = norm(name);
    if (seen.has(n)) return;
    seen.add(n);
    const path = index.get(n);
    if (path === undefined) {
      if (builtin.has(n)) return;
      throw new Error(`module ${name} not found (needed by ${chain.join(" <- ")})`);
    }
    for (const deps of modinfo(join(moddir, path)).get("depends") ?? []) {
      for (const d of deps.split(",")) if (d) visit(d, [...chain, name]);
    }
    order.push(path);
  };
  for (const w of wanted) visit(w, []);
  return order;
}

function needed(path) {
  const data = readFileSync(path);
  const { list, cstr } = sections(data);
  const dynamic = list.find((s) => s.type === 6); // SHT_DYNAMIC
  if (dynamic === undefined) return [];
  const strtab = list[dynamic.link];
  const out = [];
  for (let at = dynamic.offset; at + 16 <= dynamic.offset + dynamic.size; at += 16) {
    const tag = data.readBigUInt64LE(at);
    if (tag === 0n) break;
    if (tag === 1n) out.push(cstr(strtab.offset + Number(data.readBigUInt64LE(at + 8)))); // DT_NEEDED
  }
  return out;
}

function disk(file) {
  const sectors = (8 * 1024 * 1024) / 512;
  const image = Buffer.alloc(sectors * 512);
  for (let lba = 0; lba < sectors; lba++) {
    image.write(lba === 0 ? "USBIP-PEER TEST DISK, LBA 0\n" : `LBA ${lba}\n`, lba * 512, "latin1");
  }
  writeFileSync(file, image);
}

const [command, ...args] = process.argv.slice(2);
if (command === "moddeps") console.log(moddeps(args[0], args.slice(1)).join("\n"));
else if (command === "needed") console.log(needed(args[0]).join("\n"));
else if (command === "disk") disk(args[0]);
else {
  console.error("usage: tools.mjs moddeps MODDIR MODULE... | needed ELF | disk FILE");
  process.exit(2);
}
