/**
 * Broadcasting binary kernels and `where` of the CPU backend. The operands'
 * strides are first simplified ({@link coalesce}), so a contiguous same-shape
 * op or a scalar broadcast runs as one flat loop and a bias-style broadcast as
 * one loop per row; each op's row loop (its entry's `cpu` in the op table,
 * `tensor/optable.ts`) has fast paths for unit and zero strides.
 *
 * @module
 */
import type { BinaryOp, TypedArray } from "../backend.ts";
import { BINARY_OPS } from "../optable.ts";
import { coalesce, contiguousStrides, extentOf, numel, RowCursor } from "./strided.ts";

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
  if (rank === 0) {
    k(a, 0, 0, b, 0, 0, o, 0, 1);
    return;
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
