#!/usr/bin/env -S deno run -A
/**
 * Train the judge (examples/_judge.ts): the CNN digit classifier that the GAN
 * and next-digit programs use to say which digit an image shows.
 *
 * Data: training = the first 55,000 training images, validation = the last
 * 5,000 (best-epoch selection), test = the 10,000 test images (reported once,
 * at the end, in `test_metrics.json`; never used to choose anything).
 * Cross-entropy, Adam with a linear learning-rate decay to 0 over the planned
 * epochs, each training image shifted by a random whole number of pixels
 * (up to `--shift` in x and y, the same for the same seed, epoch and image).
 *
 * Files in `--out` (default `out/judge`, the cache `obtainJudge` reads):
 * `model.safetensors` (the best epoch's weights, PyTorch `Net` names),
 * `metrics.jsonl`, `resume.safetensors`, `test_metrics.json` (accuracy
 * overall, per digit, and the confusion matrix), `accuracy.svg`, `loss.svg`,
 * `confusion.svg`.
 *
 * @example
 * ```sh
 * deno task judge                      # defaults: 4 epochs, out/judge/
 * deno run -A examples/judge.ts --quick --out /tmp/judge
 * ```
 *
 * @module
 */
import { data, init, manualSeed, nn, optim, tensor } from "../mod.ts";
import { fmt, parseFlags, runFlags, runMain, UsageError } from "./_cli.ts";
import { Run } from "./_harness.ts";
import { Judge, JUDGE_CLASSES, JUDGE_PIXELS, judgeImages } from "./_judge.ts";

const TRAIN_TOTAL = 60_000;
const TEST_IMAGES = 10_000;
const MAX_SHIFT = 8;

/** The flags of the program (camelCase here, kebab-case on the command line). */
export const FLAGS = {
  epochs: {
    type: "integer",
    min: 1,
    help: "passes over the training set (default 4, 1 with --quick; --resume: the saved plan)",
  },
  batch: { type: "integer", min: 1, default: 64, help: "images per training step" },
  lr: {
    type: "number",
    positive: true,
    default: 2e-3,
    help: "Adam's starting learning rate (decays linearly to 0 over the planned epochs)",
  },
  shift: {
    type: "integer",
    min: 0,
    max: MAX_SHIFT,
    default: 1,
    help: "augmentation: shift each training image by up to this many pixels in x and y",
  },
  patience: {
    type: "integer",
    min: 0,
    default: 0,
    help: "early stopping: epochs without a better validation accuracy (0 = off)",
  },
  ...runFlags({ seed: 1, seedHelp: "weights, shuffling, shifts, dropout", out: "out/judge" }),
  quick: {
    type: "boolean",
    help: "small end-to-end run: 300 train / 100 val / 100 test images, 1 epoch",
  },
  valCount: {
    type: "integer",
    min: 1,
    max: 30_000,
    help: "validation images: the last N training images (default 5000, 100 with --quick)",
  },
  trainCount: {
    type: "integer",
    min: 1,
    max: TRAIN_TOTAL - 1,
    help: "training images used, from the first (default all but the validation images)",
  },
  testCount: {
    type: "integer",
    min: 1,
    max: TEST_IMAGES,
    help: "test images used for the test metrics (default 10000, 100 with --quick)",
  },
  logEvery: {
    type: "integer",
    min: 1,
    default: 10,
    help: "read the training metrics back every N steps (progress updates)",
  },
  evalBatch: { type: "integer", min: 1, default: 500, help: "images evaluated at once" },
} as const;

const HELP = {
  program: "examples/judge.ts",
  summary: "Train the judge, a CNN digit classifier (PyTorch's MNIST example Net), on MNIST:\n" +
    "Adam with linear decay, random shifts, the best epoch by validation accuracy.",
  usage: [
    "deno run -A examples/judge.ts [flags]",
    "deno run -A examples/judge.ts --resume [--out DIR] [--epochs N]",
  ],
  epilog: "Writes to --out: model.safetensors, metrics.jsonl, resume.safetensors,\n" +
    "test_metrics.json, accuracy.svg, loss.svg, confusion.svg.\n" +
    "Exit codes: 0 ok, 1 runtime error (data, checkpoint), 2 usage error.",
};

