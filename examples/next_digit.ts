#!/usr/bin/env -S deno run -A
/**
 * Predict the next digit's image from four, comparing SGD, RMSprop and Adam.
 *
 * Shown images of the digits d, d+1, d+2, d+3 (d uniform over 0..5, each
 * image drawn at random among the training images of its digit), an
 * `LSTM(784 → 128)` with a `Linear(128 → 784)` and a sigmoid on its last step
 * draws an image of d+4 (MSE against a random training image of d+4). Every
 * epoch draws fresh sequences from a per-epoch seed; the test set is a fixed
 * set of sequences built the same way from the test images. Each optimizer
 * starts from the same initial weights (drawn once from the seed) and sees the
 * same sequences in the same order.
 *
 * What the numbers mean: given d the target does not depend on the input
 * images, so the best possible predictor is the mean training image of digit
 * d+4; its test MSE is the floor, printed beside each optimizer's. A CNN
 * digit classifier (the judge, `examples/_judge.ts`) labels every predicted
 * image; the fraction labelled d+4 is `classifierAccuracy`. Fed its own
 * prediction as the newest input, the model goes on drawing 5, 6, … (the chain).
 *
 * Files in `--out`: per optimizer `sgd/`, `rmsprop/`, `adam/` with
 * `model.safetensors` (PyTorch names `lstm.weight_ih_l0` … `fc.bias`),
 * `metrics.jsonl`, `resume.safetensors`, `test_metrics.json`,
 * `predictions.png`; then `chain.png`, `comparison.svg` and `summary.json`.
 *
 * @example
 * ```sh
 * deno run -A examples/next_digit.ts --quick
 * deno run -A examples/next_digit.ts --optimizers rmsprop,adam --epochs 3 --out out/two
 * deno run -A examples/next_digit.ts --resume          # continue, or rescore a finished run
 * ```
 *
 * @module
 */
import { existsSync } from "node:fs";
import { join } from "node:path";
import { data, init, manualSeed, nn, noGrad, optim, type Tensor, tensor, tidy } from "../mod.ts";
import { fmt, kebab, parseFlags, runFlags, runMain, UsageError } from "./_cli.ts";
import { hostTensors, RESUME_FILE, Run } from "./_harness.ts";
import { type Judge, JUDGE_PATH, judgeImages, obtainJudge } from "./_judge.ts";

/** Pixels of an image (28×28), flattened. */
export const PIXELS = 784;
/** Hidden units of the LSTM. */
export const HIDDEN = 128;
/** Images shown before the one to predict. */
export const INPUTS = 4;
/** Images per sequence: the inputs and the target. */
export const SEQ = INPUTS + 1;
/** The optimizers compared, in their default order. */
export const OPTIMIZERS = ["sgd", "rmsprop", "adam"] as const;
/** One of {@link OPTIMIZERS}. */
export type OptimizerName = typeof OPTIMIZERS[number];

/** The flags of the program (camelCase here, kebab-case on the command line). */
export const FLAGS = {
  optimizers: {
    type: "string",
    default: OPTIMIZERS.join(","),
    placeholder: "LIST",
    help: "optimizers to compare, comma-separated, trained in this order",
  },
  epochs: {
    type: "integer",
    min: 1,
    help: "epochs per optimizer (default 5, 2 with --quick; --resume: the saved plan)",
  },
  batch: { type: "integer", min: 1, default: 100, help: "sequences per training step" },
  trainSequences: {
    type: "integer",
    min: 1,
    max: 1_000_000,
    help: "fresh training sequences per epoch (default 20000, 400 with --quick)",
  },
  testSequences: {
    type: "integer",
    min: 1,
    max: 100_000,
    help: "fixed test sequences (default 5000, 60 with --quick)",
  },
  sgdLr: { type: "number", positive: true, default: 0.1, help: "SGD learning rate" },
  rmspropLr: { type: "number", positive: true, default: 1e-3, help: "RMSprop learning rate" },
  adamLr: { type: "number", positive: true, default: 1e-3, help: "Adam learning rate" },
  ...runFlags({
    seed: 1,
    seedHelp: "initial weights, sequences",
    out: "out/next_digit",
    resumeHelp: "continue the runs saved in --out; a finished run is evaluated and reported again",
  }),
  judge: {
    type: "string",
    default: JUDGE_PATH as string,
    placeholder: "FILE",
    help:
      "the CNN judge's weights (the default is trained and cached when missing); 'none': no judge",
  },
  judgeSequences: {
    type: "integer",
    min: 1,
    max: 100_000,
    default: 1000,
    help: "test sequences the judge labels after each epoch (all of them at the end)",
  },
  quick: {
    type: "boolean",
    help: "small end-to-end run: 400 sequences per epoch, 60 test sequences, 2 epochs",
  },
  logEvery: {
    type: "integer",
    min: 1,
    default: 10,
    help: "read the training loss back every N steps (progress updates)",
  },
  evalBatch: { type: "integer", min: 1, default: 1000, help: "test sequences evaluated at once" },
} as const;

