/**
 * Optimizers (`Adam`, `AdamW`, `SGD`, `RMSprop`), their base class and
 * gradient-norm clipping. Updates run on the parameters' backend with no
 * readback.
 *
 * @module
 */
import { noGrad, tidy } from "../tensor/engine.ts";
import { type Tensor, zeros } from "../tensor/tensor.ts";

export { Adam, type AdamOptions, AdamW } from "./adam.ts";
export {
  type HyperParam,
  Optimizer,
  type OptimizerStateDict,
  type OptimizerStateSource,
  type StateSource,
} from "./optimizer.ts";
export { RMSprop, type RMSpropOptions } from "./rmsprop.ts";
export { SGD, type SGDOptions } from "./sgd.ts";

/**
 * Scale the gradients of `params` in place so that their joint L2 norm is at
 * most `maxNorm` (as `torch.nn.utils.clip_grad_norm_`: each gradient is
 * multiplied by `min(1, maxNorm / (norm + 1e-6))`). Parameters without a
 * gradient are skipped. Nothing is read back.
 *
 * @param params the parameters whose gradients to clip
 * @param maxNorm the largest allowed norm
 * @returns the joint norm before clipping, as a 0-d tensor on the gradients' backend
 */
export function clipGradNorm(params: Iterable<Tensor>, maxNorm: number): Tensor {
  if (typeof maxNorm !== "number" || !(maxNorm >= 0)) {
    throw new RangeError(`Cannot clip gradients: maxNorm must be a number >= 0, got ${maxNorm}`);
  }
  const ps = [...params];
  const grads = ps.map((p) => p.grad).filter((g): g is Tensor => g !== null && !g.isDisposed);
  if (grads.length === 0) {
    const p = ps[0];
    return zeros([], p ? { backend: p.backend, dtype: p.dtype } : {});
  }
  const first = grads[0]!;
  for (const g of grads) {
    if (g.backend !== first.backend || g.dtype !== first.dtype) {
      throw new TypeError(
        `Cannot clip gradients on different backends or dtypes: ${first.dtype} on ` +
          `${first.backend} and ${g.dtype} on ${g.backend}`,
      );
    }
  }
  return noGrad(() =>
    tidy(() => {
      let sq: Tensor | null = null;
      for (const g of grads) {
        const s = g.mul(g).sum();
        sq = sq ? sq.add(s) : s;
      }
      const total = sq!.sqrt();
      const coef = total.add(1e-6).pow(-1).mul(maxNorm).clamp(-Infinity, 1);
      for (const g of grads) g.assign(g.mul(coef));
      return total;
    })
  );
}
