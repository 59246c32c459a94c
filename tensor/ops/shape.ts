/**
 * Shape and indexing ops: reshape (free: shares memory), expand, permute and
 * transpose, slice, cat, stack, gather, squeeze/unsqueeze and clone. All copies
 * go through the backend's one strided-copy kernel.
 *
 * @module
 */
import type { Storage, View } from "../backend.ts";
import { record } from "../autograd.ts";
import { isGradEnabled } from "../engine.ts";
import { fmtShape, ShapeError } from "../errors.ts";
import {
  broadcastShapes,
  broadcastStrides,
  normAxis,
  sameShape,
  sizeOf,
  stridesOf,
} from "../shape.ts";
import type { Buf, Tensor } from "../tensor.ts";
import { checkSame } from "./elementwise.ts";

const contiguous = (shape: readonly number[], offset = 0): View => ({
  shape,
  strides: stridesOf(shape),
  offset,
});

/** A tensor of a new shape sharing x's memory, with no graph. @internal */
export function reshapeRaw(x: Tensor, shape: readonly number[]): Tensor {
  return x.share(shape);
}

/**
 * Same data, new shape; one dimension may be -1 (inferred).
 *
 * @param x the input
 * @param shape the new shape
 */
export function reshape(x: Tensor, shape: readonly number[]): Tensor {
  const s = [...shape];
  const unknown = s.indexOf(-1);
  if (unknown >= 0) {
    const known = sizeOf(s.filter((_, i) => i !== unknown));
    if (known > 0 && x.size % known === 0) s[unknown] = x.size / known;
  }
  if (s.some((d) => !Number.isInteger(d) || d < 0) || sizeOf(s) !== x.size) {
    throw new ShapeError(
      "reshape",
      [x.shape, shape],
      `Cannot reshape a tensor of shape ${fmtShape(x.shape)} (${x.size} elements) to ${
        fmtShape(shape)
      }`,
    );
  }
  const y = reshapeRaw(x, s);
  if (!isGradEnabled() || !x.requiresGrad) return y;
  const xShape = x.shape;
  return record("reshape", y, [x], [], (g) => [reshapeRaw(g, xShape)]);
}

/**
 * Broadcast x to `shape` as a new contiguous tensor, no graph. The copy is
 * deferred like a slice's ({@link sliceRaw}): a broadcasting binary op reads
 * x through the expand's strides instead (no dispatch), and an expand nobody
 * reads costs nothing. @internal
 */
export function expandRaw(x: Tensor, shape: readonly number[]): Tensor {
  const be = x.backendImpl, src = x.buf;
  const view: View = { shape: [...shape], strides: broadcastStrides(x.shape, shape), offset: 0 };
  return x.deferred(shape, [x], (out) => {
    be.copy(src.storage, view, out, contiguous(shape));
  }, { view: { src, view } });
}

/**
 * Broadcast to a larger shape (NumPy rules).
 *
 * @param x the input
 * @param shape the target shape
 */
export function expand(x: Tensor, shape: readonly number[]): Tensor {
  const target = broadcastShapes("expand", x.shape, shape);
  if (target.length !== shape.length || target.some((d, i) => d !== shape[i])) {
    throw new ShapeError(
      "expand",
      [x.shape, shape],
      `Cannot expand a tensor of shape ${fmtShape(x.shape)} to ${fmtShape(shape)}`,
    );
  }
  const y = expandRaw(x, shape);
  if (!isGradEnabled() || !x.requiresGrad) return y;
  return record("expand", y, [x], [], (g) => [g]);
}

/**
 * Permute with no graph. Deferred, as a slice is ({@link sliceRaw}): the
 * transposing copy runs when the result is first read, and a slice of the
 * result that no kernel has copied yet reads the source through both views
 * (one copy of the slice's elements, not of the whole). @internal
 */
export function permuteRaw(x: Tensor, dims: readonly number[]): Tensor {
  const range = contiguousSource(x.buf);
  const xs = stridesOf(x.shape);
  const shape = dims.map((d) => x.shape[d]!);
  const be = x.backendImpl, src = range?.src ?? x.buf;
  const view: View = { shape, strides: dims.map((d) => xs[d]!), offset: range?.offset ?? 0 };
  return x.deferred(shape, [src], (out) => {
    be.copy(src.storage, view, out, contiguous(shape));
  }, { view: { src, view } });
}

