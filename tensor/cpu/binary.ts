/**
 * Broadcasting binary kernels and `where` of the CPU backend. The operands'
 * strides are first simplified ({@link coalesce}), so a contiguous same-shape
 * op or a scalar broadcast runs as one flat loop and a bias-style broadcast as
 * one loop per row; each op's row loop (its entry's `cpu` in the op table,
 * `tensor/optable.ts`) has fast paths for unit and zero strides. Float32
 * add, sub, mul, div and the comparisons of at least {@link SIMD_BINARY_MIN} elements whose
 * operands are each contiguous, one row broadcast over the rows, or a scalar
 * run in WebAssembly SIMD instead ({@link SimdKernel.binary32}), block by
 * block through the kernel's memory, with the same bits. Ops of at least
 * `PARALLEL_ELEMENTWISE` output elements whose coalesced layout has at most two
 * dimensions are split by rows (or by elements of the one row) across the
 * worker pool: elementwise, so the same bits on any number of threads.
 *
 * @module
 */
import type { BinaryOp, TypedArray } from "../backend.ts";
import { BINARY_OPS } from "../optable.ts";
import { isSimdBinary, type SimdBinary, type SimdKernel, simdKernel } from "./simd.ts";
import { coalesce, contiguousStrides, extentOf, type Layout, numel, RowCursor } from "./strided.ts";
import { chunkRange, JOB_BINARY, parallelRanges } from "./pool.ts";
import { PARALLEL_ELEMENTWISE } from "./unary.ts";

/** Binary ops by index, for the pool's jobs (the same order in every thread). */
const BINARY_NAMES = Object.keys(BINARY_OPS) as BinaryOp[];

/** Elements below which a float32 op keeps its JavaScript loop. */
export const SIMD_BINARY_MIN = 2048;

/** Output elements per block through the SIMD kernel's memory. */
const BLOCK = 8192;

/**
 * One operand of {@link simdBinary}: its element offset of output element
 * (r, j) is r·rowStride + j·inner, with rowStride = len, inner = 1
 * (contiguous), rowStride 0, inner 1 (one row for all) or both 0 (a scalar).
 */
function simdOperandOk(rowStride: number, inner: number, len: number): boolean {
  return inner === 1 ? rowStride === len || rowStride === 0 : inner === 0 && rowStride === 0;
}

/**
 * `o = a op b` for a coalesced layout of rank 1 or 2 whose operands
 * {@link simdOperandOk} accepts, in the SIMD kernel's memory; false (nothing
 * done) for any other layout.
 */
function simdBinary(
  simd: SimdKernel,
  op: SimdBinary,
  a: Float32Array,
  b: Float32Array,
  o: Float32Array,
  layout: Layout,
): boolean {
  const rank = layout.shape.length;
  if (rank < 1 || rank > 2) return false;
  const len = layout.shape[rank - 1]!, rows = rank === 2 ? layout.shape[0]! : 1;
  const ops = [a, b].map((arr, t) => {
    const st = layout.strides[t]!;
    return { arr, row: rank === 2 ? st[0]! : 0, inner: st[rank - 1]! };
  });
  if (!ops.every((p) => simdOperandOk(p.row, p.inner, len))) return false;
  // memory: a block of a, of b, of o (each padded to whole vectors)
  const W = BLOCK + 4, at = [0, W], O = 2 * W;
  simd.reserve(3 * W * 4);
  simd.tag = 0; // the memory's contents are replaced
  const mem = simd.f32;
  // a chunk is R whole rows (len ≤ BLOCK) or one piece of a row
  const R = len <= BLOCK ? Math.floor(BLOCK / len) : 1;
  const piece = len <= BLOCK ? len : BLOCK;
  // operands the same for every chunk (a broadcast row repeated R times, a scalar) go in once
  ops.forEach((p, t) => {
    if (p.inner === 0) mem.fill(p.arr[0]!, at[t]!, at[t]! + R * piece);
    else if (p.row === 0 && len <= BLOCK) {
      for (let r = 0; r < R; r++) mem.set(p.arr.subarray(0, len), at[t]! + r * len);
    }
  });
  for (let r0 = 0; r0 < rows; r0 += R) {
    for (let s = 0; s < len; s += piece) {
      const nr = Math.min(R, rows - r0), size = nr === 1 ? Math.min(piece, len - s) : nr * len;
      const start = r0 * len + s;
      ops.forEach((p, t) => {
        if (p.row !== 0) mem.set(p.arr.subarray(start, start + size), at[t]!);
        else if (p.inner === 1 && len > BLOCK) mem.set(p.arr.subarray(s, s + size), at[t]!);
      });
      simd.binary32(op, O, at[0]!, at[1]!, size);
      o.set(mem.subarray(O, O + size), start);
    }
  }
  return true;
}