const HELP = {
  program: "examples/next_digit.ts",
  summary:
    "Shown images of the digits d..d+3, an LSTM(784->128) + Linear(128->784) + sigmoid draws an\n" +
    "image of d+4 (MSE). SGD, RMSprop and Adam are trained from the same initial weights on the\n" +
    "same sequences and compared with the floor (the mean image of d+4) and a CNN judge.",
  usage: [
    "deno run -A examples/next_digit.ts [flags]",
    "deno run -A examples/next_digit.ts --resume [--out DIR] [--judge FILE]",
  ],
  epilog: "Writes to --out: sgd/, rmsprop/, adam/ (model.safetensors, metrics.jsonl,\n" +
    "resume.safetensors, test_metrics.json, predictions.png), chain.png (one row per optimizer,\n" +
    "in --optimizers order), comparison.svg, summary.json.\n" +
    "Exit codes: 0 ok, 1 runtime error (data, checkpoint, judge), 2 usage error.",
};

type Values = ReturnType<typeof parseFlags<typeof FLAGS>>["values"];

/** The settings of one optimizer's run, stored in its resume state. */
interface RunConfig {
  optimizer: OptimizerName;
  lr: number;
  batch: number;
  seed: number;
  trainSequences: number;
  testSequences: number;
}

/** Settings that the runs of one comparison share (their data and initial weights). */
const SHARED = ["seed", "trainSequences", "testSequences"] as const;

// ---- the model ------------------------------------------------------------------

/**
 * `LSTM(784 → 128)`, `Linear(128 → 784)` on the last step, then a sigmoid.
 * State-dict names `lstm.weight_ih_l0` … `fc.bias`, so a checkpoint loads into
 * PyTorch's `lstm = nn.LSTM(784, 128, batch_first=True)`, `fc = nn.Linear(128, 784)`.
 */
export class NextDigitModel extends nn.Module {
  /** The recurrent layer, registered as `lstm`. */
  readonly lstm: nn.LSTM;
  /** The output layer, registered as `fc`. */
  readonly fc: nn.Linear;

  /** Build the layers with fresh weights from the global generator (seed with `manualSeed`). */
  constructor() {
    super();
    this.lstm = this.registerModule("lstm", new nn.LSTM(PIXELS, HIDDEN));
    this.fc = this.registerModule("fc", new nn.Linear(HIDDEN, PIXELS));
  }

  /**
   * Predict the next image.
   *
   * @param x images `[batch, steps, 784]` in [0, 1]
   * @returns the predicted next image `[batch, 784]` in (0, 1)
   */
  forward(x: Tensor): Tensor {
    const b = x.shape[0]!;
    const { state } = this.lstm.forward(x);
    return this.fc.forward(state.h.reshape([b, HIDDEN])).sigmoid();
  }
}

/** The architecture as safetensors metadata. */
function modelMetadata(cfg: RunConfig): Record<string, string> {
  return {
    format: "wgrad-next-digit",
    input_size: String(PIXELS),
    hidden: String(HIDDEN),
    output: "sigmoid(fc(h_last))",
    optimizer: cfg.optimizer,
    lr: String(cfg.lr),
    seed: String(cfg.seed),
  };
}

/** SHA-256 of bytes, as hex. */
async function sha256(bytes: Uint8Array): Promise<string> {
  const d = new Uint8Array(await crypto.subtle.digest("SHA-256", bytes as Uint8Array<ArrayBuffer>));
  return [...d].map((x) => x.toString(16).padStart(2, "0")).join("");
}

/**
 * SHA-256 of a model's weights as a safetensors file (no metadata): equal
 * hashes mean equal weights.
 *
 * @param model the model
 * @returns the hex digest
 */
export async function weightsSha256(model: nn.Module): Promise<string> {
  return sha256(nn.encodeSafetensors(await hostTensors(model.stateDict())));
}

function makeOptimizer(name: OptimizerName, params: Tensor[], lr: number): optim.Optimizer {
  switch (name) {
    case "sgd":
      return new optim.SGD(params, { lr });
    case "rmsprop":
      return new optim.RMSprop(params, { lr });
    case "adam":
      return new optim.Adam(params, { lr });
  }
}

// ---- data -----------------------------------------------------------------------

/**
 * Copy sequences `start .. start+b` to the host as inputs `[b, 4, 784]` and
 * targets `[b, 784]` in [0, 1].
 */