/**
 * Reorder dimensions: output dimension i is input dimension dims[i].
 *
 * @param x the input
 * @param dims a permutation of the axes (negative axes allowed)
 */
export function permute(x: Tensor, dims: readonly number[]): Tensor {
  const d = dims.map((a) => normAxis("permute", a, x.rank, x.shape));
  if (d.length !== x.rank || new Set(d).size !== d.length) {
    throw new ShapeError(
      "permute",
      [x.shape],
      `Cannot permute a tensor of shape ${fmtShape(x.shape)} by [${dims.join(", ")}]: ` +
        `expected a permutation of ${x.rank} axes`,
    );
  }
  const y = permuteRaw(x, d);
  if (!isGradEnabled() || !x.requiresGrad) return y;
  const inv = new Array<number>(d.length);
  d.forEach((a, i) => (inv[a] = i));
  return record("permute", y, [x], [], (g) => [permuteRaw(g, inv)]);
}

/**
 * Swap two dimensions.
 *
 * @param x the input
 * @param dim0 first axis (default -2)
 * @param dim1 second axis (default -1)
 */
export function transpose(x: Tensor, dim0 = -2, dim1 = -1): Tensor {
  const a = normAxis("transpose", dim0, x.rank, x.shape);
  const b = normAxis("transpose", dim1, x.rank, x.shape);
  const dims = [...Array(x.rank).keys()];
  dims[a] = b;
  dims[b] = a;
  return permute(x, dims);
}

/**
 * Zeros of `shape` with `g` written at `starts`, no graph. Deferred (the
 * fill and the copy run on first read) and marked as a pad, so a reader that
 * knows where `g` sits may read `g` itself. @internal
 */
export function padRaw(g: Tensor, shape: readonly number[], starts: readonly number[]): Tensor {
  const be = g.backendImpl, src = g.buf, srcShape = g.shape;
  const st = stridesOf(shape);
  const offset = starts.reduce((acc, s, i) => acc + s * st[i]!, 0);
  return g.deferred(shape, [g], (out) => {
    be.fill(out, 0);
    be.copy(src.storage, contiguous(srcShape), out, { shape: srcShape, strides: st, offset });
  }, { pad: { src, srcShape, offset } });
}

/**
 * Where a deferred buffer's elements sit when it stands for a contiguous
 * range of another buffer (a slice along the leading axis, a slice of a flat
 * tensor) that no kernel has copied yet: that buffer and the range's first
 * element, so a reader of row-major memory may read the source in place.
 * Null otherwise (materialised, not a view, or strided). @internal
 *
 * @param b the buffer
 */
export function contiguousSource(b: Buf): { src: Buf; offset: number } | null {
  const pv = b.pendingView;
  if (!pv || b.materialized) return null;
  const { shape, strides } = pv.view;
  let expect = 1;
  for (let d = shape.length - 1; d >= 0; d--) {
    if (shape[d] !== 1 && strides[d] !== expect) return null;
    expect *= shape[d]!;
  }
  return { src: pv.src, offset: pv.view.offset };
}

/**
 * Where to read the elements of a buffer in shape `shape`: the source of a
 * deferred slice (its strides, size-1 axes aside; or row-major from its
 * offset when the slice is a contiguous range) when the slice was not copied
 * yet, so the reader's copy replaces the slice's; else the buffer's own
 * storage, row-major.
 */
function readView(b: Buf, shape: readonly number[]): { storage: Storage; view: View } {
  const pv = b.pendingView;
  const range = contiguousSource(b);
  if (range) return { storage: range.src.storage, view: contiguous(shape, range.offset) };
  if (pv && !b.materialized) {
    const keep = pv.view.shape.map((d, i) => [d, pv.view.strides[i]!] as const)
      .filter(([d]) => d !== 1);
    const dims = shape.filter((d) => d !== 1);
    if (keep.length === dims.length && keep.every(([d], i) => d === dims[i])) {
      let k = 0;
      const strides = shape.map((d) => (d === 1 ? 0 : keep[k++]![1]));
      return { storage: pv.src.storage, view: { shape, strides, offset: pv.view.offset } };
    }
  }
  return { storage: b.storage, view: contiguous(shape) };
}

/**
 * Slice with no graph (arguments already checked). The copy is deferred: it
 * runs when the result is first read, not at all when it never is (a final
 * state nobody reads), and a later copy of the result (cat, stack) reads the
 * source directly instead. A slice of a deferred contiguous range
 * ({@link contiguousSource}) reads that range's source, so it copies once.
 * @internal
 */
