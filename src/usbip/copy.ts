/**
 * Copies `n` bytes between arrays without making a view: the per-frame paths (an iso TD answered from
 * the ring, an OUT packet batched, a bulk TD answered from read-ahead) allocate nothing.
 */
export function copy(src: Uint8Array, srcAt: number, dst: Uint8Array, dstAt: number, n: number): void {
  for (let i = 0; i < n; i++) dst[dstAt + i] = src[srcAt + i]!;
}
