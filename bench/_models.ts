/**
 * The other programs' models as the side-by-side benchmark times them, on
 * random data of the real shapes (seed 0, on the default backend):
 * the row classifier's step (LSTM 28→128 over 28 rows, batch 128, Linear
 * 128→10 on the last step, cross-entropy, RMSprop 1e-3 with Keras's rho and
 * eps) and one GAN step (batch 128: the discriminator on real and detached
 * fake batches with input noise and smoothed targets, then the generator).
 * `bench/reference/torch_worker.py` builds the same two in PyTorch.
 *
 * @module
 */
import { manualSeed, nn, optim, rand, randn, type Tensor, tensor, tidy } from "../mod.ts";
import { RowClassifier } from "../examples/_classify_model.ts";

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

/** One GAN step (issue 16's networks, losses and optimizers). */
export function buildGanStep(_backend: "cpu" | "webgpu"): Rep {
  manualSeed(0);
  const g = new nn.Sequential(
    new nn.Linear(128, 256),
    new nn.BatchNorm1d(256),
    new nn.ReLU(),
    new nn.Linear(256, 512),
    new nn.BatchNorm1d(512),
    new nn.ReLU(),
    new nn.Linear(512, 1024),
    new nn.BatchNorm1d(1024),
    new nn.ReLU(),
    new nn.Linear(1024, 784),
    new nn.Tanh(),
  );
  const d = new nn.Sequential(
    new nn.Linear(784, 512),
    new nn.LeakyReLU(0.2),
    new nn.Dropout(0.3),
    new nn.Linear(512, 256),
    new nn.LeakyReLU(0.2),
    new nn.Dropout(0.3),
    new nn.Linear(256, 128),
    new nn.LeakyReLU(0.2),
    new nn.Dropout(0.3),
    new nn.Linear(128, 1),
    new nn.Sigmoid(),
  );
  const og = new optim.Adam(g.parameters(), { lr: 1e-4, betas: [0.5, 0.999] });
  const od = new optim.Adam(d.parameters(), { lr: 3e-4, betas: [0.5, 0.999] });
  const b = 128;
  const real = rand([b, 784]).mul(2).sub(1);
  const full = (v: number) => tensor(new Float32Array(b).fill(v), [b, 1]);
  const [t09, t01, t1] = [full(0.9), full(0.1), full(1)];
  const noisy = (x: Tensor) => x.add(randn([b, 784]).mul(0.05));
  return async () => {
    const loss = tidy(() => {
      const fake = g.forward(randn([b, 128]));
      od.zeroGrad();
      const lossD = nn.bceLoss(d.forward(noisy(real)), t09)
        .add(nn.bceLoss(d.forward(noisy(fake.detach())), t01));
      lossD.backward();
      od.step();
      og.zeroGrad();
      const lossG = nn.bceLoss(d.forward(noisy(fake)), t1);
      lossG.backward();
      og.step();
      return lossD.add(lossG);
    });
    const v = await loss.item();
    loss.dispose();
    return v;
  };
}
