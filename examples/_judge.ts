/**
 * The judge: a small CNN digit classifier (PyTorch's classic MNIST example
 * `Net`) that other programs use to say which digit an image shows and how
 * sure it is, and to compare sets of images by its 128 features (Inception
 * Score, Fréchet distance).
 *
 * `conv1` Conv2d(1→32, 3×3) + ReLU → `conv2` Conv2d(32→64, 3×3) + ReLU →
 * MaxPool 2×2 → Dropout(0.25) → flatten 9216 → `fc1` Linear(9216→128) + ReLU →
 * Dropout(0.5) → `fc2` Linear(128→10). State-dict names `conv1.weight`,
 * `conv1.bias`, `conv2.weight`, `conv2.bias`, `fc1.weight`, `fc1.bias`,
 * `fc2.weight`, `fc2.bias`: PyTorch's `Net` loads a checkpoint strictly
 * (fixtures/check_judge.py).
 *
 * The trained weights are cached in {@link JUDGE_PATH}; `deno task judge`
 * (examples/judge.ts) writes them there, and {@link obtainJudge} trains them
 * with that program's defaults when the file is missing.
 *
 * @example
 * ```ts ignore
 * const judge = await obtainJudge({});
 * const { probs, features } = await judgeImages(judge, images, n);
 * ```
 *
 * @module
 */
import { basename, dirname, join } from "node:path";
import { data, nn, noGrad, type Tensor, tensor, tidy } from "../mod.ts";
import { defaultBackendName } from "../tensor/engine.ts";
import { checkFinite, readSafetensorsFile } from "./_harness.ts";
import { formatDuration, Stopwatch } from "./_cli.ts";

/** Pixels of one input image (28×28). */
export const JUDGE_PIXELS = 784;
/** Classes (digits 0–9). */
export const JUDGE_CLASSES = 10;
/** Length of the feature vector {@link Judge.features} gives (fc1 after its ReLU). */
export const JUDGE_FEATURES = 128;
/** Where the trained judge is cached (the judge program's default `--out` + model file). */
export const JUDGE_PATH = "out/judge/model.safetensors";

/** Dropout masks fed in instead of drawn (for tests against PyTorch): 1 keeps, 0 drops. */
export interface JudgeMasks {
  /** Mask of the pooled maps `[N, 64, 12, 12]` (p = 0.25). */
  drop1: Tensor;
  /** Mask of fc1's output `[N, 128]` (p = 0.5). */
  drop2: Tensor;
}

/**
 * The CNN classifier of MNIST digits (PyTorch's MNIST example `Net`).
 * Inputs are `[N, 1, 28, 28]` with pixels in [0, 1].
 */
export class Judge extends nn.Module {
  /** Conv2d(1→32, 3×3). */
  readonly conv1: nn.Conv2d;
  /** Conv2d(32→64, 3×3). */
  readonly conv2: nn.Conv2d;
  /** Linear(9216→128). */
  readonly fc1: nn.Linear;
  /** Linear(128→10). */
  readonly fc2: nn.Linear;
  /** MaxPool 2×2. */
  readonly pool: nn.MaxPool2d;
  /** Dropout(0.25) after the pooling. */
  readonly dropout1: nn.Dropout;
  /** Dropout(0.5) after fc1. */
  readonly dropout2: nn.Dropout;

  /**
   * Create the network with PyTorch's default initialisation (from the seeded generator).
   *
   * @param opts backend of the parameters (default: the one `init` chose)
   */
  constructor(opts: { backend?: nn.Conv2dOptions["backend"] } = {}) {
    super();
    const o = { backend: opts.backend };
    this.conv1 = this.registerModule("conv1", new nn.Conv2d(1, 32, 3, o));
    this.conv2 = this.registerModule("conv2", new nn.Conv2d(32, 64, 3, o));
    this.pool = this.registerModule("pool", new nn.MaxPool2d(2));
    this.dropout1 = this.registerModule("dropout1", new nn.Dropout(0.25));
    this.fc1 = this.registerModule("fc1", new nn.Linear(9216, 128, o));
    this.dropout2 = this.registerModule("dropout2", new nn.Dropout(0.5));
    this.fc2 = this.registerModule("fc2", new nn.Linear(128, 10, o));
  }