/** Training settings stored in the resume state. */
interface RunConfig extends Record<string, unknown> {
  batch: number;
  lr: number;
  shift: number;
  patience: number;
  seed: number;
  trainCount: number;
  valCount: number;
  testCount: number;
}

// ---- data -----------------------------------------------------------------------

/** A deterministic hash of three integers to 32 bits (for the per-image shifts). */
function hash3(a: number, b: number, c: number): number {
  let h = 0x9e3779b9 ^ (a >>> 0);
  for (const v of [Math.floor(a / 2 ** 32), b, c]) {
    h = Math.imul(h ^ (v >>> 0), 0x85ebca6b);
    h ^= h >>> 13;
    h = Math.imul(h, 0xc2b2ae35);
    h ^= h >>> 16;
  }
  return h >>> 0;
}

/**
 * Copy image `src` (784 bytes 0..255) into `dst` as [0, 1] values, shifted by
 * (dx, dy) pixels; what comes in from outside the image is 0 (background).
 */
export function shiftedImage(
  src: Uint8Array,
  dst: Float32Array,
  offset: number,
  dx: number,
  dy: number,
): void {
  for (let y = 0; y < 28; y++) {
    const sy = y - dy;
    for (let x = 0; x < 28; x++) {
      const sx = x - dx;
      dst[offset + y * 28 + x] = sy >= 0 && sy < 28 && sx >= 0 && sx < 28
        ? src[sy * 28 + sx]! / 255
        : 0;
    }
  }
}

/** The pixels of a set as [0, 1] floats. */
function floats(set: data.MnistSet, n: number): Float32Array {
  const out = new Float32Array(n * JUDGE_PIXELS);
  for (let i = 0; i < out.length; i++) out[i] = set.images[i]! / 255;
  return out;
}

// ---- evaluation -----------------------------------------------------------------

/** Accuracy, mean loss, and the confusion matrix (`[true][predicted]`) of probabilities. */
function scores(
  probs: Float32Array,
  labels: Uint8Array,
  n: number,
): { acc: number; loss: number; confusion: number[][] } {
  const confusion = Array.from({ length: 10 }, () => new Array<number>(10).fill(0));
  let right = 0, loss = 0;
  for (let i = 0; i < n; i++) {
    let best = 0;
    for (let c = 1; c < JUDGE_CLASSES; c++) {
      if (probs[i * 10 + c]! > probs[i * 10 + best]!) best = c;
    }
    const y = labels[i]!;
    confusion[y]![best]!++;
    if (best === y) right++;
    loss -= Math.log(Math.max(probs[i * 10 + y]!, 1e-30));
  }
  return { acc: right / n, loss: loss / n, confusion };
}

/** The confusion matrix as an SVG table: rows true digits, columns predicted, shaded by share. */
export function confusionSvg(confusion: number[][], title: string): string {
  const cell = 40, left = 60, top = 70;
  const w = left + 10 * cell + 20, h = top + 10 * cell + 40;
  const parts = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${w}" height="${h}" ` +
    `font-family="sans-serif" font-size="12">`,
    `<rect width="${w}" height="${h}" fill="white"/>`,
    `<text x="${w / 2}" y="20" text-anchor="middle" font-size="14">${title}</text>`,
    `<text x="${left + 5 * cell}" y="42" text-anchor="middle">predicted digit</text>`,
    `<text transform="translate(18 ${top + 5 * cell}) rotate(-90)" text-anchor="middle">` +
    `true digit</text>`,
  ];
  for (let d = 0; d < 10; d++) {
    parts.push(
      `<text x="${left + d * cell + cell / 2}" y="${top - 8}" text-anchor="middle">${d}</text>`,
      `<text x="${left - 10}" y="${top + d * cell + cell / 2 + 4}" text-anchor="end">${d}</text>`,
    );
  }
  confusion.forEach((row, t) => {
    const total = row.reduce((a, b) => a + b, 0) || 1;
    row.forEach((count, p) => {
      const share = count / total;
      const shade = t === p
        ? `rgb(${Math.round(255 - 155 * share)},${Math.round(255 - 80 * share)},255)`
        : count > 0
        ? `rgb(255,${Math.round(225 - 1500 * Math.min(share, 0.1))},` +
          `${Math.round(225 - 1500 * Math.min(share, 0.1))})`
        : "white";
      const x = left + p * cell, y = top + t * cell;
      parts.push(
        `<rect x="${x}" y="${y}" width="${cell}" height="${cell}" fill="${shade}" ` +
          `stroke="#ccc"/>`,
        `<text x="${x + cell / 2}" y="${y + cell / 2 + 4}" text-anchor="middle">${count}</text>`,
      );
    });
  });
  parts.push("</svg>\n");
  return parts.join("\n");
}