function gatherSequences(
  set: data.MnistSet,
  seqs: data.DigitSequences,
  order: ArrayLike<number>,
  x: Float32Array,
  y: Float32Array,
): void {
  for (let i = 0; i < order.length; i++) {
    const k = order[i]!;
    for (let j = 0; j < SEQ; j++) {
      const src = seqs.images[k * SEQ + j]! * PIXELS;
      const dst = j < INPUTS ? x : y;
      const o = j < INPUTS ? (i * INPUTS + j) * PIXELS : i * PIXELS;
      for (let p = 0; p < PIXELS; p++) dst[o + p] = set.images[src + p]! / 255;
    }
  }
}

/** Mean image of each digit, `[10, 784]` in [0, 1]. */
export function meanImages(set: data.MnistSet): Float32Array {
  const sums = new Float64Array(10 * PIXELS), counts = new Float64Array(10);
  for (let i = 0; i < set.count; i++) {
    const d = set.labels[i]!;
    counts[d]!++;
    for (let p = 0; p < PIXELS; p++) sums[d * PIXELS + p] += set.images[i * PIXELS + p]! / 255;
  }
  return Float32Array.from(sums, (s, i) => s / Math.max(1, counts[Math.floor(i / PIXELS)]!));
}

/** Mean squared error per pixel of predictions `[n, 784]` against the sequences' targets. */
function targetMse(preds: Float32Array, set: data.MnistSet, seqs: data.DigitSequences): number {
  let sum = 0;
  for (let k = 0; k < seqs.count; k++) {
    const t = seqs.images[k * SEQ + INPUTS]! * PIXELS;
    for (let p = 0; p < PIXELS; p++) {
      const e = preds[k * PIXELS + p]! - set.images[t + p]! / 255;
      sum += e * e;
    }
  }
  return sum / (seqs.count * PIXELS);
}

/** The first `n` of a set of sequences (views). */
function firstSequences(seqs: data.DigitSequences, n: number): data.DigitSequences {
  return {
    count: n,
    length: seqs.length,
    first: seqs.first.subarray(0, n),
    images: seqs.images.subarray(0, n * seqs.length),
  };
}

/** The floor predictor: the mean image of digit d+4 for every sequence. */
function floorPredictions(means: Float32Array, seqs: data.DigitSequences): Float32Array {
  const out = new Float32Array(seqs.count * PIXELS);
  for (let k = 0; k < seqs.count; k++) {
    const d = seqs.first[k]! + INPUTS;
    out.set(means.subarray(d * PIXELS, (d + 1) * PIXELS), k * PIXELS);
  }
  return out;
}

function checkSet(set: data.MnistSet, what: string): data.MnistSet {
  if (set.rows !== 28 || set.cols !== 28) {
    throw new Error(`Cannot use the MNIST ${what} set: its images are ${set.rows}×${set.cols}`);
  }
  return set;
}

// ---- evaluation -----------------------------------------------------------------

/** Predictions `[n, 784]` of the model for sequences, `batch` at a time. */
async function predict(
  model: NextDigitModel,
  set: data.MnistSet,
  seqs: data.DigitSequences,
  batch: number,
): Promise<Float32Array> {
  const n = seqs.count;
  const out = new Float32Array(n * PIXELS);
  const x = new Float32Array(Math.min(batch, n) * INPUTS * PIXELS);
  const y = new Float32Array(Math.min(batch, n) * PIXELS);
  model.eval();
  for (let start = 0; start < n; start += batch) {
    const b = Math.min(batch, n - start);
    const order = Array.from({ length: b }, (_, i) => start + i);
    gatherSequences(set, seqs, order, x, y);
    const p = tidy(() =>
      noGrad(() => model.forward(tensor(x.subarray(0, b * INPUTS * PIXELS), [b, INPUTS, PIXELS])))
    );
    out.set(await p.data(), start * PIXELS);
    p.dispose();
  }
  model.train();
  return out;
}

/** The judge's label (argmax) of each image. */
async function judgeLabels(judge: Judge, images: Float32Array, n: number): Promise<Uint8Array> {
  const { probs } = await judgeImages(judge, images, n);
  const out = new Uint8Array(n);
  for (let i = 0; i < n; i++) {
    let best = 0;
    for (let c = 1; c < 10; c++) if (probs[i * 10 + c]! > probs[i * 10 + best]!) best = c;
    out[i] = best;
  }
  return out;
}

/** The fraction of predictions that the judge labels as d+4. */
async function recognised(
  judge: Judge,
  preds: Float32Array,
  seqs: data.DigitSequences,
): Promise<number> {
  const labels = await judgeLabels(judge, preds, seqs.count);
  let hits = 0;
  for (let k = 0; k < seqs.count; k++) if (labels[k] === seqs.first[k]! + INPUTS) hits++;
  return hits / seqs.count;
}

