/**
 * Stochastic gradient descent with PyTorch's momentum semantics.
 *
 * @module
 */
import type { Tensor } from "../tensor/tensor.ts";
import { optimizerUpdate } from "../tensor/routines/optim/mod.ts";
import { checkNonNegative, type HyperParam, Optimizer } from "./optimizer.ts";

/** Options of {@link SGD}. */
export interface SGDOptions {
  /** Learning rate (required, as in PyTorch). */
  lr: number;
  /** Momentum factor (default 0). */
  momentum?: number;
  /** Dampening of the momentum (default 0). */
  dampening?: number;
  /** L2 weight decay added to the gradient (default 0). */
  weightDecay?: number;
  /** Use Nesterov momentum (default false; needs momentum > 0 and dampening 0). */
  nesterov?: boolean;
  /**
   * Update with the backend's fused in-place kernel, one per parameter
   * (default true); false uses the reference composition of tensor ops.
   */
  fused?: boolean;
}

/**
 * SGD as `torch.optim.SGD`: with `g = grad + weightDecay · p`, and momentum,
 * `buf ← g` on the first step, then `buf ← momentum·buf + (1−dampening)·g`;
 * the step direction is `buf` (or `g + momentum·buf` with Nesterov), and
 * `p ← p − lr · direction`. State per parameter: `momentum_buffer`.
 */
export class SGD extends Optimizer {
  /** Momentum factor. */
  momentum: number;
  /** Dampening. */
  dampening: number;
  /** Weight decay. */
  weightDecay: number;
  /** Nesterov momentum. */
  nesterov: boolean;
  /** Names of the per-parameter state tensors. */
  protected readonly stateNames: readonly string[] = ["momentum_buffer"];

  /**
   * Create the optimizer.
   *
   * @param params the parameters to optimise
   * @param opts lr, momentum (0), dampening (0), weightDecay (0), nesterov (false), fused (true)
   */
  constructor(params: Iterable<Tensor>, opts: SGDOptions) {
    if (typeof opts?.lr !== "number") {
      throw new TypeError(`Cannot create SGD: opts.lr is required, got ${opts?.lr}`);
    }
    super(params, opts.lr, opts.fused ?? true);
    this.momentum = opts.momentum ?? 0;
    this.dampening = opts.dampening ?? 0;
    this.weightDecay = opts.weightDecay ?? 0;
    this.nesterov = opts.nesterov ?? false;
    checkNonNegative("SGD", "momentum", this.momentum);
    checkNonNegative("SGD", "dampening", this.dampening);
    checkNonNegative("SGD", "weightDecay", this.weightDecay);
    if (this.nesterov && (this.momentum <= 0 || this.dampening !== 0)) {
      throw new RangeError(
        `Cannot create SGD: nesterov needs momentum > 0 and dampening 0, got momentum ${this.momentum} and dampening ${this.dampening}`,
      );
    }
  }

  /**
   * Update one parameter in place with the backend's fused kernel.
   *
   * @param i the parameter's position
   * @param p the parameter
   * @param grad its gradient
   * @returns true (the update was done)
   */
  protected override fusedUpdate(i: number, p: Tensor, grad: Tensor): boolean {
    const buf = this.momentum !== 0 ? this.fusedState(i, "momentum_buffer") : null;
    optimizerUpdate({
      kind: "sgd",
      param: p,
      grad,
      momentumBuffer: buf ? buf.state : null,
      lr: this.lr,
      momentum: this.momentum,
      dampening: this.dampening,
      weightDecay: this.weightDecay,
      nesterov: this.nesterov,
      firstStep: buf?.created ?? false,
    });
    return true;
  }

  /**
   * Update one parameter with the reference composition of tensor ops (see
   * the class description).
   *
   * @param i the parameter's position
   * @param p the parameter
   * @param grad its gradient
   */
  protected update(i: number, p: Tensor, grad: Tensor): void {
    let d = this.weightDecay !== 0 ? grad.add(p.mul(this.weightDecay)) : grad;
    if (this.momentum !== 0) {
      const b0 = this.getState(i, "momentum_buffer");
      const buf = b0 ? b0.mul(this.momentum).add(d.mul(1 - this.dampening)) : d.clone();
      this.setState(i, "momentum_buffer", buf);
      d = this.nesterov ? d.add(buf.mul(this.momentum)) : buf;
    }
    p.assign(p.add(d.mul(-this.lr)));
  }

  /**
   * The hyper-parameters by name.
   *
   * @returns lr and the algorithm's settings
   */
  hyperParams(): Record<string, HyperParam> {
    return {
      lr: this.lr,
      momentum: this.momentum,
      dampening: this.dampening,
      weightDecay: this.weightDecay,
      nesterov: this.nesterov,
    };
  }

  /**
   * Set the hyper-parameters from a state dict.
   *
   * @param h the values by name
   */
  protected setHyperParams(h: Record<string, HyperParam>): void {
    this.lr = h.lr as number;
    this.momentum = h.momentum as number;
    this.dampening = h.dampening as number;
    this.weightDecay = h.weightDecay as number;
    this.nesterov = h.nesterov as boolean;
  }
}
