/**
 * Helpers for the strided loops of the CPU backend: simplify a set of views
 * that share one shape, and walk the outer dimensions of such a set.
 *
 * @module
 */

/** A shape with one stride list per operand, all of the shape's rank. */
export interface Layout {
  /** Sizes of the kept dimensions (none is 1; an empty list means one element). */
  shape: number[];
  /** Per operand, its stride in each kept dimension. */
  strides: number[][];
}

/**
 * Drop size-1 dimensions and merge neighbours that every operand walks as one
 * (outer stride = inner stride · inner size). A contiguous same-shape set
 * becomes one dimension; a scalar broadcast becomes one dimension with stride 0.
 * The caller handles size-0 shapes before calling.
 *
 * @param shape the common logical shape
 * @param strides one stride list per operand (same rank as `shape`)
 * @returns the simplified layout
 */
export function coalesce(
  shape: readonly number[],
  strides: readonly (readonly number[])[],
): Layout {
  const outShape: number[] = [];
  const outStrides: number[][] = strides.map(() => []);
  for (let d = 0; d < shape.length; d++) {
    const size = shape[d]!;
    if (size === 1) continue;
    const last = outShape.length - 1;
    let merge = last >= 0;
    for (let t = 0; merge && t < strides.length; t++) {
      merge = outStrides[t]![last] === strides[t]![d]! * size;
    }
    if (merge) {
      outShape[last] = outShape[last]! * size;
      for (let t = 0; t < strides.length; t++) outStrides[t]![last] = strides[t]![d]!;
    } else {
      outShape.push(size);
      for (let t = 0; t < strides.length; t++) outStrides[t]!.push(strides[t]![d]!);
    }
  }
  return { shape: outShape, strides: outStrides };
}

/**
 * Walks the rows of a {@link Layout}: every index of its outer dimensions (all
 * but the last) in row-major order, keeping each operand's element offset of
 * the current row in `offsets`. A layout of rank 0 or 1 has one row.
 *
 * @example
 * ```ts
 * import { coalesce, RowCursor } from "./strided.ts";
 * const cur = new RowCursor(coalesce([2, 3], [[1, 2]]), [0]);
 * for (let r = 0; r < cur.rows; r++, cur.next()) console.log(cur.offsets[0]); // 0, 1
 * ```
 */
export class RowCursor {
  /** Number of rows. */
  readonly rows: number;
  /** Per operand, the element offset of the current row. */
  readonly offsets: number[];
  readonly #shape: readonly number[];
  readonly #strides: readonly (readonly number[])[];
  readonly #idx: number[];

  /**
   * Start at row 0.
   *
   * @param layout the simplified layout
   * @param base each operand's offset of row 0
   */
  constructor(layout: Layout, base: readonly number[]) {
    this.#shape = layout.shape;
    this.#strides = layout.strides;
    this.offsets = base.slice();
    const outerRank = Math.max(0, layout.shape.length - 1);
    this.#idx = new Array<number>(outerRank).fill(0);
    let rows = 1;
    for (let d = 0; d < outerRank; d++) rows *= layout.shape[d]!;
    this.rows = rows;
  }

  /** Move to the next row (wrapping to row 0 after the last). */
  next(): void {
    const shape = this.#shape, strides = this.#strides, idx = this.#idx, off = this.offsets;
    for (let d = idx.length - 1; d >= 0; d--) {
      if (++idx[d]! < shape[d]!) {
        for (let t = 0; t < off.length; t++) off[t] = off[t]! + strides[t]![d]!;
        return;
      }
      idx[d] = 0;
      for (let t = 0; t < off.length; t++) off[t] = off[t]! - strides[t]![d]! * (shape[d]! - 1);
    }
  }
}

/**
 * Row-major contiguous strides of a shape.
 *
 * @param shape the shape
 * @returns the strides (1 for the last dimension)
 */
export function contiguousStrides(shape: readonly number[]): number[] {
  const s = new Array<number>(shape.length);
  let acc = 1;
  for (let d = shape.length - 1; d >= 0; d--) {
    s[d] = acc;
    acc *= shape[d]!;
  }
  return s;
}

/**
 * Number of elements of a shape (1 for rank 0).
 *
 * @param shape the shape
 * @returns the product of the sizes
 */
export function numel(shape: readonly number[]): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}

/**
 * Largest element offset a view can reach, plus one (0 for an empty shape).
 *
 * @param shape the view's shape
 * @param strides its strides
 * @param offset its first element
 * @returns the number of elements the view needs its storage to hold
 */
export function extentOf(shape: readonly number[], strides: readonly number[], offset = 0): number {
  let last = offset;
  for (let d = 0; d < shape.length; d++) {
    if (shape[d] === 0) return 0;
    last += (shape[d]! - 1) * strides[d]!;
  }
  return last + 1;
}