export function sliceRaw(x: Tensor, starts: readonly number[], sizes: readonly number[]): Tensor {
  // where x's element (i, j, …) sits: in the source of a deferred view of x's own shape (a
  // permute's, a strided slice's), or of a deferred contiguous range, or in x's storage
  const pv = x.buf.pendingView;
  const strided = pv && !x.buf.materialized && sameShape(pv.view.shape, x.shape) ? pv : null;
  const range = strided ? null : contiguousSource(x.buf);
  const st = strided ? strided.view.strides : stridesOf(x.shape);
  const base = strided?.view.offset ?? range?.offset ?? 0;
  const offset = starts.reduce((acc, s, i) => acc + s * st[i]!, base);
  const be = x.backendImpl, src = strided?.src ?? range?.src ?? x.buf;
  const view: View = { shape: [...sizes], strides: [...st], offset };
  return x.deferred(sizes, [src], (out) => {
    be.copy(src.storage, view, out, contiguous(sizes));
  }, { view: { src, view } });
}

/**
 * A block of x: along each axis d, `sizes[d]` elements from `starts[d]`
 * (a size of -1 means "to the end"; missing trailing axes are taken whole).
 *
 * @param x the input
 * @param starts first index per axis
 * @param sizes block size per axis
 */
export function slice(x: Tensor, starts: readonly number[], sizes: readonly number[]): Tensor {
  const bad = (why: string) =>
    new ShapeError(
      "slice",
      [x.shape],
      `Cannot slice a tensor of shape ${fmtShape(x.shape)} at [${starts.join(", ")}] with sizes [${
        sizes.join(", ")
      }]: ${why}`,
    );
  if (starts.length > x.rank || sizes.length > starts.length) {
    throw bad(`expected at most ${x.rank} starts and no more sizes than starts`);
  }
  const st: number[] = [], sz: number[] = [];
  for (let d = 0; d < x.rank; d++) {
    const n = x.shape[d]!;
    const s = starts[d] ?? 0;
    const size = sizes[d] === undefined || sizes[d] === -1 ? n - s : sizes[d]!;
    if (!Number.isInteger(s) || !Number.isInteger(size) || s < 0 || size < 0 || s + size > n) {
      throw bad(`axis ${d} of size ${n} cannot hold ${size} elements from ${s}`);
    }
    st.push(s);
    sz.push(size);
  }
  const y = sliceRaw(x, st, sz);
  if (!isGradEnabled() || !x.requiresGrad) return y;
  const xShape = x.shape;
  return record("slice", y, [x], [], (g) => [padRaw(g, xShape, st)]);
}

/**
 * Join tensors along an existing axis.
 *
 * @param tensors tensors of equal shape except along `axis`
 * @param axis the axis to join along
 */
export function cat(tensors: readonly Tensor[], axis = 0): Tensor {
  if (tensors.length === 0) throw new RangeError("Cannot cat an empty list of tensors");
  const first = tensors[0]!;
  checkSame("cat", ...tensors);
  const ax = normAxis("cat", axis, first.rank, first.shape);
  for (const t of tensors) {
    if (t.rank !== first.rank || t.shape.some((d, i) => i !== ax && d !== first.shape[i])) {
      throw new ShapeError(
        "cat",
        tensors.map((x) => x.shape),
        `Cannot cat tensors of shapes ${tensors.map((x) => fmtShape(x.shape)).join(", ")} ` +
          `along axis ${axis}: other dimensions differ`,
      );
    }
  }
  const shape = [...first.shape];
  shape[ax] = tensors.reduce((a, t) => a + t.shape[ax]!, 0);
  const ost = stridesOf(shape);
  const offsets: number[] = [];
  let at = 0;
  for (const t of tensors) {
    offsets.push(at);
    at += t.shape[ax]!;
  }
  // Deferred like a slice: the copies run when the result is first read.
  const be = first.backendImpl;
  const parts = tensors.map((t) => ({ buf: t.buf, shape: t.shape }));
  const out = first.deferred(shape, tensors, (o) => {
    parts.forEach((p, i) => {
      const { storage, view } = readView(p.buf, p.shape);
      be.copy(storage, view, o, { shape: p.shape, strides: ost, offset: offsets[i]! * ost[ax]! });
    });
  });
  if (!isGradEnabled() || !tensors.some((t) => t.requiresGrad)) return out;
  const shapes = tensors.map((t) => t.shape);
  return record("cat", out, tensors, [], (g) =>
    shapes.map((s, i) => {
      const starts = s.map((_, d) => (d === ax ? offsets[i]! : 0));
      return sliceRaw(g, starts, s);
    }));
}

