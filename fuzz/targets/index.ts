import type { FuzzTarget } from "../lib/target.ts";
import { controlPipeTarget } from "./control-pipes.ts";
import { descriptorParserTarget, hidReportParserTarget } from "./descriptors.ts";
import { frameWalkerTarget } from "./frame-walker.ts";
import { hubTopologyTarget } from "./hub-topology.ts";
import { massStorageTarget } from "./mass-storage.ts";
import { usbipRepliesTarget } from "./usbip.ts";
import { wavParserTarget } from "./wav.ts";

/** Every fuzz target, in the order the long mode runs them round-robin. */
export const FUZZ_TARGETS: readonly FuzzTarget[] = [
  frameWalkerTarget,
  controlPipeTarget,
  descriptorParserTarget,
  hidReportParserTarget,
  wavParserTarget,
  massStorageTarget,
  usbipRepliesTarget,
  hubTopologyTarget,
];

export function findTarget(name: string): FuzzTarget | undefined {
  return FUZZ_TARGETS.find((t) => t.name === name);
}
