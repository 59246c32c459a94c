/**
 * Seeded sequences of images of consecutive digits (d, d+1, …): the data of
 * `examples/next_digit.ts`, where four images of d..d+3 predict an image of
 * d+4. Each draw depends only on the labels, the seed, the stream and the
 * sequence's position (Philox4x32-10, as {@link shuffledIndices}), so every
 * optimizer of a comparison sees the same sequences and a resumed run draws
 * the same epoch again.
 *
 * @example
 * ```ts
 * import { digitSequences, loadMnist } from "./mod.ts";
 * const test = await loadMnist({ split: "test" });
 * const s = digitSequences(test.labels, { count: 3, length: 5, seed: 1, stream: 0 });
 * // s.first[k] = d, s.images[5k .. 5k+4] = indices of test images of d, d+1, …, d+4
 * console.assert(test.labels[s.images[4]!] === s.first[0]! + 4);
 * ```
 *
 * @module
 */
import { philox4x32 } from "../tensor/random.ts";

/** Options of {@link digitSequences}. */
export interface DigitSequenceOptions {
  /** Number of sequences. */
  count: number;
  /** Images per sequence (consecutive digits d, d+1, …, d+length-1), 1 to 10. */
  length: number;
  /** Seed (a non-negative safe integer). */
  seed: number;
  /**
   * Which independent set of sequences for the seed (e.g. the epoch; 0 for a
   * fixed test set), an integer from 0 to 2^32 - 1.
   */
  stream: number;
}

/** Sequences as indices into the set whose labels were given. */
export interface DigitSequences {
  /** Number of sequences. */
  count: number;
  /** Images per sequence. */
  length: number;
  /** The first digit d of each sequence, uniform over 0..10-length. */
  first: Uint8Array;
  /** `count × length` image indices: sequence k holds images of d, d+1, … at `k·length …`. */
  images: Int32Array;
}

const SEQUENCE_TAG = 0x4e455854; // "NEXT": keeps this stream apart from the others
const TWO_POW_32 = 4294967296;

/**
 * The indices of each digit's images, in order.
 *
 * @param labels digit labels 0..9
 * @returns ten arrays: `[d]` holds the indices `i` with `labels[i] === d`
 */
export function indicesByDigit(labels: Uint8Array): Int32Array[] {
  const counts = new Array<number>(10).fill(0);
  for (const l of labels) counts[l]!++;
  const out = counts.map((c) => new Int32Array(c));
  const fill = new Array<number>(10).fill(0);
  labels.forEach((l, i) => out[l]![fill[l]!++] = i);
  return out;
}

/**
 * Draw sequences of images of consecutive digits: the first digit d uniformly
 * from 0..10-length, then for each of d, d+1, … an image drawn uniformly among
 * that digit's images. Per sequence k, Philox4x32-10 keyed by the seed with
 * counter (2k, stream) and (2k+1, stream) gives eight 32-bit words: the first
 * picks d, the next `length` pick the images.
 *
 * @param labels the labels of the set the images come from (digits 0..9)
 * @param opts count, length, seed, stream
 * @returns first digits and image indices
 * @throws RangeError for bad options, or when a needed digit has no image
 */
export function digitSequences(labels: Uint8Array, opts: DigitSequenceOptions): DigitSequences {
  const { count, length, seed, stream } = opts;
  if (!Number.isSafeInteger(count) || count < 0) {
    throw new RangeError(
      `Cannot draw sequences: count must be a non-negative integer, got ${count}`,
    );
  }
  if (!Number.isInteger(length) || length < 1 || length > 7) {
    throw new RangeError(
      `Cannot draw sequences: length must be an integer from 1 to 7, got ${length}`,
    );
  }
  if (!Number.isSafeInteger(seed) || seed < 0) {
    throw new RangeError(
      `Cannot draw sequences: seed must be a non-negative safe integer, got ${seed}`,
    );
  }
  if (!Number.isInteger(stream) || stream < 0 || stream >= TWO_POW_32) {
    throw new RangeError(
      `Cannot draw sequences: stream must be an integer in [0, 2^32), got ${stream}`,
    );
  }
  const byDigit = indicesByDigit(labels);
  const starts = 11 - length;
  byDigit.forEach((ix, d) => {
    if (ix.length === 0 && count > 0) {
      throw new RangeError(`Cannot draw sequences: the labels hold no image of digit ${d}`);
    }
  });
  const first = new Uint8Array(count);
  const images = new Int32Array(count * length);
  const words = new Uint32Array(8), half = new Uint32Array(4);
  const k0 = seed % TWO_POW_32;
  const k1 = (Math.floor(seed / TWO_POW_32) ^ SEQUENCE_TAG) >>> 0;
  for (let k = 0; k < count; k++) {
    philox4x32(2 * k, stream, k0, k1, half);
    words.set(half, 0);
    philox4x32(2 * k + 1, stream, k0, k1, half);
    words.set(half, 4);
    const d = Math.floor((words[0]! / TWO_POW_32) * starts);
    first[k] = d;
    for (let j = 0; j < length; j++) {
      const ix = byDigit[d + j]!;
      images[k * length + j] = ix[Math.floor((words[1 + j]! / TWO_POW_32) * ix.length)]!;
    }
  }
  return { count, length, first, images };
}