// ---- pictures -------------------------------------------------------------------

/** Geometry of the pictures: upscale and padding. */
export const PICTURE = { scale: 2, pad: 4 } as const;

/** A grid of 28×28 images, `cols` per row, the cells where `tint` is true tinted orange. */
function gridPng(images: Float32Array, cols: number, tint: (cell: number) => boolean): Uint8Array {
  const n = images.length / PIXELS;
  const mask = new Uint8Array(n * PIXELS);
  for (let k = 0; k < n; k++) if (tint(k)) mask.fill(1, k * PIXELS, (k + 1) * PIXELS);
  return data.imageGridPng({
    images,
    n,
    h: 28,
    w: 28,
    cols,
    pad: PICTURE.pad,
    scale: PICTURE.scale,
    mask,
    maskColor: [255, 200, 90],
  });
}

/**
 * The sequences of `predictions.png`: for d = 0..5, the d-th test image of
 * each of the digits d..d+4 (so that the rows show different images).
 *
 * @param labels the test labels
 */
export function pictureSequences(labels: Uint8Array): data.DigitSequences {
  const byDigit = data.indicesByDigit(labels);
  const rows = 10 - INPUTS;
  const images = new Int32Array(rows * SEQ);
  for (let d = 0; d < rows; d++) {
    for (let j = 0; j < SEQ; j++) {
      const ix = byDigit[d + j]!;
      if (ix.length === 0) throw new Error(`Cannot draw the pictures: no test image of ${d + j}`);
      images[d * SEQ + j] = ix[d % ix.length]!;
    }
  }
  return {
    count: rows,
    length: SEQ,
    first: Uint8Array.from({ length: rows }, (_, d) => d),
    images,
  };
}

/** Six rows `d, d+1, d+2, d+3 → prediction | a true d+4`, the prediction tinted. */
function predictionsPicture(
  set: data.MnistSet,
  seqs: data.DigitSequences,
  preds: Float32Array,
): Uint8Array {
  const cells = new Float32Array(seqs.count * (SEQ + 1) * PIXELS);
  for (let k = 0; k < seqs.count; k++) {
    for (let j = 0; j < SEQ + 1; j++) {
      const o = (k * (SEQ + 1) + j) * PIXELS;
      if (j === INPUTS) cells.set(preds.subarray(k * PIXELS, (k + 1) * PIXELS), o);
      else {
        const src = seqs.images[k * SEQ + (j < INPUTS ? j : INPUTS)]! * PIXELS;
        for (let p = 0; p < PIXELS; p++) cells[o + p] = set.images[src + p]! / 255;
      }
    }
  }
  return gridPng(cells, SEQ + 1, (c) => c % (SEQ + 1) === INPUTS);
}

/**
 * The chain: starting from real images of 0, 1, 2, 3, each prediction is fed
 * back as the newest of the four inputs, drawing 4, 5, …, 9.
 *
 * @param model the model
 * @param start four images `[4, 784]`
 * @returns the ten images of the row (four given, six predicted), `[10, 784]`
 */
async function chain(model: NextDigitModel, start: Float32Array): Promise<Float32Array> {
  const steps = 10 - INPUTS;
  const row = new Float32Array((INPUTS + steps) * PIXELS);
  row.set(start.subarray(0, INPUTS * PIXELS));
  model.eval();
  for (let s = 0; s < steps; s++) {
    const window = row.subarray(s * PIXELS, (s + INPUTS) * PIXELS);
    const p = tidy(() => noGrad(() => model.forward(tensor(window, [1, INPUTS, PIXELS]))));
    row.set(await p.data(), (s + INPUTS) * PIXELS);
    p.dispose();
  }
  model.train();
  return row;
}

/** Place SVG documents side by side in one (nested `<svg>` elements). */
function sideBySide(svgs: string[], gap = 16): string {
  let x = 0, height = 0;
  const parts: string[] = [];
  for (const svg of svgs) {
    const w = Number(/^<svg[^>]*\swidth="([\d.]+)"/.exec(svg)?.[1]);
    const h = Number(/^<svg[^>]*\sheight="([\d.]+)"/.exec(svg)?.[1]);
    if (!(w > 0 && h > 0)) throw new Error("Cannot compose the charts: an SVG has no size");
    parts.push(svg.replace(/^<svg/, `<svg x="${x}" y="0"`));
    x += w + gap;
    height = Math.max(height, h);
  }
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${x - gap}" height="${height}" ` +
    `viewBox="0 0 ${x - gap} ${height}"><rect width="100%" height="100%" fill="white"/>` +
    `${parts.join("")}</svg>\n`;
}

