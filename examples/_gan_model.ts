/**
 * The model of `examples/gan.ts`: an MLP generator and discriminator trained
 * against each other on MNIST digits scaled to [-1, 1], and one training step
 * (issue 16): binary cross-entropy with smoothed targets (0.9 for real and
 * 0.1 for fake in the discriminator's step, 1.0 in the generator's), Gaussian
 * noise of std 0.05 on every input of the discriminator, Adam G 1e-4 / D 3e-4
 * with betas (0.5, 0.999).
 *
 * State-dict names are those of two PyTorch `nn.Sequential`s in a module with
 * the children `generator` and `discriminator` (`generator.0.weight`,
 * `generator.1.running_mean`, …, `generator.9.bias`, `discriminator.0.weight`,
 * …, `discriminator.9.bias`):
 *
 * ```py
 * generator = nn.Sequential(
 *     nn.Linear(128, 256), nn.BatchNorm1d(256), nn.ReLU(),
 *     nn.Linear(256, 512), nn.BatchNorm1d(512), nn.ReLU(),
 *     nn.Linear(512, 1024), nn.BatchNorm1d(1024), nn.ReLU(),
 *     nn.Linear(1024, 784), nn.Tanh())
 * discriminator = nn.Sequential(
 *     nn.Linear(784, 512), nn.LeakyReLU(0.2), nn.Dropout(0.3),
 *     nn.Linear(512, 256), nn.LeakyReLU(0.2), nn.Dropout(0.3),
 *     nn.Linear(256, 128), nn.LeakyReLU(0.2), nn.Dropout(0.3),
 *     nn.Linear(128, 1), nn.Sigmoid())
 * ```
 *
 * @module
 */
import {
  full,
  getGeneratorState,
  manualSeed,
  nn,
  noGrad,
  optim,
  randn,
  setGeneratorState,
  type Tensor,
  tensor,
  tidy,
} from "../mod.ts";

/** Values of the generator's input z. */
export const NOISE = 128;
/** Pixels of a digit (28×28). */
export const PIXELS = 784;
/** Probability of zeroing an activation in the discriminator's dropout layers. */
export const DROPOUT = 0.3;
/** Slope of the discriminator's LeakyReLU for negative inputs. */
export const LEAKY_SLOPE = 0.2;
/** Standard deviation of the Gaussian noise added to every input of the discriminator. */
export const INPUT_NOISE = 0.05;
/** The discriminator's target for real digits (label smoothing). */
export const REAL_TARGET = 0.9;
/** The discriminator's target for generated digits (label smoothing). */
export const FAKE_TARGET = 0.1;

/** The widths of the two networks (issue 16's by default; tests use small ones). */
export interface GanSizes {
  /** Values of z (128). */
  noise: number;
  /** Pixels of a digit (784). */
  pixels: number;
  /** The generator's hidden widths, each Linear + BatchNorm + ReLU ([256, 512, 1024]). */
  generator: readonly number[];
  /** The discriminator's hidden widths, each Linear + LeakyReLU + Dropout ([512, 256, 128]). */
  discriminator: readonly number[];
}

/** The sizes of issue 16. */
export const GAN_SIZES: GanSizes = {
  noise: NOISE,
  pixels: PIXELS,
  generator: [256, 512, 1024],
  discriminator: [512, 256, 128],
};

/**
 * The generator: z `[N, 128]` → (Linear + BatchNorm1d + ReLU) for 256, 512,
 * 1024 → Linear 1024→784 → Tanh (children 0 … 10).
 *
 * @param sizes the widths (default issue 16's)
 * @returns the network
 */
export function buildGenerator(sizes: GanSizes = GAN_SIZES): nn.Sequential {
  const widths = [sizes.noise, ...sizes.generator];
  const layers: nn.Layer[] = [];
  for (let i = 0; i + 1 < widths.length; i++) {
    layers.push(
      new nn.Linear(widths[i]!, widths[i + 1]!),
      new nn.BatchNorm1d(widths[i + 1]!),
      new nn.ReLU(),
    );
  }
  layers.push(new nn.Linear(widths[widths.length - 1]!, sizes.pixels), new nn.Tanh());
  return new nn.Sequential(...layers);
}