// ---- training ---------------------------------------------------------------------

type Values = ReturnType<typeof parseFlags<typeof FLAGS>>["values"];

function runConfig(v: Values): RunConfig {
  const valCount = v.valCount ?? (v.quick ? 100 : 5000);
  return {
    batch: v.batch,
    lr: v.lr,
    shift: v.shift,
    patience: v.patience,
    seed: v.seed,
    valCount,
    trainCount: v.trainCount ?? (v.quick ? 300 : TRAIN_TOTAL - valCount),
    testCount: v.testCount ?? (v.quick ? 100 : TEST_IMAGES),
  };
}

/** The program as `--resume` hints name it. */
const COMMAND = "deno run -A examples/judge.ts";

/**
 * Run the program with command-line arguments.
 *
 * @param args the arguments, e.g. `["--quick", "--backend", "cpu"]`
 */
export async function main(args: string[]): Promise<void> {
  const { values: v, explicit } = parseFlags(args, FLAGS, HELP);
  const asked = runConfig(v);
  if (asked.trainCount + asked.valCount > TRAIN_TOTAL) {
    throw new UsageError(
      `--train-count ${asked.trainCount} and --val-count ${asked.valCount} add up to more than ` +
        `the ${TRAIN_TOTAL} training images`,
    );
  }
  const run = await Run.open({
    program: "judge",
    command: COMMAND,
    out: v.out,
    resume: v.resume,
    config: asked,
    explicit: explicit as Set<string>,
    flags: FLAGS,
    epochs: v.epochs ?? (v.quick ? 1 : 4),
  });
  const cfg = run.config;

  const sets = await data.mnistSplits({ dir: v.data, validationCount: cfg.valCount });
  const test = sets.test;
  if (sets.train.count < cfg.trainCount || test.count < cfg.testCount) {
    throw new Error(
      `Cannot use the MNIST files: expected ${TRAIN_TOTAL} training and ${TEST_IMAGES} test ` +
        `images, got ${sets.train.count + sets.validation.count} and ${test.count}`,
    );
  }
  const { backend } = await init({ backend: v.backend as "auto" | "webgpu" | "cpu" });

  manualSeed(cfg.seed);
  const judge = new Judge();
  const adam = new optim.Adam(judge.parameters(), { lr: cfg.lr });
  if (!run.resumed) {
    console.error(
      `judge: ${judge}, ${cfg.trainCount} train / ${cfg.valCount} val / ${cfg.testCount} test ` +
        `images, batch ${cfg.batch}, Adam lr ${cfg.lr} decaying linearly to 0, shifts ` +
        `±${cfg.shift} px, ${run.epochs} epoch${run.epochs === 1 ? "" : "s"}`,
    );
  }
  await run.track({
    modules: { "": judge },
    optimizers: { adam },
    keep: "best",
    monitor: { metric: "valAcc", mode: "max", patience: cfg.patience },
    metadata: { model: "judge", architecture: "Net: conv 1-32-64 3x3, maxpool 2, fc 9216-128-10" },
  });

  const val = data.subset(sets.validation, 0, cfg.valCount);
  const valPixels = floats(val, cfg.valCount);
  const images = sets.train.images, labels = sets.train.labels;
  const stepsPerEpoch = Math.ceil(cfg.trainCount / cfg.batch);
  const totalSteps = stepsPerEpoch * run.epochs;
  const host = new Float32Array(cfg.batch * JUDGE_PIXELS);
  const hostLabels = new Float32Array(cfg.batch);
  const span = 2 * cfg.shift + 1;
  let stepEpoch = 0, stepInEpoch = 0;
  judge.train();
  await run.fit({
    batches: (epoch) =>
      data.batches(cfg.trainCount, cfg.batch, { seed: cfg.seed, epoch, shuffle: true }),
    step: (idx, epoch) => {
      if (epoch !== stepEpoch) [stepEpoch, stepInEpoch] = [epoch, 0];
      const t = (epoch - 1) * stepsPerEpoch + stepInEpoch++;
      adam.lr = cfg.lr * Math.max(0, 1 - t / totalSteps);
      const b = idx.length;
      for (let i = 0; i < b; i++) {
        const k = idx[i]!;
        const h = hash3(cfg.seed, epoch, k);
        const dx = (h % span) - cfg.shift, dy = (Math.floor(h / span) % span) - cfg.shift;
        shiftedImage(
          images.subarray(k * JUDGE_PIXELS, (k + 1) * JUDGE_PIXELS),
          host,
          i * JUDGE_PIXELS,
          dx,
          dy,
        );
        hostLabels[i] = labels[k]!;
      }
      const x = tensor(host.subarray(0, b * JUDGE_PIXELS), [b, 1, 28, 28]);
      const y = tensor(hostLabels.subarray(0, b), [b]);
      const logits = judge.forward(x);
      const loss = nn.crossEntropy(logits, y);
      adam.zeroGrad();
      loss.backward();
      adam.step();
      const right = logits.gather(y.reshape([b, 1]), 1).reshape([b]).ge(logits.max(1));
      return { trainLoss: loss, trainAcc: right.mean() };
    },
    evaluate: async () => {
      const { probs } = await judgeImages(judge, valPixels, cfg.valCount, {
        batch: v.evalBatch,
      });
      const s = scores(probs, val.labels, cfg.valCount);
      return { valLoss: s.loss, valAcc: s.acc };
    },
    columns: [["loss", "trainLoss"], ["acc", "trainAcc"], ["val loss", "valLoss"], [
      "val acc",
      "valAcc",
    ]],
    extra: { lr: cfg.lr, batch: cfg.batch, shift: cfg.shift, backend },
    logEvery: v.logEvery,
  });

  // The test set, once, with the best epoch's weights.
  run.restoreBest();
  const { probs } = await judgeImages(judge, floats(test, cfg.testCount), cfg.testCount, {
    batch: v.evalBatch,
  });
  const s = scores(probs, test.labels, cfg.testCount);
  const perDigit = s.confusion.map((row, d) => row[d]! / (row.reduce((a, b) => a + b, 0) || 1));
  const testMetrics = {
    testAcc: s.acc,
    testLoss: s.loss,
    testErrors: Math.round((1 - s.acc) * cfg.testCount),
    testImages: cfg.testCount,
    perDigitAcc: Object.fromEntries(perDigit.map((a, d) => [String(d), a])),
    confusion: s.confusion,
    bestEpoch: run.bestEpoch,
    bestValAcc: run.best,
    epochs: run.epoch,
    ...cfg,
    backend,
  };
  await run.write("test_metrics.json", JSON.stringify(testMetrics, null, 2) + "\n");
  console.log(
    `test  accuracy ${(100 * s.acc).toFixed(2)}% (${testMetrics.testErrors} of ` +
      `${cfg.testCount} wrong)  loss ${fmt(s.loss)}  best epoch ${run.bestEpoch}`,
  );
  console.log(
    "test  per digit " + perDigit.map((a, d) => `${d}: ${(100 * a).toFixed(1)}%`).join("  "),
  );
  await run.write(
    "confusion.svg",
    confusionSvg(
      s.confusion,
      `judge: test confusion (${(100 * s.acc).toFixed(2)}% of ${cfg.testCount} right)`,
    ),
  );
  await run.chart("accuracy.svg", {
    title: "judge: accuracy per epoch",
    xLabel: "epoch",
    yLabel: "accuracy",
    series: [["train (shifted, dropout)", "trainAcc"], ["validation", "valAcc"]],
  });
  await run.chart("loss.svg", {
    title: "judge: cross-entropy per epoch",
    xLabel: "epoch",
    yLabel: "loss",
    series: [["train (shifted, dropout)", "trainLoss"], ["validation", "valLoss"]],
  });
  run.finish();
  judge.dispose();
  adam.dispose();
}

if (import.meta.main) await runMain("judge", () => main(Deno.args));
