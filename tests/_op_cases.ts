/**
 * The op cases shared by the float64 gradient checks and the CPU-vs-WebGPU
 * parity tests.
 *
 * @module
 */
import { cat, gather, matmul, type NestedArray, stack, type Tensor, where } from "../mod.ts";
import { BINARY_OPS, UNARY_OPS } from "../tensor/optable.ts";
import { binaryOp, unaryOp } from "../tensor/ops/elementwise.ts";
import { matmulBias } from "../tensor/ops/matmul.ts";
import { mseReduced } from "../tensor/routines/losses/mod.ts";

/** One op case: input shapes, a function of the inputs, and the input range. */
export interface OpCase {
  name: string;
  shapes: number[][];
  /** The function; `k` makes a constant (indices, conditions) on the inputs' backend and dtype. */
  fn: (xs: Tensor[], k: (v: NestedArray) => Tensor) => Tensor;
  range?: { lo?: number; hi?: number; awayFromZero?: number };
}

/** The checks of every differentiable unary op of the op table. */
function unaryCases(): OpCase[] {
  return Object.entries(UNARY_OPS).flatMap(([op, e]) =>
    (e.grad ? e.checks ?? [] : []).map((c): OpCase => ({
      name: c.name ?? op,
      shapes: [c.shape],
      fn: ([x]) => unaryOp(op as keyof typeof UNARY_OPS, x!, c.params?.[0], c.params?.[1]),
      range: c.range,
    }))
  );
}

/** The checks of every differentiable binary op of the op table (with broadcasting). */
function binaryCases(): OpCase[] {
  return Object.entries(BINARY_OPS).flatMap(([op, e]) =>
    (e.grad ? e.checks ?? [] : []).map((c): OpCase => ({
      name: c.name,
      shapes: c.shapes,
      fn: ([a, b]) => binaryOp(op as keyof typeof BINARY_OPS, a!, b!),
      range: c.range,
    }))
  );
}

/**
 * Every differentiable op, with broadcasting, size-1 dimensions and odd sizes:
 * the elementwise ops' checks come from their entries in the op table.
 */
