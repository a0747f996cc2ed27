/**
 * Control transfers at the TD level (UHCI 3.2, USB 2.0 8.5.3), so the tests enumerate the device the
 * way a guest does: a QH whose element chain is SETUP → DATA… → STATUS, run frame by frame until done.
 *
 *   frame list[*] -> QH ctrl -> T
 *                     \-> (element) SETUP -> DATA 0..n -> STATUS -> T
 */

import { encodeSetupPacket } from "../../../src/guest/control-request.ts";
import type { Clock } from "../../../src/machine/clock.ts";
import { RequestType, StandardRequest } from "../../../src/usb/constants.ts";
import { qhLink, readTd, TERM, tdLink, writeQh, writeTd } from "../../uhci/helpers/schedule.ts";
import { PID } from "../../uhci/helpers/uhci-spec.ts";
import { IsoLayout, type IsoRig } from "./iso-rig.ts";

const QH = IsoLayout.CONTROL;
const TD0 = IsoLayout.CONTROL + 0x10;
const SETUP_BUF = IsoLayout.CONTROL + 0x400;
const DATA_BUF = IsoLayout.CONTROL + 0x800;
const MAX_PACKET0 = 64;

export interface ControlRequest {
  requestType: number;
  request: number;
  value: number;
  index: number;
  /** IN: wLength. */
  length?: number;
}

/**
 * Runs one control transfer to `address` through the schedule and returns the IN data. The frame list
 * must lead to the control QH ({@link useControlSchedule}). Throws when a TD ends in error.
 */
export function controlTransfer<C extends Clock>(
  rig: IsoRig<C>,
  address: number,
  req: ControlRequest,
): Uint8Array {
  const isIn = (req.requestType & RequestType.DirectionIn) !== 0;
  const length = isIn ? (req.length ?? 0) : 0;
  rig.ram.write(SETUP_BUF, encodeSetupPacket({ ...req, length }), 8);
  const tds: number[] = [TD0];
  writeTd(rig.ram, TD0, { pid: PID.SETUP, devAddr: address, maxLen: 8, buffer: SETUP_BUF });
  let toggle = true;
  for (let offset = 0; offset < length; offset += MAX_PACKET0) {
    const td = TD0 + 16 * tds.length;
    writeTd(rig.ram, td, {
      pid: PID.IN,
      devAddr: address,
      maxLen: Math.min(MAX_PACKET0, length - offset),
      toggle,
      buffer: DATA_BUF + offset,
    });
    tds.push(td);
    toggle = !toggle;
  }
  const status = TD0 + 16 * tds.length;
  writeTd(rig.ram, status, { pid: isIn ? PID.OUT : PID.IN, devAddr: address, toggle: true });
  tds.push(status);
  for (let i = 0; i + 1 < tds.length; i++) rig.ram.write32(tds[i]!, tdLink(tds[i + 1]!, true));
  writeQh(rig.ram, QH, TERM, tdLink(TD0));
  for (let frame = 0; frame < 50 && readTd(rig.ram, status).active; frame++) {
    rig.advance(1);
    for (const td of tds) {
      const view = readTd(rig.ram, td);
      if (view.stalled || view.crcTimeout)
        throw new Error(`control TD ${td.toString(16)} failed: ${view.ctrl.toString(16)}`);
    }
  }
  if (readTd(rig.ram, status).active) throw new Error("control transfer did not finish");
  let got = 0;
  for (let i = 1; i + 1 < tds.length; i++) got += readTd(rig.ram, tds[i]!).actLen;
  return rig.ram.bytes.slice(DATA_BUF, DATA_BUF + got);
}

/** Points every frame list entry at the control QH. */
export function useControlSchedule<C extends Clock>(rig: IsoRig<C>): void {
  writeQh(rig.ram, QH, TERM, TERM);
  rig.fillFrameList(qhLink(QH));
}

export function controlQhLink(): number {
  return qhLink(QH);
}

const STD_OUT_DEVICE = RequestType.TypeStandard | RequestType.RecipientDevice;
const STD_IN_DEVICE = RequestType.DirectionIn | STD_OUT_DEVICE;
const STD_OUT_INTERFACE = RequestType.TypeStandard | RequestType.RecipientInterface;

export interface Enumerated {
  device: Uint8Array;
  configuration: Uint8Array;
}

/**
 * What a guest does with a new device (USB 2.0 9.1.2): device descriptor at address 0, SET_ADDRESS,
 * the configuration descriptor (header, then whole), SET_CONFIGURATION, and SET_INTERFACE for each
 * `[interface, alternate]` asked for (selecting a streaming alternate starts iso endpoints).
 */
export function enumerate<C extends Clock>(
  rig: IsoRig<C>,
  address: number,
  interfaces: readonly (readonly [number, number])[] = [],
): Enumerated {
  const GET_DESCRIPTOR = StandardRequest.GetDescriptor;
  const device = controlTransfer(rig, 0, {
    requestType: STD_IN_DEVICE,
    request: GET_DESCRIPTOR,
    value: 0x0100,
    index: 0,
    length: 18,
  });
  controlTransfer(rig, 0, {
    requestType: STD_OUT_DEVICE,
    request: StandardRequest.SetAddress,
    value: address,
    index: 0,
  });
  const header = controlTransfer(rig, address, {
    requestType: STD_IN_DEVICE,
    request: GET_DESCRIPTOR,
    value: 0x0200,
    index: 0,
    length: 9,
  });
  const total = header[2]! | (header[3]! << 8);
  const configuration = controlTransfer(rig, address, {
    requestType: STD_IN_DEVICE,
    request: GET_DESCRIPTOR,
    value: 0x0200,
    index: 0,
    length: total,
  });
  controlTransfer(rig, address, {
    requestType: STD_OUT_DEVICE,
    request: StandardRequest.SetConfiguration,
    value: configuration[5]!,
    index: 0,
  });
  for (const [iface, alt] of interfaces) {
    controlTransfer(rig, address, {
      requestType: STD_OUT_INTERFACE,
      request: StandardRequest.SetInterface,
      value: alt,
      index: iface,
    });
  }
  return { device, configuration };
}
