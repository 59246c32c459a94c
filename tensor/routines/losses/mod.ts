/**
 * The loss routines with gradients of their own (one autograd node each,
 * PyTorch's formulas), built from tensor ops: the elementwise binary
 * cross-entropy and the per-sample softmax cross-entropy. `nn/losses.ts`
 * checks shapes and applies the reduction.
 *
 * @module
 */
import { record } from "../../autograd.ts";
import { isGradEnabled, noGrad, tidy } from "../../engine.ts";
import { arange, type Tensor } from "../../tensor.ts";

/**
 * Elementwise binary cross-entropy of probabilities:
 * `−(y · log x + (1 − y) · log(1 − x))`, each log clamped to at least −100,
 * with PyTorch's gradient `(x − y) / max(x · (1 − x), 1e-12)` for the input;
 * the target gets no gradient. Shapes are the caller's to check.
 *
 * @param input probabilities in [0, 1]
 * @param target targets in [0, 1], same shape
 * @returns the elementwise losses
 */
export function bceElementwise(input: Tensor, target: Tensor): Tensor {
  const l = noGrad(() =>
    tidy(() => {
      const a = input.log().clamp(-100), b = input.neg().add(1).log().clamp(-100);
      return target.mul(a).add(target.neg().add(1).mul(b)).neg();
    })
  );
  const withGrad = !isGradEnabled() || !input.requiresGrad ? l : record(
    "bceLoss",
    l,
    [input],
    [input, target],
    (g, [x, y]) => {
      const num = x!.sub(y!);
      const den = x!.mul(x!.neg().add(1)).maximum(1e-12);
      return [g.mul(num.div(den))];
    },
  );
  return withGrad;
}

/**
 * Per-sample softmax cross-entropy `−logSoftmax(logits)[n, labels[n]]`
 * (max-shifted), as one op with the gradient
 * `softmax(logits) − onehot(labels)` times the upstream gradient of each
 * sample; the labels get no gradient. Shapes are the caller's to check.
 *
 * @param logits unnormalised scores `[N, C]`
 * @param labels class indices `[N]`
 * @returns the per-sample losses `[N]`
 */
export function crossEntropyPerSample(logits: Tensor, labels: Tensor): Tensor {
  const [n, c] = logits.shape as [number, number];
  const ls = noGrad(() => logits.logSoftmax(-1));
  const l = noGrad(() => tidy(() => ls.gather(labels.reshape([n, 1]), 1).reshape([n]).neg()));
  const withGrad = !isGradEnabled() || !logits.requiresGrad ? l : record(
    "crossEntropy",
    l,
    [logits],
    [ls, labels],
    (g, [logp, y]) => {
      const onehot = arange(c, { dtype: y!.dtype, backend: y!.backend }).reshape([1, c])
        .eq(y!.reshape([n, 1]));
      return [logp!.exp().sub(onehot).mul(g.reshape([n, 1]))];
    },
  );
  ls.dispose();
  return withGrad;
}
