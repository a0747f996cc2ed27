import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { flagHelp, parseFlags, UsageError } from "./args.ts";

const FLAGS = {
  device: { kind: "string", help: "which", default: "microphone", choices: ["microphone", "speaker"] },
  name: { kind: "string", help: "free text" },
  seconds: { kind: "number", help: "how long", default: 10, min: 0.01, max: 60 },
  channels: { kind: "number", help: "1 or 2", min: 1, max: 2, integer: true },
  json: { kind: "boolean", help: "as JSON" },
} as const;

/** The message of the UsageError that parsing `argv` throws; fails the test if it parses. */
function refusal(...argv: string[]): string {
  try {
    parseFlags(argv, FLAGS);
  } catch (error) {
    assert.ok(error instanceof UsageError, `${argv.join(" ")}: ${String(error)}`);
    assert.ok(!error.message.includes("\n"), `one line: ${JSON.stringify(error.message)}`);
    return error.message;
  }
  assert.fail(`${argv.join(" ")} was accepted`);
}

describe("CLI flags (node:util parseArgs, strict)", () => {
  it("fills in defaults and leaves undeclared values undefined", () => {
    assert.deepEqual(parseFlags([], FLAGS), {
      device: "microphone",
      name: undefined,
      seconds: 10,
      channels: undefined,
      json: false,
    });
  });

  it("takes a value as the next word or after '=' and converts numbers", () => {
    const spaced = parseFlags(
      ["--device", "speaker", "--seconds", "2.5", "--channels", "1", "--json"],
      FLAGS,
    );
    const joined = parseFlags(["--device=speaker", "--seconds=2.5", "--channels=1", "--json"], FLAGS);
    assert.deepEqual(spaced, joined);
    assert.deepEqual(joined, { device: "speaker", name: undefined, seconds: 2.5, channels: 1, json: true });
    // After '=', a value may start with '-' or contain '=' and spaces.
    assert.equal(parseFlags(["--name=-x=1 y"], FLAGS).name, "-x=1 y");
  });

  it("a flag given twice takes its last value", () => {
    assert.equal(parseFlags(["--seconds", "5", "--seconds=1"], FLAGS).seconds, 1);
    assert.equal(parseFlags(["--device=speaker", "--device", "microphone"], FLAGS).device, "microphone");
    assert.equal(parseFlags(["--json", "--json"], FLAGS).json, true);
  });

  it("refuses an unknown flag, a short flag and a stray word", () => {
    assert.equal(refusal("--bogus"), "unknown option '--bogus'");
    assert.equal(refusal("-x"), "unknown option '-x'");
    assert.equal(refusal("speaker"), "unexpected argument 'speaker'");
    assert.equal(refusal("--json", "--", "--seconds"), "unexpected argument '--seconds'");
  });

  it("refuses a missing value, including when the next word is a flag, and a value on a switch", () => {
    assert.match(refusal("--seconds"), /^option '--seconds' needs a value/);
    assert.match(refusal("--name", "--json"), /^option '--name' needs a value .*--name=-/);
    assert.match(refusal("--seconds", "-1"), /^option '--seconds' needs a value/);
    assert.equal(refusal("--json=yes"), "option '--json' takes no value");
  });

  it("refuses a number that is not one, not whole, or out of range, and a choice not offered", () => {
    assert.equal(refusal("--seconds", "abc"), "option '--seconds' needs a number; got 'abc'");
    assert.equal(refusal("--seconds="), "option '--seconds' needs a number; got ''");
    assert.equal(refusal("--channels", "1.5"), "option '--channels' needs a whole number; got '1.5'");
    assert.equal(refusal("--channels=3"), "option '--channels' must be at most 2");
    assert.equal(refusal("--seconds=0"), "option '--seconds' must be at least 0.01");
    assert.equal(
      refusal("--device", "printer"),
      "option '--device' must be one of microphone, speaker; got 'printer'",
    );
  });

  it("lists every flag with its value kind and default in the help", () => {
    const help = flagHelp(FLAGS);
    assert.match(help, /--device <text>\s+which \(default microphone\)/);
    assert.match(help, /--seconds <n>\s+how long \(default 10\)/);
    assert.match(help, /--json\s+as JSON$/m);
  });

  it("quotes a default that holds a control character or outer spaces, so each flag stays on one line", () => {
    const help = flagHelp({
      text: { kind: "string", help: "typed", default: "Hi!\n" },
      pad: { kind: "string", help: "padded", default: " x" },
      plain: { kind: "string", help: "as is", default: "uhci-out" },
    });
    assert.deepEqual(help.split("\n"), [
      '  --text <text>           typed (default "Hi!\\n")',
      '  --pad <text>            padded (default " x")',
      "  --plain <text>          as is (default uhci-out)",
    ]);
  });
});
