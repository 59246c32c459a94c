/**
 * The CPU backend's random fills, split across the worker pool of `pool.ts`
 * for large storages: the Philox stream of `../random.ts` is defined element
 * by element, so each chunk fills its own range from its own counter and the
 * result is the same to the bit on any number of threads (every thread runs
 * the same `Math.log` and `Math.cos`).
 *
 * @module
 */
import type { TypedArray } from "../backend.ts";
import { fillRandom } from "../random.ts";
import { chunkRange, JOB_RANDOM, parallelRanges } from "./pool.ts";

/** Fills of at least this many elements are split across the pool. */
export const PARALLEL_RANDOM = 1 << 14;

/**
 * One chunk of a pooled fill: arrays [out]; nums n, elements per chunk,
 * normal (1) or uniform (0), the two key words, the counter of element 0, lo
 * and hi (see `fillRandom`).
 *
 * @param arrays the job's storages
 * @param nums the job's numbers
 * @param ch the chunk (elements ch·per …)
 */
export function randomChunk(
  arrays: readonly (TypedArray | null)[],
  nums: ArrayLike<number>,
  ch: number,
): void {
  const out = arrays[0] as Float32Array | Float64Array;
  const [i0, i1] = chunkRange(nums, ch);
  const dist = nums[2] === 1 ? "normal" : "uniform";
  fillRandom(out.subarray(i0, i1), dist, [nums[3]!, nums[4]!], nums[5]! + i0, nums[6]!, nums[7]!);
}

/**
 * `fillRandom` (same arguments: the elements to fill, the distribution, the
 * key words, the counter of element 0, lo and hi), split across the pool when
 * the fill is large: the same bits either way.
 */
export const randomKernel: typeof fillRandom = (out, dist, key, counter, lo, hi) => {
  if (out.length >= PARALLEL_RANDOM) {
    const nums = [dist === "normal" ? 1 : 0, key[0], key[1], counter, lo, hi];
    const alone = () => fillRandom(out, dist, key, counter, lo, hi);
    if (parallelRanges(JOB_RANDOM, randomChunk, [out], out.length, 1024, nums, alone)) return;
  }
  fillRandom(out, dist, key, counter, lo, hi);
};
