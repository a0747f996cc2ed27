/**
 * Counters an isochronous stream keeps, for tests ("nothing missed in 10 s") and benchmarks
 * ("how late did the guest see the data"). One live object per stream, updated in place.
 */
export interface IsoStreamStats {
  /** URBs handed to the schedule (the first N at open, then one per completion). */
  urbsSubmitted: number;
  /** URBs given back after all their frames passed. */
  urbsCompleted: number;
  /** URBs taken back unfinished by close() or a controller halt. */
  urbsCancelled: number;
  /** Packets whose TD ran without error. */
  packetsOk: number;
  /** Packets whose TD was still Active after its frame (Linux reports -EXDEV). */
  packetsMissed: number;
  /** Packets whose TD ran and failed; broken down in {@link errors}. */
  packetsError: number;
  /** Packets of cancelled URBs whose outcome was never looked at. */
  packetsCancelled: number;
  /** OK IN packets shorter than asked for (normal for a device whose rate does not fill every packet). */
  packetsShort: number;
  readonly errors: {
    crcTimeout: number;
    bitstuff: number;
    babble: number;
    dataBuffer: number;
    stall: number;
  };
  /** Bytes moved by OK packets. */
  bytes: number;
  /**
   * Times a URB could not continue where the previous one ended because that frame had already passed,
   * and was restarted at the next frame instead (URB_ISO_ASAP in uhci-hcd): a gap in the stream.
   */
  lateRestarts: number;
  /** Controller halts the stream lived through (each ends the stream; see IsoStream.error). */
  halts: number;
  /**
   * Frames between the end of a URB's last frame and the scan that gave it back: 0 when the driver
   * saw the IOC interrupt at the first frame boundary after the last TD ran.
   */
  lagFramesMax: number;
  /** Sum of those lags over completed URBs (divide by urbsCompleted for the mean). */
  lagFramesTotal: number;
}

export function createIsoStats(): IsoStreamStats {
  return {
    urbsSubmitted: 0,
    urbsCompleted: 0,
    urbsCancelled: 0,
    packetsOk: 0,
    packetsMissed: 0,
    packetsError: 0,
    packetsCancelled: 0,
    packetsShort: 0,
    errors: { crcTimeout: 0, bitstuff: 0, babble: 0, dataBuffer: 0, stall: 0 },
    bytes: 0,
    lateRestarts: 0,
    halts: 0,
    lagFramesMax: 0,
    lagFramesTotal: 0,
  };
}
