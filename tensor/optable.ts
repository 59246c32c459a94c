/**
 * The elementwise op table: every unary and binary elementwise op declared
 * once, as one entry holding what the op means (`math`), its CPU kernel
 * (`cpu`), its WGSL expression (`wgsl`), its backward rule (`grad`, for the
 * differentiable ones) and its test domain: `checks` (shapes, scalar
 * parameters and value range of the float64 gradient checks and the
 * CPU-vs-WebGPU parity tests of the tensor op) and `kernel` (the ranges the
 * WebGPU kernel is compared with the CPU kernel on).
 *
 * Built from the table: the CPU backend's kernel lookup (`cpu/unary.ts`,
 * `cpu/binary.ts`), the WGSL expressions (`wgsl/elementwise.ts`), the
 * differentiable ops (`ops/elementwise.ts`) and the test cases
 * (`tests/_op_cases.ts`, `tests/webgpu_kernels_test.ts`). A new elementwise op is one entry here plus, if it
 * should be a method, one line in `tensor.ts`.
 *
 * The CPU kernels compute in float64 and round to the output's dtype when
 * storing; unary kernels may run in place (`o` the same array as `x`: each
 * element is read before it is written). The WGSL expression is in `x`,
 * `p0`, `p1` (unary) or `a`, `b` (binary); the helpers it calls (`sigmoid_`,
 * `tanh_`, `pow_`) come from `wgsl/common.ts`. Backward rules get the
 * upstream gradient, the saved input or output, the parameters and `raw`,
 * the kernels without graph (see {@link RawOps}); they are written with
 * tensor ops so they run on every backend. This module imports only types,
 * so every layer can import it.
 *
 * @module
 */
import type { TypedArray } from "./backend.ts";
import type { Tensor } from "./tensor.ts";

/**
 * Unary elementwise ops: `out[i] = f(x[i])`, with the scalar parameters `p0`,
 * `p1` where the op names them; f of each op is its entry's `math` in
 * {@link UNARY_OPS}.
 */
export type UnaryOp =
  | "neg"
  | "exp"
  | "log"
  | "sqrt"
  | "abs"
  | "sign"
  | "recip"
  | "sigmoid"
  | "tanh"
  | "relu"
  | "leakyRelu"
  | "affine"
  | "powScalar"
  | "clamp"
  | "step";

/**
 * Binary elementwise ops with broadcasting: `out[i] = f(a[·], b[·])`;
 * comparisons give 1 or 0. f of each op is its entry's `math` in
 * {@link BINARY_OPS}.
 */
export type BinaryOp =
  | "add"
  | "sub"
  | "mul"
  | "div"
  | "pow"
  | "max"
  | "min"
  | "eq"
  | "ne"
  | "lt"
  | "le"
  | "gt"
  | "ge";

/** The range test inputs are drawn from: [lo, hi) (default [-2, 2)), optionally kept away from 0. */
export interface ValueDomain {
  /** Lowest value. */
  lo?: number;
  /** Highest value (exclusive). */
  hi?: number;
  /** Values closer to 0 than this are pushed out to it. */
  awayFromZero?: number;
}

/** Inputs of the kernel-level tests: values in [lo, hi) and the scalar parameters. */
export interface KernelDomain {
  /** Lowest value. */
  lo: number;
  /** Highest value (exclusive). */
  hi: number;
  /** Scalar parameters p0, p1 (unary ops; default none). */
  params?: number[];
}

/** One checked input of a unary op. */
export interface UnaryCheck {
  /** Test name (default: the op's name). */
  name?: string;
  /** Input shape. */
  shape: number[];
  /** Scalar parameters p0, p1 (default 0). */
  params?: number[];
  /** Input range (default [-2, 2)). */
  range?: ValueDomain;
}

/** One checked input pair of a binary op. */
export interface BinaryCheck {
  /** Test name. */
  name: string;
  /** Shapes of a and b (broadcasting). */
  shapes: [number[], number[]];
  /** Range of both inputs (default [-2, 2)). */
  range?: ValueDomain;
}

