#!/usr/bin/env -S deno run -A
/**
 * Complete the bottom half of handwritten digits.
 *
 * Each 28×28 MNIST digit becomes a sequence of 16 patches of 7×7 pixels
 * (row-major patch order, each flattened to 49 values in [0, 1]). An LSTM or
 * GRU learns to predict patch t+1 from patches ≤ t (teacher forcing: inputs
 * patches 1..15, targets 2..16, MSE loss, Adam). To complete a digit, the 8
 * top patches go in and patches 9..16 come out one at a time, each prediction
 * fed back in through the layer's `step` API.
 *
 * Data: training = the first 50,000 training images, validation = the last
 * 10,000, test = the 10,000 test images.
 *
 * Files in `--out` (each written through a temp file and a rename):
 * `metrics.jsonl` (one line per epoch), `model.safetensors` (the best weights,
 * PyTorch names), `resume.safetensors` (weights, optimizer state, epoch,
 * early-stopping state and RNG state for `--resume`), `test_metrics.json`,
 * `completions.png`, `loss.svg`; `--generate` writes `completion.png`.
 *
 * @example
 * ```sh
 * deno run -A examples/complete.ts --quick
 * deno run -A examples/complete.ts --cell gru --epochs 20 --out out/gru
 * deno run -A examples/complete.ts --generate --checkpoint out/complete/model.safetensors --count 20
 * ```
 *
 * @module
 */
import { join } from "node:path";
import { data, init, keep, manualSeed, nn, noGrad, optim, tensor, tidy, zeros } from "../mod.ts";
import {
  checkMnistSet,
  fmt,
  ignoredFlagsWarning,
  parseFlags,
  runFlags,
  runMain,
  UsageError,
} from "./_cli.ts";
import {
  type Cell,
  checkpointConfig,
  CompletionModel,
  configMetadata,
  describeConfig,
  generateBottom,
  MAX_HIDDEN,
  MAX_LAYERS,
  type ModelConfig,
  PATCH_PIXELS,
  PATCHES,
  TOP_PATCHES,
} from "./_complete_model.ts";
import { checkFinite, readDigitPng, readSafetensorsFile, Run } from "./_harness.ts";

type SafetensorsTensor = nn.SafetensorsTensor;
const IMAGE_PIXELS = 784;
const SEQ_PIXELS = PATCHES * PATCH_PIXELS;
const TRAIN_IMAGES = 50_000;
const VAL_IMAGES = 10_000;
const TEST_IMAGES = 10_000;

/** The flags of the program (camelCase here, kebab-case on the command line). */
export const FLAGS = {
  cell: { type: "string", choices: ["lstm", "gru"], default: "lstm", help: "recurrent cell" },
  layers: {
    type: "integer",
    min: 1,
    max: MAX_LAYERS,
    default: 2,
    help: "stacked recurrent layers",
  },
  hidden: {
    type: "integer",
    min: 1,
    max: MAX_HIDDEN,
    default: 64,
    help: "hidden units per layer",
  },
  epochs: {
    type: "integer",
    min: 1,
    help: "passes over the training set (default 10, 2 with --quick; --resume: the saved plan)",
  },
  batch: { type: "integer", min: 1, default: 100, help: "images per training step" },
  lr: { type: "number", positive: true, default: 1e-3, help: "Adam learning rate" },
  patience: {
    type: "integer",
    min: 0,
    default: 3,
    help: "early stopping: epochs without a better validation loss (0 = off); best weights kept",
  },
  ...runFlags({ seed: 42, seedHelp: "weights, shuffling", out: "out/complete" }),
  quick: {
    type: "boolean",
    help: "small end-to-end run: 2000 train / 500 val / 500 test images, 2 epochs",
  },
  trainCount: {
    type: "integer",
    min: 1,
    max: TRAIN_IMAGES,
    help: "training images used (default 50000, 2000 with --quick)",
  },
  valCount: {
    type: "integer",
    min: 1,
    max: VAL_IMAGES,
    help: "validation images used (default 10000, 500 with --quick)",
  },
  testCount: {
    type: "integer",
    min: 1,
    max: TEST_IMAGES,
    help: "test images used for the test metrics (default 10000, 500 with --quick)",
  },
  logEvery: {
    type: "integer",
    min: 1,
    default: 10,
    help: "read the training loss back every N steps (progress updates)",
  },
  genBatch: { type: "integer", min: 1, default: 1000, help: "images evaluated/generated at once" },
  generate: { type: "boolean", help: "complete test images with a trained model, no training" },
  checkpoint: {
    type: "string",
    placeholder: "FILE",
    help: "--generate: model to load (default <out>/model.safetensors)",
  },
  count: {
    type: "integer",
    min: 1,
    max: TEST_IMAGES,
    help: "--generate: how many test images to complete (default 20)",
  },
  image: {
    type: "string",
    placeholder: "FILE",
    help: "--generate: complete a 28×28 grayscale PNG of your own instead",
  },
} as const;

