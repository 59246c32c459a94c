/**
 * Loss functions with PyTorch's definitions and reductions: mean squared
 * error, binary cross-entropy on probabilities, and softmax cross-entropy on
 * logits with integer class labels.
 *
 * @module
 */
import { fmtShape, ShapeError } from "../tensor/errors.ts";
import { checkSame } from "../tensor/ops/elementwise.ts";
import {
  bceElementwise,
  crossEntropyPerSample,
  mseReduced,
} from "../tensor/routines/losses/mod.ts";
import type { Tensor } from "../tensor/tensor.ts";

/** How a loss combines its elementwise values. */
export type Reduction = "mean" | "sum" | "none";

/** Options of the losses. */
export interface LossOptions {
  /** "mean" (default), "sum", or "none" (the elementwise losses). */
  reduction?: Reduction;
}

function reduce(loss: string, l: Tensor, reduction: Reduction | undefined): Tensor {
  const r = reduction ?? "mean";
  if (r === "none") return l;
  if (r !== "mean" && r !== "sum") {
    throw new TypeError(
      `Cannot compute ${loss}: reduction must be "mean", "sum" or "none", got ${JSON.stringify(r)}`,
    );
  }
  const out = r === "mean" ? l.mean() : l.sum();
  l.dispose();
  return out;
}

function checkPair(loss: string, input: Tensor, target: Tensor): void {
  if (input.rank !== target.rank || input.shape.some((d, i) => d !== target.shape[i])) {
    throw new ShapeError(
      loss,
      [input.shape, target.shape],
      `Cannot compute ${loss} of an input of shape ${fmtShape(input.shape)} and a target of ` +
        `shape ${fmtShape(target.shape)}: shapes differ`,
    );
  }
}

/**
 * Mean squared error `(input − target)²`, reduced.
 *
 * @param input predictions
 * @param target targets, same shape
 * @param opts reduction ("mean" by default)
 * @returns a 0-d tensor (or the elementwise losses for "none")
 */
export function mseLoss(input: Tensor, target: Tensor, opts: LossOptions = {}): Tensor {
  checkPair("mseLoss", input, target);
  const r = opts.reduction ?? "mean";
  if ((r === "mean" || r === "sum") && input.size > 0 && !target.requiresGrad) {
    // One kernel forward, one backward (the same values as the composition below).
    checkSame("mseLoss", input, target);
    return mseReduced(input, target, r === "mean");
  }
  const d = input.sub(target);
  const sq = d.mul(d);
  d.dispose();
  return reduce("mseLoss", sq, opts.reduction);
}

/**
 * Binary cross-entropy of probabilities:
 * `−(y · log x + (1 − y) · log(1 − x))`, with each log clamped to at least
 * −100 as in PyTorch, so inputs of exactly 0 and 1 give finite losses. The
 * gradient with respect to the input is PyTorch's
 * `(x − y) / max(x · (1 − x), 1e-12)`; the target gets no gradient.
 *
 * @param input probabilities in [0, 1]
 * @param target targets in [0, 1] (hard or soft labels), same shape
 * @param opts reduction ("mean" by default)
 * @returns a 0-d tensor (or the elementwise losses for "none")
 */
export function bceLoss(input: Tensor, target: Tensor, opts: LossOptions = {}): Tensor {
  checkPair("bceLoss", input, target);
  const withGrad = bceElementwise(input, target);
  return reduce("bceLoss", withGrad, opts.reduction);
}

/**
 * Softmax cross-entropy of logits against integer class labels:
 * `−logSoftmax(logits)[n, labels[n]]`, computed stably (max-shifted), as one
 * op with its own gradient `softmax(logits) − onehot(labels)` (times the
 * upstream gradient of each sample), as `F.cross_entropy`; the labels get no
 * gradient.
 *
 * @param logits unnormalised scores `[N, C]`
 * @param labels class indices `[N]` (integer values stored as floats, in [0, C))
 * @param opts reduction ("mean" by default: divides by N)
 * @returns a 0-d tensor (or the per-sample losses `[N]` for "none")
 */
export function crossEntropy(logits: Tensor, labels: Tensor, opts: LossOptions = {}): Tensor {
  if (logits.rank !== 2 || labels.rank !== 1 || labels.shape[0] !== logits.shape[0]) {
    throw new ShapeError(
      "crossEntropy",
      [logits.shape, labels.shape],
      `Cannot compute crossEntropy of logits of shape ${fmtShape(logits.shape)} and labels of ` +
        `shape ${fmtShape(labels.shape)}: expected logits [N, C] and labels [N]`,
    );
  }
  const withGrad = crossEntropyPerSample(logits, labels);
  return reduce("crossEntropy", withGrad, opts.reduction);
}
