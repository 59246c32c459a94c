/**
 * `BatchNorm1d` with PyTorch's semantics: batch statistics in training mode
 * (biased variance to normalise, unbiased variance for the running estimate),
 * running statistics in evaluation mode, built from differentiable tensor ops.
 *
 * @module
 */
import type { BackendName, DType } from "../tensor/backend.ts";
import { noGrad } from "../tensor/engine.ts";
import { fmtShape, ShapeError } from "../tensor/errors.ts";
import { full, ones, type Tensor, zeros } from "../tensor/tensor.ts";
import { checkSize } from "./linear.ts";
import { Module } from "./module.ts";

/** Options of {@link BatchNorm1d}. */
export interface BatchNormOptions {
  /** Added to the variance for stability (default 1e-5). */
  eps?: number;
  /** Weight of the new batch statistics in the running averages (default 0.1). */
  momentum?: number;
  /** Learn a per-feature scale `weight` and shift `bias` (default true). */
  affine?: boolean;
  /** Keep running statistics for evaluation mode (default true). */
  trackRunningStats?: boolean;
  /** Backend of the parameters and buffers (default: the one `init` chose). */
  backend?: BackendName;
  /** Element type (default float32). */
  dtype?: DType;
}

/** Options of {@link batchNorm}. */
export interface BatchNormFnOptions {
  /** Use batch statistics and update the running ones (default false: use the running ones). */
  training?: boolean;
  /** Weight of the batch statistics in the running averages (default 0.1). */
  momentum?: number;
  /** Added to the variance (default 1e-5). */
  eps?: number;
}

/**
 * The function behind {@link BatchNorm1d} (PyTorch's `F.batch_norm`) for
 * `[N, C]` or `[N, C, L]` inputs. In training mode it normalises with the
 * batch mean and biased variance and, when given, moves `runningMean` and
 * `runningVar` in place (by `assign`, without a graph) towards the batch mean
 * and the unbiased variance; otherwise it normalises with the running
 * statistics. Differentiable with respect to `x`, `weight` and `bias`.
 *
 * @param x input `[N, C]` or `[N, C, L]`
 * @param runningMean `[C]` (required in evaluation mode)
 * @param runningVar `[C]` (required in evaluation mode)
 * @param weight scale `[C]`, or null
 * @param bias shift `[C]`, or null
 * @param opts training, momentum, eps
 * @returns the normalised input, same shape
 */
export function batchNorm(
  x: Tensor,
  runningMean: Tensor | null,
  runningVar: Tensor | null,
  weight: Tensor | null,
  bias: Tensor | null,
  opts: BatchNormFnOptions = {},
): Tensor {
  const C = x.shape[1] ?? 0;
  if (x.rank !== 2 && x.rank !== 3) {
    throw new ShapeError(
      "batchNorm",
      [x.shape],
      `Cannot batch-normalise a tensor of shape ${fmtShape(x.shape)}: expected [N, C] or [N, C, L]`,
    );
  }
  for (
    const [what, t] of [
      ["runningMean", runningMean],
      ["runningVar", runningVar],
      ["weight", weight],
      ["bias", bias],
    ] as const
  ) {
    if (t && (t.rank !== 1 || t.shape[0] !== C)) {
      throw new ShapeError(
        "batchNorm",
        [x.shape, t.shape],
        `Cannot batch-normalise a tensor of shape ${fmtShape(x.shape)} with ${what} of shape ${
          fmtShape(t.shape)
        }: expected [${C}]`,
      );
    }
  }
  const training = opts.training ?? false;
  const momentum = opts.momentum ?? 0.1, eps = opts.eps ?? 1e-5;
  const axes = x.rank === 2 ? [0] : [0, 2];
  const n = x.rank === 2 ? x.shape[0]! : x.shape[0]! * x.shape[2]!;
  const statShape = x.rank === 2 ? [C] : [C, 1];
  const temps: Tensor[] = [];
  const t = (v: Tensor): Tensor => (temps.push(v), v);
  let xhat: Tensor;
  if (training) {
    if (n <= 1) {
      throw new ShapeError(
        "batchNorm",
        [x.shape],
        `Cannot batch-normalise a tensor of shape ${
          fmtShape(x.shape)
        } in training mode: it needs more than one value per feature`,
      );
    }
    const mean = t(x.mean(axes, true));
    const xc = t(x.sub(mean));
    const variance = t(t(xc.mul(xc)).mean(axes, true));
    const inv = t(t(t(variance.add(eps)).sqrt()).pow(-1));
    xhat = xc.mul(inv);
    noGrad(() => {
      if (runningMean) {
        const bm = t(mean.reshape([C]));
        runningMean.assign(t(t(runningMean.mul(1 - momentum)).add(t(bm.mul(momentum)))));
      }
      if (runningVar) {
        const bv = t(variance.reshape([C]));
        const unbiased = t(bv.mul((momentum * n) / (n - 1)));
        runningVar.assign(t(t(runningVar.mul(1 - momentum)).add(unbiased)));
      }
    });
  } else {
    if (!runningMean || !runningVar) {
      throw new TypeError(
        "Cannot batch-normalise in evaluation mode: runningMean and runningVar are required",
      );
    }
    const rm = t(runningMean.reshape(statShape));
    const rv = t(runningVar.reshape(statShape));
    const inv = t(t(t(rv.add(eps)).sqrt()).pow(-1));
    xhat = t(x.sub(rm)).mul(inv);
  }
  let y = xhat;
  if (weight) y = t(y).mul(t(weight.reshape(statShape)));
  if (bias) y = t(y).add(t(bias.reshape(statShape)));
  for (const v of temps) v.dispose();
  return y;
}

