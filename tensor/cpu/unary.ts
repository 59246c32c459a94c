/**
 * Unary elementwise kernels and `fill` of the CPU backend. Each op's kernel is
 * its entry's `cpu` loop in the op table (`tensor/optable.ts`): a loop over
 * `n` contiguous elements, so `out` may alias `x` (each element is read before
 * it is written), computed in float64 and rounded to the output's dtype when
 * stored. For float32 arrays of at least {@link SIMD_MAP_MIN} elements the
 * ops whose loop branches on the data (relu, leakyRelu, step) and affine run
 * as WebAssembly SIMD maps instead ({@link SimdKernel.map32}), block by block
 * through the kernel's memory, with the same bits.
 *
 * @module
 */
import type { TypedArray, UnaryOp } from "../backend.ts";
import { UNARY_OPS } from "../optable.ts";
import { blockwise, isSimdMap, simdKernel } from "./simd.ts";

/** Elements below which a float32 op keeps its JavaScript loop (the copies cost more). */
export const SIMD_MAP_MIN = 2048;

/** Elements per block copied through the SIMD kernel's memory (fits the first-level caches). */
const SIMD_MAP_BLOCK = 8192;

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
  const k = UNARY_OPS[op]?.cpu;
  if (k === undefined) throw new TypeError(`Cannot run cpu unary: unknown op "${op}"`);
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
  k(x, o, n, p0, p1);
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
