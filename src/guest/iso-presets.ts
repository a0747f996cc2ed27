/**
 * How many isochronous URBs a stream keeps in flight and how many packets (frames) each carries.
 * More URBs or packets mean more frames queued ahead of the controller: more tolerance for a guest that
 * services its interrupt late, and more latency.
 */
export interface IsoQueueShape {
  readonly urbs: number;
  readonly packetsPerUrb: number;
}

/** The shapes worth reproducing, each from a guest that was seen using it. */
export const IsoPreset = {
  /**
   * The seed's guest: "at least 4 URBs × 5 packets outstanding" for smooth streaming through QEMU's
   * async isochronous path (qemu-kvm audio streaming patch, 2011).
   */
  Seed: { urbs: 4, packetsPerUrb: 5 },
  /** snd-usb-audio playback at full speed under QEMU: 3 URBs × 6 TDs in flight (at most 6 per URB). */
  LinuxPlayback: { urbs: 3, packetsPerUrb: 6 },
  /** snd-usb-audio capture at full speed: 12 URBs of one packet each. */
  LinuxCapture: { urbs: 12, packetsPerUrb: 1 },
} as const satisfies Record<string, IsoQueueShape>;
export type IsoPreset = (typeof IsoPreset)[keyof typeof IsoPreset];
