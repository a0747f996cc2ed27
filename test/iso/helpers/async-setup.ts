/**
 * A guest that has enumerated an AsyncHostDevice through the schedule and selected its streaming
 * alternate, with the frame list cleared (every entry T), ready for a test to place iso TDs in chosen
 * frames:
 *
 *   frame list[f] -> ISO TD (…) -> T        for the frames a test picks; every other entry T
 */
import { AsyncHostDevice } from "../../../src/devices/async-host/async-host-device.ts";
import { CounterSource } from "../../../src/devices/async-host/counter-source.ts";
import { AsyncHostInterface } from "../../../src/devices/async-host/default-model.ts";
import { RecordingSink } from "../../../src/devices/async-host/recording-sink.ts";
import type { AsyncHostTiming } from "../../../src/devices/async-host/request-timing.ts";
import type { VirtualClock } from "../../../src/machine/clock.ts";
import { TERM, tdLink, writeTd } from "../../uhci/helpers/schedule.ts";
import { Reg } from "../../uhci/helpers/uhci-spec.ts";
import { enumerate, useControlSchedule } from "./control.ts";
import { IsoRig } from "./iso-rig.ts";

export const DEVICE_ADDRESS = 5;
export const PACKET = 192;
/** Endpoint numbers of the default model's iso pair. */
export const ISO_IN_EP = 1;
export const ISO_OUT_EP = 2;

export interface AsyncSetup {
  rig: IsoRig<VirtualClock>;
  dev: AsyncHostDevice;
  source: CounterSource;
  sink: RecordingSink;
}

export function asyncSetup(timing: Partial<AsyncHostTiming> = {}, intr = 0): AsyncSetup {
  const rig = new IsoRig();
  const source = new CounterSource(PACKET);
  const sink = new RecordingSink();
  const dev = new AsyncHostDevice({
    clock: rig.clock,
    timing,
    sources: { [ISO_IN_EP]: source },
    sinks: { [ISO_OUT_EP]: sink },
  });
  rig.plug(0, dev);
  useControlSchedule(rig);
  rig.start({ intr });
  enumerate(rig, DEVICE_ADDRESS, [[AsyncHostInterface.Iso, 1]]);
  rig.fillFrameList(TERM);
  // Leave the clock on a frame boundary with the status register clean, as a test expects to find it.
  rig.write16(Reg.USBSTS, 0x3f);
  return { rig, dev, source, sink };
}

export interface IsoTdSpec {
  pid: number;
  endpoint: number;
  buffer: number;
  maxLen?: number;
  ioc?: boolean;
  devAddr?: number;
}

/** Writes an iso TD (UHCI 3.2, IOS) at `address`, linked to T. */
export function writeIsoTd(rig: IsoRig<VirtualClock>, address: number, spec: IsoTdSpec): void {
  writeTd(rig.ram, address, {
    pid: spec.pid,
    devAddr: spec.devAddr ?? DEVICE_ADDRESS,
    endpoint: spec.endpoint,
    maxLen: spec.maxLen ?? PACKET,
    buffer: spec.buffer,
    ios: true,
    ioc: spec.ioc ?? false,
  });
}

/**
 * Puts the TD at `address` in the frame `ahead` frames after the one the controller runs next, and
 * returns the clock time at which that frame runs (its request is made then).
 */
export function placeInFrame(rig: IsoRig<VirtualClock>, address: number, ahead: number): number {
  rig.setFrameListEntry((rig.frnum + ahead) & 0x3ff, tdLink(address));
  return nextFrameAt(rig) + ahead;
}

/** When the controller runs its next frame (the fixed grid from RS, 1 ms at SOFMOD 64). */
export function nextFrameAt(rig: IsoRig<VirtualClock>): number {
  return Math.floor(rig.clock.now()) + 1;
}

/** Advances the clock to the absolute time `ms`. */
export function advanceTo(rig: IsoRig<VirtualClock>, ms: number): void {
  rig.clock.advanceTo(ms);
}
