#!/usr/bin/env node
import { readFileSync } from "node:fs";
import { UsageError } from "./args.ts";
import { runShell, SHELL_HELP } from "./commands/shell.ts";
import { runStart, START_HELP } from "./commands/start.ts";
import { runStick, STICK_HELP } from "./commands/stick.ts";
import { runStream, STREAM_HELP } from "./commands/stream.ts";
import { runUsbip, USBIP_HELP } from "./commands/usbip.ts";

const HELP = `usage: uhci <command> [options]

commands:
  start      boot Linux in v86 with the emulated UHCI controller and a USB hub holding a
             headset, a keyboard, a tablet, a second microphone and a stick; the guest records
             and plays audio while the host types and copies a file each way through the stick,
             all checked frame by frame, key by key and byte by byte (the default command;
             \`npm start\`)
  shell      boot the same guest with its serial console attached to this terminal
  stream     stream audio through the controller with the software guest driver (no emulator)
  stick      \`stick pack DIR IMG\` / \`stick unpack IMG DIR\` / \`stick ls IMG\`: a folder's files
             onto a FAT USB stick image and back (\`uhci shell --stick DIR\`: the guest has it
             while it runs)
  usbip      \`usbip list HOST[:PORT]\`: the devices a USB/IP server exports; \`usbip relay\`: a
             WebSocket relay to it for a browser page
  help       this text (also -h, --help); \`uhci help <command>\` for a command's options
  version    print the version (also -V, --version)

Run \`uhci <command> --help\` for options. \`start\` and \`shell\` boot Linux in v86 and \`stick\`
makes FAT images with js-fatfs, optional peer dependencies of the published package:
\`npm install v86 js-fatfs\` next to uhci.`;

interface Command {
  run: (argv: readonly string[]) => Promise<number>;
  help: string;
}

const COMMANDS: Record<string, Command> = {
  start: { run: runStart, help: START_HELP },
  shell: { run: runShell, help: SHELL_HELP },
  stream: { run: runStream, help: STREAM_HELP },
  stick: { run: runStick, help: STICK_HELP },
  usbip: { run: runUsbip, help: USBIP_HELP },
};

/** The command called `name`; only the table's own entries (`uhci toString` is no command). */
function commandNamed(name: string): Command | undefined {
  return Object.hasOwn(COMMANDS, name) ? COMMANDS[name] : undefined;
}

function version(): string {
  const pkg: unknown = JSON.parse(readFileSync(new URL("../../package.json", import.meta.url), "utf8"));
  return typeof pkg === "object" && pkg !== null && "version" in pkg ? String(pkg.version) : "unknown";
}

const HELP_FLAGS = ["--help", "-h"];
const VERSION_FLAGS = ["--version", "-V"];

export async function main(argv: readonly string[]): Promise<number> {
  const [first, ...rest] = argv;
  // `uhci --help`, `uhci -h`, `uhci --version`: about the command as a whole, as in other CLIs. Any
  // other first flag starts the default command with it (`uhci --seconds 5` is `uhci start --seconds 5`).
  if (first !== undefined && HELP_FLAGS.includes(first)) return printHelp(rest);
  if (first !== undefined && VERSION_FLAGS.includes(first)) return printVersion(rest);
  const defaulted = first === undefined || first.startsWith("-");
  const name = defaulted ? "start" : first;
  const args = defaulted ? argv : rest;
  if (name === "help") return printHelp(args);
  if (name === "version") return printVersion(args);
  const command = commandNamed(name);
  if (command === undefined) throw new UsageError(`unknown command '${name}'; try 'uhci help'`);
  if (args.some((arg) => HELP_FLAGS.includes(arg))) {
    process.stdout.write(`${command.help}\n`);
    return 0;
  }
  return command.run(args);
}

/** `uhci help [command]`: a topic that is not a command is an error, not the general text. */
function printHelp(args: readonly string[]): number {
  const [topic, ...extra] = args;
  if (extra.length > 0) throw new UsageError(`unexpected argument '${extra[0]}'; usage: uhci help [command]`);
  let text = HELP;
  if (topic !== undefined && topic !== "help" && topic !== "version") {
    const command = commandNamed(topic);
    if (command === undefined) throw new UsageError(`no command '${topic}'; try 'uhci help'`);
    text = command.help;
  }
  process.stdout.write(`${text}\n`);
  return 0;
}

function printVersion(args: readonly string[]): number {
  if (args[0] !== undefined) throw new UsageError(`unexpected argument '${args[0]}'; usage: uhci --version`);
  process.stdout.write(`${version()}\n`);
  return 0;
}

// `uhci stick ls IMG | head` (or any command's output piped into a reader that stops early) closes the
// pipe: that ends the output, it is not an error (Node would otherwise throw EPIPE with a stack trace).
process.stdout.on("error", (error: NodeJS.ErrnoException) => {
  if (error.code === "EPIPE") process.exit(0);
  throw error;
});

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
