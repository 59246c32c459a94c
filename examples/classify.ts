#!/usr/bin/env -S deno run -A
/**
 * Name handwritten digits with an LSTM that reads them row by row: the classic
 * "MNIST as a sequence" classifier of the Keras examples.
 *
 * Each 28×28 image (pixels / 255) is 28 time steps of 28 pixels. An
 * LSTM(28 → 128) reads the rows and a Linear(128 → 10) names the digit from
 * the last step's output; softmax cross-entropy from the logits, RMSprop with
 * Keras's defaults (lr 1e-3, rho 0.9, eps 1e-7), batch 128, 10 epochs.
 *
 * Data: the last 10% of the 60,000 training images (6,000) are held out as
 * validation before any shuffling (Keras's `validation_split`), the other
 * 54,000 are shuffled every epoch from the seed; the 10,000 test images give
 * the final test metrics.
 *
 * Files in `--out` (each written through a temp file and a rename):
 * `metrics.jsonl` (one line per epoch), `model.safetensors` (PyTorch names
 * `lstm.*`, `fc.*`), `resume.safetensors` (for `--resume`), `curves.svg`,
 * `test_metrics.json`, `confusion.svg`, `prediction.svg`.
 *
 * @example
 * ```sh
 * deno run -A examples/classify.ts --quick
 * deno run -A examples/classify.ts --seed 1 --backend cpu --out out/classify
 * deno run -A examples/classify.ts --predict --image my_digit.png
 * ```
 *
 * @module
 */
import { join } from "node:path";
import { data, init, manualSeed, nn, noGrad, optim, tensor } from "../mod.ts";
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
  CLASSES,
  classifierMetadata,
  classifierShape,
  evaluateClassifier,
  MAX_HIDDEN,
  MAX_LAYERS,
  ROW_PIXELS,
  RowClassifier,
  ROWS,
} from "./_classify_model.ts";
import { checkFinite, readDigitPng, readSafetensorsFile, Run } from "./_harness.ts";

const IMAGE_PIXELS = ROWS * ROW_PIXELS;
const ALL_TRAIN = 60_000;
/** Keras's `validation_split=0.1`: the last 6,000 training images. */
const VAL_IMAGES = 6_000;
const TRAIN_IMAGES = ALL_TRAIN - VAL_IMAGES;
const TEST_IMAGES = 10_000;

