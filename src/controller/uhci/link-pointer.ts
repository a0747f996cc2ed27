/** UHCI 3.1 (frame list pointer), 3.2.1 (TD link pointer), 3.3.1/3.3.2 (QH links). */
export const Link = {
  /** Terminate: the pointer is invalid; nothing follows. */
  T: 1 << 0,
  /** QH/TD select: 1 = points to a QH, 0 = to a TD. */
  Q: 1 << 1,
  /** Depth/breadth select (TD link only): 1 = depth first (go on to this TD's successor in the queue). */
  VF: 1 << 2,
  /** Bits 31:4 hold the 16-byte-aligned address. */
  ADDRESS_MASK: 0xfffffff0,
} as const;

export function linkAddress(link: number): number {
  return (link & Link.ADDRESS_MASK) >>> 0;
}
export function isTerminate(link: number): boolean {
  return (link & Link.T) !== 0;
}
export function pointsToQh(link: number): boolean {
  return (link & Link.Q) !== 0;
}
export function isDepthFirst(link: number): boolean {
  return (link & Link.VF) !== 0;
}