/**
 * Batch normalisation over `[N, C]` or `[N, C, L]` inputs, per feature `C`:
 * `y = (x − mean) / √(var + eps) · weight + bias`.
 *
 * In training mode the mean and (biased) variance come from the batch, and the
 * buffers `running_mean` and `running_var` move towards the batch mean and the
 * unbiased batch variance by `momentum`; `num_batches_tracked` counts the
 * updates. In evaluation mode the running statistics are used. Parameter and
 * buffer names are PyTorch's.
 */
export class BatchNorm1d extends Module {
  /** Number of features `C`. */
  readonly numFeatures: number;
  /** Added to the variance. */
  readonly eps: number;
  /** Weight of the new statistics in the running averages. */
  readonly momentum: number;
  /** The scale `[C]`, or null when not affine. */
  readonly weight: Tensor | null;
  /** The shift `[C]`, or null when not affine. */
  readonly bias: Tensor | null;
  readonly #track: boolean;

  /**
   * Create the layer with weight 1, bias 0, running mean 0 and running variance 1.
   *
   * @param numFeatures number of features `C`
   * @param opts eps (1e-5), momentum (0.1), affine (true), trackRunningStats (true), backend, dtype
   */
  constructor(numFeatures: number, opts: BatchNormOptions = {}) {
    super();
    checkSize("BatchNorm1d", "numFeatures", numFeatures);
    this.numFeatures = numFeatures;
    this.eps = opts.eps ?? 1e-5;
    this.momentum = opts.momentum ?? 0.1;
    if (!(this.momentum >= 0 && this.momentum <= 1)) {
      throw new RangeError(
        `Cannot create BatchNorm1d: momentum must be in [0, 1], got ${this.momentum}`,
      );
    }
    const o = { backend: opts.backend, dtype: opts.dtype };
    const affine = opts.affine ?? true;
    this.weight = affine ? this.registerParameter("weight", ones([numFeatures], o)) : null;
    this.bias = affine ? this.registerParameter("bias", zeros([numFeatures], o)) : null;
    this.#track = opts.trackRunningStats ?? true;
    if (this.#track) {
      this.registerBuffer("running_mean", zeros([numFeatures], o));
      this.registerBuffer("running_var", ones([numFeatures], o));
      this.registerBuffer("num_batches_tracked", full([], 0, o));
    }
  }

  /** The running mean `[C]` (a buffer; null without running statistics). */
  get runningMean(): Tensor | null {
    return this.#track ? this.buffer("running_mean") : null;
  }
  /** The running variance `[C]` (a buffer; null without running statistics). */
  get runningVar(): Tensor | null {
    return this.#track ? this.buffer("running_var") : null;
  }
  /** Number of training batches seen, as a 0-d tensor (null without running statistics). */
  get numBatchesTracked(): Tensor | null {
    return this.#track ? this.buffer("num_batches_tracked") : null;
  }

  /**
   * Normalise a batch (and, in training mode, update the running statistics).
   *
   * @param x input `[N, C]` or `[N, C, L]`
   * @returns the normalised input, same shape
   */
  forward(x: Tensor): Tensor {
    const C = this.numFeatures;
    if ((x.rank !== 2 && x.rank !== 3) || x.shape[1] !== C) {
      throw new ShapeError(
        "BatchNorm1d",
        [x.shape],
        `Cannot apply BatchNorm1d(${C}) to a tensor of shape ${
          fmtShape(x.shape)
        }: expected [N, ${C}] or [N, ${C}, L]`,
      );
    }
    const y = batchNorm(x, this.runningMean, this.runningVar, this.weight, this.bias, {
      training: this.training || !this.#track,
      momentum: this.momentum,
      eps: this.eps,
    });
    if (this.training && this.#track) {
      noGrad(() => {
        const nbt = this.buffer("num_batches_tracked");
        const count = nbt.add(1);
        nbt.assign(count);
        count.dispose();
      });
    }
    return y;
  }

  /** A short description: `BatchNorm1d(6, eps=0.00001, momentum=0.1)`. */
  override toString(): string {
    return `BatchNorm1d(${this.numFeatures}, eps=${this.eps}, momentum=${this.momentum})`;
  }
}