  /**
   * The logits. In training mode dropout is applied (masks drawn from the
   * seeded generator, or the given ones); in evaluation mode it is not.
   *
   * @param x images `[N, 1, 28, 28]`, pixels in [0, 1]
   * @param masks dropout masks to use instead of drawing them (training mode only)
   * @returns logits `[N, 10]`
   */
  forward(x: Tensor, masks?: JudgeMasks): Tensor {
    return tidy(() => this.fc2.forward(this.#hidden(x, this.training, masks)));
  }

  /**
   * The 128 features: fc1's output after its ReLU, in evaluation mode (no
   * dropout, whatever the module's mode).
   *
   * @param x images `[N, 1, 28, 28]`, pixels in [0, 1]
   * @returns `[N, 128]`
   */
  features(x: Tensor): Tensor {
    return tidy(() => this.#hidden(x, false));
  }

  /** Logits and features of one eval-mode pass. */
  logitsAndFeatures(x: Tensor): { logits: Tensor; features: Tensor } {
    const features = this.features(x);
    return { logits: this.fc2.forward(features), features };
  }

  #hidden(x: Tensor, training: boolean, masks?: JudgeMasks): Tensor {
    const n = x.shape[0]!;
    if (x.rank !== 4 || x.shape[1] !== 1 || x.shape[2] !== 28 || x.shape[3] !== 28) {
      throw new Error(
        `Cannot judge images of shape [${x.shape.join(", ")}]: expected [N, 1, 28, 28]`,
      );
    }
    const drop = (t: Tensor, d: nn.Dropout, mask?: Tensor) =>
      !training ? t : mask ? t.mul(mask).mul(1 / (1 - d.p)) : nn.dropout(t, d.p, true);
    const a = this.conv1.forward(x).relu();
    const b = this.conv2.forward(a).relu();
    const p = drop(this.pool.forward(b), this.dropout1, masks?.drop1);
    const h = this.fc1.forward(p.reshape([n, 9216])).relu();
    return drop(h, this.dropout2, masks?.drop2);
  }

  /** `Judge(conv 32-64, fc 9216-128-10)`. */
  override toString(): string {
    return "Judge(conv 32-64, fc 9216-128-10)";
  }
}

/** Options of {@link obtainJudge}. */
export interface ObtainJudgeOptions {
  /** The checkpoint (default {@link JUDGE_PATH}). */
  path?: string;
  /** Train a new judge (and overwrite `path`) even when the file exists. */
  retrain?: boolean;
  /** Where the notes go (default `console.error`). */
  log?: (line: string) => void;
  /** Extra flags of examples/judge.ts when it trains (e.g. `["--quick"]` in a test). */
  trainArgs?: string[];
}

/**
 * Load a judge's weights from a checkpoint, checking every name, shape and
 * value first.
 *
 * @param path the safetensors file
 * @returns the judge (evaluation mode) on the default backend
 * @throws Error naming the file and what is wrong with it
 */
export async function loadJudge(path: string): Promise<Judge> {
  const file = await readSafetensorsFile(
    path,
    "the judge",
    " (train one with: deno task judge)",
  );
  checkFinite(file.tensors, path);
  const judge = new Judge();
  try {
    judge.loadStateDict(file.tensors);
  } catch (e) {
    judge.dispose();
    const msg = e instanceof Error ? e.message : String(e);
    throw new Error(`Cannot use the judge '${path}': ${msg}`);
  }
  return judge.eval();
}

/**
 * The trained judge: loaded from `path` (default {@link JUDGE_PATH}) when
 * that file exists (validated: names, shapes, finite values), otherwise
 * trained with the defaults of the judge program (examples/judge.ts, the same
 * as `deno task judge`, whose output folder `out/judge/` is this cache) and
 * written there, each file through a temporary file and a rename. Training
 * prints that it does so and how long it took (about half an hour on two CPU
 * cores).
 *
 * @param opts path, retrain, log, trainArgs
 * @returns the judge in evaluation mode, on the default backend
 * @throws Error when the file exists but is not a judge's checkpoint
 */
export async function obtainJudge(opts: ObtainJudgeOptions = {}): Promise<Judge> {
  const path = opts.path ?? JUDGE_PATH;
  const log = opts.log ?? ((line: string) => console.error(line));
  let exists = false;
  try {
    exists = (await Deno.stat(path)).isFile;
  } catch (e) {
    if (!(e instanceof Deno.errors.NotFound)) throw e;
  }
  if (exists && !opts.retrain) return await loadJudge(path);
  const out = dirname(path);
  log(
    `judge: ${exists ? "retraining" : `no judge at '${path}'; training one`} with the defaults ` +
      `of examples/judge.ts into ${out}/ (4 epochs: 30 to 60 minutes on 2 CPU cores, as busy as they are)`,
  );
  const watch = new Stopwatch();
  const { main } = await import("./judge.ts");
  await main(["--out", out, "--backend", defaultBackendName(), ...(opts.trainArgs ?? [])]);
  const trained = join(out, "model.safetensors");
  if (basename(path) !== "model.safetensors") {
    await data.writeFileAtomic(path, await Deno.readFile(trained));
  }
  log(`judge: trained in ${formatDuration(watch.seconds())}; wrote ${path}`);
  return await loadJudge(path);
}

/** What {@link judgeImages} returns. */
export interface JudgedImages {
  /** Softmax probabilities, `n × 10` row-major. */
  probs: Float32Array;
  /** The 128 features (fc1 after ReLU), `n × 128` row-major. */
  features: Float32Array;
}

/**
 * Class probabilities and features of images, `batch` at a time, in
 * evaluation mode (the judge's mode is restored afterwards).
 *
 * @param judge the judge
 * @param images `n × 784` pixels in [0, 1], row-major 28×28 images
 * @param n how many images
 * @param opts batch size (default 500)
 * @returns probabilities `n × 10` and features `n × 128`
 */
export async function judgeImages(
  judge: Judge,
  images: Float32Array,
  n: number,
  opts: { batch?: number } = {},
): Promise<JudgedImages> {
  if (!Number.isSafeInteger(n) || n < 0 || images.length < n * JUDGE_PIXELS) {
    throw new Error(
      `Cannot judge ${n} images from ${images.length} values: expected n × 784 values`,
    );
  }
  const batch = opts.batch ?? 500;
  if (!Number.isSafeInteger(batch) || batch < 1) {
    throw new Error(`Cannot judge images in batches of ${batch}: expected a positive integer`);
  }
  const probs = new Float32Array(n * JUDGE_CLASSES);
  const features = new Float32Array(n * JUDGE_FEATURES);
  const wasTraining = judge.training;
  judge.eval();
  try {
    for (let start = 0; start < n; start += batch) {
      const b = Math.min(batch, n - start);
      const [p, f] = tidy(() =>
        noGrad(() => {
          const x = tensor(
            images.subarray(start * JUDGE_PIXELS, (start + b) * JUDGE_PIXELS),
            [b, 1, 28, 28],
          );
          const { logits, features } = judge.logitsAndFeatures(x);
          return [logits.softmax(-1), features];
        })
      );
      probs.set(await p.data(), start * JUDGE_CLASSES);
      features.set(await f.data(), start * JUDGE_FEATURES);
      p.dispose();
      f.dispose();
    }
  } finally {
    judge.train(wasTraining);
  }
  return { probs, features };
}