// ---- the comparison -------------------------------------------------------------

/** What one optimizer's run reports. */
interface Result {
  optimizer: OptimizerName;
  lr: number;
  epochs: number;
  trainLoss: number;
  testMse: number;
  classifierAccuracy: number | null;
  /** Mean training seconds per epoch (the steps only, no evaluation). */
  secondsPerEpoch: number;
  stepsPerEpoch: number;
  /** Training sequences per second (the metrics field imagesPerSecond counts sequences). */
  sequencesPerSecond: number;
  /** Hash of the weights the run started from. */
  initialWeightsSha256: string;
  /** The judge's labels of the six chained predictions (4..9 would be perfect). */
  chainLabels: number[] | null;
  /** Per epoch: test MSE and classifier accuracy. */
  curve: { epoch: number; testMse: number; classifierAccuracy: number | null }[];
}

/** Everything the runs share: data, the initial weights, the judge. */
interface Context {
  v: Values;
  explicit: Set<string>;
  train: data.MnistSet;
  test: data.MnistSet;
  testSeqs: data.DigitSequences;
  pictureSeqs: data.DigitSequences;
  initial: Record<string, nn.SafetensorsTensor>;
  judge: Judge | null;
  backend: string;
}

/** The program as `--resume` hints name it. */
const COMMAND = "deno run -A examples/next_digit.ts";

/** Parse `--optimizers`. */
export function parseOptimizers(list: string): OptimizerName[] {
  const names = list.split(",").map((s) => s.trim());
  const out: OptimizerName[] = [];
  for (const n of names) {
    if (!(OPTIMIZERS as readonly string[]).includes(n)) {
      throw new UsageError(
        `invalid value for --optimizers: '${n === "" ? list : n}' (expected a comma-separated ` +
          `list of ${OPTIMIZERS.join(", ")})`,
      );
    }
    if (out.includes(n as OptimizerName)) {
      throw new UsageError(`invalid value for --optimizers: '${n}' is named twice`);
    }
    out.push(n as OptimizerName);
  }
  return out;
}

function lrOf(v: Values, name: OptimizerName): number {
  return name === "sgd" ? v.sgdLr : name === "rmsprop" ? v.rmspropLr : v.adamLr;
}

/** Open one optimizer's run (its own folder, resume state and Ctrl-C handling). */
async function openRun(
  v: Values,
  explicit: Set<string>,
  name: OptimizerName,
  shared: Pick<RunConfig, "batch" | typeof SHARED[number]>,
  resume: boolean,
): Promise<Run<RunConfig & Record<string, unknown>>> {
  const given = new Set([...explicit].filter((k) => (SHARED as readonly string[]).includes(k)));
  for (const k of ["batch", "epochs"]) if (explicit.has(k)) given.add(k);
  if (explicit.has(`${name}Lr`)) given.add("lr");
  const run = await Run.open({
    program: `next_digit/${name}`,
    command: COMMAND,
    out: join(v.out, name),
    resume,
    config: { optimizer: name, lr: lrOf(v, name), ...shared } as
      & RunConfig
      & Record<string, unknown>,
    explicit: given,
    flags: {},
    fixed: ["optimizer", ...SHARED],
    epochs: v.epochs ?? (v.quick ? 2 : 5),
    describe: (c) => SHARED.map((k) => `--${kebab(k)} ${c[k]}`).join(" "),
  });
  return run;
}

