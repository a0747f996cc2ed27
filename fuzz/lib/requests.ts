/**
 * SETUP packets a fuzzer sends: mostly requests devices really answer (standard, HID and audio class),
 * with fields bent towards the edges, and some pure noise. A random 8-byte SETUP almost never names a
 * request a device implements, so most of the interesting paths would go unexercised without these.
 */
import {
  AudioRequest,
  EndpointControl,
  MAX_SAMPLE_FREQUENCY,
  SAMPLE_FREQUENCY_BYTES,
  writeSampleFrequency,
} from "../../src/devices/audio/uac1.ts";
import { HidReportType, HidRequest } from "../../src/devices/hid/hid-constants.ts";
import { DescriptorType, RequestType, StandardRequest } from "../../src/usb/constants.ts";
import { SetupPacket } from "../../src/usb/setup-packet.ts";
import type { FuzzRandom } from "./random.ts";

const IN = RequestType.DirectionIn;
const STD = RequestType.TypeStandard;
const CLASS = RequestType.TypeClass;
const VENDOR = RequestType.TypeVendor;
const DEV = RequestType.RecipientDevice;
const IFACE = RequestType.RecipientInterface;
const EP = RequestType.RecipientEndpoint;

/** The UAC 1.0 requests a feature unit or an endpoint can be asked (UAC1 A.9). */
const { SetCur, SetMin, SetMax, SetRes, GetCur, GetMin, GetMax, GetRes } = AudioRequest;
const AUDIO_GETS = [GetCur, GetMin, GetMax, GetRes] as const;
const AUDIO_SETS = [SetCur, SetMin, SetMax, SetRes] as const;
/** wValue of the sampling frequency and pitch endpoint controls (UAC1 A.10.5). */
const SAMPLING_FREQUENCY = EndpointControl.SamplingFrequency << 8;
const PITCH = EndpointControl.Pitch << 8;

/** Lengths that probe the control pipe's limits: 0, one packet, just over, its 4096-byte buffer. */
const EDGE_LENGTHS = [0, 1, 2, 7, 8, 9, 18, 63, 64, 65, 255, 256, 4095, 4096, 4097, 0xffff] as const;

function length(rng: FuzzRandom, usual: number): number {
  const roll = rng.below(10);
  if (roll < 6) return usual;
  if (roll < 9) return rng.pick(EDGE_LENGTHS);
  return rng.below(0x10000);
}

/** One request a USB, HID or audio device could be asked, as a SETUP packet (fields may be bent). */
export function randomSetup(rng: FuzzRandom): SetupPacket {
  const s = pickRequest(rng);
  // Bend a field now and then: a wrong direction, recipient, index or value on a known request.
  if (rng.chance(0.15)) {
    switch (rng.below(5)) {
      case 0:
        s.bmRequestType ^= 1 << rng.below(8);
        break;
      case 1:
        s.wIndex = rng.below(0x10000);
        break;
      case 2:
        s.wValue = rng.below(0x10000);
        break;
      case 3:
        s.wLength = rng.below(0x10000);
        break;
      default:
        s.bRequest = rng.below(0x100);
    }
  }
  return s;
}