/** The kernels without graph that backward rules build their masks with. */
export interface RawOps {
  /** A unary kernel (no graph). */
  unary(op: UnaryOp, x: Tensor, p0?: number, p1?: number): Tensor;
  /** A broadcasting binary kernel (no graph). */
  binary(op: BinaryOp, a: Tensor, b: Tensor): Tensor;
}

/** CPU kernel of a unary op: `o[i] = f(x[i])` for i < n. */
export type UnaryKernel = (x: TypedArray, o: TypedArray, n: number, p0: number, p1: number) => void;

/** CPU row kernel of a binary op: `o[oi + i] = f(a[ai + i·sa], b[bi + i·sb])` for i < n. */
export type BinaryKernel = (
  a: TypedArray,
  ai: number,
  sa: number,
  b: TypedArray,
  bi: number,
  sb: number,
  o: TypedArray,
  oi: number,
  n: number,
) => void;

/** One unary op. */
export interface UnaryEntry {
  /** f(x), for the docs. */
  math: string;
  /** The CPU kernel. */
  cpu: UnaryKernel;
  /** The WGSL expression in `x`, `p0`, `p1`. */
  wgsl: string;
  /**
   * The backward rule: gradient of the input from the upstream gradient `g`.
   * Only the tensor named by `saves` is kept; it is passed as both `x` and `y`.
   */
  grad?: (g: Tensor, x: Tensor, y: Tensor, p0: number, p1: number, raw: RawOps) => Tensor;
  /** Which tensor the rule reads: the input (default) or the output. */
  saves?: "x" | "y";
  /** Input ranges (and parameters) the WebGPU kernel is compared with the CPU one on. */
  kernel: KernelDomain[];
  /** Inputs of the gradient checks and parity tests (every differentiable op has one). */
  checks?: UnaryCheck[];
}

/** One binary op. */
export interface BinaryEntry {
  /** f(a, b), for the docs. */
  math: string;
  /** The CPU row kernel (with fast paths for unit and zero strides). */
  cpu: BinaryKernel;
  /** The WGSL expression in `a`, `b`. */
  wgsl: string;
  /**
   * The backward rule: the gradients of a and b (before summing broadcast
   * axes back), each only when its `need` flag is set (null otherwise).
   */
  grad?: (
    g: Tensor,
    a: Tensor,
    b: Tensor,
    needA: boolean,
    needB: boolean,
    raw: RawOps,
  ) => (Tensor | null)[];
  /** The rule reads neither input (nothing is saved). */
  savesNothing?: boolean;
  /**
   * Ranges the WebGPU kernel is compared with the CPU one on, per operand;
   * an operand without one gets integers in [-3, 3] (so comparisons meet ties).
   */
  kernel?: { a?: KernelDomain; b?: KernelDomain };
  /** Inputs of the gradient checks and parity tests (every differentiable op has one). */
  checks?: BinaryCheck[];
}

/**
 * The CPU backend's sigmoid, 1 / (1 + e^-x), evaluated so that exp never
 * overflows; the unary op and the fused recurrent kernels use it.
 *
 * @param v the input
 * @returns sigmoid(v)
 */
export function sigmoid(v: number): number {
  if (v >= 0) return 1 / (1 + Math.exp(-v));
  const e = Math.exp(v);
  return e / (1 + e);
}

/**
 * The CPU backend's tanh: `Math.tanh`, which saturates to ±1 without
 * overflow for any finite input; the unary op and the fused recurrent
 * kernels use it.
 *
 * @param v the input
 * @returns tanh(v)
 */
export function tanh(v: number): number {
  return Math.tanh(v);
}

/** Share of the gradient that goes to `a` in maximum/minimum: 1, 0, or ½ on ties. */
function winnerMask(cmp: "gt" | "lt", a: Tensor, b: Tensor, raw: RawOps): Tensor {
  return raw.binary(cmp, a, b).add(raw.binary("eq", a, b).mul(0.5));
}