const HELP = {
  program: "examples/complete.ts",
  summary:
    "Train an LSTM/GRU on MNIST as sequences of 16 patches of 7x7 pixels, then complete the\n" +
    "bottom half of digits from their top half (teacher forcing, MSE, Adam).",
  usage: [
    "deno run -A examples/complete.ts [flags]",
    "deno run -A examples/complete.ts --resume [--out DIR] [--epochs N]",
    "deno run -A examples/complete.ts --generate [--checkpoint FILE] [--count N | --image FILE]",
  ],
  epilog: "Writes to --out: metrics.jsonl, model.safetensors, resume.safetensors,\n" +
    "test_metrics.json, completions.png, loss.svg (--generate: completion.png).\n" +
    "Exit codes: 0 ok, 1 runtime error (data, checkpoint), 2 usage error.",
};

/** Training settings stored in the resume state. */
interface RunConfig extends ModelConfig {
  batch: number;
  lr: number;
  patience: number;
  seed: number;
  trainCount: number;
  valCount: number;
  testCount: number;
}

// ---- data -----------------------------------------------------------------------

/** Patch sequences `[n, 16, 49]` in [0, 1] of images `start .. start+n` of a set. */
function patchesOf(set: data.MnistSet, start: number, n: number): Float32Array {
  return data.toPatches(set.images.subarray(start * IMAGE_PIXELS, (start + n) * IMAGE_PIXELS), n);
}

// ---- checkpoints ----------------------------------------------------------------

/** Fail when flags given on the command line ask for another architecture than a checkpoint's. */
function checkArchitecture(
  saved: ModelConfig,
  asked: ModelConfig,
  explicit: Set<string>,
  source: string,
): void {
  const diffs = (["cell", "layers", "hidden"] as const)
    .filter((k) => explicit.has(k) && saved[k] !== asked[k])
    .map((k) => `--${k} ${asked[k]}`);
  if (diffs.length > 0) {
    throw new Error(
      `Cannot use checkpoint '${source}': it was saved for ${describeConfig(saved)}, ` +
        `but ${diffs.join(" ")} was asked for`,
    );
  }
}

/** Load weights into the model, naming the file in any error. */
function loadWeights(
  model: CompletionModel,
  tensors: Record<string, SafetensorsTensor>,
  source: string,
): void {
  try {
    model.loadStateDict(tensors);
  } catch (e) {
    const msg = e instanceof Error ? e.message : String(e);
    throw new Error(`Cannot load '${source}' (${describeConfig(model.config)}): ${msg}`);
  }
}

// ---- evaluation -----------------------------------------------------------------

/** Mean squared errors over a set of patch sequences. */
interface EvalResult {
  /** Teacher-forced MSE per pixel over patches 2..16. */
  loss: number;
  /** Generation MSE per pixel over the 392 bottom-half pixels. */
  genMse: number;
}

/**
 * Teacher-forced loss and bottom-half generation MSE, `batch` images at a
 * time. The top 8 patches run once: their final state continues both the
 * teacher-forced pass over patches 9..15 and the generation. The sums stay on
 * the device and are read once at the end.
 */
