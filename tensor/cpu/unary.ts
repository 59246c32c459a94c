/**
 * Unary elementwise kernels and `fill` of the CPU backend. Each op's kernel is
 * its entry's `cpu` loop in the op table (`tensor/optable.ts`): a loop over
 * `n` contiguous elements, so `out` may alias `x` (each element is read before
 * it is written), computed in float64 and rounded to the output's dtype when
 * stored. For float32 arrays of at least {@link SIMD_MAP_MIN} elements the
 * ops whose loop branches on the data (relu, leakyRelu, step) and affine run
 * as WebAssembly SIMD maps instead ({@link SimdKernel.map32}), block by block
 * through the kernel's memory, with the same bits. Ops over at least
 * {@link PARALLEL_ELEMENTWISE} elements are split into element ranges across
 * the worker pool (`pool.ts`): elementwise, so the same bits on any number of
 * threads.
 *
 * @module
 */
import type { TypedArray, UnaryOp } from "../backend.ts";
import { UNARY_OPS } from "../optable.ts";
import { blockwise, isSimdMap, simdKernel } from "./simd.ts";
import { chunkRange, JOB_UNARY, parallelRanges } from "./pool.ts";

/** Elements below which a float32 op keeps its JavaScript loop (the copies cost more). */
export const SIMD_MAP_MIN = 2048;

/** Elements per block copied through the SIMD kernel's memory (fits the first-level caches). */
const SIMD_MAP_BLOCK = 8192;

/** Elementwise ops over at least this many elements are split across the worker pool. */
export const PARALLEL_ELEMENTWISE = 1 << 16;

/** Unary ops by index, for the pool's jobs (the same order in every thread). */
const UNARY_NAMES = Object.keys(UNARY_OPS) as UnaryOp[];

/**
 * One chunk of a pooled unary op: arrays [x, o]; nums n, elements per chunk,
 * op index, p0, p1.
 *
 * @param arrays the job's storages
 * @param nums the job's numbers
 * @param ch the chunk (elements ch·per …)
 */
export function unaryChunk(
  arrays: readonly (TypedArray | null)[],
  nums: ArrayLike<number>,
  ch: number,
): void {
  const [i0, i1] = chunkRange(nums, ch);
  const [x, o] = arrays as TypedArray[];
  unaryRange(
    UNARY_NAMES[nums[2]!]!,
    x.subarray(i0, i1),
    o.subarray(i0, i1),
    i1 - i0,
    nums[3]!,
    nums[4]!,
  );
}

/** {@link unaryKernel} on one thread. */
function unaryRange(
  op: UnaryOp,
  x: TypedArray,
  o: TypedArray,
  n: number,
  p0: number,
  p1: number,
): void {
  if (
    n >= SIMD_MAP_MIN && isSimdMap(op) && x instanceof Float32Array &&
    o instanceof Float32Array
  ) {
    const simd = simdKernel();
    if (simd) {
      return blockwise(
        simd,
        n,
        SIMD_MAP_BLOCK,
        [x],
        [[0, o]],
        (len) => simd.map32(op, 0, len, p0, p1),
      );
    }
  }
  UNARY_OPS[op]!.cpu(x, o, n, p0, p1);
}

/**
 * Run unary op `op` over the first `n` elements: `o[i] = f(x[i])`. `o` may be
 * the same array as `x`. Missing parameters read as 0.
 *
 * @param op the op (see {@link UnaryOp})
 * @param x input elements
 * @param o output elements
 * @param n element count
 * @param p0 first scalar parameter
 * @param p1 second scalar parameter
 */
export function unaryKernel(
  op: UnaryOp,
  x: TypedArray,
  o: TypedArray,
  n: number,
  p0 = 0,
  p1 = 0,
): void {
  if (UNARY_OPS[op]?.cpu === undefined) {
    throw new TypeError(`Cannot run cpu unary: unknown op "${op}"`);
  }
  if (n >= PARALLEL_ELEMENTWISE) {
    const nums = [UNARY_NAMES.indexOf(op), p0, p1];
    const alone = () => unaryRange(op, x, o, n, p0, p1);
    if (parallelRanges(JOB_UNARY, unaryChunk, [x, o], n, SIMD_MAP_BLOCK, nums, alone)) return;
  }
  unaryRange(op, x, o, n, p0, p1);
}

/**
 * `o[i] = value` for every element.
 *
 * @param o output elements
 * @param value the value (rounded to the output's dtype)
 */
export function fillKernel(o: TypedArray, value: number): void {
  o.fill(value);
}
