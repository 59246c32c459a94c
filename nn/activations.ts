/**
 * Activation layers (ReLU, LeakyReLU, Tanh, Sigmoid) as modules without
 * parameters, for use in {@link Sequential} stacks.
 *
 * @module
 */
import type { Tensor } from "../tensor/tensor.ts";
import { Module } from "./module.ts";

/** `max(x, 0)` elementwise. */
export class ReLU extends Module {
  /**
   * Apply the activation.
   *
   * @param x the input
   * @returns `max(x, 0)`
   */
  forward(x: Tensor): Tensor {
    return x.relu();
  }
}

/** `x` for positive `x`, `slope · x` otherwise. */
export class LeakyReLU extends Module {
  /** Slope for negative inputs. */
  readonly slope: number;
  /**
   * Create the activation.
   *
   * @param slope slope for negative inputs (default 0.01, as in PyTorch)
   */
  constructor(slope = 0.01) {
    super();
    this.slope = slope;
  }
  /**
   * Apply the activation.
   *
   * @param x the input
   * @returns `x > 0 ? x : slope · x`
   */
  forward(x: Tensor): Tensor {
    return x.leakyRelu(this.slope);
  }
}

/** Hyperbolic tangent elementwise. */
export class Tanh extends Module {
  /**
   * Apply the activation.
   *
   * @param x the input
   * @returns `tanh(x)`
   */
  forward(x: Tensor): Tensor {
    return x.tanh();
  }
}

/** Logistic sigmoid elementwise. */
export class Sigmoid extends Module {
  /**
   * Apply the activation.
   *
   * @param x the input
   * @returns `1 / (1 + e^-x)`
   */
  forward(x: Tensor): Tensor {
    return x.sigmoid();
  }
}