async function evaluate(
  model: CompletionModel,
  seqs: Float32Array,
  batch: number,
): Promise<EvalResult> {
  const n = seqs.length / SEQ_PIXELS;
  const P = PATCH_PIXELS, K = TOP_PATCHES, T = PATCHES;
  model.eval();
  let acc = keep(zeros([2]));
  for (let start = 0; start < n; start += batch) {
    const b = Math.min(batch, n - start);
    const next = tidy(() =>
      noGrad(() => {
        const x = tensor(seqs.subarray(start * SEQ_PIXELS, (start + b) * SEQ_PIXELS), [b, T, P]);
        const top = model.forward(x.slice([0, 0, 0], [b, K, P]));
        const rest = model.forward(x.slice([0, K, 0], [b, T - 1 - K, P]), top.state);
        const tfSum = nn.mseLoss(top.output, x.slice([0, 1, 0], [b, K, P]), { reduction: "sum" })
          .add(nn.mseLoss(rest.output, x.slice([0, K + 1, 0], [b, T - 1 - K, P]), {
            reduction: "sum",
          }));
        const gen = generateBottom(model, x.slice([0, 0, 0], [b, K, P]), top);
        const genSum = nn.mseLoss(gen, x.slice([0, K, 0], [b, T - K, P]), { reduction: "sum" });
        return acc.add(tensor([1, 0]).mul(tfSum).add(tensor([0, 1]).mul(genSum)));
      })
    );
    acc.dispose();
    acc = keep(next);
  }
  const sums = await acc.data();
  acc.dispose();
  model.train();
  return {
    loss: sums[0]! / (n * (T - 1) * P),
    genMse: sums[1]! / (n * (T - K) * P),
  };
}

/** Generated bottom halves `[n, 8, 49]` of the given sequences, read back to the host. */
async function generateHost(
  model: CompletionModel,
  seqs: Float32Array,
  batch: number,
): Promise<Float32Array> {
  const n = seqs.length / SEQ_PIXELS;
  const half = TOP_PATCHES * PATCH_PIXELS;
  const out = new Float32Array(n * half);
  model.eval();
  for (let start = 0; start < n; start += batch) {
    const b = Math.min(batch, n - start);
    const gen = tidy(() => {
      const x = tensor(seqs.subarray(start * SEQ_PIXELS, (start + b) * SEQ_PIXELS), [
        b,
        PATCHES,
        PATCH_PIXELS,
      ]);
      return generateBottom(model, x.slice([0, 0, 0], [b, TOP_PATCHES, PATCH_PIXELS]));
    });
    out.set(await gen.data(), start * half);
    gen.dispose();
  }
  model.train();
  return out;
}

// ---- pictures -------------------------------------------------------------------

/** Geometry of the completion pictures: upscale, padding, gap between the two panels. */
export const PICTURE = { scale: 2, pad: 4, gap: 16 } as const;

/**
 * Two grids side by side: on the left each digit with its true top half and
 * its generated bottom half (tinted, below a red seam), on the right the true
 * digits, `cols` per row.
 *
 * @param truth true sequences `[n, 16, 49]`
 * @param gen generated bottom halves `[n, 8, 49]`
 * @param cols digits per row
 * @returns the PNG bytes
 */
function completionPicture(truth: Float32Array, gen: Float32Array, cols: number): Uint8Array {
  const n = truth.length / SEQ_PIXELS;
  const half = TOP_PATCHES * PATCH_PIXELS;
  const completed = truth.slice();
  for (let i = 0; i < n; i++) {
    completed.set(gen.subarray(i * half, (i + 1) * half), i * SEQ_PIXELS + half);
  }
  const mask = new Uint8Array(IMAGE_PIXELS).fill(1, IMAGE_PIXELS / 2);
  const grid = { n, h: 28, w: 28, cols, pad: PICTURE.pad, scale: PICTURE.scale };
  const left = data.imageGrid({
    ...grid,
    images: data.fromPatches(completed, n),
    seamRow: 14,
    mask,
    maskColor: [255, 200, 90],
  });
  const right = data.imageGrid({ ...grid, images: data.fromPatches(truth, n) });
  const width = left.width + PICTURE.gap + right.width, height = left.height;
  const rgb = new Uint8Array(width * height * 3).fill(255);
  for (let y = 0; y < height; y++) {
    const row = y * width * 3;
    rgb.set(left.rgb.subarray(y * left.width * 3, (y + 1) * left.width * 3), row);
    rgb.set(
      right.rgb.subarray(y * right.width * 3, (y + 1) * right.width * 3),
      row + (left.width + PICTURE.gap) * 3,
    );
  }
  return data.encodePngRgb(rgb, width, height);
}

/** Indices of the first `per` images of each digit 0–9, in digit order. */
function perDigit(labels: Uint8Array, per: number): number[] {
  const out: number[] = [];
  for (let d = 0; d < 10; d++) {
    let k = 0;
    for (let i = 0; i < labels.length && k < per; i++) {
      if (labels[i] === d) {
        out.push(i);
        k++;
      }
    }
  }
  return out;
}

