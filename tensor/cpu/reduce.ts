/**
 * Reductions of the CPU backend over an input viewed as [outer, reduce, inner].
 * Sums accumulate in float64 whatever the dtype and are rounded once when
 * stored. An empty reduced block gives 0 (sum) or -Infinity (max); max
 * propagates NaN.
 *
 * @module
 */
import type { ReduceOp, ReduceParams, TypedArray } from "../backend.ts";
import { simdKernel } from "./simd.ts";

/** Float32 sums over the middle axis with at least this many elements use the SIMD column sums. */
export const SIMD_SUM_MIN = 4096;
/** Float32s of x copied into SIMD memory per block of rows. */
const SUM_BLOCK = 1 << 15;

let scratch = new Float64Array(64);

/** A float64 scratch row of at least `n` elements (reused between calls). */
function accumulator(n: number): Float64Array {
  if (scratch.length < n) scratch = new Float64Array(Math.max(n, scratch.length * 2));
  return scratch;
}

/** Sum of each contiguous run of `reduce` elements (inner = 1). */
function sumRows(x: TypedArray, o: TypedArray, outer: number, reduce: number): void {
  for (let b = 0; b < outer; b++) {
    const base = b * reduce;
    let s0 = 0, s1 = 0;
    let r = 0;
    for (; r + 1 < reduce; r += 2) {
      s0 += x[base + r];
      s1 += x[base + r + 1];
    }
    if (r < reduce) s0 += x[base + r];
    o[b] = s0 + s1;
  }
}

/**
 * {@link sumStrided} for float32 x through the SIMD column sums (the same
 * float64 additions in the same order): blocks of rows are copied into the
 * kernel's memory behind the float64 accumulators. False where SIMD is off.
 */
function sumStridedSimd(
  x: Float32Array,
  o: TypedArray,
  outer: number,
  reduce: number,
  inner: number,
): boolean {
  const simd = simdKernel();
  if (!simd) return false;
  const accN = inner + (inner & 1), at = 2 * accN; // x's block after the accumulators
  const rpb = Math.max(1, Math.floor(SUM_BLOCK / inner));
  simd.reserve((at + Math.min(rpb, reduce) * inner + 2) * 4);
  simd.tag = 0; // the memory's contents are replaced
  for (let b = 0; b < outer; b++) {
    const f64 = simd.f64;
    f64.fill(0, 0, accN);
    const base = b * reduce * inner;
    for (let r0 = 0; r0 < reduce; r0 += rpb) {
      const rows = Math.min(rpb, reduce - r0);
      simd.f32.set(x.subarray(base + r0 * inner, base + (r0 + rows) * inner), at);
      simd.colSum(0, at, rows, inner);
    }
    const oi = b * inner;
    for (let i = 0; i < inner; i++) o[oi + i] = f64[i]!;
  }
  return true;
}

/** Sum over the middle axis of [outer, reduce, inner] with inner > 1. */
function sumStrided(
  x: TypedArray,
  o: TypedArray,
  outer: number,
  reduce: number,
  inner: number,
): void {
  if (
    x instanceof Float32Array && inner >= 4 && reduce * inner >= SIMD_SUM_MIN &&
    sumStridedSimd(x, o, outer, reduce, inner)
  ) return;
  const acc = accumulator(inner);
  for (let b = 0; b < outer; b++) {
    acc.fill(0, 0, inner);
    let xi = b * reduce * inner;
    for (let r = 0; r < reduce; r++, xi += inner) {
      for (let i = 0; i < inner; i++) acc[i] += x[xi + i];
    }
    const oi = b * inner;
    for (let i = 0; i < inner; i++) o[oi + i] = acc[i]!;
  }
}

/** Max of each contiguous run of `reduce` elements (inner = 1). */
function maxRows(x: TypedArray, o: TypedArray, outer: number, reduce: number): void {
  for (let b = 0; b < outer; b++) {
    const base = b * reduce;
    let m = -Infinity;
    for (let r = 0; r < reduce; r++) m = Math.max(m, x[base + r]);
    o[b] = m;
  }
}

/** Max over the middle axis of [outer, reduce, inner] with inner > 1. */
function maxStrided(
  x: TypedArray,
  o: TypedArray,
  outer: number,
  reduce: number,
  inner: number,
): void {
  const acc = accumulator(inner);
  for (let b = 0; b < outer; b++) {
    acc.fill(-Infinity, 0, inner);
    let xi = b * reduce * inner;
    for (let r = 0; r < reduce; r++, xi += inner) {
      for (let i = 0; i < inner; i++) acc[i] = Math.max(acc[i]!, x[xi + i]);
    }
    const oi = b * inner;
    for (let i = 0; i < inner; i++) o[oi + i] = acc[i]!;
  }
}

/**
 * Reduce x viewed as [outer, reduce, inner] to o of [outer, inner].
 *
 * @param op "sum" or "max"
 * @param x input elements (at least outer·reduce·inner)
 * @param o output elements (at least outer·inner)
 * @param p the three sizes
 */
export function reduceKernel(op: ReduceOp, x: TypedArray, o: TypedArray, p: ReduceParams): void {
  const { outer, reduce, inner } = p;
  if (outer * reduce * inner > x.length || outer * inner > o.length) {
    throw new RangeError(
      `Cannot run cpu reduce over [${outer}, ${reduce}, ${inner}]: x holds ${x.length} and out ${o.length} elements`,
    );
  }
  if (outer * inner === 0) return;
  if (op === "sum") {
    if (inner === 1) sumRows(x, o, outer, reduce);
    else sumStrided(x, o, outer, reduce, inner);
  } else if (op === "max") {
    if (inner === 1) maxRows(x, o, outer, reduce);
    else maxStrided(x, o, outer, reduce, inner);
  } else {
    throw new TypeError(`Cannot run cpu reduce: unknown op "${op}"`);
  }
}
