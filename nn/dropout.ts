/**
 * `Dropout`: zeroes each element with probability `p` in training mode and
 * scales the rest by `1 / (1 − p)`; the identity in evaluation mode. Masks
 * come from the seeded generator, so `manualSeed` makes them reproducible on
 * every backend.
 *
 * @module
 */
import { rand, type Tensor } from "../tensor/tensor.ts";
import { Module } from "./module.ts";

/**
 * The function behind {@link Dropout} (PyTorch's `F.dropout`): in training
 * mode keep each element where a uniform draw from the seeded generator is
 * `>= p`, scaled by `1 / (1 − p)` (`p = 1` gives zeros); otherwise (or for
 * `p = 0`) return an alias of `x` that shares its memory and passes gradients.
 *
 * @param x the input
 * @param p probability of zeroing an element, in [0, 1]
 * @param training apply dropout (default true)
 * @returns the result, a new tensor the caller owns
 */
export function dropout(x: Tensor, p: number, training = true): Tensor {
  if (!(p >= 0 && p <= 1)) {
    throw new RangeError(`Cannot apply dropout: p must be in [0, 1], got ${p}`);
  }
  if (!training || p === 0) return x.reshape(x.shape);
  if (p === 1) return x.mul(0);
  const u = rand(x.shape, { backend: x.backend, dtype: x.dtype });
  const keepMask = u.ge(p);
  const scaled = keepMask.mul(1 / (1 - p));
  const y = x.mul(scaled);
  u.dispose();
  keepMask.dispose();
  scaled.dispose();
  return y;
}

/**
 * Inverted dropout. In training mode each element is kept with probability
 * `1 − p` (where a uniform draw `u ≥ p`) and scaled by `1 / (1 − p)`; `p = 1`
 * gives zeros. In evaluation mode (or `p = 0`) the output is the input (an
 * alias that shares its memory and passes gradients through).
 */
export class Dropout extends Module {
  /** Probability of zeroing an element. */
  readonly p: number;

  /**
   * Create the layer.
   *
   * @param p probability of zeroing an element, in [0, 1] (default 0.5)
   */
  constructor(p = 0.5) {
    super();
    if (!(p >= 0 && p <= 1)) {
      throw new RangeError(`Cannot create Dropout: p must be in [0, 1], got ${p}`);
    }
    this.p = p;
  }

  /**
   * Apply dropout.
   *
   * @param x the input
   * @returns the masked and scaled input (training) or an alias of it (evaluation)
   */
  forward(x: Tensor): Tensor {
    return dropout(x, this.p, this.training);
  }

  /** A short description: `Dropout(p=0.3)`. */
  override toString(): string {
    return `Dropout(p=${this.p})`;
  }
}
