/**
 * Data-movement kernels of the CPU backend: the strided copy behind every
 * shape op, and gather/scatterAdd along one axis.
 *
 * @module
 */
import type { GatherParams, TypedArray, View } from "../backend.ts";
import { coalesce, extentOf, numel, RowCursor } from "./strided.ts";

/** Rows at least this long are copied with `subarray().set()`. */
const SET_MIN_ROW = 16;

function fmt(shape: readonly number[]): string {
  return `[${shape.join(", ")}]`;
}

function checkView(role: string, v: View, arr: TypedArray): void {
  if (v.strides.length !== v.shape.length) {
    throw new TypeError(
      `Cannot run cpu copy: ${role} view has shape ${fmt(v.shape)} but ${v.strides.length} strides`,
    );
  }
  const need = extentOf(v.shape, v.strides, v.offset);
  if (need > arr.length) {
    throw new RangeError(
      `Cannot run cpu copy: ${role} view reaches element ${need - 1} of a storage of ${arr.length}`,
    );
  }
}

/**
 * Strided copy: for every index of the common shape,
 * `dst[dstView(idx)] = src[srcView(idx)]`. Rows that are contiguous on both
 * sides are copied with `set`; everything else element by element.
 *
 * @param src source elements
 * @param sv where the elements sit in `src`
 * @param dst destination elements
 * @param dv where they go in `dst` (same shape as `sv`)
 */
export function copyKernel(src: TypedArray, sv: View, dst: TypedArray, dv: View): void {
  const shape = sv.shape;
  if (dv.shape.length !== shape.length || dv.shape.some((d, i) => d !== shape[i])) {
    throw new TypeError(
      `Cannot run cpu copy: source view ${fmt(shape)} and destination view ${
        fmt(dv.shape)
      } differ in shape`,
    );
  }
  checkView("source", sv, src);
  checkView("destination", dv, dst);
  if (numel(shape) === 0) return;
  const layout = coalesce(shape, [sv.strides, dv.strides]);
  const rank = layout.shape.length;
  if (rank === 0) {
    dst[dv.offset] = src[sv.offset]!;
    return;
  }
  const len = layout.shape[rank - 1]!;
  const ss = layout.strides[0]![rank - 1]!, ds = layout.strides[1]![rank - 1]!;
  const cur = new RowCursor(layout, [sv.offset, dv.offset]), off = cur.offsets;
  if (ss === 1 && ds === 1 && len >= SET_MIN_ROW) {
    for (let r = 0; r < cur.rows; r++, cur.next()) {
      dst.set(src.subarray(off[0]!, off[0]! + len), off[1]!);
    }
  } else {
    for (let r = 0; r < cur.rows; r++, cur.next()) copyRow(src, off[0]!, ss, dst, off[1]!, ds, len);
  }
}

/** `dst[d + i·ds] = src[s + i·ss]` for i < n. */
function copyRow(
  src: TypedArray,
  s: number,
  ss: number,
  dst: TypedArray,
  d: number,
  ds: number,
  n: number,
): void {
  if (ss === 1 && ds === 1) {
    for (let i = 0; i < n; i++) dst[d + i] = src[s + i]!;
  } else if (ds === 1) {
    for (let i = 0; i < n; i++) dst[d + i] = src[s + i * ss]!;
  } else {
    for (let i = 0; i < n; i++) dst[d + i * ds] = src[s + i * ss]!;
  }
}

function checkGather(
  op: string,
  p: GatherParams,
  xLen: number,
  idxLen: number,
  outLen: number,
): void {
  const { outer, axisSize, indexSize, inner } = p;
  const full = outer * axisSize * inner, part = outer * indexSize * inner;
  const [xNeed, oNeed] = op === "gather" ? [full, part] : [part, full];
  if (xNeed > xLen || part > idxLen || oNeed > outLen) {
    throw new RangeError(
      `Cannot run cpu ${op} over [${outer}, ${axisSize}/${indexSize}, ${inner}]: ` +
        `storages hold ${xLen}, ${idxLen} and ${outLen} elements, need ${xNeed}, ${part} and ${oNeed}`,
    );
  }
}

/** The error for index `k`, read at flat position `pos` of the index tensor. */
function badIndex(op: string, k: number, pos: number, p: GatherParams): RangeError {
  const o = Math.floor(pos / (p.indexSize * p.inner));
  const j = Math.floor(pos / p.inner) % p.indexSize;
  const i = pos % p.inner;
  const why = Number.isInteger(k) ? "is out of range" : "is not an integer";
  return new RangeError(
    `Cannot ${op}: index ${k} at [${o}, ${j}, ${i}] (outer, index, inner) ${why} ` +
      `for an axis of size ${p.axisSize}; valid indices are integers 0 to ${p.axisSize - 1}`,
  );
}

/**
 * `o[b, j, i] = x[b, idx[b, j, i], i]` with x of [outer, axisSize, inner] and
 * idx, o of [outer, indexSize, inner].
 *
 * @param x source elements
 * @param idx indices stored as floats
 * @param o output elements
 * @param p the sizes
 * @throws RangeError naming the index and the axis size when an index is not
 *   an integer in [0, axisSize)
 */
export function gatherKernel(x: TypedArray, idx: TypedArray, o: TypedArray, p: GatherParams): void {
  checkGather("gather", p, x.length, idx.length, o.length);
  const { outer, axisSize, indexSize, inner } = p;
  let pos = 0;
  for (let b = 0; b < outer; b++) {
    const xBase = b * axisSize * inner;
    for (let j = 0; j < indexSize; j++) {
      for (let i = 0; i < inner; i++, pos++) {
        const k = idx[pos]!;
        if (!(k >= 0 && k < axisSize && Math.floor(k) === k)) throw badIndex("gather", k, pos, p);
        o[pos] = x[xBase + k * inner + i]!;
      }
    }
  }
}

let scratch = new Float64Array(64);

/**
 * The adjoint of gather: `o[b, k, i] = Σ_j [idx[b, j, i] = k] · g[b, j, i]`,
 * writing all of o (zeros where no index points). Sums accumulate in float64.
 *
 * @param g gradient elements of [outer, indexSize, inner]
 * @param idx indices stored as floats, same shape as g
 * @param o output elements of [outer, axisSize, inner]
 * @param p the sizes
 * @throws RangeError when an index is not an integer in [0, axisSize)
 */
export function scatterAddKernel(
  g: TypedArray,
  idx: TypedArray,
  o: TypedArray,
  p: GatherParams,
): void {
  checkGather("scatterAdd", p, g.length, idx.length, o.length);
  const { outer, axisSize, indexSize, inner } = p;
  const block = axisSize * inner;
  if (scratch.length < block) scratch = new Float64Array(Math.max(block, scratch.length * 2));
  const acc = scratch;
  let pos = 0;
  for (let b = 0; b < outer; b++) {
    acc.fill(0, 0, block);
    for (let j = 0; j < indexSize; j++) {
      for (let i = 0; i < inner; i++, pos++) {
        const k = idx[pos]!;
        if (!(k >= 0 && k < axisSize && Math.floor(k) === k)) {
          throw badIndex("scatterAdd", k, pos, p);
        }
        acc[k * inner + i] += g[pos]!;
      }
    }
    const oBase = b * block;
    for (let t = 0; t < block; t++) o[oBase + t] = acc[t]!;
  }
}
