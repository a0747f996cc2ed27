/**
 * The allowances every audio report in this project is judged by, and the judgement itself: a report
 * passes only if nothing was lost, inserted or altered beyond these, so "PASS" can be taken at its word.
 */
export const AudioAllowance = {
  /**
   * Frames missing before the first one that arrived, in ms of audio. A stream opens a few frames
   * before or after its signal starts (Linux starts an iso stream 10 frames out); 10 ms is one such
   * start-up, and the bundled guest's runs show 0.
   */
  headLossMs: 10,
  /** Frames missing after the last one that arrived, in ms (Linux may leave a partial period unplayed). */
  tailLossMs: 10,
  /**
   * Audio lost at a host stall beyond the stall itself, in ms: the stream's restart 10 frames out after
   * its URBs ran dry (uhci-hcd's start offset), up to one URB of packets already queued for frames the
   * bus skipped, and the rounding of the microphone's and speaker's buffers to whole packets.
   */
  stallExtraMs: 25,
} as const;

/** Frames in `ms` of audio at `sampleRate` (rounded up: the allowance is never zero for a short stream). */
export const framesIn = (ms: number, sampleRate: number): number => Math.ceil((ms * sampleRate) / 1000);

/** One host stall and the audio lost to it. */
export interface StallLoss {
  /** When the stall began, ms after the stream opened. */
  readonly atMs: number;
  /** How long the host was stalled. */
  readonly ms: number;
  /** Audio frames lost to it (missing from what arrived, or played as silence by a live speaker). */
  readonly lostFrames: number;
}

export interface StreamFacts {
  readonly sampleRate: number;
  /** Frames the stream was asked to carry. */
  readonly framesExpected: number;
  /** Frames of it that arrived. */
  readonly framesReceived: number;
  /** Every frame that arrived is the one expected at its place (nothing inserted or altered). */
  readonly bitExact: boolean;
  readonly headLossFrames: number;
  readonly tailLossFrames: number;
  /** Frames missing inside the stream, or played as silence, not explained by a stall. */
  readonly lostOutsideStalls: number;
  readonly stalls: readonly StallLoss[];
  /** Frames the receiver asked for and never got, not counted as loss anywhere else (the stream stopped). */
  readonly framesMissing: number;
  /** Iso packets the guest found never run (-EXDEV) and packets that failed, outside any stall. */
  readonly packetsMissed: number;
  readonly packetErrors: number;
}

export interface StreamVerdict {
  readonly ok: boolean;
  /** Why not, one line each (empty when ok). */
  readonly problems: string[];
}

/**
 * Ms of running after a stall in which the stream must have recovered (issue 10: "within 100 ms of
 * normal running"): losses seen then are the stall's.
 */
export const STALL_RECOVERY_MS = 100;

/**
 * Stalls whose windows (the pause and its recovery) overlap, in order: one stall's loss may show in the
 * next one's window, so such stalls are judged together, against their summed length.
 */
export function stallGroups(stalls: readonly StallLoss[]): StallLoss[][] {
  const groups: StallLoss[][] = [];
  let endMs = Number.NEGATIVE_INFINITY;
  for (const stall of [...stalls].sort((a, b) => a.atMs - b.atMs)) {
    const last = groups.at(-1);
    if (last !== undefined && stall.atMs <= endMs) last.push(stall);
    else groups.push([stall]);
    endMs = Math.max(endMs, stall.atMs + stall.ms + STALL_RECOVERY_MS);
  }
  return groups;
}

/** Judges a stream by {@link AudioAllowance}: every excess is a problem, and every problem is a FAIL. */
export function judgeStream(facts: StreamFacts): StreamVerdict {
  const problems: string[] = [];
  const rate = facts.sampleRate;
  const ms = (frames: number) => `${((frames * 1000) / rate).toFixed(1)} ms`;
  if (facts.framesReceived === 0 && facts.framesExpected > 0) problems.push("nothing arrived");
  if (!facts.bitExact) problems.push("what arrived is not bit-exact");
  const head = framesIn(AudioAllowance.headLossMs, rate);
  if (facts.headLossFrames > head)
    problems.push(
      `head loss ${facts.headLossFrames} frames (${ms(facts.headLossFrames)}) exceeds the allowance of ${AudioAllowance.headLossMs} ms`,
    );
  const tail = framesIn(AudioAllowance.tailLossMs, rate);
  if (facts.tailLossFrames > tail)
    problems.push(
      `tail loss ${facts.tailLossFrames} frames (${ms(facts.tailLossFrames)}) exceeds the allowance of ${AudioAllowance.tailLossMs} ms`,
    );
  if (facts.lostOutsideStalls > 0)
    problems.push(
      `${facts.lostOutsideStalls} frames (${ms(facts.lostOutsideStalls)}) lost or late outside any stall`,
    );
  for (const group of stallGroups(facts.stalls)) {
    const pausedMs = group.reduce((sum, stall) => sum + stall.ms, 0);
    const lost = group.reduce((sum, stall) => sum + stall.lostFrames, 0);
    if (lost <= framesIn(pausedMs + AudioAllowance.stallExtraMs, rate)) continue;
    const first = group[0]!;
    problems.push(
      group.length === 1
        ? `the ${first.ms} ms stall at ${first.atMs} ms lost ${lost} frames (${ms(lost)}), more than the stall + ${AudioAllowance.stallExtraMs} ms`
        : `the stalls at ${group.map((g) => g.atMs).join(", ")} ms (${pausedMs} ms together) lost ${lost} frames (${ms(lost)}), more than their length + ${AudioAllowance.stallExtraMs} ms`,
    );
  }
  if (facts.packetsMissed > 0) problems.push(`${facts.packetsMissed} packets missed (-EXDEV)`);
  if (facts.packetErrors > 0) problems.push(`${facts.packetErrors} packets failed`);
  if (facts.framesMissing > 0)
    problems.push(
      `the stream stopped: ${facts.framesReceived} of ${facts.framesExpected} frames arrived, ${facts.framesMissing} never did`,
    );
  return { ok: problems.length === 0, problems };
}