/** Train (or resume) one optimizer, evaluate it, write its pictures. */
async function trainOne(
  ctx: Context,
  run: Run<RunConfig & Record<string, unknown>>,
): Promise<{ result: Result; chainRow: Float32Array }> {
  const cfg = run.config;
  const { train, test, testSeqs, judge, v } = ctx;
  const model = new NextDigitModel();
  model.loadStateDict(ctx.initial);
  const initialWeightsSha256 = await weightsSha256(model);
  const opt = makeOptimizer(cfg.optimizer, model.parameters(), cfg.lr);
  if (!run.resumed) {
    console.error(
      `${run.program}: lr ${cfg.lr}, ${cfg.trainSequences} sequences per epoch, ` +
        `${cfg.testSequences} test sequences, batch ${cfg.batch}, ${run.epochs} epoch` +
        `${run.epochs === 1 ? "" : "s"}`,
    );
  }
  await run.track({
    modules: { "": model },
    optimizers: { [cfg.optimizer]: opt },
    keep: "last",
    metadata: modelMetadata(cfg),
  });
  opt.lr = cfg.lr; // an lr given again on resume wins over the saved one

  let epochSeqs: { epoch: number; seqs: data.DigitSequences } | null = null;
  const x = new Float32Array(cfg.batch * INPUTS * PIXELS);
  const y = new Float32Array(cfg.batch * PIXELS);
  // The last evaluation, reused at the end when it judged every test sequence.
  let last: { epoch: number; judged: number; m: Record<string, number> } | null = null;
  const evaluate = async (epoch: number, judged: number) => {
    if (last?.epoch === epoch && last.judged === judged) return last.m;
    const preds = await predict(model, test, testSeqs, v.evalBatch);
    const m: Record<string, number> = { testMse: targetMse(preds, test, testSeqs) };
    if (judge) {
      m.classifierAccuracy = await recognised(judge, preds, firstSequences(testSeqs, judged));
    }
    last = { epoch, judged, m };
    return { ...m };
  };
  model.train();
  await run.fit({
    batches: () => data.batches(cfg.trainSequences, cfg.batch, { shuffle: false }),
    step: (idx, epoch) => {
      if (epochSeqs?.epoch !== epoch) {
        epochSeqs = {
          epoch,
          seqs: data.digitSequences(train.labels, {
            count: cfg.trainSequences,
            length: SEQ,
            seed: cfg.seed,
            stream: epoch,
          }),
        };
      }
      const b = idx.length;
      gatherSequences(train, epochSeqs.seqs, idx, x, y);
      const pred = model.forward(tensor(x.subarray(0, b * INPUTS * PIXELS), [b, INPUTS, PIXELS]));
      const loss = nn.mseLoss(pred, tensor(y.subarray(0, b * PIXELS), [b, PIXELS]));
      opt.zeroGrad();
      loss.backward();
      opt.step();
      return { trainLoss: loss };
    },
    evaluate: (epoch) => evaluate(epoch, Math.min(v.judgeSequences, testSeqs.count)),
    columns: [
      ["train", "trainLoss"],
      ["test", "testMse"],
      ...(judge ? [["judged d+4", "classifierAccuracy"] as [string, string]] : []),
    ],
    extra: { optimizer: cfg.optimizer, lr: cfg.lr, batch: cfg.batch, backend: ctx.backend },
    logEvery: v.logEvery,
    unit: "seq/s",
  });

  // The final evaluation (again on a resumed finished run: e.g. with another judge).
  const final = await evaluate(run.epoch, testSeqs.count);
  const classifierAccuracy = final.classifierAccuracy ?? null;
  const records = run.records;
  const num = (r: Record<string, unknown>, k: string) => typeof r[k] === "number" ? r[k] : NaN;
  const mean = (k: string) => records.reduce((a, r) => a + num(r, k), 0) / records.length;
  const pics = ctx.pictureSeqs;
  await run.write(
    "predictions.png",
    predictionsPicture(test, pics, await predict(model, test, pics, 100)),
  );
  const start = new Float32Array(INPUTS * PIXELS);
  for (let j = 0; j < INPUTS; j++) {
    const src = pics.images[j]! * PIXELS; // row d = 0 holds test images of 0, 1, 2, 3
    for (let p = 0; p < PIXELS; p++) start[j * PIXELS + p] = test.images[src + p]! / 255;
  }
  const chainRow = await chain(model, start);
  const chainLabels = judge
    ? [...await judgeLabels(judge, chainRow.subarray(INPUTS * PIXELS), 10 - INPUTS)]
    : null;
  const result: Result = {
    optimizer: cfg.optimizer,
    lr: cfg.lr,
    epochs: run.epoch,
    trainLoss: num(records.at(-1)!, "trainLoss"),
    testMse: final.testMse!,
    classifierAccuracy,
    secondsPerEpoch: mean("trainSeconds"),
    stepsPerEpoch: Math.ceil(cfg.trainSequences / cfg.batch),
    sequencesPerSecond: mean("imagesPerSecond"),
    initialWeightsSha256,
    chainLabels,
    curve: records.map((r) => ({
      epoch: r.epoch,
      testMse: num(r, "testMse"),
      classifierAccuracy: typeof r.classifierAccuracy === "number" ? r.classifierAccuracy : null,
    })),
  };
  await run.write(
    "test_metrics.json",
    JSON.stringify({ ...result, curve: undefined, ...cfg, backend: ctx.backend }, null, 2) + "\n",
  );
  run.finish();
  model.dispose();
  opt.dispose();
  return { result, chainRow };
}

/** The judge as summary.json records it. */
async function judgeRecord(path: string): Promise<Record<string, unknown>> {
  const bytes = await Deno.readFile(path);
  const { metadata } = nn.decodeSafetensors(bytes, path);
  return { path, sha256: await sha256(bytes), bytes: bytes.length, metadata };
}