/** The flags of the program (camelCase here, kebab-case on the command line). */
export const FLAGS = {
  hidden: { type: "integer", min: 1, max: MAX_HIDDEN, default: 128, help: "LSTM hidden units" },
  layers: { type: "integer", min: 1, max: MAX_LAYERS, default: 1, help: "stacked LSTM layers" },
  epochs: {
    type: "integer",
    min: 1,
    help: "passes over the training set (default 10, 2 with --quick; --resume: the saved plan)",
  },
  batch: { type: "integer", min: 1, default: 128, help: "images per training step" },
  lr: { type: "number", positive: true, default: 1e-3, help: "RMSprop learning rate" },
  rho: {
    type: "number",
    min: 0,
    max: 1,
    default: 0.9,
    help: "RMSprop decay of the squared-gradient average (PyTorch's alpha)",
  },
  eps: { type: "number", positive: true, default: 1e-7, help: "RMSprop epsilon" },
  ...runFlags({ seed: 1, seedHelp: "weights, shuffling", out: "out/classify" }),
  quick: {
    type: "boolean",
    help: "small end-to-end run: 2000 train / 500 val / 500 test images, 2 epochs",
  },
  trainCount: {
    type: "integer",
    min: 1,
    max: TRAIN_IMAGES,
    help: "training images used (default 54000, 2000 with --quick)",
  },
  valCount: {
    type: "integer",
    min: 1,
    max: VAL_IMAGES,
    help: "validation images used, from the held-out 6000 (default 6000, 500 with --quick)",
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
  evalBatch: { type: "integer", min: 1, default: 1000, help: "images evaluated at once" },
  index: {
    type: "integer",
    min: 0,
    max: TEST_IMAGES - 1,
    default: 0,
    help: "the test image drawn in prediction.svg (and classified by --predict)",
  },
  predict: {
    type: "boolean",
    help: "classify one digit with a trained model (test image --index, or --image), no training",
  },
  checkpoint: {
    type: "string",
    placeholder: "FILE",
    help: "--predict: model to load (default <out>/model.safetensors)",
  },
  image: {
    type: "string",
    placeholder: "FILE",
    help: "--predict: classify a 28×28 grayscale PNG of your own",
  },
} as const;

const HELP = {
  program: "examples/classify.ts",
  summary: "Train an LSTM that reads MNIST digits as 28 rows of 28 pixels and names them\n" +
    "(LSTM 28->128, Linear 128->10 on the last step, softmax cross-entropy, RMSprop).",
  usage: [
    "deno run -A examples/classify.ts [flags]",
    "deno run -A examples/classify.ts --resume [--out DIR] [--epochs N]",
    "deno run -A examples/classify.ts --predict [--checkpoint FILE] [--index N | --image FILE]",
  ],
  epilog: "Writes to --out: metrics.jsonl, model.safetensors, resume.safetensors, curves.svg,\n" +
    "test_metrics.json, confusion.svg, prediction.svg (--predict: prediction.svg).\n" +
    "Exit codes: 0 ok, 1 runtime error (data, checkpoint, image), 2 usage error.",
};

/** Training settings stored in the resume state. */
interface RunConfig {
  hidden: number;
  layers: number;
  batch: number;
  lr: number;
  rho: number;
  eps: number;
  seed: number;
  trainCount: number;
  valCount: number;
  testCount: number;
}

// ---- data -----------------------------------------------------------------------

/** The first `n` images and labels of a set. */
function head(set: data.MnistSet, n: number): { images: Uint8Array; labels: Uint8Array } {
  return { images: set.images.subarray(0, n * IMAGE_PIXELS), labels: set.labels.subarray(0, n) };
}

// ---- pictures -------------------------------------------------------------------

const SCHEMA = "https://vega.github.io/schema/vega-lite/v6.json";

/** A line chart's spec without the top-level-only fields, for a side-by-side layout. */
function panel(opts: data.LineChartOptions): Record<string, unknown> {
  const { $schema: _s, background: _b, padding: _p, ...rest } = data.lineChartSpec(opts);
  return rest;
}

/** Training vs validation accuracy and loss per epoch, side by side. */
function curvesSvg(records: Record<string, unknown>[]): Promise<string> {
  const x = records.map((r) => r.epoch as number);
  const y = (k: string) => records.map((r) => r[k] as number);
  const size = { width: 400, height: 280 };
  return data.vegaLiteSvg({
    $schema: SCHEMA,
    background: "white",
    padding: 8,
    hconcat: [
      panel({
        title: "accuracy",
        xLabel: "epoch",
        yLabel: "accuracy",
        series: [{ name: "train", x, y: y("trainAcc") }, {
          name: "validation",
          x,
          y: y("valAcc"),
        }],
        ...size,
      }),
      panel({
        title: "loss",
        xLabel: "epoch",
        yLabel: "cross-entropy",
        series: [{ name: "train", x, y: y("trainLoss") }, {
          name: "validation",
          x,
          y: y("valLoss"),
        }],
        ...size,
      }),
    ],
    resolve: { scale: { color: "shared" } },
  });
}

/** The confusion matrix (rows: true digit, columns: predicted) as a heatmap with counts. */
function confusionSvg(confusion: number[][], accuracy: number): Promise<string> {
  const values = confusion.flatMap((row, t) => {
    const total = row.reduce((a, b) => a + b, 0) || 1;
    return row.map((count, p) => ({ truth: t, predicted: p, count, share: count / total }));
  });
  return data.vegaLiteSvg({
    $schema: SCHEMA,
    title: `confusion matrix on the test set (accuracy ${(100 * accuracy).toFixed(2)}%)`,
    background: "white",
    padding: 8,
    width: 400,
    height: 400,
    data: { values },
    encoding: {
      x: { field: "predicted", type: "ordinal", title: "predicted digit", axis: { labelAngle: 0 } },
      y: { field: "truth", type: "ordinal", title: "true digit" },
    },
    layer: [
      {
        mark: "rect",
        encoding: {
          color: {
            field: "share",
            type: "quantitative",
            title: "share of the row",
            scale: { scheme: "blues", type: "sqrt", domain: [0, 1] },
          },
        },
      },
      {
        transform: [{ filter: "datum.count > 0" }],
        mark: { type: "text", fontSize: 11 },
        encoding: {
          text: { field: "count", type: "quantitative" },
          color: { condition: { test: "datum.share > 0.5", value: "white" }, value: "black" },
        },
      },
    ],
  });
}

/**
 * One digit beside the bar chart of its ten predicted probabilities.
 *
 * @param pixels 784 values in [0, 1]
 * @param probs the ten probabilities
 * @param caption what the digit is ("test image 0, a 7" or the file name)
 */
function predictionSvg(
  pixels: Float32Array,
  probs: Float32Array,
  caption: string,
): Promise<string> {
  const best = probs.indexOf(Math.max(...probs));
  const px = [...pixels].map((v, i) => ({ row: Math.floor(i / 28), col: i % 28, v }));
  const bars = [...probs].map((p, d) => ({ digit: d, p, predicted: d === best }));
  const noAxis = { axis: null };
  return data.vegaLiteSvg({
    $schema: SCHEMA,
    background: "white",
    padding: 8,
    hconcat: [
      {
        title: caption,
        width: 224,
        height: 224,
        data: { values: px },
        mark: { type: "rect" },
        encoding: {
          x: { field: "col", type: "ordinal", ...noAxis },
          y: { field: "row", type: "ordinal", ...noAxis },
          color: {
            field: "v",
            type: "quantitative",
            scale: { domain: [0, 1], range: ["black", "white"] },
            legend: null,
          },
        },
      },
      {
        title: `predicted: ${best} (${(100 * probs[best]!).toFixed(1)}%)`,
        width: 320,
        height: 224,
        data: { values: bars },
        layer: [
          {
            mark: "bar",
            encoding: {
              x: { field: "digit", type: "ordinal", title: "digit", axis: { labelAngle: 0 } },
              y: {
                field: "p",
                type: "quantitative",
                title: "probability",
                scale: { domain: [0, 1] },
              },
              color: {
                field: "predicted",
                type: "nominal",
                scale: { domain: [false, true], range: ["#9ab", "#d62"] },
                legend: null,
              },
            },
          },
          {
            mark: { type: "text", dy: -6, fontSize: 10 },
            encoding: {
              x: { field: "digit", type: "ordinal" },
              y: { field: "p", type: "quantitative" },
              text: { field: "p", type: "quantitative", format: ".3f" },
            },
          },
        ],
      },
    ],
  });
}

/** The ten probabilities, one line. */
function probabilityLine(probs: Float32Array): string {
  return [...probs].map((p, d) => `${d}: ${p.toFixed(4)}`).join("  ");
}

// ---- training ---------------------------------------------------------------------

type Values = ReturnType<typeof parseFlags<typeof FLAGS>>["values"];

interface Options {
  values: Values;
  explicit: Set<string>;
}

function runConfig({ values: v }: Options): RunConfig {
  return {
    hidden: v.hidden,
    layers: v.layers,
    batch: v.batch,
    lr: v.lr,
    rho: v.rho,
    eps: v.eps,
    seed: v.seed,
    trainCount: v.trainCount ?? (v.quick ? 2000 : TRAIN_IMAGES),
    valCount: v.valCount ?? (v.quick ? 500 : VAL_IMAGES),
    testCount: v.testCount ?? (v.quick ? 500 : TEST_IMAGES),
  };
}

/** `lstm 1×128`. */
function describe(c: Record<string, unknown>): string {
  return `lstm ${c.layers}×${c.hidden}`;
}

/** The program as `--resume` hints name it. */
const COMMAND = "deno run -A examples/classify.ts";

async function train(opts: Options): Promise<void> {
  const v = opts.values;
  // Everything that can fail before training is checked before --out is touched.
  const run = await Run.open({
    program: "classify",
    command: COMMAND,
    out: v.out,
    resume: v.resume,
    config: runConfig(opts) as unknown as Record<string, unknown>,
    explicit: opts.explicit,
    flags: FLAGS,
    fixed: ["hidden", "layers"],
    epochs: v.epochs ?? (v.quick ? 2 : 10),
    describe,
  });
  const cfg = run.config as unknown as RunConfig;
  if (v.index >= cfg.testCount) {
    throw new UsageError(`--index ${v.index} is not among the ${cfg.testCount} test images used`);
  }

  const sets = await data.mnistSplits({ dir: v.data, validationCount: VAL_IMAGES });
  const trainSet = head(checkMnistSet(sets.train, "training", TRAIN_IMAGES), cfg.trainCount);
  const valSet = head(checkMnistSet(sets.validation, "validation", VAL_IMAGES), cfg.valCount);
  const testSet = head(checkMnistSet(sets.test, "test", TEST_IMAGES), cfg.testCount);
  const { backend } = await init({ backend: v.backend as "auto" | "webgpu" | "cpu" });

  manualSeed(cfg.seed);
  const model = new RowClassifier(cfg.hidden, cfg.layers);
  const rmsprop = new optim.RMSprop(model.parameters(), {
    lr: cfg.lr,
    alpha: cfg.rho,
    eps: cfg.eps,
  });
  if (!run.resumed) {
    console.error(
      `classify: ${describe(cfg as unknown as Record<string, unknown>)}, ${cfg.trainCount} ` +
        `train / ${cfg.valCount} val / ${cfg.testCount} test images, batch ${cfg.batch}, ` +
        `RMSprop lr ${cfg.lr} rho ${cfg.rho} eps ${cfg.eps}, ` +
        `${run.epochs} epoch${run.epochs === 1 ? "" : "s"}`,
    );
  }
  await run.track({
    modules: { "": model },
    optimizers: { rmsprop },
    keep: "last",
    monitor: { metric: "valAcc", mode: "max", patience: 0 },
    metadata: classifierMetadata(model),
  });
  // Settings given again on resume win over the saved ones.
  rmsprop.lr = cfg.lr;

  model.train();
  await run.fit({
    batches: (epoch) =>
      data.batches(cfg.trainCount, cfg.batch, { seed: cfg.seed, epoch, shuffle: true }),
    step: (idx) => {
      const b = idx.length;
      const x = tensor(data.toRows(data.takeRows(trainSet.images, idx, IMAGE_PIXELS), b), [
        b,
        ROWS,
        ROW_PIXELS,
      ]);
      const labels = tensor(Float32Array.from(data.takeRows(trainSet.labels, idx, 1)), [b]);
      const logits = model.forward(x);
      const loss = nn.crossEntropy(logits, labels);
      // Accuracy on the device: the label's logit is the largest.
      const acc = noGrad(() =>
        logits.gather(labels.reshape([b, 1]), 1).ge(logits.max(-1, true)).mean()
      );
      rmsprop.zeroGrad();
      loss.backward();
      rmsprop.step();
      return { trainLoss: loss, trainAcc: acc };
    },
    evaluate: async () => {
      const val = await evaluateClassifier(model, valSet.images, valSet.labels, {
        batch: v.evalBatch,
      });
      return { valLoss: val.loss, valAcc: val.accuracy };
    },
    afterEpoch: async (_epoch, record) => {
      await run.write("curves.svg", await curvesSvg([...run.records, record]));
    },
    columns: [
      ["loss", "trainLoss"],
      ["acc", "trainAcc"],
      ["val loss", "valLoss"],
      ["val acc", "valAcc"],
    ],
    extra: { lr: cfg.lr, batch: cfg.batch, backend },
    logEvery: v.logEvery,
  });
  // Also after a --resume that had no epoch left to train.
  await run.write("curves.svg", await curvesSvg(run.records));

  const test = await evaluateClassifier(model, testSet.images, testSet.labels, {
    batch: v.evalBatch,
  });
  const confusion = Array.from({ length: CLASSES }, () => new Array<number>(CLASSES).fill(0));
  testSet.labels.forEach((t, i) => confusion[t]![test.predictions[i]!]!++);
  const perDigitAccuracy = confusion.map((row, d) => row[d]! / (row.reduce((a, b) => a + b) || 1));
  const testMetrics = {
    testLoss: test.loss,
    testAccuracy: test.accuracy,
    testImages: cfg.testCount,
    perDigitAccuracy,
    confusion,
    confusionAxes: "confusion[true digit][predicted digit]",
    epochs: run.epoch,
    bestValAcc: run.best,
    bestEpoch: run.bestEpoch,
    ...cfg,
    backend,
  };
  // One line per array of numbers (a row of the confusion matrix), the rest indented.
  const json = JSON.stringify(testMetrics, null, 2)
    .replace(
      /\[\s+([-+0-9.e,\s]+?)\s+\]/g,
      (_m, inner: string) => `[${inner.replace(/\s+/g, " ")}]`,
    );
  await run.write("test_metrics.json", json + "\n");
  await run.write("confusion.svg", await confusionSvg(confusion, test.accuracy));
  const i = v.index;
  const probs = test.probabilities.slice(i * CLASSES, (i + 1) * CLASSES);
  await run.write(
    "prediction.svg",
    await predictionSvg(
      data.toRows(testSet.images.subarray(i * IMAGE_PIXELS, (i + 1) * IMAGE_PIXELS), 1),
      probs,
      `test image ${i}: a ${testSet.labels[i]}`,
    ),
  );
  console.log(
    `test  loss ${fmt(test.loss)}  accuracy ${(100 * test.accuracy).toFixed(2)}% ` +
      `(${cfg.testCount} images)`,
  );
  run.finish();
  model.dispose();
  rmsprop.dispose();
}

// ---- prediction -------------------------------------------------------------------

/** Flags that only training uses: `--predict` says it ignores them. */
const TRAINING_FLAGS = [
  "hidden",
  "layers",
  "epochs",
  "batch",
  "lr",
  "rho",
  "eps",
  "seed",
  "quick",
  "trainCount",
  "valCount",
  "testCount",
  "logEvery",
  "evalBatch",
] as const;

async function predict(opts: Options): Promise<void> {
  const v = opts.values;
  const warning = ignoredFlagsWarning("classify", "--predict", opts.explicit, TRAINING_FLAGS);
  if (warning) console.error(warning);
  const path = v.checkpoint ?? join(v.out, "model.safetensors");
  const file = await readSafetensorsFile(
    path,
    "the checkpoint",
    ` (train one first with: deno task classify${v.checkpoint ? "" : ` --out ${v.out}`})`,
  );
  const shape = classifierShape(file.tensors, path);
  checkFinite(file.tensors, path);

  let pixels: Uint8Array, label: number | null = null, caption: string, what: string;
  if (v.image) {
    const px = await readDigitPng(v.image, "classify");
    pixels = Uint8Array.from(px, (p) => Math.round(p * 255));
    caption = what = `'${v.image}'`;
  } else {
    const test = checkMnistSet(
      await data.loadMnist({ split: "test", dir: v.data }),
      "test",
      TEST_IMAGES,
    );
    pixels = test.images.slice(v.index * IMAGE_PIXELS, (v.index + 1) * IMAGE_PIXELS);
    label = test.labels[v.index]!;
    what = `test image ${v.index} (a ${label})`;
    caption = `test image ${v.index}: a ${label}`;
  }
  const ready = await init({ backend: v.backend as "auto" | "webgpu" | "cpu", log: false });
  const model = new RowClassifier(shape.hidden, shape.layers);
  try {
    model.loadStateDict(file.tensors);
  } catch (e) {
    throw new Error(`Cannot load '${path}': ${e instanceof Error ? e.message : String(e)}`);
  }
  console.error(ready.message);
  const { probabilities, predictions } = await evaluateClassifier(
    model,
    pixels,
    Uint8Array.of(label ?? 0),
  );
  const outPath = join(v.out, "prediction.svg");
  await data.writeFileAtomic(
    outPath,
    await predictionSvg(data.toRows(pixels, 1), probabilities, caption),
  );
  console.log(`${what}: predicted ${predictions[0]}`);
  console.log(probabilityLine(probabilities));
  console.error(`classify: wrote ${outPath}`);
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
  if (values.predict) {
    if (values.resume) throw new UsageError("--predict and --resume cannot be combined");
    if (values.image !== undefined && explicit.has("index")) {
      throw new UsageError("--image and --index cannot be combined");
    }
    await predict(opts);
  } else {
    for (const k of ["checkpoint", "image"] as const) {
      if (values[k] !== undefined) throw new UsageError(`--${k} needs --predict`);
    }
    await train(opts);
  }
}

if (import.meta.main) await runMain("classify", () => main(Deno.args));