function pickRequest(rng: FuzzRandom): SetupPacket {
  const of = SetupPacket.of;
  switch (rng.below(26)) {
    case 0:
      return of(
        IN | STD | DEV,
        StandardRequest.GetDescriptor,
        DescriptorType.Device << 8,
        0,
        length(rng, 18),
      );
    case 1:
    case 2:
      return of(
        IN | STD | DEV,
        StandardRequest.GetDescriptor,
        (DescriptorType.Configuration << 8) | rng.below(3),
        0,
        length(rng, rng.pick([9, 255, 1024])),
      );
    case 3:
      return of(
        IN | STD | DEV,
        StandardRequest.GetDescriptor,
        (DescriptorType.String << 8) | rng.below(8),
        rng.pick([0, 0x0409, rng.below(0x10000)]),
        length(rng, 255),
      );
    case 4:
      return of(
        IN | STD | rng.pick([DEV, IFACE]),
        StandardRequest.GetDescriptor,
        (rng.pick([DescriptorType.DeviceQualifier, DescriptorType.Hid, DescriptorType.HidReport, 0, 0xff]) <<
          8) |
          rng.below(2),
        rng.below(3),
        length(rng, 255),
      );
    case 5:
      return of(STD | DEV, StandardRequest.SetAddress, rng.chance(0.9) ? rng.below(128) : rng.below(0x10000));
    case 6:
    case 7:
      return of(
        STD | DEV,
        StandardRequest.SetConfiguration,
        rng.chance(0.8) ? rng.below(3) : rng.below(0x10000),
      );
    case 8:
      return of(IN | STD | DEV, StandardRequest.GetConfiguration, 0, 0, length(rng, 1));
    case 9:
      return of(
        IN | STD | rng.pick([DEV, IFACE, EP, 3]),
        StandardRequest.GetStatus,
        0,
        rng.pick([0, 1, 2, 0x81, 0x82, 0x01, 0x02, 0x83, rng.below(0x100)]),
        length(rng, 2),
      );
    case 10:
      return of(
        STD | rng.pick([DEV, EP, IFACE]),
        rng.pick([StandardRequest.ClearFeature, StandardRequest.SetFeature]),
        rng.below(3),
        rng.pick([0, 0x81, 0x82, 0x01, 0x02, 0x83, 0x04, rng.below(0x100)]),
      );
    case 11:
      return of(IN | STD | IFACE, StandardRequest.GetInterface, 0, rng.below(4), length(rng, 1));
    case 12:
    case 13:
      return of(STD | IFACE, StandardRequest.SetInterface, rng.below(4), rng.below(4));
    case 14:
      return of(IN | STD | EP, StandardRequest.SynchFrame, 0, rng.pick([0x81, 0x01, 0x82]), length(rng, 2));
    case 15:
      return of(
        IN | CLASS | IFACE,
        HidRequest.GetReport,
        (rng.pick([HidReportType.Input, HidReportType.Output, HidReportType.Feature, 0]) << 8) | rng.below(2),
        rng.below(2),
        length(rng, 8),
      );
    case 16:
      return of(
        CLASS | IFACE,
        rng.pick([HidRequest.SetReport, HidRequest.SetIdle, HidRequest.SetProtocol]),
        rng.pick([0x0200, 0x0000, 0x0001, 0x7d00, rng.below(0x10000)]),
        rng.below(2),
        length(rng, rng.pick([0, 1])),
      );
    case 17:
      return of(
        IN | CLASS | IFACE,
        rng.pick([HidRequest.GetIdle, HidRequest.GetProtocol]),
        rng.below(2),
        rng.below(2),
        length(rng, 1),
      );
    case 18:
    case 19: {
      // A feature unit control: wValue = control << 8 | channel, wIndex = unit << 8 | interface 0.
      const value = (rng.below(4) << 8) | rng.below(3);
      const index = (rng.below(8) << 8) | rng.below(2);
      return rng.chance(0.6)
        ? of(IN | CLASS | IFACE, rng.pick(AUDIO_GETS), value, index, length(rng, rng.pick([1, 2])))
        : of(CLASS | IFACE, rng.pick(AUDIO_SETS), value, index, length(rng, rng.pick([1, 2])));
    }
    case 20:
    case 21: {
      // The sampling frequency control of a streaming endpoint (UAC1 5.2.3.2.3.1).
      const ep = rng.pick([0x01, 0x81, 0x82, 0x02, rng.below(0x100)]);
      return rng.chance(0.5)
        ? of(CLASS | EP, SetCur, SAMPLING_FREQUENCY, ep, length(rng, SAMPLE_FREQUENCY_BYTES))
        : of(
            IN | CLASS | EP,
            rng.pick(AUDIO_GETS),
            rng.pick([SAMPLING_FREQUENCY, PITCH]),
            ep,
            length(rng, SAMPLE_FREQUENCY_BYTES),
          );
    }
    case 23:
    case 24:
      return hubRequest(rng);
    case 22:
      return of(
        (rng.chance(0.5) ? IN : 0) | VENDOR | rng.below(4),
        rng.below(4),
        rng.below(0x200),
        rng.below(4),
        length(rng, 16),
      );
    default:
      return of(
        rng.below(0x100),
        rng.below(0x100),
        rng.below(0x10000),
        rng.below(0x10000),
        rng.below(0x10000),
      );
  }
}

/** Data for an OUT data stage: values devices accept (sampling rates, volumes, LED masks) or noise. */
export function randomOutData(rng: FuzzRandom, n: number): Uint8Array {
  const data = rng.bytes(n);
  if (n === SAMPLE_FREQUENCY_BYTES && rng.chance(0.5)) {
    writeSampleFrequency(rng.pick([8000, 16000, 22050, 32000, 44100, 48000, 0, MAX_SAMPLE_FREQUENCY]), data);
  } else if (n === 2 && rng.chance(0.5)) {
    const volume = rng.pick([0, 0x8000, 0x7fff, 0xc400, 0x0100, 0xff00]);
    data[0] = volume & 0xff;
    data[1] = volume >> 8;
  } else if (n === 1 && rng.chance(0.5)) {
    data[0] = rng.below(2);
  }
  return data;
}

/** Port feature selectors (USB 2.0 table 11-17), and some that are not. */
const PORT_FEATURES = [0, 1, 2, 3, 4, 8, 9, 16, 17, 18, 19, 20, 21, 22, 5, 0x100] as const;

/** A hub class request (USB 2.0 11.24.2): port features and status, the hub descriptor, the hub's own. */
function hubRequest(rng: FuzzRandom): SetupPacket {
  const of = SetupPacket.of;
  const OTHER = RequestType.RecipientOther;
  const port = rng.chance(0.85) ? rng.below(9) : rng.below(0x10000);
  switch (rng.below(5)) {
    case 0:
    case 1:
      return of(CLASS | OTHER, rng.pick([1, 3]), rng.pick(PORT_FEATURES), port, length(rng, 0));
    case 2:
      return of(IN | CLASS | OTHER, rng.pick([0, 2]), 0, port, length(rng, rng.pick([4, 1])));
    case 3:
      return of(
        IN | rng.pick([CLASS, STD]) | DEV,
        StandardRequest.GetDescriptor,
        rng.pick([0x2900, 0x0000, 0x2901]),
        0,
        length(rng, rng.pick([71, 7, 9])),
      );
    default:
      return of(
        rng.pick([IN | CLASS | DEV, CLASS | DEV]),
        rng.pick([0, 1, 3, 7, 8, 9, 10, 11]),
        rng.below(3),
        0,
        length(rng, 4),
      );
  }
}