/** Run the comparison. */
async function compare(v: Values, explicit: Set<string>): Promise<void> {
  const names = parseOptimizers(v.optimizers);
  const hasResume = names.map((n) => existsSync(join(v.out, n, RESUME_FILE)));
  let shared: Pick<RunConfig, "batch" | typeof SHARED[number]> = {
    batch: v.batch,
    seed: v.seed,
    trainSequences: v.trainSequences ?? (v.quick ? 400 : 20_000),
    testSequences: v.testSequences ?? (v.quick ? 60 : 5000),
  };
  // Everything that can fail before training is checked before --out is touched: the first
  // run opens (folder, resume state), then the data, the backend and the judge.
  const first = await openRun(
    v,
    explicit,
    names[0]!,
    shared,
    v.resume && (hasResume[0]! || !hasResume.some(Boolean)),
  );
  shared = {
    batch: first.config.batch,
    ...Object.fromEntries(SHARED.map((k) => [k, first.config[k]])),
  } as typeof shared;
  const [train, test] = await Promise.all([
    data.loadMnist({ split: "train", dir: v.data }).then((s) => checkSet(s, "training")),
    data.loadMnist({ split: "test", dir: v.data }).then((s) => checkSet(s, "test")),
  ]);
  const { backend } = await init({ backend: v.backend as "auto" | "webgpu" | "cpu" });
  let judge: Judge | null = null;
  let judgeInfo: Record<string, unknown> | null = null;
  if (v.judge !== "none") {
    judge = await obtainJudge({
      path: v.judge,
      log: (line) => console.error(`next_digit: ${line}`),
    });
    judgeInfo = await judgeRecord(v.judge);
  }
  manualSeed(shared.seed);
  const initModel = new NextDigitModel();
  const initial = await hostTensors(initModel.stateDict());
  initModel.dispose();
  const testSeqs = data.digitSequences(test.labels, {
    count: shared.testSequences,
    length: SEQ,
    seed: shared.seed,
    stream: 0,
  });
  const ctx: Context = {
    v,
    explicit,
    train,
    test,
    testSeqs,
    pictureSeqs: pictureSequences(test.labels),
    initial,
    judge,
    backend,
  };

  const means = meanImages(train);
  const floorPreds = floorPredictions(means, testSeqs);
  const floorMse = targetMse(floorPreds, test, testSeqs);
  let floorAccuracy: number | null = null, realAccuracy: number | null = null;
  const realJudged = firstSequences(testSeqs, Math.min(v.judgeSequences, testSeqs.count));
  if (judge) {
    // The floor predicts one of ten images: the judge labels those ten.
    const meanLabels = await judgeLabels(judge, means, 10);
    let hits = 0;
    for (let k = 0; k < testSeqs.count; k++) {
      const d = testSeqs.first[k]! + INPUTS;
      if (meanLabels[d] === d) hits++;
    }
    floorAccuracy = hits / testSeqs.count;
    const real = new Float32Array(realJudged.count * PIXELS);
    for (let k = 0; k < realJudged.count; k++) {
      const src = realJudged.images[k * SEQ + INPUTS]! * PIXELS;
      for (let p = 0; p < PIXELS; p++) real[k * PIXELS + p] = test.images[src + p]! / 255;
    }
    realAccuracy = await recognised(judge, real, realJudged);
  }
  console.error(
    `next_digit: floor (the mean training image of d+4): test MSE ${fmt(floorMse)}` +
      (judge
        ? `; the judge recognises ${pct(floorAccuracy!)} of it, ${
          pct(realAccuracy!)
        } of the true targets`
        : ""),
  );

  const results: Result[] = [];
  const rows: Float32Array[] = [];
  for (let i = 0; i < names.length; i++) {
    const run = i === 0
      ? first
      : await openRun(v, explicit, names[i]!, shared, v.resume && hasResume[i]!);
    for (const k of SHARED) {
      if (run.config[k] !== shared[k]) {
        throw new Error(
          `Cannot compare: ${run.out} was trained with --${kebab(k)} ${run.config[k]}, ` +
            `${first.out} with ${shared[k]} (start a new run in another --out)`,
        );
      }
    }
    const { result, chainRow } = await trainOne(ctx, run);
    results.push(result);
    rows.push(chainRow);
  }

  // The comparison's files.
  const chainImages = new Float32Array(rows.length * 10 * PIXELS);
  rows.forEach((r, i) => chainImages.set(r, i * 10 * PIXELS));
  await data.writeFileAtomic(
    join(v.out, "chain.png"),
    gridPng(chainImages, 10, (c) => c % 10 >= INPUTS),
  );
  await data.writeFileAtomic(
    join(v.out, "comparison.svg"),
    await comparisonSvg(results, floorMse, floorAccuracy),
  );
  const summary = {
    program: "next_digit",
    task: "four images of d..d+3 -> an image of d+4",
    model: "LSTM(784->128) + Linear(128->784) + sigmoid, MSE",
    ...shared,
    backend,
    floor: {
      what: "mean training image of d+4",
      testMse: floorMse,
      classifierAccuracy: floorAccuracy,
    },
    judge: judgeInfo
      ? { ...judgeInfo, realTargetAccuracy: realAccuracy, realTargetsJudged: realJudged.count }
      : null,
    sameInitialWeights: results.every((r) =>
      r.initialWeightsSha256 === results[0]!.initialWeightsSha256
    ),
    optimizers: results,
  };
  await data.writeFileAtomic(join(v.out, "summary.json"), JSON.stringify(summary, null, 2) + "\n");
  printTable(results, floorMse, floorAccuracy);
  console.error(`next_digit: wrote chain.png, comparison.svg, summary.json to ${v.out}`);
}