export const opCases: OpCase[] = [
  ...unaryCases(),
  { name: "add scalar", shapes: [[4]], fn: ([x]) => x.add(3).mul(-2).sub(1).div(4) },
  ...binaryCases(),
  // matmul
  { name: "matmul 2-D 3×4·4×5", shapes: [[3, 4], [4, 5]], fn: ([a, b]) => a.matmul(b) },
  {
    name: "matmul transA",
    shapes: [[4, 3], [4, 5]],
    fn: ([a, b]) => matmul(a, b, { transA: true }),
  },
  {
    name: "matmul transB",
    shapes: [[3, 4], [5, 4]],
    fn: ([a, b]) => matmul(a, b, { transB: true }),
  },
  {
    name: "matmul transA transB",
    shapes: [[4, 3], [5, 4]],
    fn: ([a, b]) => matmul(a, b, { transA: true, transB: true }),
  },
  { name: "matmul batched", shapes: [[2, 3, 4], [2, 4, 5]], fn: ([a, b]) => a.matmul(b) },
  { name: "matmul batch-broadcast B", shapes: [[2, 3, 4], [4, 1]], fn: ([a, b]) => a.matmul(b) },
  {
    name: "matmul batch-broadcast both",
    shapes: [[2, 1, 3, 4], [3, 4, 2]],
    fn: ([a, b]) => a.matmul(b),
  },
  {
    name: "matmul batched transB",
    shapes: [[1, 3, 4], [2, 5, 4]],
    fn: ([a, b]) => matmul(a, b, { transB: true }),
  },
  { name: "matmul vector·matrix", shapes: [[4], [4, 3]], fn: ([a, b]) => a.matmul(b) },
  { name: "matmul matrix·vector", shapes: [[3, 4], [4]], fn: ([a, b]) => a.matmul(b) },
  { name: "matmul vector·vector", shapes: [[5], [5]], fn: ([a, b]) => a.matmul(b) },
  // matmul with the bias added in its store
  {
    name: "matmulBias transB one bias",
    shapes: [[4, 5], [3, 5], [3]],
    fn: ([x, w, b]) => matmulBias(x!, w!, [b!], { transB: true }),
  },
  {
    name: "matmulBias transA two biases",
    shapes: [[5, 4], [5, 3], [3], [3]],
    fn: ([x, w, b1, b2]) => matmulBias(x!, w!, [b1!, b2!], { transA: true }),
  },
  {
    name: "matmulBias size-1 dims",
    shapes: [[1, 1], [2, 1], [2], [2]],
    fn: ([x, w, b1, b2]) => matmulBias(x!, w!, [b1!, b2!], { transB: true }),
  },
  // the fused MSE loss (constant target)
  {
    name: "mseReduced mean",
    shapes: [[3, 5]],
    fn: ([x], k) =>
      mseReduced(x!, k([[0.5, -1, 2, 0, 1], [1, 1, -2, 0.25, 3], [0, 0, 0, 1, -1]]), true),
  },
  {
    name: "mseReduced sum size 1",
    shapes: [[1]],
    fn: ([x], k) => mseReduced(x!, k([0.5]), false),
  },
  // reductions
  { name: "sum all", shapes: [[3, 4]], fn: ([x]) => x.sum() },
  { name: "sum axis 1", shapes: [[3, 4, 2]], fn: ([x]) => x.sum(1) },
  { name: "sum axes [0,2] keepDims", shapes: [[3, 4, 2]], fn: ([x]) => x.sum([0, 2], true) },
  { name: "sum axis -1 size 1", shapes: [[3, 1]], fn: ([x]) => x.sum(-1) },
  { name: "mean axes [-1,-3]", shapes: [[2, 3, 5]], fn: ([x]) => x.mean([-1, -3]) },
  { name: "max all", shapes: [[4, 5]], fn: ([x]) => x.max() },
  { name: "max axis 0 keepDims", shapes: [[5, 3]], fn: ([x]) => x.max(0, true) },
  { name: "softmax -1", shapes: [[3, 7]], fn: ([x]) => x.softmax() },
  { name: "softmax axis 0", shapes: [[4, 3]], fn: ([x]) => x.softmax(0) },
  { name: "logSoftmax -1", shapes: [[2, 3, 5]], fn: ([x]) => x.logSoftmax() },
  { name: "logSoftmax axis 1", shapes: [[2, 3, 5]], fn: ([x]) => x.logSoftmax(1) },
  // shape ops
  { name: "reshape", shapes: [[2, 6]], fn: ([x]) => x.reshape([3, -1]).mul(x.reshape([3, 4])) },
  { name: "transpose", shapes: [[2, 3, 4]], fn: ([x]) => x.transpose(0, 2) },
  { name: "permute", shapes: [[2, 3, 4]], fn: ([x]) => x.permute([1, 2, 0]) },
  { name: "slice", shapes: [[5, 6]], fn: ([x]) => x.slice([1, 2], [3, -1]) },
  { name: "expand", shapes: [[3, 1]], fn: ([x]) => x.expand([2, 3, 4]) },
  { name: "unsqueeze/squeeze", shapes: [[3, 1, 2]], fn: ([x]) => x.squeeze(1).unsqueeze(0) },
  { name: "cat axis 1", shapes: [[2, 3], [2, 1], [2, 4]], fn: ([a, b, c]) => cat([a, b, c], 1) },
  { name: "stack axis 1", shapes: [[2, 3], [2, 3]], fn: ([a, b]) => stack([a, b], 1) },
  { name: "clone", shapes: [[4]], fn: ([x]) => x.clone().mul(x) },
  {
    name: "gather axis 1",
    shapes: [[4, 5]],
    fn: ([x], k) => gather(x, k([[0], [4], [2], [2]]), 1),
  },
  {
    name: "gather axis 0 repeats",
    shapes: [[3, 2]],
    fn: ([x], k) => x.gather(k([[0, 2], [0, 0]]), 0),
  },
  {
    name: "where",
    shapes: [[3, 4], [4]],
    fn: ([a, b], k) => where(k([[1], [0], [1]]), a, b),
  },
  // compositions
  {
    name: "DESIGN chain x·x + 1 → sigmoid → sum",
    shapes: [[2, 2]],
    fn: ([x]) => x.matmul(x).add(1).sigmoid().sum(),
  },
  { name: "diamond x*x + x", shapes: [[3]], fn: ([x]) => x.mul(x).add(x).exp() },
  {
    name: "linear + tanh + logSoftmax",
    shapes: [[4, 5], [3, 5], [3]],
    fn: ([x, w, b]) => matmul(x, w, { transB: true }).add(b).tanh().logSoftmax(),
  },
];
