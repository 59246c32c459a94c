/**
 * Reductions (sum, mean, max over any axes, with keepDims), softmax and
 * log-softmax, and `sumTo`, which the autograd engine uses to fold broadcast
 * gradients back to an input's shape.
 *
 * @module
 */
import type { ReduceOp } from "../backend.ts";
import { record } from "../autograd.ts";
import { isGradEnabled } from "../engine.ts";
import { normAxes, normAxis, sameShape, sizeOf } from "../shape.ts";
import type { Tensor } from "../tensor.ts";
import { binaryRaw, unaryRaw } from "./elementwise.ts";
import { expandRaw, reshapeRaw } from "./shape.ts";

/** Reduce over sorted axes with no graph; returns the keepDims shape. @internal */
export function reduceRaw(op: ReduceOp, x: Tensor, axes: readonly number[]): Tensor {
  let cur = x;
  const shape = [...x.shape];
  // Contiguous runs of axes, reduced from the last run to the first.
  const runs: [number, number][] = [];
  for (const a of axes) {
    const last = runs[runs.length - 1];
    if (last && last[1] === a) last[1] = a + 1;
    else runs.push([a, a + 1]);
  }
  if (runs.length === 0) return reshapeRaw(x, x.shape);
  for (let r = runs.length - 1; r >= 0; r--) {
    const [start, end] = runs[r]!;
    const outer = sizeOf(shape.slice(0, start));
    const reduce = sizeOf(shape.slice(start, end));
    const inner = sizeOf(shape.slice(end));
    for (let d = start; d < end; d++) shape[d] = 1;
    const out = x.alloc(shape);
    x.backendImpl.reduce(op, cur.storage, out.storage, { outer, reduce, inner });
    if (cur !== x) cur.dispose();
    cur = out;
  }
  return cur;
}

function dropAxes(shape: readonly number[], axes: readonly number[]): number[] {
  return shape.filter((_, i) => !axes.includes(i));
}

function finish(y: Tensor, x: Tensor, axes: number[], keepDims: boolean): Tensor {
  if (keepDims) return y;
  const r = reshapeRaw(y, dropAxes(x.shape, axes));
  y.dispose();
  return r;
}

/**
 * Sum over `axis` (all axes when omitted).
 *
 * @param x the input
 * @param axis an axis or axes; negative axes count from the end
 * @param keepDims keep reduced axes as size 1
 */
export function sum(x: Tensor, axis?: number | readonly number[], keepDims = false): Tensor {
  const axes = normAxes("sum", axis, x.shape);
  const y = finish(reduceRaw("sum", x, axes), x, axes, keepDims);
  if (!isGradEnabled() || !x.requiresGrad) return y;
  const keepShape = x.shape.map((d, i) => (axes.includes(i) ? 1 : d));
  const xShape = x.shape;
  return record("sum", y, [x], [], (g) => [expandRaw(reshapeRaw(g, keepShape), xShape)]);
}

/**
 * Mean over `axis` (all axes when omitted).
 *
 * @param x the input
 * @param axis an axis or axes
 * @param keepDims keep reduced axes as size 1
 */
export function mean(x: Tensor, axis?: number | readonly number[], keepDims = false): Tensor {
  const axes = normAxes("mean", axis, x.shape);
  const n = sizeOf(axes.map((a) => x.shape[a]!));
  const s = sum(x, axes, keepDims);
  const m = s.mul(1 / n);
  s.dispose();
  return m;
}

/**
 * Maximum over `axis` (all axes when omitted). Tied maxima share the gradient
 * equally.
 *
 * @param x the input
 * @param axis an axis or axes
 * @param keepDims keep reduced axes as size 1
 */
export function max(x: Tensor, axis?: number | readonly number[], keepDims = false): Tensor {
  const axes = normAxes("max", axis, x.shape);
  const yk = reduceRaw("max", x, axes);
  const y = keepDims ? yk : reshapeRaw(yk, dropAxes(x.shape, axes));
  if (!isGradEnabled() || !x.requiresGrad) {
    if (y !== yk) yk.dispose();
    return y;
  }
  const keepShape = yk.shape;
  const out = record("max", y, [x], [x, yk], (g, [xs, ym]) => {
    const mask = binaryRaw("eq", xs!, ym!);
    const count = reduceRaw("sum", mask, axes);
    return [mask.mul(reshapeRaw(g, keepShape)).div(count)];
  });
  if (y !== yk) yk.dispose();
  return out;
}

function shiftedExp(x: Tensor, ax: number): { z: Tensor; e: Tensor; s: Tensor } {
  const m = reduceRaw("max", x, [ax]);
  const z = binaryRaw("sub", x, m);
  m.dispose();
  const e = unaryRaw("exp", z);
  const s = reduceRaw("sum", e, [ax]);
  return { z, e, s };
}

/**
 * Softmax along `axis` (default the last), computed as exp(x − max) / Σ.
 *
 * @param x the input
 * @param axis the axis to normalise
 */
export function softmax(x: Tensor, axis = -1): Tensor {
  const ax = normAxis("softmax", axis, x.rank, x.shape);
  const { z, e, s } = shiftedExp(x, ax);
  const y = binaryRaw("div", e, s);
  z.dispose(), e.dispose(), s.dispose();
  if (!isGradEnabled() || !x.requiresGrad) return y;
  return record("softmax", y, [x], [y], (g, [ys]) => {
    const dot = reduceRaw("sum", g.mul(ys!), [ax]);
    return [ys!.mul(g.sub(dot))];
  });
}

/**
 * Log-softmax along `axis` (default the last): x − max − log Σ exp(x − max).
 *
 * @param x the input
 * @param axis the axis to normalise
 */
export function logSoftmax(x: Tensor, axis = -1): Tensor {
  const ax = normAxis("logSoftmax", axis, x.rank, x.shape);
  const { z, e, s } = shiftedExp(x, ax);
  const lse = unaryRaw("log", s);
  const y = binaryRaw("sub", z, lse);
  z.dispose(), e.dispose(), s.dispose(), lse.dispose();
  if (!isGradEnabled() || !x.requiresGrad) return y;
  return record("logSoftmax", y, [x], [y], (g, [ys]) => {
    const gs = reduceRaw("sum", g, [ax]);
    return [g.sub(ys!.exp().mul(gs))];
  });
}

/**
 * Sum a broadcast gradient back to `shape` (leading axes dropped, size-1 axes
 * kept). Returns `g` itself when the shapes already agree. @internal
 */
export function sumTo(g: Tensor, shape: readonly number[]): Tensor {
  if (sameShape(g.shape, shape)) return g;
  const lead = g.rank - shape.length;
  const axes: number[] = [];
  for (let i = 0; i < g.rank; i++) {
    if (i < lead || (shape[i - lead] === 1 && g.shape[i] !== 1)) axes.push(i);
  }
  const r = reduceRaw("sum", g, axes);
  const out = reshapeRaw(r, shape);
  r.dispose();
  return out;
}
