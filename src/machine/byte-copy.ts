/**
 * Byte-range copies between two buffers that allocate nothing.
 *
 * Why not `to.set(from.subarray(a, b))`: `subarray` makes a new view object on every call, and the
 * frame walker copies a TD's data on every isochronous and bulk transaction, so a 48 kHz audio stream
 * alone made ~200 bytes of garbage per 1 ms frame (bench/alloc-child.ts). A plain byte loop allocates
 * nothing but is several times slower than `set` from 64 bytes up. Copying 32-bit words through
 * `Int32Array` views made once per buffer allocates nothing and is faster than `set(subarray)` up to
 * a few hundred bytes (every packet the benchmark schedules move: 8, 64, 88/90, 192 bytes), about 3×
 * slower at the 1023-byte full-speed maximum (~0.25 µs, 0.025 % of a frame); measured by
 * bench/experiments/byte-copy.ts. A source that is not word-aligned relative to the destination (a
 * mono 16-bit audio packet starts 2 bytes into a word) is merged from two neighbouring words by
 * shifts. Words are not copied as `Float64Array` elements: SpiderMonkey and JavaScriptCore canonicalise
 * NaN bit patterns read from float arrays, which would corrupt data.
 */

/**
 * A byte array seen through views of its whole buffer: as bytes and as 32-bit words, both starting at
 * byte 0 of the buffer, and where the array starts in it (its `byteOffset`, read once: that accessor
 * costs as much as a short copy).
 */
export interface WordViews {
  readonly bytes: Uint8Array;
  readonly words: Int32Array;
  readonly offset: number;
}

/** Below this many bytes a byte loop is as fast as anything else and needs no views. */
export const SHORT_COPY_BYTES = 16;

/** Whether the shift merge can be used: it assumes byte 0 of a word is its least significant byte. */
const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

/** Views of the whole buffer behind `array` (the word view its whole words). */
export function wordViews(array: Uint8Array): WordViews {
  const buffer = array.buffer;
  return {
    bytes: new Uint8Array(buffer),
    words: new Int32Array(buffer, 0, buffer.byteLength >> 2),
    offset: array.byteOffset,
  };
}

/**
 * Remembers the {@link WordViews} of the buffers behind the arrays it is asked about. The last four
 * arrays are checked by identity first (the walker copies into and out of the same few pooled packet
 * buffers over and over), then a weak map (an array no longer used can be collected). Allocates only
 * the first time it meets an array.
 */
export class WordViewCache {
  private readonly recentArrays: (Uint8Array | null)[] = [null, null, null, null];
  private readonly recentViews: (WordViews | null)[] = [null, null, null, null];
  private next = 0;
  private readonly known = new WeakMap<Uint8Array, WordViews>();

  of(array: Uint8Array): WordViews {
    // No look at `array.buffer` or `byteOffset` on a hit: those accessors cost as much as a 64-byte
    // copy. copyBytes checks word ranges against the views, so views of a growable buffer that grew
    // stay correct.
    const arrays = this.recentArrays;
    for (let i = 0; i < 4; i++) if (arrays[i] === array) return this.recentViews[i]!;
    let views = this.known.get(array);
    // A view made before a growable buffer grew covers only its old length: make it again.
    if (views === undefined || views.words.length !== array.buffer.byteLength >> 2) {
      views = wordViews(array);
      this.known.set(array, views);
    }
    const slot = this.next;
    this.next = (slot + 1) & 3;
    this.recentArrays[slot] = array;
    this.recentViews[slot] = views;
    return views;
  }
}

/**
 * Copies `length` bytes from index `fromIndex` of one array to index `toIndex` of another (indices
 * relative to each array's start; ranges not overlapping). The caller has checked both ranges. Whole
 * words of the destination are written only inside its range; the source may be read a few bytes
 * outside its range, never outside its buffer.
 */
export function copyBytes(
  from: WordViews,
  fromIndex: number,
  to: WordViews,
  toIndex: number,
  length: number,
): void {
  const src = from.bytes;
  const dst = to.bytes;
  const fromAt = from.offset + fromIndex;
  const toAt = to.offset + toIndex;
  let i = 0;
  // Words only where both word views cover the ranges (a growable buffer may have grown since).
  if (
    length >= SHORT_COPY_BYTES &&
    toAt + length <= 4 * to.words.length &&
    fromAt + length + 3 <= 4 * from.words.length
  ) {
    // Bring the destination to a word boundary, then copy whole destination words.
    const head = -toAt & 3;
    for (; i < head; i++) dst[toAt + i] = src[fromAt + i]!;
    const s = fromAt + head;
    const misalign = s & 3;
    const srcWords = from.words;
    const dstWords = to.words;
    let d = (toAt + head) >>> 2;
    let w = s >>> 2;
    const count = (length - head) >> 2;
    if (misalign === 0) {
      // Unrolled: V8 re-checks a typed array's length on every access, and eight copies per check of
      // the loop bound make this ~2× faster than the plain loop (bench/experiments/byte-copy.ts).
      const end = d + count;
      const end8 = d + (count & ~7);
      for (; d < end8; d += 8, w += 8) {
        dstWords[d] = srcWords[w]!;
        dstWords[d + 1] = srcWords[w + 1]!;
        dstWords[d + 2] = srcWords[w + 2]!;
        dstWords[d + 3] = srcWords[w + 3]!;
        dstWords[d + 4] = srcWords[w + 4]!;
        dstWords[d + 5] = srcWords[w + 5]!;
        dstWords[d + 6] = srcWords[w + 6]!;
        dstWords[d + 7] = srcWords[w + 7]!;
      }
      for (; d < end; d++, w++) dstWords[d] = srcWords[w]!;
      i += count << 2;
    } else if (LITTLE_ENDIAN) {
      // Destination word k takes the high bytes of source word w + k and the low bytes of w + k + 1.
      const low = misalign << 3;
      const high = 32 - low;
      const end = d + count;
      const end4 = d + (count & ~3);
      let current = srcWords[w]!;
      for (; d < end4; d += 4, w += 4) {
        const n1 = srcWords[w + 1]!;
        const n2 = srcWords[w + 2]!;
        const n3 = srcWords[w + 3]!;
        const n4 = srcWords[w + 4]!;
        dstWords[d] = (current >>> low) | (n1 << high);
        dstWords[d + 1] = (n1 >>> low) | (n2 << high);
        dstWords[d + 2] = (n2 >>> low) | (n3 << high);
        dstWords[d + 3] = (n3 >>> low) | (n4 << high);
        current = n4;
      }
      for (; d < end; d++) {
        w++;
        const next = srcWords[w]!;
        dstWords[d] = (current >>> low) | (next << high);
        current = next;
      }
      i += count << 2;
    }
  }
  for (; i < length; i++) dst[toAt + i] = src[fromAt + i]!;
}
