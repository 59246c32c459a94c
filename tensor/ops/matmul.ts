/**
 * Matrix products: 2-D, batched with broadcasting of the batch dimensions,
 * and 1-D vectors as in NumPy/PyTorch, with transpose flags that read a
 * stored matrix transposed without copying it. The gradient of each operand
 * is another matmul with flags (no transpose is ever materialised).
 *
 * @module
 */
import { record } from "../autograd.ts";
import { isGradEnabled } from "../engine.ts";
import { fmtShape, ShapeError } from "../errors.ts";
import { broadcastShapes, sizeOf } from "../shape.ts";
import type { Tensor } from "../tensor.ts";
import { checkSame } from "./elementwise.ts";
import { sumTo } from "./reduce.ts";
import { contiguousSource, expandRaw, reshape } from "./shape.ts";
import type { Storage } from "../backend.ts";

/**
 * The row-major elements of an operand: the source itself when the operand
 * is a deferred contiguous range starting at its source's first element (the
 * sequence part of a fused LSTM layer's packed output), so no copy runs.
 */
function rowMajor(t: Tensor): Storage {
  const r = contiguousSource(t.buf);
  return r && r.offset === 0 ? r.src.storage : t.storage;
}

/** Options of {@link matmul}. */
export interface MatmulOptions {
  /** Use the transpose of the last two dimensions of `a`. */
  transA?: boolean;
  /** Use the transpose of the last two dimensions of `b`. */
  transB?: boolean;
}

function core(
  a: Tensor,
  b: Tensor,
  transA: boolean,
  transB: boolean,
  biases: readonly Tensor[] = [],
): Tensor {
  const ar = a.rank, br = b.rank;
  const m = transA ? a.shape[ar - 1]! : a.shape[ar - 2]!;
  const k = transA ? a.shape[ar - 2]! : a.shape[ar - 1]!;
  const k2 = transB ? b.shape[br - 1]! : b.shape[br - 2]!;
  const n = transB ? b.shape[br - 2]! : b.shape[br - 1]!;
  if (k !== k2) {
    const flags = transA || transB ? ` (transA ${transA}, transB ${transB})` : "";
    throw new ShapeError(
      "matmul",
      [a.shape, b.shape],
      `Cannot matmul tensors of shapes ${fmtShape(a.shape)} and ${
        fmtShape(b.shape)
      }${flags}: inner dimensions ${k} and ${k2} differ`,
    );
  }
  const aBatch = a.shape.slice(0, -2), bBatch = b.shape.slice(0, -2);
  const batchShape = broadcastShapes("matmul", aBatch, bBatch);
  const batch = sizeOf(batchShape);
  // An operand whose batch is neither the full batch nor a single matrix is expanded.
  const prep = (t: Tensor, own: readonly number[]): { t: Tensor; stride: number; tmp: boolean } => {
    const ownSize = sizeOf(own);
    const mat = t.shape.slice(-2);
    if (ownSize === 1) return { t, stride: 0, tmp: false };
    if (ownSize === batch) return { t, stride: mat[0]! * mat[1]!, tmp: false };
    return { t: expandRaw(t, [...batchShape, ...mat]), stride: mat[0]! * mat[1]!, tmp: true };
  };
  const pa = prep(a, aBatch), pb = prep(b, bBatch);
  const out = a.alloc([...batchShape, m, n]);
  a.backendImpl.matmul(rowMajor(pa.t), rowMajor(pb.t), out.storage, {
    batch,
    m,
    n,
    k,
    transA,
    transB,
    strideA: pa.stride,
    strideB: pb.stride,
  }, biases.length ? biases.map(rowMajor) : undefined);
  if (pa.tmp) pa.t.dispose();
  if (pb.tmp) pb.t.dispose();
  const inputs = [a, b, ...biases];
  if (!isGradEnabled() || !inputs.some((t) => t.requiresGrad)) return out;
  const na = a.requiresGrad, nb = b.requiresGrad, nBias = biases.some((t) => t.requiresGrad);
  return record("matmul", out, inputs, [a, b], (g, [sa, sb]) => {
    const ga = na ? (transA ? core(sb!, g, transB, true) : core(g, sb!, false, !transB)) : null;
    const gw = nb ? (transB ? core(g, sa!, true, transA) : core(sa!, g, !transA, false)) : null;
    // Every bias gets the column sums of g (one reduction for all of them), after the
    // products (so that on WebGPU they may share a dispatch with the layer's dW_hh).
    const gb = nBias ? sumTo(g, [n]) : null;
    return [ga, gw, ...biases.map(() => gb)];
  });
}

