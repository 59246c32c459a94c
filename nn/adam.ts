/**
 * Adam and AdamW with PyTorch's update rules (bias-corrected moment
 * estimates; Adam's weight decay is L2 added to the gradient, AdamW's is
 * decoupled).
 *
 * @module
 */
import type { Tensor } from "../tensor/tensor.ts";
import { optimizerUpdate } from "../tensor/routines/optim/mod.ts";
import { checkNonNegative, checkUnit, type HyperParam, Optimizer } from "./optimizer.ts";

/** Options of {@link Adam} and {@link AdamW}. */
export interface AdamOptions {
  /** Learning rate (default 1e-3). */
  lr?: number;
  /** Decay rates of the first and second moment estimates (default [0.9, 0.999]). */
  betas?: readonly [number, number];
  /** Added to the denominator for stability (default 1e-8). */
  eps?: number;
  /** Weight decay (default 0; AdamW's default is 1e-2). */
  weightDecay?: number;
  /**
   * Update with the backend's fused in-place kernel, one per parameter
   * (default true); false uses the reference composition of tensor ops.
   */
  fused?: boolean;
}

/**
 * Adam (Kingma & Ba), as `torch.optim.Adam`: with `g = grad + weightDecay · p`,
 * `m ← β1·m + (1−β1)·g`, `v ← β2·v + (1−β2)·g²`,
 * `p ← p − lr/(1−β1^t) · m / (√v / √(1−β2^t) + eps)`.
 * State per parameter: `exp_avg`, `exp_avg_sq`.
 *
 * @example
 * ```ts
 * import { Adam } from "./adam.ts";
 * import { tensor } from "../tensor/tensor.ts";
 * const w = tensor([1, 2], undefined, { backend: "cpu", requiresGrad: true });
 * const opt = new Adam([w], { lr: 0.1 });
 * w.mul(w).sum().backward();
 * opt.step();
 * opt.zeroGrad();
 * ```
 */
export class Adam extends Optimizer {
  /** First and second moment decay rates. */
  betas: [number, number];
  /** Denominator term. */
  eps: number;
  /** Weight decay. */
  weightDecay: number;
  /** Whether weight decay is decoupled (AdamW). */
  protected readonly decoupled: boolean = false;
  /** Names of the per-parameter state tensors. */
  protected readonly stateNames: readonly string[] = ["exp_avg", "exp_avg_sq"];

  /**
   * Create the optimizer.
   *
   * @param params the parameters to optimise
   * @param opts lr (1e-3), betas ([0.9, 0.999]), eps (1e-8), weightDecay (0), fused (true)
   */
  constructor(params: Iterable<Tensor>, opts: AdamOptions = {}) {
    super(params, opts.lr ?? 1e-3, opts.fused ?? true);
    const name = this.constructor.name;
    this.betas = [...(opts.betas ?? [0.9, 0.999])] as [number, number];
    checkUnit(name, "betas[0]", this.betas[0]);
    checkUnit(name, "betas[1]", this.betas[1]);
    this.eps = opts.eps ?? 1e-8;
    checkNonNegative(name, "eps", this.eps);
    this.weightDecay = opts.weightDecay ?? this.defaultWeightDecay();
    checkNonNegative(name, "weightDecay", this.weightDecay);
  }

  /** The default weight decay (0 for Adam). */
  protected defaultWeightDecay(): number {
    return 0;
  }

  /**
   * Update one parameter in place with the backend's fused kernel.
   *
   * @param i the parameter's position
   * @param p the parameter
   * @param grad its gradient
   * @param t its update count, this one included
   * @returns true (the update was done)
   */
  protected override fusedUpdate(i: number, p: Tensor, grad: Tensor, t: number): boolean {
    const [b1, b2] = this.betas;
    const m = this.fusedState(i, "exp_avg").state, v = this.fusedState(i, "exp_avg_sq").state;
    optimizerUpdate({
      kind: this.decoupled ? "adamw" : "adam",
      param: p,
      grad,
      expAvg: m,
      expAvgSq: v,
      lr: this.lr,
      beta1: b1,
      beta2: b2,
      eps: this.eps,
      weightDecay: this.weightDecay,
      biasCorrection1: 1 - b1 ** t,
      biasCorrection2: 1 - b2 ** t,
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
   * @param t its update count, this one included
   */
  protected update(i: number, p: Tensor, grad: Tensor, t: number): void {
    const [b1, b2] = this.betas;
    let param = p;
    let g = grad;
    if (this.weightDecay !== 0) {
      if (this.decoupled) param = p.mul(1 - this.lr * this.weightDecay);
      else g = g.add(p.mul(this.weightDecay));
    }
    const m0 = this.getState(i, "exp_avg"), v0 = this.getState(i, "exp_avg_sq");
    const m = m0 ? m0.mul(b1).add(g.mul(1 - b1)) : g.mul(1 - b1);
    const g2 = g.mul(g);
    const v = v0 ? v0.mul(b2).add(g2.mul(1 - b2)) : g2.mul(1 - b2);
    this.setState(i, "exp_avg", m);
    this.setState(i, "exp_avg_sq", v);
    const bc1 = 1 - b1 ** t, bc2 = 1 - b2 ** t;
    const denom = v.sqrt().mul(1 / Math.sqrt(bc2)).add(this.eps);
    p.assign(param.sub(m.div(denom).mul(this.lr / bc1)));
  }

  /**
   * The hyper-parameters by name.
   *
   * @returns lr and the algorithm's settings
   */
  hyperParams(): Record<string, HyperParam> {
    return {
      lr: this.lr,
      betas: [...this.betas],
      eps: this.eps,
      weightDecay: this.weightDecay,
    };
  }

  /**
   * Set the hyper-parameters from a state dict.
   *
   * @param h the values by name
   */
  protected setHyperParams(h: Record<string, HyperParam>): void {
    this.lr = h.lr as number;
    this.betas = [...(h.betas as number[])] as [number, number];
    this.eps = h.eps as number;
    this.weightDecay = h.weightDecay as number;
  }
}

/**
 * AdamW (Loshchilov & Hutter), as `torch.optim.AdamW`: Adam whose weight decay
 * is decoupled, `p ← p · (1 − lr · weightDecay)` before the Adam update
 * (default weightDecay 1e-2).
 */
export class AdamW extends Adam {
  /** Weight decay is decoupled. */
  protected override readonly decoupled: boolean = true;

  /** The default weight decay (1e-2 for AdamW, as in PyTorch). */
  protected override defaultWeightDecay(): number {
    return 1e-2;
  }
}