type TA = TypedArray;

function checkOperand(
  op: string,
  role: string,
  arr: TA,
  shape: readonly number[],
  s: readonly number[],
) {
  if (s.length !== shape.length) {
    throw new TypeError(
      `Cannot run cpu ${op}: ${role} has ${s.length} strides for an output of rank ${shape.length}`,
    );
  }
  const need = extentOf(shape, s);
  if (need > arr.length) {
    throw new RangeError(
      `Cannot run cpu ${op}: ${role} holds ${arr.length} elements but its strides reach ${need}`,
    );
  }
}

/**
 * `o = op(a, b)` with broadcasting; `o` is contiguous with shape `outShape`.
 *
 * @param op the op (see {@link BinaryOp})
 * @param a first operand
 * @param aStrides a's stride per output dimension (0 broadcasts)
 * @param b second operand
 * @param bStrides b's stride per output dimension
 * @param o output elements
 * @param outShape output shape
 */
export function binaryKernel(
  op: BinaryOp,
  a: TypedArray,
  aStrides: readonly number[],
  b: TypedArray,
  bStrides: readonly number[],
  o: TypedArray,
  outShape: readonly number[],
): void {
  const k = BINARY_OPS[op]?.cpu;
  if (k === undefined) throw new TypeError(`Cannot run cpu binary: unknown op "${op}"`);
  const total = numel(outShape);
  if (total > o.length) {
    throw new RangeError(`Cannot run cpu ${op}: out holds ${o.length} elements, need ${total}`);
  }
  checkOperand(op, "a", a, outShape, aStrides);
  checkOperand(op, "b", b, outShape, bStrides);
  if (total === 0) return;
  const layout = coalesce(outShape, [aStrides, bStrides, contiguousStrides(outShape)]);
  const rank = layout.shape.length;
  if (
    total >= PARALLEL_ELEMENTWISE && rank <= 2 && rank >= 1 &&
    layout.strides.every((st) => st.every((x) => x >= 0))
  ) {
    const len = layout.shape[rank - 1]!;
    const [sa, sb] = layout.strides.map((st) => rank === 2 ? [st[0]!, st[1]!] : [0, st[0]!]);
    const lines = rank === 2 ? layout.shape[0]! : len; // what the chunks split
    const nums = [BINARY_NAMES.indexOf(op), rank, len, ...sa!, ...sb!];
    const alone = () => binaryLayout(op, a, b, o, layout);
    if (parallelRanges(JOB_BINARY, binaryChunk, [a, b, o], lines, 1, nums, alone, total)) return;
  }
  binaryLayout(op, a, b, o, layout);
}

/**
 * One chunk of a pooled binary op: arrays [a, b, o]; nums the rows (rank 2) or
 * elements (rank 1) split and how many per chunk, then the op index, the rank
 * (1 or 2) of the coalesced layout, the row length, a's row and inner strides
 * and b's.
 *
 * @param arrays the job's storages
 * @param nums the job's numbers
 * @param ch the chunk
 */