/**
 * Matrix product of `a` and `b` (NumPy semantics): 2-D × 2-D, batched over
 * leading dimensions with broadcasting, 1-D operands treated as vectors.
 * `transA`/`transB` use the transpose of the last two dimensions.
 *
 * @param a left operand
 * @param b right operand
 * @param opts transpose flags
 * @returns the product
 * @example
 * ```ts
 * import { matmul, tensor } from "../../mod.ts";
 * const w = tensor([[1, 2], [3, 4], [5, 6]]); // [3, 2]
 * const x = tensor([[1, 1]]);                 // [1, 2]
 * const y = matmul(x, w, { transB: true });    // [1, 3]
 * console.assert(y.shape.join() === "1,3");
 * ```
 */
export function matmul(a: Tensor, b: Tensor, opts: MatmulOptions = {}): Tensor {
  checkSame("matmul", a, b);
  if (a.rank === 0 || b.rank === 0) {
    throw new ShapeError(
      "matmul",
      [a.shape, b.shape],
      `Cannot matmul tensors of shapes ${fmtShape(a.shape)} and ${
        fmtShape(b.shape)
      }: both need at least one dimension`,
    );
  }
  const transA = opts.transA ?? false, transB = opts.transB ?? false;
  const a2 = a.rank === 1 ? reshape(a, transA ? [a.shape[0]!, 1] : [1, a.shape[0]!]) : a;
  const b2 = b.rank === 1 ? reshape(b, transB ? [1, b.shape[0]!] : [b.shape[0]!, 1]) : b;
  const out = core(a2, b2, transA, transB);
  if (a2 === a && b2 === b) return out;
  const shape = [...out.shape];
  if (b.rank === 1) shape.pop();
  if (a.rank === 1) shape.splice(shape.length - (b.rank === 1 ? 1 : 2), 1);
  const r = reshape(out, shape);
  out.dispose();
  if (a2 !== a) a2.dispose();
  if (b2 !== b) b2.dispose();
  return r;
}

/**
 * `op(a) · op(b) + bias` for 2-D `a` and `b` and biases of shape [n] added to
 * every row, in one kernel (the bias added in the matmul's store): a linear
 * layer's `x·Wᵀ + b`, or a recurrent layer's input projection
 * `x·W_ihᵀ + (b_ih + b_hh)` with two biases (summed first, so the values
 * equal `matmul(a, b).add(b1.add(b2))`). Differentiable: each bias gets the
 * column sums of the gradient (one reduction shared by both).
 * Other ranks, or an empty inner dimension, run the matmul and the adds.
 *
 * @param a left operand [m, k] ([k, m] with transA)
 * @param b right operand [k, n] ([n, k] with transB)
 * @param biases zero, one or two tensors of shape [n]
 * @param opts transpose flags
 * @returns the product plus the biases [m, n]
 * @example
 * ```ts
 * import { tensor } from "../../mod.ts";
 * import { matmulBias } from "./matmul.ts";
 * const x = tensor([[1, 1]]), w = tensor([[1, 2], [3, 4], [5, 6]]); // [1, 2], [3, 2]
 * const y = matmulBias(x, w, [tensor([1, 1, 1])], { transB: true }); // [[4, 8, 12]]
 * console.assert(y.shape.join() === "1,3");
 * ```
 */
export function matmulBias(
  a: Tensor,
  b: Tensor,
  biases: readonly Tensor[],
  opts: MatmulOptions = {},
): Tensor {
  const transA = opts.transA ?? false, transB = opts.transB ?? false;
  checkSame("matmul", a, b, ...biases);
  const n = b.rank === 2 ? b.shape[transB ? 0 : 1]! : -1;
  const k = a.rank === 2 ? a.shape[transA ? 0 : 1]! : 0;
  if (biases.length > 2) {
    throw new RangeError(`Cannot add ${biases.length} biases in a matmul: at most 2`);
  }
  if (
    a.rank !== 2 || b.rank !== 2 || k === 0 || biases.some((t) => t.rank !== 1 || t.shape[0] !== n)
  ) {
    const y = matmul(a, b, opts);
    if (biases.length === 0) return y;
    const sum = biases.length === 2 ? biases[0]!.add(biases[1]!) : biases[0]!;
    const out = y.add(sum);
    y.dispose();
    if (sum !== biases[0]) sum.dispose();
    return out;
  }
  return core(a, b, transA, transB, biases);
}