function pct(x: number): string {
  return `${(100 * x).toFixed(1)}%`;
}

/** Test MSE per epoch (with the floor) beside the classifier accuracy per epoch. */
async function comparisonSvg(
  results: Result[],
  floorMse: number,
  floorAccuracy: number | null,
): Promise<string> {
  const epochs = Math.max(...results.map((r) => r.curve.length));
  const xs = Array.from({ length: epochs }, (_, i) => i + 1);
  /** One curve per optimizer of a per-epoch value, and the floor's as a constant. */
  const series = (
    value: (c: Result["curve"][number]) => number | null,
    floor: number | null,
    of = results,
  ) => [
    ...of.map((r) => ({
      name: r.optimizer,
      x: r.curve.map((c) => c.epoch),
      y: r.curve.map((c) => value(c) ?? NaN),
    })),
    ...(floor === null ? [] : [{ name: "floor", x: xs, y: xs.map(() => floor) }]),
  ];
  const size = { xLabel: "epoch", width: 420, height: 300 };
  const mse = await data.lineChartSvg({
    ...size,
    title: "test MSE per epoch (floor: the mean image of d+4)",
    yLabel: "test MSE per pixel",
    logY: true,
    series: series((c) => c.testMse, floorMse),
  });
  if (results.every((r) => r.classifierAccuracy === null)) return sideBySide([mse]);
  // A run judged only at the end (e.g. resumed with a judge) has its final value as one point.
  const judged = results.map((r) =>
    r.curve.some((c) => c.classifierAccuracy !== null) ? r : {
      ...r,
      curve: r.classifierAccuracy === null
        ? []
        : [{ epoch: r.epochs, testMse: r.testMse, classifierAccuracy: r.classifierAccuracy }],
    }
  );
  const acc = await data.lineChartSvg({
    ...size,
    title: "predictions the judge labels d+4",
    yLabel: "fraction of the test predictions",
    series: series((c) => c.classifierAccuracy, floorAccuracy, judged),
  });
  return sideBySide([mse, acc]);
}

function printTable(results: Result[], floorMse: number, floorAccuracy: number | null): void {
  const head = ["optimizer", "lr", "epochs", "test MSE", "floor", "judged d+4", "s/epoch"];
  const rows = results.map((r) => [
    r.optimizer,
    String(r.lr),
    String(r.epochs),
    r.testMse.toFixed(4),
    floorMse.toFixed(4),
    r.classifierAccuracy === null ? "-" : pct(r.classifierAccuracy),
    r.secondsPerEpoch.toFixed(1),
  ]);
  rows.push([
    "floor",
    "",
    "",
    floorMse.toFixed(4),
    floorMse.toFixed(4),
    floorAccuracy === null ? "-" : pct(floorAccuracy),
    "",
  ]);
  const w = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  for (const r of [head, ...rows]) {
    console.log(r.map((c, i) => c.padEnd(w[i]!)).join("  ").trimEnd());
  }
}

// ---- main -----------------------------------------------------------------------

/**
 * Run the program with command-line arguments.
 *
 * @param args the arguments, e.g. `["--quick", "--backend", "cpu"]`
 */
export async function main(args: string[]): Promise<void> {
  const { values, explicit } = parseFlags(args, FLAGS, HELP);
  parseOptimizers(values.optimizers);
  if (values.judge !== "none" && values.judge !== JUDGE_PATH && !existsSync(values.judge)) {
    throw new Error(
      `Cannot find the judge '${values.judge}' (omit --judge to use, or train, ${JUDGE_PATH}; --judge none: no judge)`,
    );
  }
  await compare(values, explicit as Set<string>);
}

if (import.meta.main) await runMain("next_digit", () => main(Deno.args));
