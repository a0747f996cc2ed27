#!/usr/bin/env node
import { readFileSync } from "node:fs";
import { UsageError } from "./args.ts";
import { runShell, SHELL_HELP } from "./commands/shell.ts";
import { runStart, START_HELP } from "./commands/start.ts";
import { runStream, STREAM_HELP } from "./commands/stream.ts";

const HELP = `usage: uhci <command> [options]

commands:
  start      boot Linux in v86 with the emulated UHCI controller, a USB headset and a USB
             keyboard; the guest records and plays audio while the host types, and both are
             checked frame by frame and key by key (the default command; \`npm start\`)
  shell      boot the same guest with its serial console attached to this terminal
  stream     stream audio through the controller with the software guest driver (no emulator)
  help       this text; \`uhci help <command>\` for a command's options
  version    print the version

Run \`uhci <command> --help\` for options. \`start\` and \`shell\` boot Linux in v86, an optional
peer dependency of the published package: \`npm install v86\` next to uhci.`;

const COMMANDS: Record<string, { run: (argv: readonly string[]) => Promise<number>; help: string }> = {
  start: { run: runStart, help: START_HELP },
  shell: { run: runShell, help: SHELL_HELP },
  stream: { run: runStream, help: STREAM_HELP },
};

function version(): string {
  const pkg: unknown = JSON.parse(readFileSync(new URL("../../package.json", import.meta.url), "utf8"));
  return typeof pkg === "object" && pkg !== null && "version" in pkg ? String(pkg.version) : "unknown";
}

export async function main(argv: readonly string[]): Promise<number> {
  const [first, ...rest] = argv;
  const name = first === undefined || first.startsWith("--") ? "start" : first;
  const args = first === undefined || first.startsWith("--") ? argv : rest;
  if (name === "help") {
    const topic = args[0];
    const command = topic === undefined ? undefined : COMMANDS[topic];
    process.stdout.write(`${command?.help ?? HELP}\n`);
    return 0;
  }
  if (name === "version" || name === "--version") {
    process.stdout.write(`${version()}\n`);
    return 0;
  }
  const command = COMMANDS[name];
  if (command === undefined) throw new UsageError(`unknown command '${name}'; try 'uhci help'`);
  if (args.includes("--help") || args.includes("-h")) {
    process.stdout.write(`${command.help}\n`);
    return 0;
  }
  return command.run(args);
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (error: unknown) => {
    const message = error instanceof Error ? error.message : String(error);
    process.stderr.write(`uhci: ${message}\n`);
    process.exitCode = error instanceof UsageError ? 2 : 1;
  },
);
