/**
 * `Linear`: a fully connected layer `y = x Wᵀ + b` with PyTorch's parameter
 * names, layout and default initialisation.
 *
 * @module
 */
import type { BackendName, DType } from "../tensor/backend.ts";
import { fmtShape, ShapeError } from "../tensor/errors.ts";
import { matmulBias } from "../tensor/ops/matmul.ts";
import { rand, type Tensor } from "../tensor/tensor.ts";
import { Module } from "./module.ts";

/** Options of {@link Linear}. */
export interface LinearOptions {
  /** Learn an additive bias (default true). */
  bias?: boolean;
  /** Backend of the parameters (default: the one `init` chose). */
  backend?: BackendName;
  /** Element type of the parameters (default float32). */
  dtype?: DType;
}

/** Check that a positive integer size was given. @internal */
export function checkSize(layer: string, what: string, n: number): void {
  if (!Number.isInteger(n) || n <= 0) {
    throw new RangeError(`Cannot create ${layer}: ${what} must be a positive integer, got ${n}`);
  }
}

/**
 * The function behind {@link Linear}: `x · weightᵀ + bias` over the last
 * dimension of `x`, with any number of leading dimensions (flattened into one
 * matmul and restored).
 *
 * @param x input `[..., in]`
 * @param weight `[out, in]`
 * @param bias `[out]`, or null/undefined for none
 * @returns `[..., out]`
 */
export function linear(x: Tensor, weight: Tensor, bias?: Tensor | null): Tensor {
  const [outF, inF] = weight.shape as [number, number];
  if (weight.rank !== 2 || x.rank === 0 || x.shape[x.rank - 1] !== inF) {
    throw new ShapeError(
      "linear",
      [x.shape, weight.shape],
      `Cannot apply a linear layer with weight ${fmtShape(weight.shape)} to a tensor of shape ${
        fmtShape(x.shape)
      }: expected weight [out, in] and input [..., in]`,
    );
  }
  const lead = x.shape.slice(0, -1);
  const x2 = x.rank === 2 ? x : x.reshape([-1, inF]);
  // The bias is added in the matmul's store: one kernel.
  const out = matmulBias(x2, weight, bias ? [bias] : [], { transB: true });
  if (x2 !== x) x2.dispose();
  if (x.rank === 2) return out;
  const r = out.reshape([...lead, outF]);
  out.dispose();
  return r;
}

/**
 * A fully connected layer: `y = x · weightᵀ + bias` over the last dimension
 * of `x` (any number of leading dimensions). `weight` is stored `[out, in]`
 * as in PyTorch and initialised, like `bias`, uniformly in
 * `[-1/√in, 1/√in)` from the seeded generator (PyTorch's default).
 *
 * @example
 * ```ts
 * import { Linear } from "./linear.ts";
 * import { zeros } from "../tensor/tensor.ts";
 * const lin = new Linear(4, 2, { backend: "cpu" });
 * const y = lin.forward(zeros([3, 4], { backend: "cpu" }));
 * console.assert(y.shape.join() === "3,2");
 * ```
 */
export class Linear extends Module {
  /** Size of each input sample. */
  readonly inFeatures: number;
  /** Size of each output sample. */
  readonly outFeatures: number;
  /** The weight, `[outFeatures, inFeatures]`. */
  readonly weight: Tensor;
  /** The bias, `[outFeatures]`, or null without one. */
  readonly bias: Tensor | null;

  /**
   * Create the layer with PyTorch's default initialisation.
   *
   * @param inFeatures size of each input sample
   * @param outFeatures size of each output sample
   * @param opts bias (default true), backend, dtype
   */
  constructor(inFeatures: number, outFeatures: number, opts: LinearOptions = {}) {
    super();
    checkSize("Linear", "inFeatures", inFeatures);
    checkSize("Linear", "outFeatures", outFeatures);
    this.inFeatures = inFeatures;
    this.outFeatures = outFeatures;
    const bound = 1 / Math.sqrt(inFeatures);
    const o = { backend: opts.backend, dtype: opts.dtype, low: -bound, high: bound };
    this.weight = this.registerParameter("weight", rand([outFeatures, inFeatures], o));
    this.bias = (opts.bias ?? true) ? this.registerParameter("bias", rand([outFeatures], o)) : null;
  }

  /**
   * Apply the layer.
   *
   * @param x input `[..., inFeatures]`
   * @returns output `[..., outFeatures]`
   */
  forward(x: Tensor): Tensor {
    return linear(x, this.weight, this.bias);
  }

  /** A short description: `Linear(in=7, out=3, bias=true)`. */
  override toString(): string {
    return `Linear(in=${this.inFeatures}, out=${this.outFeatures}, bias=${this.bias !== null})`;
  }
}