/** Sequences of the given image indices, concatenated. */
function gatherSeqs(set: data.MnistSet, idx: number[]): Float32Array {
  const out = new Float32Array(idx.length * SEQ_PIXELS);
  idx.forEach((i, k) => out.set(patchesOf(set, i, 1), k * SEQ_PIXELS));
  return out;
}

// ---- training ---------------------------------------------------------------------

type Values = ReturnType<typeof parseFlags<typeof FLAGS>>["values"];

interface Options {
  values: Values;
  explicit: Set<string>;
}

function runConfig({ values: v }: Options): RunConfig {
  return {
    cell: v.cell as Cell,
    layers: v.layers,
    hidden: v.hidden,
    batch: v.batch,
    lr: v.lr,
    patience: v.patience,
    seed: v.seed,
    trainCount: v.trainCount ?? (v.quick ? 2000 : TRAIN_IMAGES),
    valCount: v.valCount ?? (v.quick ? 500 : VAL_IMAGES),
    testCount: v.testCount ?? (v.quick ? 500 : TEST_IMAGES),
  };
}

/** The program as `--resume` hints name it. */
const COMMAND = "deno run -A examples/complete.ts";

async function train(opts: Options): Promise<void> {
  const v = opts.values;
  // Everything that can fail before training is checked before --out is touched.
  const run = await Run.open({
    program: "complete",
    command: COMMAND,
    out: v.out,
    resume: v.resume,
    config: runConfig(opts) as unknown as Record<string, unknown>,
    explicit: opts.explicit,
    flags: FLAGS,
    fixed: ["cell", "layers", "hidden"],
    epochs: v.epochs ?? (v.quick ? 2 : 10),
    describe: (c) => describeConfig(c as unknown as ModelConfig),
  });
  const cfg = run.config as unknown as RunConfig;

  const sets = await data.mnistSplits({ dir: v.data });
  checkMnistSet(sets.train, "training", TRAIN_IMAGES);
  checkMnistSet(sets.validation, "validation", VAL_IMAGES);
  const testSet = checkMnistSet(sets.test, "test", TEST_IMAGES);
  const { backend } = await init({ backend: v.backend as "auto" | "webgpu" | "cpu" });

  manualSeed(cfg.seed);
  const model = new CompletionModel(cfg);
  const adam = new optim.Adam(model.parameters(), { lr: cfg.lr });
  if (!run.resumed) {
    console.error(
      `complete: ${describeConfig(cfg)}, ${cfg.trainCount} train / ${cfg.valCount} val / ` +
        `${cfg.testCount} test images, batch ${cfg.batch}, lr ${cfg.lr}, ` +
        `${run.epochs} epoch${run.epochs === 1 ? "" : "s"}`,
    );
  }
  await run.track({
    modules: { "": model },
    optimizers: { adam },
    keep: "best",
    monitor: { metric: "valLoss", mode: "min", patience: cfg.patience },
    metadata: configMetadata(cfg),
  });
  adam.lr = cfg.lr; // a --lr given again on resume wins over the saved one

  const trainSeqs = patchesOf(sets.train, 0, cfg.trainCount);
  const valSeqs = patchesOf(sets.validation, 0, cfg.valCount);
  const P = PATCH_PIXELS, T = PATCHES;
  const host = new Float32Array(cfg.batch * SEQ_PIXELS);
  model.train();
  await run.fit({
    batches: (epoch) =>
      data.batches(cfg.trainCount, cfg.batch, { seed: cfg.seed, epoch, shuffle: true }),
    step: (idx) => {
      const b = idx.length;
      for (let i = 0; i < b; i++) {
        host.set(
          trainSeqs.subarray(idx[i]! * SEQ_PIXELS, (idx[i]! + 1) * SEQ_PIXELS),
          i * SEQ_PIXELS,
        );
      }
      const x = tensor(host.subarray(0, b * SEQ_PIXELS), [b, T, P]);
      const { output } = model.forward(x.slice([0, 0, 0], [b, T - 1, P]));
      const loss = nn.mseLoss(output, x.slice([0, 1, 0], [b, T - 1, P]));
      adam.zeroGrad();
      loss.backward();
      adam.step();
      return { trainLoss: loss };
    },
    evaluate: async () => {
      const val = await evaluate(model, valSeqs, v.genBatch);
      return { valLoss: val.loss, valGenMse: val.genMse };
    },
    columns: [["train", "trainLoss"], ["val", "valLoss"], ["val gen", "valGenMse"]],
    extra: { lr: cfg.lr, batch: cfg.batch, backend },
    logEvery: v.logEvery,
  });

  // Test with the best weights.
  run.restoreBest();
  const test = await evaluate(model, patchesOf(testSet, 0, cfg.testCount), v.genBatch);
  const testMetrics = {
    testLoss: test.loss,
    testGenMse: test.genMse,
    testImages: cfg.testCount,
    bestEpoch: run.bestEpoch,
    bestValLoss: run.best,
    epochs: run.epoch,
    ...cfg,
    backend,
  };
  await run.write("test_metrics.json", JSON.stringify(testMetrics, null, 2) + "\n");
  console.log(`test  teacher-forced MSE ${fmt(test.loss)}  generation MSE ${fmt(test.genMse)}`);

  const truth = gatherSeqs(testSet, perDigit(testSet.labels, 10));
  const gen = await generateHost(model, truth, v.genBatch);
  await run.write("completions.png", completionPicture(truth, gen, 10));
  await run.chart("loss.svg", {
    title: `complete.ts ${describeConfig(cfg)}: teacher-forced loss and generation MSE`,
    xLabel: "epoch",
    yLabel: "MSE per pixel",
    series: [["train", "trainLoss"], ["validation", "valLoss"], [
      "val. generation",
      "valGenMse",
    ]],
  });
  run.finish();
  model.dispose();
  adam.dispose();
}