export function binaryChunk(
  arrays: readonly (TypedArray | null)[],
  nums: ArrayLike<number>,
  ch: number,
): void {
  const [a, b, o] = arrays as TypedArray[];
  const [i0, i1] = chunkRange(nums, ch);
  const op = BINARY_NAMES[nums[2]!]!, rank = nums[3]!, len = nums[4]!;
  const aRow = nums[5]!, aIn = nums[6]!, bRow = nums[7]!, bIn = nums[8]!;
  const layout: Layout = rank === 2 && i1 - i0 > 1
    ? { shape: [i1 - i0, len], strides: [[aRow, aIn], [bRow, bIn], [len, 1]] }
    : { shape: [rank === 2 ? len : i1 - i0], strides: [[aIn], [bIn], [1]] }; // no size-1 dimension
  const [ao, bo, oo] = rank === 2 ? [i0 * aRow, i0 * bRow, i0 * len] : [i0 * aIn, i0 * bIn, i0];
  binaryLayout(op, a.subarray(ao), b.subarray(bo), o.subarray(oo), layout);
}

/** {@link binaryKernel} on one thread, for a checked, coalesced layout. */
function binaryLayout(op: BinaryOp, a: TA, b: TA, o: TA, layout: Layout): void {
  const k = BINARY_OPS[op]!.cpu;
  const rank = layout.shape.length;
  if (rank === 0) {
    k(a, 0, 0, b, 0, 0, o, 0, 1);
    return;
  }
  if (
    numel(layout.shape) >= SIMD_BINARY_MIN && isSimdBinary(op) && a instanceof Float32Array &&
    b instanceof Float32Array && o instanceof Float32Array
  ) {
    const simd = simdKernel();
    if (simd && simdBinary(simd, op, a, b, o, layout)) return;
  }
  const len = layout.shape[rank - 1]!;
  const sa = layout.strides[0]![rank - 1]!, sb = layout.strides[1]![rank - 1]!;
  const cur = new RowCursor(layout, [0, 0]), off = cur.offsets;
  for (let r = 0; r < cur.rows; r++, cur.next()) k(a, off[0]!, sa, b, off[1]!, sb, o, r * len, len);
}

function whereRow(
  c: TA,
  ci: number,
  sc: number,
  a: TA,
  ai: number,
  sa: number,
  b: TA,
  bi: number,
  sb: number,
  o: TA,
  oi: number,
  n: number,
): void {
  if (sc === 1 && sa === 1 && sb === 1) {
    for (let i = 0; i < n; i++) o[oi + i] = c[ci + i] !== 0 ? a[ai + i] : b[bi + i];
  } else {
    for (let i = 0; i < n; i++) {
      o[oi + i] = c[ci + i * sc] !== 0 ? a[ai + i * sa] : b[bi + i * sb];
    }
  }
}

/**
 * `o = c != 0 ? a : b` with broadcasting; `o` is contiguous with shape `outShape`.
 *
 * @param c condition
 * @param cStrides c's stride per output dimension (0 broadcasts)
 * @param a value where c is non-zero
 * @param aStrides a's strides
 * @param b value where c is zero
 * @param bStrides b's strides
 * @param o output elements
 * @param outShape output shape
 */
export function whereKernel(
  c: TypedArray,
  cStrides: readonly number[],
  a: TypedArray,
  aStrides: readonly number[],
  b: TypedArray,
  bStrides: readonly number[],
  o: TypedArray,
  outShape: readonly number[],
): void {
  const total = numel(outShape);
  if (total > o.length) {
    throw new RangeError(`Cannot run cpu where: out holds ${o.length} elements, need ${total}`);
  }
  checkOperand("where", "cond", c, outShape, cStrides);
  checkOperand("where", "a", a, outShape, aStrides);
  checkOperand("where", "b", b, outShape, bStrides);
  if (total === 0) return;
  const layout = coalesce(outShape, [cStrides, aStrides, bStrides, contiguousStrides(outShape)]);
  const rank = layout.shape.length;
  if (rank === 0) {
    whereRow(c, 0, 0, a, 0, 0, b, 0, 0, o, 0, 1);
    return;
  }
  const len = layout.shape[rank - 1]!;
  const [sc, sa, sb] = layout.strides.map((s) => s[rank - 1]!) as [number, number, number];
  const cur = new RowCursor(layout, [0, 0, 0]), off = cur.offsets;
  for (let r = 0; r < cur.rows; r++, cur.next()) {
    whereRow(c, off[0]!, sc, a, off[1]!, sa, b, off[2]!, sb, o, r * len, len);
  }
}
