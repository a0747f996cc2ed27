/**
 * `npm run demo`'s server (scripts/demo.mjs), without a browser: the page is cross-origin isolated
 * (COOP same-origin + COEP require-corp on every response, so the page gets SharedArrayBuffer), it
 * serves v86 and the bundled guest, the guest's command line comes from the library, nothing outside
 * its folders is reachable, and a busy port falls back to a free one.
 */
import assert from "node:assert/strict";
import { createServer } from "node:net";
import { after, before, describe, it } from "node:test";
// @ts-expect-error scripts/demo.mjs is plain JavaScript without declarations.
import { startDemoServer } from "../../scripts/demo.mjs";
import { BUNDLED_GUEST_CMDLINE } from "../../src/node/bundled-guest.ts";

interface DemoServer {
  url: string;
  port: number;
  close(): Promise<void>;
}

describe("the demo server", () => {
  let server: DemoServer;
  before(async () => {
    server = (await startDemoServer({ port: 0, quiet: true })) as DemoServer;
  });
  after(async () => {
    await server.close();
  });

  it("serves the page, its bundle, v86 and the guest with the isolation headers", async () => {
    for (const path of ["", "main.js", "xterm.css", "v86/libv86.js", "v86/v86.wasm", "guest/bzImage"]) {
      const response = await fetch(new URL(path, server.url), { method: "HEAD" });
      assert.equal(response.status, 200, path);
      assert.equal(response.headers.get("cross-origin-opener-policy"), "same-origin", path);
      assert.equal(response.headers.get("cross-origin-embedder-policy"), "require-corp", path);
      assert.equal(response.headers.get("cross-origin-resource-policy"), "same-origin", path);
    }
    const wasm = await fetch(new URL("v86/v86.wasm", server.url), { method: "HEAD" });
    // WebAssembly.instantiateStreaming refuses any other type.
    assert.equal(wasm.headers.get("content-type"), "application/wasm");
  });

  it("gives the page the library's guest command line", async () => {
    const config = (await (await fetch(new URL("config.json", server.url))).json()) as { cmdline: string };
    assert.equal(config.cmdline, BUNDLED_GUEST_CMDLINE);
  });

  it("serves nothing outside its folders", async () => {
    for (const path of ["guest/..%2f..%2fpackage.json", "v86/..%2f..%2f..%2fpackage.json", "package.json"]) {
      const response = await fetch(new URL(path, server.url));
      assert.equal(response.status, 404, path);
    }
  });

  it("falls back to a free port when the one asked for is busy", async () => {
    const blocker = createServer();
    await new Promise<void>((resolve) => blocker.listen(0, "127.0.0.1", resolve));
    const address = blocker.address();
    assert.ok(address !== null && typeof address === "object");
    const other = (await startDemoServer({ port: address.port, quiet: true })) as DemoServer;
    try {
      assert.notEqual(other.port, address.port);
      assert.equal((await fetch(other.url, { method: "HEAD" })).status, 200);
    } finally {
      await other.close();
      blocker.close();
    }
  });
});