/** Every unary op. */
export const UNARY_OPS: Record<UnaryOp, UnaryEntry> = {
  neg: {
    math: "-x",
    cpu: (x, o, n) => {
      for (let i = 0; i < n; i++) o[i] = -x[i];
    },
    wgsl: "-x",
    kernel: [{ lo: -3, hi: 3 }],
    grad: (g) => g.neg(),
    checks: [{ shape: [3, 5] }],
  },
  exp: {
    math: "e^x",
    cpu: (x, o, n) => {
      for (let i = 0; i < n; i++) o[i] = Math.exp(x[i]);
    },
    wgsl: "exp(x)",
    kernel: [{ lo: -10, hi: 10 }],
    grad: (g, _x, y) => g.mul(y),
    saves: "y",
    checks: [{ shape: [7] }],
  },
  log: {
    math: "ln x",
    cpu: (x, o, n) => {
      for (let i = 0; i < n; i++) o[i] = Math.log(x[i]);
    },
    wgsl: "log(x)",
    kernel: [{ lo: 0.01, hi: 50 }],
    grad: (g, x) => g.div(x),
    checks: [{ shape: [2, 3], range: { lo: 0.2, hi: 3 } }],
  },
  sqrt: {
    math: "√x",
    cpu: (x, o, n) => {
      for (let i = 0; i < n; i++) o[i] = Math.sqrt(x[i]);
    },
    wgsl: "sqrt(x)",
    kernel: [{ lo: 0, hi: 50 }],
    grad: (g, _x, y) => g.div(y.mul(2)),
    saves: "y",
    checks: [{ shape: [5, 1], range: { lo: 0.2, hi: 3 } }],
  },
  abs: {
    math: "abs(x)",
    cpu: (x, o, n) => {
      for (let i = 0; i < n; i++) o[i] = Math.abs(x[i]);
    },
    wgsl: "abs(x)",
    kernel: [{ lo: -3, hi: 3 }],
    grad: (g, x, _y, _p0, _p1, raw) => g.mul(raw.unary("sign", x)),
    checks: [{ shape: [11], range: { awayFromZero: 0.05 } }],
  },
  sign: {
    math: "-1, 0 or 1",
    cpu: (x, o, n) => {
      for (let i = 0; i < n; i++) o[i] = Math.sign(x[i]);
    },
    wgsl: "sign(x)",
    kernel: [{ lo: -3, hi: 3 }],
  },
  recip: {
    math: "1 / x",
    cpu: (x, o, n) => {
      for (let i = 0; i < n; i++) o[i] = 1 / x[i];
    },
    wgsl: "1.0 / x",
    kernel: [{ lo: 0.1, hi: 5 }],
    grad: (g, _x, y) => g.mul(y.mul(y)).neg(),
    saves: "y",
    checks: [{ shape: [4, 3], range: { awayFromZero: 0.5 } }],
  },
  sigmoid: {
    math: "1 / (1 + e^-x), stable for large abs(x)",
    cpu: (x, o, n) => {
      for (let i = 0; i < n; i++) o[i] = sigmoid(x[i]);
    },
    wgsl: "sigmoid_(x)",
    kernel: [{ lo: -30, hi: 30 }],
    grad: (g, _x, y, _p0, _p1, raw) => g.mul(y.mul(raw.unary("affine", y, -1, 1))),
    saves: "y",
    checks: [{ shape: [3, 4], range: { lo: -6, hi: 6 } }],
  },
  tanh: {
    math: "tanh x, stable for large abs(x)",
    cpu: (x, o, n) => {
      for (let i = 0; i < n; i++) o[i] = tanh(x[i]);
    },
    wgsl: "tanh_(x)",
    kernel: [{ lo: -12, hi: 12 }],
    grad: (g, _x, y, _p0, _p1, raw) => g.mul(raw.unary("affine", y.mul(y), -1, 1)),
    saves: "y",
    checks: [{ shape: [1, 13], range: { lo: -3, hi: 3 } }],
  },
  relu: {
    math: "max(x, 0)",
    cpu: (x, o, n) => {
      for (let i = 0; i < n; i++) o[i] = Math.max(x[i], 0);
    },
    wgsl: "select(0.0, x, x > 0.0)",
    kernel: [{ lo: -3, hi: 3 }],
    grad: (g, x, _y, _p0, _p1, raw) => g.mul(raw.unary("step", x, 0)),
    checks: [{ shape: [9], range: { awayFromZero: 0.05 } }],
  },
  leakyRelu: {
    math: "x > 0 ? x : p0·x",
    cpu: (x, o, n, p0) => {
      for (let i = 0; i < n; i++) {
        const v = x[i];
        o[i] = v > 0 ? v : p0 * v;
      }
    },
    wgsl: "select(p0 * x, x, x > 0.0)",
    kernel: [{ lo: -3, hi: 3, params: [0.01] }],
    grad: (g, x, _y, s, _p1, raw) => g.mul(raw.unary("affine", raw.unary("step", x, 0), 1 - s, s)),
    checks: [{ shape: [2, 7], params: [0.2], range: { awayFromZero: 0.05 } }],
  },
  affine: {
    math: "p0·x + p1",
    cpu: (x, o, n, p0, p1) => {
      for (let i = 0; i < n; i++) o[i] = p0 * x[i] + p1;
    },
    wgsl: "p0 * x + p1",
    kernel: [{ lo: -3, hi: 3, params: [2.5, -1.25] }],
    grad: (g, _x, _y, a, _p1, raw) => raw.unary("affine", g, a, 0),
    checks: [{ shape: [2, 3], params: [-1.5, 0.25] }],
  },
  powScalar: {
    math: "x^p0 (sign-aware for integral p0, NaN for negative x otherwise)",
    // Math.pow semantics; the frequent p0 = 2 is a plain product.
    cpu: (x, o, n, p0) => {
      if (p0 === 2) {
        for (let i = 0; i < n; i++) o[i] = x[i] * x[i];
      } else if (p0 === 1) {
        for (let i = 0; i < n; i++) o[i] = x[i];
      } else {
        for (let i = 0; i < n; i++) o[i] = Math.pow(x[i], p0);
      }
    },
    wgsl: "pow_(x, p0)",
    kernel: [
      { lo: 0.1, hi: 4, params: [2.5] },
      { lo: -3, hi: 3, params: [3] },
      { lo: -3, hi: 3, params: [-2] },
      { lo: 0, hi: 9, params: [0.5] },
    ],
    grad: (g, x, _y, p, _p1, raw) =>
      g.mul(raw.unary("affine", raw.unary("powScalar", x, p - 1), p, 0)),
    checks: [
      { name: "pow scalar 2.5", shape: [5], params: [2.5], range: { lo: 0.3, hi: 2 } },
      { name: "pow scalar 3 (negatives)", shape: [5], params: [3] },
    ],
  },
  clamp: {
    math: "min(max(x, p0), p1)",
    cpu: (x, o, n, p0, p1) => {
      for (let i = 0; i < n; i++) o[i] = Math.min(Math.max(x[i], p0), p1);
    },
    wgsl: "min(max(x, p0), p1)",
    kernel: [{ lo: -3, hi: 3, params: [-0.5, 0.7] }],
    grad: (g, x, _y, lo, hi, raw) =>
      g.mul(raw.unary("affine", raw.unary("step", x.neg(), -lo), -1, 1))
        .mul(raw.unary("affine", raw.unary("step", x, hi), -1, 1)),
    checks: [
      { shape: [13], params: [-0.5, 0.7], range: { lo: -0.45, hi: 0.65 } },
      { name: "clamp outside", shape: [6], params: [-3, -2.5] },
    ],
  },
  step: {
    math: "x > p0 ? 1 : 0",
    cpu: (x, o, n, p0) => {
      for (let i = 0; i < n; i++) o[i] = Number(x[i] > p0);
    },
    wgsl: "select(0.0, 1.0, x > p0)",
    kernel: [{ lo: -3, hi: 3, params: [0.2] }],
  },
};