/** Options of {@link buildDiscriminator}. */
export interface DiscriminatorOptions {
  /**
   * Make the dropout layers (positions 2, 5, 8), default `new nn.Dropout(0.3)`.
   * Tests pass layers that apply masks they were given.
   */
  dropout?: () => nn.Layer;
}

/**
 * The discriminator: 784 → (Linear + LeakyReLU 0.2 + Dropout 0.3) for 512,
 * 256, 128 → Linear 128→1 → Sigmoid (children 0 … 10).
 *
 * @param opts how the dropout layers are made
 * @param sizes the widths (default issue 16's)
 * @returns the network
 */
export function buildDiscriminator(
  opts: DiscriminatorOptions = {},
  sizes: GanSizes = GAN_SIZES,
): nn.Sequential {
  const widths = [sizes.pixels, ...sizes.discriminator];
  const drop = opts.dropout ?? (() => new nn.Dropout(DROPOUT));
  const layers: nn.Layer[] = [];
  for (let i = 0; i + 1 < widths.length; i++) {
    layers.push(new nn.Linear(widths[i]!, widths[i + 1]!), new nn.LeakyReLU(LEAKY_SLOPE), drop());
  }
  layers.push(new nn.Linear(widths[widths.length - 1]!, 1), new nn.Sigmoid());
  return new nn.Sequential(...layers);
}

/** The two networks, registered as `generator` and `discriminator`. */
export class Gan extends nn.Module {
  /** The generator (`generator.*`). */
  readonly generator: nn.Sequential;
  /** The discriminator (`discriminator.*`). */
  readonly discriminator: nn.Sequential;
  /** The widths. */
  readonly sizes: GanSizes;

  /**
   * Build both networks with fresh weights from the global generator (seed with `manualSeed`):
   * the generator first, then the discriminator.
   *
   * @param opts how the discriminator's dropout layers are made
   * @param sizes the widths (default issue 16's)
   */
  constructor(opts: DiscriminatorOptions = {}, sizes: GanSizes = GAN_SIZES) {
    super();
    this.sizes = sizes;
    this.generator = this.registerModule("generator", buildGenerator(sizes));
    this.discriminator = this.registerModule("discriminator", buildDiscriminator(opts, sizes));
  }
}

/** Learning rates of the two Adam optimizers (betas (0.5, 0.999) for both). */
export interface GanRates {
  /** The generator's learning rate (issue 16: 1e-4). */
  lrG: number;
  /** The discriminator's learning rate (issue 16: 3e-4). */
  lrD: number;
}

/** The two optimizers of a GAN. */
export interface GanOptimizers {
  /** Adam over the generator's parameters. */
  g: optim.Adam;
  /** Adam over the discriminator's parameters. */
  d: optim.Adam;
}

/**
 * Adam for each network, betas (0.5, 0.999).
 *
 * @param gan the networks
 * @param rates the learning rates
 * @returns the optimizers
 */
export function ganOptimizers(gan: Gan, rates: GanRates): GanOptimizers {
  const betas: [number, number] = [0.5, 0.999];
  return {
    g: new optim.Adam(gan.generator.parameters(), { lr: rates.lrG, betas }),
    d: new optim.Adam(gan.discriminator.parameters(), { lr: rates.lrD, betas }),
  };
}

/** The random draws of one step (tests pass PyTorch's; otherwise drawn from the global generator). */
export interface StepDraws {
  /** The generator's input `[N, 128]`. */
  z: Tensor;
  /** Unscaled N(0, 1) noise `[N, 784]` for D(real), D(fake) in D's step, D(fake) in G's step. */
  noise: [Tensor, Tensor, Tensor];
}

