/**
 * The CLI as a user runs it, for tests whose servers live in the test's own process: a child process
 * run without blocking this event loop, and an in-process USB/IP server reachable over real TCP.
 */
import { execFile } from "node:child_process";
import { createServer, type Server, type Socket } from "node:net";
import { fileURLToPath } from "node:url";
import type { FakeUsbipServer } from "../../../src/usbip/testing/fake-server.ts";

const main = fileURLToPath(new URL("../../../src/cli/main.ts", import.meta.url));

export interface CliRun {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs `uhci ARGS…` from the sources (tsx) in a child process. */
export function runUhci(...args: string[]): Promise<CliRun> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      ["--import", "tsx", main, ...args],
      { encoding: "utf8", maxBuffer: 64 * 1024 * 1024 },
      (error, stdout, stderr) => {
        const code = error === null ? 0 : typeof error.code === "number" ? error.code : -1;
        resolve({ code, stdout, stderr });
      },
    );
  });
}

/** A TCP server on a free port of 127.0.0.1, each connection handed to `onSocket`. */
export function listenLocal(onSocket: (socket: Socket) => void): Promise<{ server: Server; port: number }> {
  return new Promise((resolve) => {
    const server = createServer(onSocket);
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      resolve({ server, port: typeof address === "object" && address !== null ? address.port : 0 });
    });
  });
}

/** Each TCP connection bridged to a new connection of the fake USB/IP server. */
export function bridgeToFake(fake: FakeUsbipServer): (socket: Socket) => void {
  return (socket) => {
    void fake.connect().then((end) => {
      end.onData = (chunk) => socket.write(chunk);
      end.onClose = () => socket.end();
      socket.on("data", (chunk) => end.send(chunk));
      socket.on("error", () => end.close());
    });
  };
}