/**
 * Insert a size-1 axis.
 *
 * @param x the input
 * @param axis position of the new axis (0..rank, negative from the end)
 */
export function unsqueeze(x: Tensor, axis: number): Tensor {
  const ax = normAxis("unsqueeze", axis, x.rank + 1, x.shape);
  const s = [...x.shape];
  s.splice(ax, 0, 1);
  return reshape(x, s);
}

/**
 * Remove size-1 axes: the given one, or all.
 *
 * @param x the input
 * @param axis the axis to remove (must have size 1)
 */
export function squeeze(x: Tensor, axis?: number): Tensor {
  if (axis === undefined) return reshape(x, x.shape.filter((d) => d !== 1));
  const ax = normAxis("squeeze", axis, x.rank, x.shape);
  if (x.shape[ax] !== 1) {
    throw new ShapeError(
      "squeeze",
      [x.shape],
      `Cannot squeeze axis ${axis} of a tensor of shape ${fmtShape(x.shape)}: its size is ${
        x.shape[ax]
      }, not 1`,
    );
  }
  return reshape(x, x.shape.filter((_, i) => i !== ax));
}

/**
 * Join tensors along a new axis.
 *
 * @param tensors tensors of equal shape
 * @param axis position of the new axis
 */
export function stack(tensors: readonly Tensor[], axis = 0): Tensor {
  if (tensors.length === 0) throw new RangeError("Cannot stack an empty list of tensors");
  const first = tensors[0]!;
  for (const t of tensors) {
    if (t.rank !== first.rank || t.shape.some((d, i) => d !== first.shape[i])) {
      throw new ShapeError(
        "stack",
        tensors.map((x) => x.shape),
        `Cannot stack tensors of shapes ${
          tensors.map((x) => fmtShape(x.shape)).join(", ")
        }: shapes differ`,
      );
    }
  }
  const parts = tensors.map((t) => unsqueeze(t, axis));
  const out = cat(parts, axis < 0 ? axis : axis);
  for (const p of parts) p.dispose();
  return out;
}

/**
 * torch.gather: `out[…, j, …] = x[…, indices[…, j, …], …]` along `axis`.
 * `indices` has x's shape except along `axis`; its values are integers in
 * [0, x.shape[axis]).
 *
 * @param x the source
 * @param indices integer positions (stored as floats)
 * @param axis the axis to index
 */
export function gather(x: Tensor, indices: Tensor, axis: number): Tensor {
  const ax = normAxis("gather", axis, x.rank, x.shape);
  if (
    indices.rank !== x.rank || indices.shape.some((d, i) => i !== ax && d !== x.shape[i])
  ) {
    throw new ShapeError(
      "gather",
      [x.shape, indices.shape],
      `Cannot gather from a tensor of shape ${fmtShape(x.shape)} with indices of shape ${
        fmtShape(indices.shape)
      } along axis ${axis}: indices must match every other dimension`,
    );
  }
  if (indices.backend !== x.backend) {
    throw new TypeError(
      `Cannot gather with indices on the ${indices.backend} backend from a tensor on ${x.backend}`,
    );
  }
  const p = {
    outer: sizeOf(x.shape.slice(0, ax)),
    axisSize: x.shape[ax]!,
    indexSize: indices.shape[ax]!,
    inner: sizeOf(x.shape.slice(ax + 1)),
  };
  const out = x.alloc(indices.shape);
  x.backendImpl.gather(x.storage, indices.storage, out.storage, p);
  if (!isGradEnabled() || !x.requiresGrad) return out;
  const xShape = x.shape;
  return record("gather", out, [x], [indices], (g, [idx]) => {
    const gx = g.alloc(xShape);
    g.backendImpl.scatterAdd(g.storage, idx!.storage, gx.storage, p);
    return [gx];
  });
}

/**
 * A copy of x's data (differentiable).
 *
 * @param x the input
 */
export function clone(x: Tensor): Tensor {
  const out = x.alloc(x.shape);
  x.backendImpl.copy(x.storage, contiguous(x.shape), out.storage, contiguous(x.shape));
  if (!isGradEnabled() || !x.requiresGrad) return out;
  return record("clone", out, [x], [], (g) => [g]);
}
