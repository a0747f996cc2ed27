import { RequestType } from "../../usb/constants.ts";
import { type ControlReply, ControlStatus } from "../../usb/control-pipe.ts";
import type { SetupPacket } from "../../usb/setup-packet.ts";
import { audioRequestName, EndpointControl, FeatureControl } from "./uac1.ts";

/** How the device answered a request. */
export const RequestOutcome = {
  /** Accepted, no data (a SET). */
  Ack: "ack",
  /** Answered with data (a GET). */
  Data: "data",
  Stall: "stall",
} as const;
export type RequestOutcome = (typeof RequestOutcome)[keyof typeof RequestOutcome];

export interface ClassRequestRecord {
  /** Position in the sequence of every request logged since construction (or {@link ClassRequestLog.clear}). */
  readonly sequence: number;
  readonly bmRequestType: number;
  readonly bRequest: number;
  readonly wValue: number;
  readonly wIndex: number;
  readonly wLength: number;
  readonly outcome: RequestOutcome;
  /** The data of a SET, or of the reply to a GET; at most 8 bytes are kept. */
  readonly data: readonly number[];
  /** e.g. "SET_RES volume ch0 → entity 2 (interface 0): stall". */
  readonly text: string;
}

/** Per request name ("SET_CUR", "GET_RES"…): how many arrived and how many were stalled. */
export interface RequestCount {
  total: number;
  stalled: number;
}

const KEPT_DATA = 8;
const DEFAULT_CAPACITY = 256;

const FEATURE_NAMES = new Map<number, string>(Object.entries(FeatureControl).map(([k, v]) => [v, lower(k)]));
const ENDPOINT_NAMES = new Map<number, string>([
  [EndpointControl.SamplingFrequency, "sampling-frequency"],
  [EndpointControl.Pitch, "pitch"],
]);

function lower(name: string): string {
  return name.replace(/[A-Z]/g, (c, i: number) => (i === 0 ? c.toLowerCase() : `-${c.toLowerCase()}`));
}

/** A readable one-line description of an audio class request (UAC1 5.2). */
export function describeRequest(setup: SetupPacket): string {
  const type = setup.bmRequestType & RequestType.TypeMask;
  if (type !== RequestType.TypeClass) return setup.toString();
  const name = audioRequestName(setup.bRequest);
  const selector = setup.wValue >> 8;
  switch (setup.bmRequestType & RequestType.RecipientMask) {
    case RequestType.RecipientInterface: {
      const control = FEATURE_NAMES.get(selector) ?? `control 0x${selector.toString(16)}`;
      return `${name} ${control} ch${setup.wValue & 0xff} → entity ${setup.wIndex >> 8} (interface ${setup.wIndex & 0xff})`;
    }
    case RequestType.RecipientEndpoint: {
      const control = ENDPOINT_NAMES.get(selector) ?? `control 0x${selector.toString(16)}`;
      return `${name} ${control} → endpoint 0x${(setup.wIndex & 0xff).toString(16).padStart(2, "0")}`;
    }
    default:
      return `${name} ${setup.toString()}`;
  }
}

/**
 * Every request that reaches the audio device's own handling (class requests, and the standard ones the
 * shared base leaves to it), with the answer. Kept for reports: how a guest's driver probed the device
 * and what it was refused. The newest `capacity` records are kept; the counts cover everything.
 * Control transfers are rare (not per packet), so a record per request costs nothing that matters.
 */
export class ClassRequestLog {
  private readonly capacity: number;
  private readonly records: ClassRequestRecord[] = [];
  private readonly byName = new Map<string, RequestCount>();
  private count = 0;
  private stalls = 0;

  constructor(capacity = DEFAULT_CAPACITY) {
    this.capacity = Math.max(1, capacity);
  }

  get total(): number {
    return this.count;
  }

  get stalled(): number {
    return this.stalls;
  }

  /** The kept records, oldest first. */
  get entries(): readonly ClassRequestRecord[] {
    return this.records;
  }

  /** Counts by request name. */
  get counts(): ReadonlyMap<string, Readonly<RequestCount>> {
    return this.byName;
  }

  record(setup: SetupPacket, dataOut: Uint8Array, reply: ControlReply): void {
    const outcome =
      reply === ControlStatus.Stall
        ? RequestOutcome.Stall
        : reply === ControlStatus.Ack
          ? RequestOutcome.Ack
          : RequestOutcome.Data;
    const data = outcome === RequestOutcome.Data ? (reply as Uint8Array) : dataOut;
    const kept = Array.from(data.subarray(0, Math.min(KEPT_DATA, data.length, setup.wLength)));
    this.count++;
    if (outcome === RequestOutcome.Stall) this.stalls++;
    const name =
      (setup.bmRequestType & RequestType.TypeMask) === RequestType.TypeClass
        ? audioRequestName(setup.bRequest)
        : `${setup.kind} 0x${setup.bRequest.toString(16).padStart(2, "0")}`;
    const counts = this.byName.get(name) ?? { total: 0, stalled: 0 };
    counts.total++;
    if (outcome === RequestOutcome.Stall) counts.stalled++;
    this.byName.set(name, counts);
    this.records.push({
      sequence: this.count,
      bmRequestType: setup.bmRequestType,
      bRequest: setup.bRequest,
      wValue: setup.wValue,
      wIndex: setup.wIndex,
      wLength: setup.wLength,
      outcome,
      data: kept,
      text: `${describeRequest(setup)}: ${outcome}`,
    });
    if (this.records.length > this.capacity) this.records.shift();
  }

  clear(): void {
    this.records.length = 0;
    this.byName.clear();
    this.count = 0;
    this.stalls = 0;
  }
}
