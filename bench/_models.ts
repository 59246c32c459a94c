/**
 * The other programs' models as the side-by-side benchmark times them, on
 * random data of the real shapes (seed 0, on the default backend):
 * the row classifier's step (LSTM 28→128 over 28 rows, batch 128, Linear
 * 128→10 on the last step, cross-entropy, RMSprop 1e-3 with Keras's rho and
 * eps) and one GAN step of `examples/_gan_model.ts` (batch 128: the
 * discriminator on real and detached fake batches with input noise and
 * smoothed targets, then the generator).
 * `bench/reference/torch_worker.py` builds the same two in PyTorch.
 *
 * @module
 */
import { manualSeed, nn, optim, rand, tensor, tidy } from "../mod.ts";
import { RowClassifier } from "../examples/_classify_model.ts";
import { Gan, ganOptimizers, ganStep, PIXELS } from "../examples/_gan_model.ts";

/** A timed repetition: resolves once its loss is read back. */
export type Rep = () => Promise<number>;

/** One step of the row classifier, as `examples/classify.ts` trains it (its model, its step). */
export function buildClassifyStep(_backend: "cpu" | "webgpu"): Rep {
  manualSeed(0);
  const model = new RowClassifier(128);
  const opt = new optim.RMSprop(model.parameters(), { lr: 1e-3, alpha: 0.9, eps: 1e-7 });
  const x = rand([128, 28, 28]);
  const labels = tensor(Float32Array.from({ length: 128 }, (_, i) => (i * 7) % 10), [128]);
  return async () => {
    const loss = tidy(() => {
      const l = nn.crossEntropy(model.forward(x), labels);
      opt.zeroGrad();
      l.backward();
      opt.step();
      return l;
    });
    const v = await loss.item();
    loss.dispose();
    return v;
  };
}

/** One GAN step as `examples/gan.ts` trains it (`examples/_gan_model.ts`), batch 128. */
export function buildGanStep(_backend: "cpu" | "webgpu"): Rep {
  manualSeed(0);
  const gan = new Gan();
  const opt = ganOptimizers(gan, { lrG: 1e-4, lrD: 3e-4 });
  gan.train();
  const real = rand([128, PIXELS]).mul(2).sub(1);
  return async () => {
    const loss = tidy(() => {
      const m = ganStep(gan, opt, real);
      return m.lossD.add(m.lossG);
    });
    const v = await loss.item();
    loss.dispose();
    return v;
  };
}
