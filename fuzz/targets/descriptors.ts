/**
 * The descriptor parsers fed mutated real descriptors: the device, configuration and string descriptors
 * every emulated device serves (collected through its control pipe) and the HID report descriptors,
 * bent by bit flips, edge bytes, insertions, deletions, splices and edge values in their length fields.
 *
 * Invariants: a parser never throws and never hangs; a refusal carries a message; what it accepts is a
 * model the encoder either rejects with a DescriptorModelError (the parser is lenient where the encoder
 * is strict) or encodes into bytes that parse back to the same model.
 */
import { AsyncHostDevice } from "../../src/devices/async-host/async-host-device.ts";
import { UsbHeadset } from "../../src/devices/audio/headset.ts";
import { UsbMicrophone } from "../../src/devices/audio/microphone.ts";
import { UsbSpeaker } from "../../src/devices/audio/speaker.ts";
import { UsbKeyboard } from "../../src/devices/hid/keyboard.ts";
import { UsbMouse } from "../../src/devices/hid/mouse.ts";
import { decodeItems, parseReportDescriptor } from "../../src/devices/hid/report-descriptor-parse.ts";
import { UsbTablet } from "../../src/devices/hid/tablet.ts";
import { VirtualClock } from "../../src/machine/clock.ts";
import { DescriptorType } from "../../src/usb/constants.ts";
import {
  DescriptorModelError,
  encodeConfiguration,
  encodeDeviceDescriptor,
} from "../../src/usb/descriptors/encode.ts";
import type { ParseResult } from "../../src/usb/descriptors/model.ts";
import { parseConfiguration, parseDeviceDescriptor } from "../../src/usb/descriptors/parse.ts";
import { parseLanguageIds, parseString } from "../../src/usb/descriptors/strings.ts";
import type { UsbDevice } from "../../src/usb/device.ts";
import { type LengthField, mutate } from "../lib/mutate.ts";
import { FuzzRandom } from "../lib/random.ts";
import { check, type FuzzTarget } from "../lib/target.ts";
import { getDescriptor } from "../lib/usb-host.ts";

interface Corpus {
  readonly devices: Uint8Array[];
  readonly configurations: Uint8Array[];
  readonly strings: Uint8Array[];
  readonly reports: Uint8Array[];
  readonly all: Uint8Array[];
}

let corpus: Corpus | null = null;

/** What the emulated devices serve, collected once through their control pipes. */
function loadCorpus(): Corpus {
  if (corpus !== null) return corpus;
  const clock = new VirtualClock();
  const devices: UsbDevice[] = [
    new UsbKeyboard(),
    new UsbKeyboard({ ledEndpoint: true }),
    new UsbMouse(),
    new UsbTablet(),
    new UsbMicrophone(),
    new UsbSpeaker(),
    new UsbHeadset({ speaker: { channelVolume: true } }),
    new AsyncHostDevice({ clock }),
  ];
  const c: Corpus = { devices: [], configurations: [], strings: [], reports: [], all: [] };
  const add = (list: Uint8Array[], bytes: Uint8Array | null): void => {
    check(bytes !== null && bytes.length > 0, "a device did not serve a descriptor it has");
    list.push(bytes);
    c.all.push(bytes);
  };
  for (const device of devices) {
    device.reset();
    add(c.devices, getDescriptor(device, DescriptorType.Device, 0, 18));
    const header = getDescriptor(device, DescriptorType.Configuration, 0, 9);
    check(header !== null, "no configuration descriptor");
    add(
      c.configurations,
      getDescriptor(device, DescriptorType.Configuration, 0, header[2]! | (header[3]! << 8)),
    );
    for (let i = 0; i < 4; i++) {
      const s = getDescriptor(device, DescriptorType.String, i, 255);
      if (s !== null) add(c.strings, s);
    }
    if (device instanceof UsbKeyboard || device instanceof UsbMouse || device instanceof UsbTablet) {
      add(c.reports, device.reportDescriptor);
    }
  }
  corpus = c;
  return c;
}

/** The bLength of each descriptor in a configuration, and wTotalLength. */
function configurationFields(bytes: Uint8Array): LengthField[] {
  const fields: LengthField[] = [{ at: 2, width: 2 }];
  for (let at = 0; at + 1 < bytes.length && fields.length < 64; ) {
    fields.push({ at, width: 1 });
    const length = bytes[at]!;
    if (length < 2) break;
    at += length;
  }
  return fields;
}

/** A parse that refuses must say why. */
function checkResult<T>(result: ParseResult<T>, what: string): result is { ok: true; value: T } {
  if (!result.ok)
    check(
      typeof result.error === "string" && result.error.length > 0,
      `${what}: a refusal without a message`,
    );
  return result.ok;
}

