/**
 * Elementwise ops: unary functions, broadcasting binary arithmetic,
 * comparisons and `where`. The backward rule of each unary and binary op is
 * its entry's `grad` in the op table (`tensor/optable.ts`), written in other
 * tensor ops; broadcast gradients are summed back to the input shapes by the
 * autograd engine, not here.
 *
 * @module
 */
import type { BinaryOp, Storage, UnaryOp } from "../backend.ts";
import { BINARY_OPS, type RawOps, UNARY_OPS } from "../optable.ts";
import { record } from "../autograd.ts";
import { fmtShape, ShapeError } from "../errors.ts";
import { isGradEnabled } from "../engine.ts";
import { broadcastShapes, broadcastStrides, sameShape } from "../shape.ts";
import type { Tensor } from "../tensor.ts";

/** Check that tensors can meet in one kernel (same backend and dtype). @internal */
export function checkSame(op: string, ...ts: Tensor[]): void {
  const first = ts[0]!;
  for (const t of ts) {
    if (t.backend !== first.backend) {
      throw new TypeError(
        `Cannot ${op} tensors on different backends (${first.backend} and ${t.backend}): ` +
          "copy one with await t.to(backend)",
      );
    }
    if (t.dtype !== first.dtype) {
      throw new TypeError(
        `Cannot ${op} tensors of different dtypes (${first.dtype} and ${t.dtype}) with shapes ` +
          `${fmtShape(first.shape)} and ${fmtShape(t.shape)}`,
      );
    }
  }
}

/** Run a unary kernel with no graph. @internal */
export function unaryRaw(op: UnaryOp, x: Tensor, p0?: number, p1?: number): Tensor {
  const out = x.alloc(x.shape);
  x.backendImpl.unary(op, x.storage, out.storage, p0, p1);
  return out;
}

/** Run a broadcasting binary kernel with no graph. @internal */
export function binaryRaw(op: BinaryOp, a: Tensor, b: Tensor): Tensor {
  checkSame(op, a, b);
  const shape = broadcastShapes(op, a.shape, b.shape);
  const out = a.alloc(shape);
  const ra = stridedRead(a, shape), rb = stridedRead(b, shape);
  a.backendImpl.binary(op, ra.storage, ra.strides, rb.storage, rb.strides, out.storage, shape);
  return out;
}

/**
 * The storage and per-output-axis strides a broadcasting kernel reads `t`
 * with: the source of a deferred expand (stride 0 along its broadcast axes)
 * when the expand was not copied yet, so that it costs no dispatch; else
 * `t`'s own storage, broadcast.
 */
function stridedRead(t: Tensor, shape: readonly number[]): { storage: Storage; strides: number[] } {
  const b = t.buf, pv = b.pendingView;
  if (pv && !b.materialized && pv.view.offset === 0 && sameShape(pv.view.shape, t.shape)) {
    const lead = shape.length - t.rank;
    return {
      storage: pv.src.storage,
      strides: shape.map((_, j) => {
        const d = j - lead;
        return d < 0 || t.shape[d] === 1 ? 0 : pv.view.strides[d]!;
      }),
    };
  }
  return { storage: t.storage, strides: broadcastStrides(t.shape, shape) };
}

/** A 0-d constant on the same backend and dtype as `like`. @internal */
export function scalarLike(like: Tensor, v: number): Tensor {
  return like.filled([], v);
}

/** The raw kernels the op table's backward rules build masks with. */
const raw: RawOps = { unary: unaryRaw, binary: binaryRaw };

/**
 * Apply a unary op (differentiable where it has a rule; `sign`/`step` are not).
 *
 * @param op the kernel name
 * @param x the input
 * @param p0 first scalar parameter
 * @param p1 second scalar parameter
 */
export function unaryOp(op: UnaryOp, x: Tensor, p0 = 0, p1 = 0): Tensor {
  const y = unaryRaw(op, x, p0, p1);
  const { grad, saves } = UNARY_OPS[op];
  if (!grad || !isGradEnabled() || !x.requiresGrad) return y;
  return record(op, y, [x], saves === "y" ? [y] : [x], (g, [s]) => [grad(g, s!, s!, p0, p1, raw)]);
}

/**
 * Apply a broadcasting binary op (differentiable where it has a rule;
 * comparisons are not). @internal
 *
 * @param op the kernel name
 * @param a first operand
 * @param b second operand
 */