// ---- generation -------------------------------------------------------------------

/** Flags that only training uses: `--generate` says it ignores them. */
const TRAINING_FLAGS = [
  "epochs",
  "batch",
  "lr",
  "patience",
  "seed",
  "quick",
  "trainCount",
  "valCount",
  "testCount",
  "logEvery",
] as const;

async function generate(opts: Options): Promise<void> {
  const v = opts.values;
  const warning = ignoredFlagsWarning("complete", "--generate", opts.explicit, TRAINING_FLAGS);
  if (warning) console.error(warning);
  const path = v.checkpoint ?? join(v.out, "model.safetensors");
  const file = await readSafetensorsFile(path, "the checkpoint");
  const cfg = checkpointConfig(file.metadata, file.tensors, path);
  checkArchitecture(cfg, runConfig(opts), opts.explicit, path);
  checkFinite(file.tensors, path);

  let seqs: Float32Array;
  let what: string;
  if (v.image) {
    seqs = data.toPatches(await readDigitPng(v.image, "complete"), 1);
    what = `'${v.image}'`;
  } else {
    const count = v.count ?? 20;
    const test = checkMnistSet(
      await data.loadMnist({ split: "test", dir: v.data }),
      "test",
      TEST_IMAGES,
    );
    seqs = patchesOf(test, 0, count);
    what = `${count} test images`;
  }
  const ready = await init({ backend: v.backend as "auto" | "webgpu" | "cpu", log: false });
  const model = new CompletionModel(cfg);
  loadWeights(model, file.tensors, path);
  console.error(ready.message);

  const n = seqs.length / SEQ_PIXELS;
  const { genMse } = await evaluate(model, seqs, v.genBatch);
  const gen = await generateHost(model, seqs, v.genBatch);
  const outPath = join(v.out, "completion.png");
  await data.writeFileAtomic(outPath, completionPicture(seqs, gen, Math.min(n, 10)));
  console.log(
    `completed ${what} with the ${describeConfig(cfg)} model '${path}': ` +
      `generation MSE ${fmt(genMse)} (generated vs true bottom half); wrote ${outPath}`,
  );
  model.dispose();
}

// ---- main -----------------------------------------------------------------------

/**
 * Run the program with command-line arguments.
 *
 * @param args the arguments, e.g. `["--quick", "--backend", "cpu"]`
 */
export async function main(args: string[]): Promise<void> {
  const { values, explicit } = parseFlags(args, FLAGS, HELP);
  const opts: Options = { values, explicit: explicit as Set<string> };
  if (values.generate) {
    if (values.resume) throw new UsageError("--generate and --resume cannot be combined");
    if (values.image !== undefined && values.count !== undefined) {
      throw new UsageError("--image and --count cannot be combined");
    }
    await generate(opts);
  } else {
    for (const k of ["checkpoint", "count", "image"] as const) {
      if (values[k] !== undefined) throw new UsageError(`--${k} needs --generate`);
    }
    await train(opts);
  }
}

if (import.meta.main) await runMain("complete", () => main(Deno.args));
