/**
 * The loss routines with gradients of their own (one autograd node each,
 * PyTorch's formulas): the elementwise binary cross-entropy and the
 * per-sample softmax cross-entropy, built from tensor ops; and the reduced
 * mean squared error, a kernel per backend for the forward and one for the
 * backward (`mseLoss`, `mseLossBackward`: ./args.ts, ./cpu.ts, ./webgpu.ts).
 * `nn/losses.ts` checks shapes and applies the reduction.
 *
 * @module
 */
import { record } from "../../autograd.ts";
import { isGradEnabled, noGrad, tidy } from "../../engine.ts";
import { arange, type Tensor } from "../../tensor.ts";
import { runRoutine } from "../registry.ts";
import type { MseLossArgs, MseLossBackwardArgs } from "./args.ts";
import "./cpu.ts";
import "./webgpu.ts";

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

/**
 * The mean (or sum) of `(input − target)²` as one fused kernel, with its
 * own gradient `2 · (g · scale) · (input − target)` for the input (one more
 * kernel; a constant upstream gradient, the backward seed, is passed as a
 * value, so it is never filled): the values and gradients of
 * `d = input − target; d.mul(d).mean()` bit for bit. The target gets no
 * gradient (the caller composes the ops when it needs one); shapes are the
 * caller's to check.
 *
 * @param input predictions
 * @param target targets, same shape, not requiring a gradient
 * @param mean the mean (true) or the sum
 * @returns a 0-d tensor
 * @example
 * ```ts
 * import { tensor } from "../../../mod.ts";
 * import { mseReduced } from "./mod.ts";
 * const l = mseReduced(tensor([1, 2, 3]), tensor([1, 1, 1]), true); // (0 + 1 + 4) / 3
 * console.assert(Math.abs((await l.item()) - 5 / 3) < 1e-6);
 * ```
 */
export function mseReduced(input: Tensor, target: Tensor, mean: boolean): Tensor {
  const be = input.backendImpl, size = input.size, scale = mean ? 1 / size : 1;
  const out = input.alloc([]);
  runRoutine<MseLossArgs>(be, "mseLoss", {
    input: input.storage,
    target: target.storage,
    size,
    scale,
    out: out.storage,
  });
  if (!isGradEnabled() || !input.requiresGrad) return out;
  return record("mseLoss", out, [input], [input, target], (g, [x, t]) => {
    const dx = x!.alloc(x!.shape);
    const value = g.buf.materialized ? null : g.buf.pendingValue;
    runRoutine<MseLossBackwardArgs>(be, "mseLossBackward", {
      input: x!.storage,
      target: t!.storage,
      size,
      scale,
      grad: value === null ? g.storage : null,
      gradValue: value ?? 0,
      out: dx.storage,
    });
    return [dx];
  });
}
