/**
 * Unary elementwise kernels and `fill` of the CPU backend. Every op is its own
 * loop over `n` contiguous elements, so `out` may alias `x` (each element is
 * read before it is written). Results are computed in float64 and rounded to
 * the output's dtype when stored.
 *
 * @module
 */
import type { TypedArray, UnaryOp } from "../backend.ts";

/** One unary kernel: `o[i] = f(x[i])` for i < n. */
type UnaryKernel = (x: TypedArray, o: TypedArray, n: number, p0: number, p1: number) => void;

function neg(x: TypedArray, o: TypedArray, n: number): void {
  for (let i = 0; i < n; i++) o[i] = -x[i];
}

function exp(x: TypedArray, o: TypedArray, n: number): void {
  for (let i = 0; i < n; i++) o[i] = Math.exp(x[i]);
}

function log(x: TypedArray, o: TypedArray, n: number): void {
  for (let i = 0; i < n; i++) o[i] = Math.log(x[i]);
}

function sqrt(x: TypedArray, o: TypedArray, n: number): void {
  for (let i = 0; i < n; i++) o[i] = Math.sqrt(x[i]);
}

function abs(x: TypedArray, o: TypedArray, n: number): void {
  for (let i = 0; i < n; i++) o[i] = Math.abs(x[i]);
}

function sign(x: TypedArray, o: TypedArray, n: number): void {
  for (let i = 0; i < n; i++) o[i] = Math.sign(x[i]);
}

function recip(x: TypedArray, o: TypedArray, n: number): void {
  for (let i = 0; i < n; i++) o[i] = 1 / x[i];
}

/** 1 / (1 + e^-x), evaluated so that exp never overflows. */
function sigmoid(x: TypedArray, o: TypedArray, n: number): void {
  for (let i = 0; i < n; i++) {
    const v = x[i];
    if (v >= 0) {
      o[i] = 1 / (1 + Math.exp(-v));
    } else {
      const e = Math.exp(v);
      o[i] = e / (1 + e);
    }
  }
}

/** Math.tanh saturates to ±1 without overflow for any finite input. */
function tanh(x: TypedArray, o: TypedArray, n: number): void {
  for (let i = 0; i < n; i++) o[i] = Math.tanh(x[i]);
}

function relu(x: TypedArray, o: TypedArray, n: number): void {
  for (let i = 0; i < n; i++) o[i] = Math.max(x[i], 0);
}

function leakyRelu(x: TypedArray, o: TypedArray, n: number, p0: number): void {
  for (let i = 0; i < n; i++) {
    const v = x[i];
    o[i] = v > 0 ? v : p0 * v;
  }
}

function affine(x: TypedArray, o: TypedArray, n: number, p0: number, p1: number): void {
  for (let i = 0; i < n; i++) o[i] = p0 * x[i] + p1;
}

/** x^p0 with Math.pow semantics; the frequent p0 = 2 is a plain product. */
function powScalar(x: TypedArray, o: TypedArray, n: number, p0: number): void {
  if (p0 === 2) {
    for (let i = 0; i < n; i++) o[i] = x[i] * x[i];
  } else if (p0 === 1) {
    for (let i = 0; i < n; i++) o[i] = x[i];
  } else {
    for (let i = 0; i < n; i++) o[i] = Math.pow(x[i], p0);
  }
}

function clamp(x: TypedArray, o: TypedArray, n: number, p0: number, p1: number): void {
  for (let i = 0; i < n; i++) o[i] = Math.min(Math.max(x[i], p0), p1);
}

function step(x: TypedArray, o: TypedArray, n: number, p0: number): void {
  for (let i = 0; i < n; i++) o[i] = x[i] > p0 ? 1 : 0;
}

const kernels: Record<UnaryOp, UnaryKernel> = {
  neg,
  exp,
  log,
  sqrt,
  abs,
  sign,
  recip,
  sigmoid,
  tanh,
  relu,
  leakyRelu,
  affine,
  powScalar,
  clamp,
  step,
};

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
  const k = kernels[op];
  if (k === undefined) throw new TypeError(`Cannot run cpu unary: unknown op "${op}"`);
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
