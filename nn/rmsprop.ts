/**
 * RMSprop with PyTorch's update rule.
 *
 * @module
 */
import type { Tensor } from "../tensor/tensor.ts";
import { optimizerUpdate } from "../tensor/routines/optim/mod.ts";
import { checkNonNegative, checkUnit, type HyperParam, Optimizer } from "./optimizer.ts";

/** Options of {@link RMSprop}. */
export interface RMSpropOptions {
  /** Learning rate (default 1e-2). */
  lr?: number;
  /** Smoothing constant of the squared-gradient average (default 0.99). */
  alpha?: number;
  /** Added to the denominator for stability (default 1e-8). */
  eps?: number;
  /** Momentum factor (default 0). */
  momentum?: number;
  /** L2 weight decay added to the gradient (default 0). */
  weightDecay?: number;
  /** Normalise by the centred variance estimate (default false). */
  centered?: boolean;
  /**
   * Update with the backend's fused in-place kernel, one per parameter
   * (default true); false uses the reference composition of tensor ops.
   */
  fused?: boolean;
}

/**
 * RMSprop as `torch.optim.RMSprop`: with `g = grad + weightDecay · p`,
 * `s ← α·s + (1−α)·g²`, `avg = √s + eps` (centred: `√(s − ḡ²) + eps` with
 * `ḡ ← α·ḡ + (1−α)·g`), then `p ← p − lr · g / avg`, or with momentum
 * `buf ← momentum·buf + g / avg`, `p ← p − lr · buf`. State per parameter:
 * `square_avg`, `momentum_buffer`, `grad_avg`.
 */
export class RMSprop extends Optimizer {
  /** Smoothing constant. */
  alpha: number;
  /** Denominator term. */
  eps: number;
  /** Momentum factor. */
  momentum: number;
  /** Weight decay. */
  weightDecay: number;
  /** Centred variant. */
  centered: boolean;
  /** Names of the per-parameter state tensors. */
  protected readonly stateNames: readonly string[] = [
    "square_avg",
    "momentum_buffer",
    "grad_avg",
  ];

  /**
   * Create the optimizer.
   *
   * @param params the parameters to optimise
   * @param opts lr (1e-2), alpha (0.99), eps (1e-8), momentum (0), weightDecay (0),
   *   centered (false), fused (true)
   */
  constructor(params: Iterable<Tensor>, opts: RMSpropOptions = {}) {
    super(params, opts.lr ?? 1e-2, opts.fused ?? true);
    this.alpha = opts.alpha ?? 0.99;
    this.eps = opts.eps ?? 1e-8;
    this.momentum = opts.momentum ?? 0;
    this.weightDecay = opts.weightDecay ?? 0;
    this.centered = opts.centered ?? false;
    checkUnit("RMSprop", "alpha", this.alpha);
    checkNonNegative("RMSprop", "eps", this.eps);
    checkNonNegative("RMSprop", "momentum", this.momentum);
    checkNonNegative("RMSprop", "weightDecay", this.weightDecay);
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
    const s = this.fusedState(i, "square_avg").state;
    const ga = this.centered ? this.fusedState(i, "grad_avg").state : null;
    const buf = this.momentum > 0 ? this.fusedState(i, "momentum_buffer").state : null;
    optimizerUpdate({
      kind: "rmsprop",
      param: p,
      grad,
      squareAvg: s,
      momentumBuffer: buf,
      gradAvg: ga,
      lr: this.lr,
      alpha: this.alpha,
      eps: this.eps,
      momentum: this.momentum,
      weightDecay: this.weightDecay,
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
    const a = this.alpha;
    const g = this.weightDecay !== 0 ? grad.add(p.mul(this.weightDecay)) : grad;
    const s0 = this.getState(i, "square_avg");
    const g2 = g.mul(g);
    const s = s0 ? s0.mul(a).add(g2.mul(1 - a)) : g2.mul(1 - a);
    this.setState(i, "square_avg", s);
    let avg: Tensor;
    if (this.centered) {
      const ga0 = this.getState(i, "grad_avg");
      const ga = ga0 ? ga0.mul(a).add(g.mul(1 - a)) : g.mul(1 - a);
      this.setState(i, "grad_avg", ga);
      avg = s.sub(ga.mul(ga)).sqrt().add(this.eps);
    } else {
      avg = s.sqrt().add(this.eps);
    }
    if (this.momentum > 0) {
      const b0 = this.getState(i, "momentum_buffer");
      const ratio = g.div(avg);
      const buf = b0 ? b0.mul(this.momentum).add(ratio) : ratio;
      this.setState(i, "momentum_buffer", buf);
      p.assign(p.add(buf.mul(-this.lr)));
    } else {
      p.assign(p.add(g.div(avg).mul(-this.lr)));
    }
  }

  /**
   * The hyper-parameters by name.
   *
   * @returns lr and the algorithm's settings
   */
  hyperParams(): Record<string, HyperParam> {
    return {
      lr: this.lr,
      alpha: this.alpha,
      eps: this.eps,
      momentum: this.momentum,
      weightDecay: this.weightDecay,
      centered: this.centered,
    };
  }

  /**
   * Set the hyper-parameters from a state dict.
   *
   * @param h the values by name
   */
  protected setHyperParams(h: Record<string, HyperParam>): void {
    this.lr = h.lr as number;
    this.alpha = h.alpha as number;
    this.eps = h.eps as number;
    this.momentum = h.momentum as number;
    this.weightDecay = h.weightDecay as number;
    this.centered = h.centered as boolean;
  }
}