/**
 * Encoding an accepted model either fails with DescriptorModelError or gives bytes that parse back to
 * the same model (the parser fills in every optional field, so the two models compare equal).
 */
function roundTrip<T>(
  model: T,
  encode: (m: T) => Uint8Array,
  parse: (b: Uint8Array) => ParseResult<T>,
  what: string,
): void {
  let bytes: Uint8Array;
  try {
    bytes = encode(model);
  } catch (error) {
    if (error instanceof DescriptorModelError) return;
    throw error;
  }
  const again = parse(bytes);
  check(again.ok, () => `${what}: the encoder's own output does not parse: ${again.ok ? "" : again.error}`);
  check(sameJson(again.value, model), () => `${what}: parse(encode(model)) differs from the model`);
}

function sameJson(a: unknown, b: unknown): boolean {
  const replacer = (_key: string, value: unknown): unknown =>
    value instanceof Uint8Array ? Array.from(value) : value;
  return JSON.stringify(a, replacer) === JSON.stringify(b, replacer);
}

export const descriptorParserTarget: FuzzTarget = {
  name: "descriptors",
  summary:
    "device, configuration and string descriptor parsers on mutated real descriptors: no exception, errors as values, encode/parse round trip",
  run(seed) {
    const rng = new FuzzRandom(seed);
    const c = loadCorpus();
    switch (rng.below(4)) {
      case 0: {
        const input = mutate(rng, rng.pick(c.devices), c.all, [
          { at: 0, width: 1 },
          { at: 7, width: 1 },
          { at: 17, width: 1 },
        ]);
        const result = parseDeviceDescriptor(input);
        if (checkResult(result, "device descriptor")) {
          const { numConfigurations, ...model } = result.value;
          roundTrip(
            model,
            (m) => encodeDeviceDescriptor(m, numConfigurations),
            (b) => {
              const r = parseDeviceDescriptor(b);
              if (!r.ok) return r;
              const { numConfigurations: _n, ...rest } = r.value;
              return { ok: true, value: rest };
            },
            "device descriptor",
          );
        }
        return;
      }
      case 1:
      case 2: {
        const base = rng.pick(c.configurations);
        const input = mutate(rng, base, c.all, configurationFields(base));
        const result = parseConfiguration(input);
        if (checkResult(result, "configuration")) {
          const total = input[2]! | (input[3]! << 8);
          check(total <= input.length, "accepted a configuration shorter than its wTotalLength");
          roundTrip(result.value, (m) => encodeConfiguration(m), parseConfiguration, "configuration");
        }
        // USB 2.0 9.4.3: wTotalLength bounds the configuration; whatever follows it must not matter.
        if (input.length >= 4) {
          const total = input[2]! | (input[3]! << 8);
          if (total <= input.length) {
            const cut = input.slice(0, total);
            const tail = rng.bytes(rng.int(1, 32));
            const longer = new Uint8Array(total + tail.length);
            longer.set(cut);
            longer.set(tail, total);
            const a = parseConfiguration(cut);
            const b = parseConfiguration(longer);
            // (A refusal may word itself differently; whether it refuses, and what it accepts, may not differ.)
            check(a.ok === b.ok && (!a.ok || sameJson(a, b)), "bytes after wTotalLength changed the parse");
          }
        }
        return;
      }
      default: {
        const input = mutate(rng, rng.pick(c.strings), c.all, [{ at: 0, width: 1 }]);
        const text = parseString(input);
        if (checkResult(text, "string"))
          check(text.value.length * 2 + 2 <= Math.max(input[0]!, 2), "string longer than bLength");
        const ids = parseLanguageIds(input);
        if (checkResult(ids, "LANGIDs"))
          check(
            ids.value.every((id) => id >= 0 && id <= 0xffff),
            "LANGID beyond 16 bits",
          );
      }
    }
  },
};

export const hidReportParserTarget: FuzzTarget = {
  name: "hid-report",
  summary:
    "HID report descriptor parser on mutated keyboard/mouse/tablet descriptors: no exception, errors as values",
  run(seed) {
    const rng = new FuzzRandom(seed);
    const c = loadCorpus();
    const input = mutate(rng, rng.pick(c.reports), c.reports);
    const items = decodeItems(input);
    if (checkResult(items, "report items")) {
      for (const item of items.value) {
        check(item.offset >= 0 && item.offset < input.length, "an item outside the descriptor");
        check([0, 1, 2, 4].includes(item.size), () => `an item of ${item.size} data bytes`);
        check(item.offset + 1 + item.size <= input.length, "an item running past the end");
      }
    }
    const fields = parseReportDescriptor(input);
    if (checkResult(fields, "report descriptor")) {
      for (const f of fields.value) {
        check(Number.isFinite(f.bitOffset) && f.bitOffset >= 0, () => `a field at bit ${f.bitOffset}`);
      }
    }
  },
};
