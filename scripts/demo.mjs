#!/usr/bin/env node
// `npm run demo`: bundles demo/main.ts (with the library's sources, xterm.js and the WebAudio bridge) and
// serves the demo page on 127.0.0.1 with the headers it needs, then prints its URL.
//
// - COOP `same-origin` + COEP `require-corp` make the page cross-origin isolated, which is what gives it
//   SharedArrayBuffer and precise timers (v86 and an AudioWorklet ring buffer both want them); every
//   response also says CORP `same-origin`, or the isolated page would refuse its own subresources.
// - v86 itself is served from node_modules/v86/build (libv86.js, v86.wasm), the guest from
//   guest-image/dist, so the page runs what `uhci shell` runs in Node.
// - /config.json carries the guest's kernel command line from the library (src/node/bundled-guest.ts),
//   so the page and the CLI boot the same guest with the same parameters.
//
// usage: node scripts/demo.mjs [--port N] [--host 127.0.0.1]   (a busy port falls back to a free one)
import { readFile, stat } from "node:fs/promises";
import { createServer } from "node:http";
import { extname, join, normalize, sep } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { build } from "esbuild";

const root = fileURLToPath(new URL("..", import.meta.url));
const DEFAULT_PORT = 8086;

const TYPES = {
  ".html": "text/html; charset=utf-8",
  ".js": "text/javascript; charset=utf-8",
  ".css": "text/css; charset=utf-8",
  ".json": "application/json",
  ".wasm": "application/wasm",
  ".png": "image/png",
};

/** Bundles the page's script in memory (esbuild: TypeScript straight from src/, no dist/ needed). */
export async function bundleDemo() {
  const result = await build({
    entryPoints: [join(root, "demo", "main.ts")],
    bundle: true,
    format: "esm",
    platform: "browser",
    target: "es2022",
    sourcemap: "inline",
    write: false,
    logLevel: "silent",
  });
  const file = result.outputFiles[0];
  if (file === undefined) throw new Error("esbuild produced no output for demo/main.ts");
  return file.contents;
}

/** The bundled guest's files and command line, read through the library (the same as `uhci shell`). */
async function guestConfig() {
  const { BUNDLED_GUEST_CMDLINE, BUNDLED_GUEST_DIR } = await import(
    pathToFileURL(join(root, "src", "node", "bundled-guest.ts")).href
  ).catch(() => import(pathToFileURL(join(root, "dist", "node", "bundled-guest.js")).href));
  let initrd = "initramfs.cpio.zst";
  try {
    const info = JSON.parse(await readFile(join(BUNDLED_GUEST_DIR, "build-info.json"), "utf8"));
    if (typeof info.initramfs === "string" && !/[\\/]/.test(info.initramfs)) initrd = info.initramfs;
  } catch {
    // No build-info.json: the default initramfs name.
  }
  return { dir: BUNDLED_GUEST_DIR, cmdline: BUNDLED_GUEST_CMDLINE, initrd };
}

/** A file under `base` named by a URL path, or null when the path would leave it. */
function inside(base, relative) {
  const path = normalize(join(base, decodeURIComponent(relative)));
  return path === base || path.startsWith(base.endsWith(sep) ? base : base + sep) ? path : null;
}

/**
 * Starts the demo server. Resolves with `{ url, port, close }` once it listens. `port` 0 picks a free
 * port; a busy port falls back to a free one (said on stderr unless `quiet`).
 */