/** Every binary op. */
export const BINARY_OPS: Record<BinaryOp, BinaryEntry> = {
  add: {
    math: "a + b",
    cpu: (a, ai, sa, b, bi, sb, o, oi, n) => {
      if (sa === 1 && sb === 1) {
        for (let i = 0; i < n; i++) o[oi + i] = a[ai + i] + b[bi + i];
      } else if (sb === 0) {
        const y = b[bi];
        for (let i = 0; i < n; i++) o[oi + i] = a[ai + i * sa] + y;
      } else if (sa === 0) {
        const x = a[ai];
        for (let i = 0; i < n; i++) o[oi + i] = x + b[bi + i * sb];
      } else {
        for (let i = 0; i < n; i++) o[oi + i] = a[ai + i * sa] + b[bi + i * sb];
      }
    },
    wgsl: "a + b",
    grad: (g) => [g, g],
    savesNothing: true,
    checks: [{ name: "add [3,1,5]+[4,1]", shapes: [[3, 1, 5], [4, 1]] }],
  },
  sub: {
    math: "a − b",
    cpu: (a, ai, sa, b, bi, sb, o, oi, n) => {
      if (sa === 1 && sb === 1) {
        for (let i = 0; i < n; i++) o[oi + i] = a[ai + i] - b[bi + i];
      } else if (sb === 0) {
        const y = b[bi];
        for (let i = 0; i < n; i++) o[oi + i] = a[ai + i * sa] - y;
      } else if (sa === 0) {
        const x = a[ai];
        for (let i = 0; i < n; i++) o[oi + i] = x - b[bi + i * sb];
      } else {
        for (let i = 0; i < n; i++) o[oi + i] = a[ai + i * sa] - b[bi + i * sb];
      }
    },
    wgsl: "a - b",
    grad: (g, _a, _b, na, nb) => [na ? g : null, nb ? g.neg() : null],
    savesNothing: true,
    checks: [{ name: "sub [7]-[]", shapes: [[7], []] }],
  },
  mul: {
    math: "a · b",
    cpu: (a, ai, sa, b, bi, sb, o, oi, n) => {
      if (sa === 1 && sb === 1) {
        for (let i = 0; i < n; i++) o[oi + i] = a[ai + i] * b[bi + i];
      } else if (sb === 0) {
        const y = b[bi];
        for (let i = 0; i < n; i++) o[oi + i] = a[ai + i * sa] * y;
      } else if (sa === 0) {
        const x = a[ai];
        for (let i = 0; i < n; i++) o[oi + i] = x * b[bi + i * sb];
      } else {
        for (let i = 0; i < n; i++) o[oi + i] = a[ai + i * sa] * b[bi + i * sb];
      }
    },
    wgsl: "a * b",
    grad: (g, a, b, na, nb) => [na ? g.mul(b) : null, nb ? g.mul(a) : null],
    checks: [
      { name: "mul [1]*[2,3]", shapes: [[1], [2, 3]] },
      { name: "mul [2,1,3]*[2,5,1]", shapes: [[2, 1, 3], [2, 5, 1]] },
    ],
  },
  div: {
    math: "a / b",
    cpu: (a, ai, sa, b, bi, sb, o, oi, n) => {
      if (sa === 1 && sb === 1) {
        for (let i = 0; i < n; i++) o[oi + i] = a[ai + i] / b[bi + i];
      } else if (sb === 0) {
        const y = b[bi];
        for (let i = 0; i < n; i++) o[oi + i] = a[ai + i * sa] / y;
      } else if (sa === 0) {
        const x = a[ai];
        for (let i = 0; i < n; i++) o[oi + i] = x / b[bi + i * sb];
      } else {
        for (let i = 0; i < n; i++) o[oi + i] = a[ai + i * sa] / b[bi + i * sb];
      }
    },
    wgsl: "a / b",
    kernel: { b: { lo: 0.5, hi: 3 } },
    grad: (g, a, b, na, nb) => [
      na ? g.div(b) : null,
      nb ? g.mul(a).div(b.mul(b)).neg() : null,
    ],
    checks: [{ name: "div [3,4]/[4]", shapes: [[3, 4], [4]], range: { awayFromZero: 0.5 } }],
  },
  pow: {
    math: "a^b (NaN for negative a with non-integral b, as in IEEE `pow`)",
    cpu: (a, ai, sa, b, bi, sb, o, oi, n) => {
      if (sa === 1 && sb === 1) {
        for (let i = 0; i < n; i++) o[oi + i] = Math.pow(a[ai + i], b[bi + i]);
      } else if (sb === 0) {
        const y = b[bi];
        for (let i = 0; i < n; i++) o[oi + i] = Math.pow(a[ai + i * sa], y);
      } else if (sa === 0) {
        const x = a[ai];
        for (let i = 0; i < n; i++) o[oi + i] = Math.pow(x, b[bi + i * sb]);
      } else {
        for (let i = 0; i < n; i++) o[oi + i] = Math.pow(a[ai + i * sa], b[bi + i * sb]);
      }
    },
    wgsl: "pow_(a, b)",
    kernel: { a: { lo: 0.1, hi: 3 }, b: { lo: -3, hi: 3 } },
    grad: (g, a, b, na, nb, raw) => [
      na ? g.mul(b).mul(raw.binary("pow", a, b.sub(1))) : null,
      nb ? g.mul(raw.binary("pow", a, b)).mul(a.log()) : null,
    ],
    checks: [{ name: "pow tensor", shapes: [[3, 2], [2]], range: { lo: 0.3, hi: 2 } }],
  },
  max: {
    math: "max(a, b); ties split the gradient",
    cpu: (a, ai, sa, b, bi, sb, o, oi, n) => {
      if (sa === 1 && sb === 1) {
        for (let i = 0; i < n; i++) o[oi + i] = Math.max(a[ai + i], b[bi + i]);
      } else if (sb === 0) {
        const y = b[bi];
        for (let i = 0; i < n; i++) o[oi + i] = Math.max(a[ai + i * sa], y);
      } else if (sa === 0) {
        const x = a[ai];
        for (let i = 0; i < n; i++) o[oi + i] = Math.max(x, b[bi + i * sb]);
      } else {
        for (let i = 0; i < n; i++) o[oi + i] = Math.max(a[ai + i * sa], b[bi + i * sb]);
      }
    },
    wgsl: "max(a, b)",
    grad: (g, a, b, _na, _nb, raw) => {
      const m = winnerMask("gt", a, b, raw);
      return [g.mul(m), g.mul(raw.unary("affine", m, -1, 1))];
    },
    checks: [{ name: "maximum", shapes: [[4, 3], [3]] }],
  },
  min: {
    math: "min(a, b); ties split the gradient",
    cpu: (a, ai, sa, b, bi, sb, o, oi, n) => {
      if (sa === 1 && sb === 1) {
        for (let i = 0; i < n; i++) o[oi + i] = Math.min(a[ai + i], b[bi + i]);
      } else if (sb === 0) {
        const y = b[bi];
        for (let i = 0; i < n; i++) o[oi + i] = Math.min(a[ai + i * sa], y);
      } else if (sa === 0) {
        const x = a[ai];
        for (let i = 0; i < n; i++) o[oi + i] = Math.min(x, b[bi + i * sb]);
      } else {
        for (let i = 0; i < n; i++) o[oi + i] = Math.min(a[ai + i * sa], b[bi + i * sb]);
      }
    },
    wgsl: "min(a, b)",
    grad: (g, a, b, _na, _nb, raw) => {
      const m = winnerMask("lt", a, b, raw);
      return [g.mul(m), g.mul(raw.unary("affine", m, -1, 1))];
    },
    checks: [{ name: "minimum", shapes: [[1, 5], [3, 1]] }],
  },
  eq: {
    math: "a == b ? 1 : 0",
    cpu: (a, ai, sa, b, bi, sb, o, oi, n) => {
      if (sa === 1 && sb === 1) {
        for (let i = 0; i < n; i++) o[oi + i] = Number(a[ai + i] === b[bi + i]);
      } else if (sb === 0) {
        const y = b[bi];
        for (let i = 0; i < n; i++) o[oi + i] = Number(a[ai + i * sa] === y);
      } else if (sa === 0) {
        const x = a[ai];
        for (let i = 0; i < n; i++) o[oi + i] = Number(x === b[bi + i * sb]);
      } else {
        for (let i = 0; i < n; i++) o[oi + i] = Number(a[ai + i * sa] === b[bi + i * sb]);
      }
    },
    wgsl: "select(0.0, 1.0, a == b)",
  },
  ne: {
    math: "a != b ? 1 : 0",
    cpu: (a, ai, sa, b, bi, sb, o, oi, n) => {
      if (sa === 1 && sb === 1) {
        for (let i = 0; i < n; i++) o[oi + i] = Number(a[ai + i] !== b[bi + i]);
      } else if (sb === 0) {
        const y = b[bi];
        for (let i = 0; i < n; i++) o[oi + i] = Number(a[ai + i * sa] !== y);
      } else if (sa === 0) {
        const x = a[ai];
        for (let i = 0; i < n; i++) o[oi + i] = Number(x !== b[bi + i * sb]);
      } else {
        for (let i = 0; i < n; i++) o[oi + i] = Number(a[ai + i * sa] !== b[bi + i * sb]);
      }
    },
    wgsl: "select(0.0, 1.0, a != b)",
  },
  lt: {
    math: "a < b ? 1 : 0",
    cpu: (a, ai, sa, b, bi, sb, o, oi, n) => {
      if (sa === 1 && sb === 1) {
        for (let i = 0; i < n; i++) o[oi + i] = Number(a[ai + i] < b[bi + i]);
      } else if (sb === 0) {
        const y = b[bi];
        for (let i = 0; i < n; i++) o[oi + i] = Number(a[ai + i * sa] < y);
      } else if (sa === 0) {
        const x = a[ai];
        for (let i = 0; i < n; i++) o[oi + i] = Number(x < b[bi + i * sb]);
      } else {
        for (let i = 0; i < n; i++) o[oi + i] = Number(a[ai + i * sa] < b[bi + i * sb]);
      }
    },
    wgsl: "select(0.0, 1.0, a < b)",
  },
  le: {
    math: "a <= b ? 1 : 0",
    cpu: (a, ai, sa, b, bi, sb, o, oi, n) => {
      if (sa === 1 && sb === 1) {
        for (let i = 0; i < n; i++) o[oi + i] = Number(a[ai + i] <= b[bi + i]);
      } else if (sb === 0) {
        const y = b[bi];
        for (let i = 0; i < n; i++) o[oi + i] = Number(a[ai + i * sa] <= y);
      } else if (sa === 0) {
        const x = a[ai];
        for (let i = 0; i < n; i++) o[oi + i] = Number(x <= b[bi + i * sb]);
      } else {
        for (let i = 0; i < n; i++) o[oi + i] = Number(a[ai + i * sa] <= b[bi + i * sb]);
      }
    },
    wgsl: "select(0.0, 1.0, a <= b)",
  },
  gt: {
    math: "a > b ? 1 : 0",
    cpu: (a, ai, sa, b, bi, sb, o, oi, n) => {
      if (sa === 1 && sb === 1) {
        for (let i = 0; i < n; i++) o[oi + i] = Number(a[ai + i] > b[bi + i]);
      } else if (sb === 0) {
        const y = b[bi];
        for (let i = 0; i < n; i++) o[oi + i] = Number(a[ai + i * sa] > y);
      } else if (sa === 0) {
        const x = a[ai];
        for (let i = 0; i < n; i++) o[oi + i] = Number(x > b[bi + i * sb]);
      } else {
        for (let i = 0; i < n; i++) o[oi + i] = Number(a[ai + i * sa] > b[bi + i * sb]);
      }
    },
    wgsl: "select(0.0, 1.0, a > b)",
  },
  ge: {
    math: "a >= b ? 1 : 0",
    cpu: (a, ai, sa, b, bi, sb, o, oi, n) => {
      if (sa === 1 && sb === 1) {
        for (let i = 0; i < n; i++) o[oi + i] = Number(a[ai + i] >= b[bi + i]);
      } else if (sb === 0) {
        const y = b[bi];
        for (let i = 0; i < n; i++) o[oi + i] = Number(a[ai + i * sa] >= y);
      } else if (sa === 0) {
        const x = a[ai];
        for (let i = 0; i < n; i++) o[oi + i] = Number(x >= b[bi + i * sb]);
      } else {
        for (let i = 0; i < n; i++) o[oi + i] = Number(a[ai + i * sa] >= b[bi + i * sb]);
      }
    },
    wgsl: "select(0.0, 1.0, a >= b)",
  },
};
