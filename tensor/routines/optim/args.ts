/**
 * Arguments of the fused optimizer update kernels (Adam/AdamW, SGD, RMSprop:
 * one parameter each, in place), on storages: what
 * `tensor/routines/optim/cpu.ts` and `tensor/routines/optim/webgpu.ts` receive
 * from `tensor/routines/optim/mod.ts`.
 *
 * @module
 */
import type { Storage } from "../../backend.ts";

/**
 * Adam or AdamW update of one parameter (routine `optimizerStep`), as
 * `torch.optim.Adam` / `torch.optim.AdamW`, elementwise:
 *
 * - adam: `g = grad + weightDecay · p` (when weightDecay ≠ 0);
 *   adamw: `p ← p · (1 − lr · weightDecay)` (when weightDecay ≠ 0), `g = grad`;
 * - `m ← β1·m + (1 − β1)·g`, `v ← β2·v + (1 − β2)·g²`;
 * - `p ← p − lr / bc1 · m / (√v / √bc2 + eps)`.
 */
export interface AdamStepArgs {
  /** "adam" (L2 weight decay added to the gradient) or "adamw" (decoupled decay). */
  kind: "adam" | "adamw";
  /** The parameter, updated in place. */
  param: Storage;
  /** Its gradient (read only). */
  grad: Storage;
  /** First moment estimate `exp_avg`, updated in place (zeros before the first step). */
  expAvg: Storage;
  /** Second moment estimate `exp_avg_sq`, updated in place (zeros before the first step). */
  expAvgSq: Storage;
  /** Learning rate. */
  lr: number;
  /** β1. */
  beta1: number;
  /** β2. */
  beta2: number;
  /** Denominator term. */
  eps: number;
  /** Weight decay (0: none). */
  weightDecay: number;
  /** Bias correction 1 − β1^t for this parameter's update count t (computed on the host). */
  biasCorrection1: number;
  /** Bias correction 1 − β2^t (computed on the host). */
  biasCorrection2: number;
}

/**
 * SGD update of one parameter (routine `optimizerStep`), as
 * `torch.optim.SGD`: `d = grad + weightDecay · p` (when weightDecay ≠ 0); with
 * a momentum buffer, `buf ← d` on the first step and
 * `buf ← momentum·buf + (1 − dampening)·d` afterwards, then `d = buf`
 * (Nesterov: `d = d + momentum·buf`); finally `p ← p − lr · d`.
 */
export interface SgdStepArgs {
  /** Discriminant. */
  kind: "sgd";
  /** The parameter, updated in place. */
  param: Storage;
  /** Its gradient (read only). */
  grad: Storage;
  /** `momentum_buffer`, updated in place; null without momentum (momentum = 0). */
  momentumBuffer: Storage | null;
  /** Learning rate. */
  lr: number;
  /** Momentum factor (used only with a buffer). */
  momentum: number;
  /** Dampening (used only with a buffer, after the first step). */
  dampening: number;
  /** Weight decay (0: none). */
  weightDecay: number;
  /** Nesterov momentum (used only with a buffer). */
  nesterov: boolean;
  /** The buffer is new: it is set to `d` (its contents are not read). */
  firstStep: boolean;
}

/**
 * RMSprop update of one parameter (routine `optimizerStep`), as
 * `torch.optim.RMSprop`: `g = grad + weightDecay · p` (when weightDecay ≠ 0),
 * `s ← α·s + (1 − α)·g²`; centred (with `gradAvg`): `ḡ ← α·ḡ + (1 − α)·g`,
 * `avg = √(s − ḡ²) + eps`, otherwise `avg = √s + eps`; with a momentum
 * buffer `buf ← momentum·buf + g / avg`, `p ← p − lr · buf`, otherwise
 * `p ← p − lr · g / avg`.
 */
export interface RmspropStepArgs {
  /** Discriminant. */
  kind: "rmsprop";
  /** The parameter, updated in place. */
  param: Storage;
  /** Its gradient (read only). */
  grad: Storage;
  /** `square_avg`, updated in place (zeros before the first step). */
  squareAvg: Storage;
  /** `momentum_buffer`, updated in place (zeros at first); null without momentum. */
  momentumBuffer: Storage | null;
  /** `grad_avg` of the centred variant, updated in place (zeros at first); null otherwise. */
  gradAvg: Storage | null;
  /** Learning rate. */
  lr: number;
  /** Smoothing constant α. */
  alpha: number;
  /** Denominator term. */
  eps: number;
  /** Momentum factor (used only with a buffer). */
  momentum: number;
  /** Weight decay (0: none). */
  weightDecay: number;
}

/** The arguments of routine `optimizerStep`, by optimizer kind. */
export type OptimizerStepArgs = AdamStepArgs | SgdStepArgs | RmspropStepArgs;