export function binaryOp(op: BinaryOp, a: Tensor, b: Tensor): Tensor {
  const out = binaryRaw(op, a, b);
  const { grad, savesNothing } = BINARY_OPS[op];
  if (!grad || !isGradEnabled() || !(a.requiresGrad || b.requiresGrad)) return out;
  const na = a.requiresGrad, nb = b.requiresGrad;
  if (op === "mul" && a === b) {
    // x·x: one gradient 2·g·x (exactly g·x + g·x) for the one input, not two summed.
    return record(op, out, [a, b], [a], (g, [x]) => [unaryRaw("affine", g.mul(x!), 2, 0), null]);
  }
  const save = savesNothing ? [] : [a, b];
  return record(op, out, [a, b], save, (g, s) => grad(g, s[0]!, s[1]!, na, nb, raw));
}

function asTensor(like: Tensor, v: Tensor | number): Tensor {
  return typeof v === "number" ? scalarLike(like, v) : v;
}

/** Run `fn` with `v` as a tensor; a 0-d constant made for a number is disposed after. */
function withScalar(like: Tensor, v: Tensor | number, fn: (t: Tensor) => Tensor): Tensor {
  if (typeof v !== "number") return fn(v);
  const s = scalarLike(like, v);
  try {
    return fn(s);
  } finally {
    s.dispose();
  }
}

/** `a + b` with broadcasting. */
export function add(a: Tensor, b: Tensor | number): Tensor {
  return typeof b === "number" ? unaryOp("affine", a, 1, b) : binaryOp("add", a, b);
}
/** `a - b` with broadcasting. */
export function sub(a: Tensor, b: Tensor | number): Tensor {
  return typeof b === "number" ? unaryOp("affine", a, 1, -b) : binaryOp("sub", a, b);
}
/** `a * b` with broadcasting. */
export function mul(a: Tensor, b: Tensor | number): Tensor {
  return typeof b === "number" ? unaryOp("affine", a, b, 0) : binaryOp("mul", a, b);
}
/** `a / b` with broadcasting. */
export function div(a: Tensor, b: Tensor | number): Tensor {
  return withScalar(a, b, (t) => binaryOp("div", a, t));
}
/** `a ** b` with broadcasting. */
export function pow(a: Tensor, b: Tensor | number): Tensor {
  return typeof b === "number" ? unaryOp("powScalar", a, b) : binaryOp("pow", a, b);
}
/** Elementwise maximum; ties split the gradient. */
export function maximum(a: Tensor, b: Tensor | number): Tensor {
  return withScalar(a, b, (t) => binaryOp("max", a, t));
}
/** Elementwise minimum; ties split the gradient. */
export function minimum(a: Tensor, b: Tensor | number): Tensor {
  return withScalar(a, b, (t) => binaryOp("min", a, t));
}

/** A comparison giving 1 or 0 (never differentiable). */
export function compare(
  op: "eq" | "ne" | "lt" | "le" | "gt" | "ge",
  a: Tensor,
  b: Tensor | number,
): Tensor {
  return withScalar(a, b, (t) => binaryRaw(op, a, t));
}

/** `where` with no graph. @internal */
export function whereRaw(cond: Tensor, a: Tensor, b: Tensor): Tensor {
  checkSame("where", cond, a, b);
  const shape = broadcastShapes("where", cond.shape, a.shape, b.shape);
  const out = a.alloc(shape);
  a.backendImpl.where(
    cond.storage,
    broadcastStrides(cond.shape, shape),
    a.storage,
    broadcastStrides(a.shape, shape),
    b.storage,
    broadcastStrides(b.shape, shape),
    out.storage,
    shape,
  );
  return out;
}

/**
 * `cond != 0 ? a : b` with broadcasting; gradients flow to `a` and `b`.
 *
 * @param cond the condition (any nonzero value selects `a`)
 * @param a values where the condition holds
 * @param b values elsewhere
 */
export function where(cond: Tensor, a: Tensor | number, b: Tensor | number): Tensor {
  const like = typeof a === "number" ? (typeof b === "number" ? cond : b) : a;
  const ta = asTensor(like, a), tb = asTensor(like, b);
  const out = whereRaw(cond, ta, tb);
  const result = !isGradEnabled() || !(ta.requiresGrad || tb.requiresGrad)
    ? out
    : record("where", out, [cond, ta, tb], [cond], (g, [c]) => {
      const zero = scalarLike(g, 0);
      return [null, whereRaw(c!, g, zero), whereRaw(c!, zero, g)];
    });
  // The 0-d constants made for number arguments are not needed after the kernel.
  if (ta !== a) ta.dispose();
  if (tb !== b) tb.dispose();
  return result;
}

/** Raise a ShapeError for ops that need equal shapes. @internal */
export function requireSameShape(op: string, a: Tensor, b: Tensor): void {
  if (a.shape.length !== b.shape.length || a.shape.some((d, i) => d !== b.shape[i])) {
    throw new ShapeError(
      op,
      [a.shape, b.shape],
      `Cannot ${op} tensors of shapes ${fmtShape(a.shape)} and ${fmtShape(b.shape)}: shapes differ`,
    );
  }
}
