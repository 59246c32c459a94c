/**
 * Arguments of the fused loss kernels, on storages: what
 * `tensor/routines/losses/cpu.ts` and `tensor/routines/losses/webgpu.ts`
 * receive from the loss ops of `./mod.ts`.
 *
 * @module
 */
import type { Storage } from "../../backend.ts";

/**
 * The reduced squared error (routine `mseLoss`): `out[0] = scale · Σ (x − t)²`
 * over `size` elements, each square rounded to the storage type and summed
 * in the order of the backend's sum reduction, then scaled as `scale · s + 0`
 * (`mean()`'s multiplication): the bits of `(x − t)·(x − t)` reduced by
 * `sum()` or `mean()`.
 */
export interface MseLossArgs {
  /** Predictions x, contiguous. */
  input: Storage;
  /** Targets t, contiguous, same size. */
  target: Storage;
  /** Elements. */
  size: number;
  /** 1/size for the mean, 1 for the sum. */
  scale: number;
  /** Receives the loss (one element). */
  out: Storage;
}

/**
 * The input gradient of {@link MseLossArgs} (routine `mseLossBackward`):
 * `dx = 2 · (gs · (x − t))` with `gs = scale · g + 0`, each step rounded to
 * the storage type: the bits of the backward of `(x − t)·(x − t)` reduced by
 * `sum()` or `mean()`.
 */
export interface MseLossBackwardArgs {
  /** Predictions x. */
  input: Storage;
  /** Targets t. */
  target: Storage;
  /** Elements. */
  size: number;
  /** As in the forward. */
  scale: number;
  /** The upstream gradient g of the loss (one element), or null: `gradValue`. */
  grad: Storage | null;
  /** g when `grad` is null (a constant upstream gradient, the backward seed). */
  gradValue: number;
  /** Receives dL/dx, `size` elements. */
  out: Storage;
}