/** The metrics of one step, 0-d tensors (batch means). */
export interface StepMetrics {
  /** The discriminator's loss: BCE(D(real), 0.9) + BCE(D(fake), 0.1). */
  lossD: Tensor;
  /** The generator's loss: BCE(D(fake), 1). */
  lossG: Tensor;
  /** Mean D(real + noise) in the discriminator's step. */
  dReal: Tensor;
  /** Mean D(fake + noise) in the discriminator's step. */
  dFake: Tensor;
}

/**
 * One GAN step on a batch of real digits: one discriminator update on the
 * real batch and a detached generated batch, then one generator update
 * through the discriminator (whose parameters get gradients but are not
 * stepped, and are zeroed before its next update). Both networks must be in
 * training mode. Call inside `tidy`; the returned metrics survive it.
 *
 * @param gan the networks
 * @param opt their optimizers
 * @param real real digits `[N, 784]` in [-1, 1]
 * @param draws z and the input noise (default: drawn now, z first)
 * @returns the losses and mean discriminator outputs
 */
export function ganStep(
  gan: Gan,
  opt: GanOptimizers,
  real: Tensor,
  draws?: StepDraws,
): StepMetrics {
  const [b, pixels] = real.shape as [number, number];
  const z = draws?.z ?? randn([b, gan.sizes.noise]);
  const fake = gan.generator.forward(z);
  const noise = (k: number): Tensor => draws?.noise[k] ?? randn([b, pixels]);
  const noisy = (x: Tensor, k: number): Tensor => x.add(noise(k).mul(INPUT_NOISE));
  const target = (v: number): Tensor => full([b, 1], v);
  const d = gan.discriminator;

  opt.d.zeroGrad();
  const pReal = d.forward(noisy(real, 0));
  const pFake = d.forward(noisy(fake.detach(), 1));
  const lossD = nn.bceLoss(pReal, target(REAL_TARGET)).add(
    nn.bceLoss(pFake, target(FAKE_TARGET)),
  );
  lossD.backward();
  opt.d.step();

  opt.g.zeroGrad();
  const lossG = nn.bceLoss(d.forward(noisy(fake, 2)), target(1));
  lossG.backward();
  opt.g.step();
  return noGrad(() => ({
    lossD: lossD.detach(),
    lossG: lossG.detach(),
    dReal: pReal.mean(),
    dFake: pFake.mean(),
  }));
}

/**
 * z vectors from their own seed, leaving the global generator where it was
 * (so that drawing them changes nothing in a training run).
 *
 * @param n how many
 * @param seed the seed
 * @returns `[n, 128]` standard normal values on the host
 */
export async function fixedNoise(n: number, seed: number): Promise<Float32Array> {
  const saved = getGeneratorState();
  manualSeed(seed);
  const z = randn([n, NOISE]);
  setGeneratorState(saved);
  const out = Float32Array.from(await z.data());
  z.dispose();
  return out;
}

/**
 * Digits from the generator in evaluation mode (BatchNorm's running
 * statistics, as PyTorch's `eval()`), mapped from [-1, 1] to [0, 1].
 *
 * @param gan the networks (the generator is left in the mode it was in)
 * @param z `n × noise` values
 * @param n how many digits
 * @param batch digits per forward pass (default 1000)
 * @returns `n × pixels` values in [0, 1]
 */
export async function generateDigits(
  gan: Gan,
  z: Float32Array,
  n: number,
  batch = 1000,
): Promise<Float32Array> {
  const { generator, sizes } = gan;
  const wasTraining = generator.training;
  generator.eval();
  const out = new Float32Array(n * sizes.pixels);
  try {
    for (let s = 0; s < n; s += batch) {
      const b = Math.min(batch, n - s);
      const y = tidy(() =>
        noGrad(() =>
          generator.forward(tensor(z.subarray(s * sizes.noise, (s + b) * sizes.noise), [
            b,
            sizes.noise,
          ])).add(1).mul(0.5)
        )
      );
      out.set(await y.data(), s * sizes.pixels);
      y.dispose();
    }
  } finally {
    generator.train(wasTraining);
  }
  return out;
}