export async function startDemoServer({ port = DEFAULT_PORT, host = "127.0.0.1", quiet = false } = {}) {
  const guest = await guestConfig();
  const bundle = await bundleDemo();
  const v86Dir = join(root, "node_modules", "v86", "build");
  const xtermCss = join(root, "node_modules", "@xterm", "xterm", "css", "xterm.css");
  const routes = new Map([
    ["/", { file: join(root, "demo", "index.html") }],
    ["/index.html", { file: join(root, "demo", "index.html") }],
    ["/demo.css", { file: join(root, "demo", "demo.css") }],
    ["/xterm.css", { file: xtermCss }],
    ["/main.js", { bytes: bundle, type: TYPES[".js"] }],
    // An empty icon: the browser asks for one, and a 404 would show as an error in the page's console.
    ["/favicon.ico", { bytes: Buffer.alloc(0), type: "image/x-icon" }],
    [
      "/config.json",
      {
        bytes: Buffer.from(JSON.stringify({ cmdline: guest.cmdline, initrd: `/guest/${guest.initrd}` })),
        type: TYPES[".json"],
      },
    ],
  ]);

  const server = createServer(async (request, response) => {
    const headers = {
      "Cross-Origin-Opener-Policy": "same-origin",
      "Cross-Origin-Embedder-Policy": "require-corp",
      "Cross-Origin-Resource-Policy": "same-origin",
      "Cache-Control": "no-store",
    };
    try {
      const path = new URL(request.url ?? "/", "http://localhost").pathname;
      let route = routes.get(path);
      if (route === undefined && path.startsWith("/v86/")) {
        const file = inside(v86Dir, path.slice("/v86/".length));
        if (file !== null) route = { file };
      }
      if (route === undefined && path.startsWith("/guest/")) {
        const file = inside(guest.dir, path.slice("/guest/".length));
        if (file !== null) route = { file };
      }
      if (route === undefined || (request.method !== "GET" && request.method !== "HEAD")) {
        response.writeHead(404, { ...headers, "Content-Type": "text/plain" }).end("not found\n");
        return;
      }
      let bytes = route.bytes;
      if (bytes === undefined) {
        if (!(await stat(route.file)).isFile()) throw new Error("not a file");
        bytes = await readFile(route.file);
      }
      const type = route.type ?? TYPES[extname(route.file ?? "")] ?? "application/octet-stream";
      response.writeHead(200, { ...headers, "Content-Type": type, "Content-Length": bytes.byteLength });
      response.end(request.method === "HEAD" ? undefined : bytes);
    } catch {
      if (!response.headersSent) response.writeHead(404, { ...headers, "Content-Type": "text/plain" });
      response.end("not found\n");
    }
  });

  const listen = (p) =>
    new Promise((resolve, reject) => {
      const onError = (error) => reject(error);
      server.once("error", onError);
      server.listen(p, host, () => {
        server.off("error", onError);
        resolve(server.address().port);
      });
    });
  let actual;
  try {
    actual = await listen(port);
  } catch (error) {
    if (error?.code !== "EADDRINUSE" || port === 0) throw error;
    if (!quiet) process.stderr.write(`port ${port} is busy; using a free one\n`);
    actual = await listen(0);
  }
  const shownHost = host.includes(":") ? `[${host}]` : host;
  return {
    url: `http://${shownHost}:${actual}/`,
    port: actual,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}

function parseArgs(argv) {
  const options = {};
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    const value = argv[i + 1];
    if ((arg === "--port" || arg === "--host") && value !== undefined) {
      if (arg === "--port") {
        const port = Number(value);
        if (!Number.isInteger(port) || port < 0 || port > 65535)
          throw new Error(`--port ${value}: not a port`);
        options.port = port;
      } else {
        options.host = value;
      }
      i++;
    } else if (arg === "--help" || arg === "-h") {
      options.help = true;
    } else {
      throw new Error(`unknown argument '${arg}' (usage: npm run demo -- [--port N] [--host ADDRESS])`);
    }
  }
  return options;
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  try {
    const options = parseArgs(process.argv.slice(2));
    if (options.help) {
      process.stdout.write(
        "npm run demo -- [--port N] [--host ADDRESS]\n" +
          "Serves the demo page (v86 + the UHCI controller, a USB headset on your microphone and speakers,\n" +
          `a keyboard and a tablet) on http://127.0.0.1:${DEFAULT_PORT}/ (a free port if that one is busy).\n`,
      );
    } else {
      const { url } = await startDemoServer(options);
      process.stdout.write(
        `uhci demo: open ${url} in Chromium, Chrome or Firefox (Ctrl-C stops the server)\n`,
      );
    }
  } catch (error) {
    process.stderr.write(`demo: ${error instanceof Error ? error.message : String(error)}\n`);
    process.exit(1);
  }
}
