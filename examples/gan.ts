#!/usr/bin/env -S deno run -A
/**
 * A generative adversarial network that learns to draw handwritten digits,
 * judged by a CNN digit classifier.
 *
 * The generator maps 128 values of N(0, 1) noise through
 * Linear/BatchNorm/ReLU layers (256, 512, 1024) and Linear 1024→784 + Tanh to
 * a 28×28 digit; the discriminator (784→512→256→128→1, LeakyReLU 0.2 and
 * Dropout 0.3, Sigmoid) says how real a digit looks. Both train against each
 * other on all 60,000 MNIST training digits scaled to [-1, 1] (batch 128,
 * reshuffled each epoch): binary cross-entropy with targets 0.9 (real) and
 * 0.1 (fake) for the discriminator and 1.0 for the generator, Gaussian noise
 * of std 0.05 on every input of the discriminator, Adam (G 1e-4, D 3e-4,
 * betas (0.5, 0.999)); see `examples/_gan_model.ts`.
 *
 * The judge (`examples/_judge.ts`, trained once and cached) labels generated
 * digits: how many of each digit, how sure, the Inception Score with its
 * probabilities and the Fréchet distance of its 128 features between
 * generated and real test digits (`examples/_scores.ts`); the real training
 * digits against the test digits give the reference values.
 *
 * Files in `--out`: `metrics.jsonl` (per epoch: lossD, lossG, dReal, dFake,
 * isScore, fid on `--eval-samples` digits, seconds, imagesPerSecond),
 * `gan.safetensors` (PyTorch names `generator.0.weight` …
 * `discriminator.9.bias`), `resume.safetensors`, `samples/epoch_020.png` …
 * (5×5 digits from a fixed z), `losses.svg`, `scores.svg`, and over
 * `--summary-samples` digits `summary.json`, `analysis.svg`,
 * `individual.svg`, `histogram.svg`.
 *
 * @example
 * ```sh
 * deno run -A examples/gan.ts --quick
 * deno run -A examples/gan.ts --epochs 30 --seed 1 --out out/gan30
 * deno run -A examples/gan.ts --sample 100 --out out/gan30
 * deno run -A examples/gan.ts --score-generator out/gan30/gan.safetensors,other.safetensors
 * ```
 *
 * @module
 */
import { join } from "node:path";
import { data, init, manualSeed, nn, tensor } from "../mod.ts";
import { checkMnistSet, fmt, parseFlags, runFlags, runMain, UsageError } from "./_cli.ts";
import { checkFinite, type MetricsRecord, readSafetensorsFile, Run } from "./_harness.ts";
import {
  fixedNoise,
  Gan,
  ganOptimizers,
  ganStep,
  generateDigits,
  NOISE,
  PIXELS,
} from "./_gan_model.ts";
import { analysisSvg, histogramSvg, individualSvg } from "./_gan_pictures.ts";
import { type Judge, JUDGE_PATH, judgeImages, obtainJudge } from "./_judge.ts";
import {
  type FeatureStats,
  featureStats,
  frechetDistance,
  inceptionScore,
  predictions,
  summarizeJudgement,
} from "./_scores.ts";

const TRAIN_IMAGES = 60_000;
const TEST_IMAGES = 10_000;
/** Digits in a sample grid (5×5). */
const GRID = 25;
/** The model file in the output folder. */
const MODEL_FILE = "gan.safetensors";
/** Per-epoch generators kept by `--defer-scores`. */
const GENERATORS_DIR = "generators";
/** Offsets of the fixed noise seeds from `--seed`: sample grids, per-epoch scores, summary. */
const Z_SEED = { grid: 1_000_001, eval: 1_000_002, summary: 1_000_003 } as const;

/** The flags of the program (camelCase here, kebab-case on the command line). */
export const FLAGS = {
  epochs: {
    type: "integer",
    min: 1,
    help: "passes over the training set (default 150, 1 with --quick; --resume: the saved plan)",
  },
  batch: { type: "integer", min: 2, default: 128, help: "digits per training step" },
  lrG: {
    type: "number",
    positive: true,
    default: 1e-4,
    help: "the generator's Adam learning rate",
  },
  lrD: {
    type: "number",
    positive: true,
    default: 3e-4,
    help: "the discriminator's Adam learning rate",
  },
  ...runFlags({ seed: 42, seedHelp: "weights, shuffling, noise", out: "out/gan" }),
  quick: {
    type: "boolean",
    help: "small end-to-end run: 2000 training digits, 1 epoch, 200/500 scored digits",
  },
  trainCount: {
    type: "integer",
    min: 2,
    max: TRAIN_IMAGES,
    help: "training digits used (default 60000, 2000 with --quick)",
  },
  sampleEvery: {
    type: "integer",
    min: 1,
    default: 20,
    help: "write samples/epoch_XXX.png every N epochs (and after the last)",
  },
  evalSamples: {
    type: "integer",
    min: 0,
    max: 100_000,
    help: "digits scored after every epoch (IS, FID; 0 = none; default 2000, 200 with --quick)",
  },
  summarySamples: {
    type: "integer",
    min: 2,
    max: 100_000,
    help: "digits in the final summary and real digits in the reference " +
      "(default 10000, 500 with --quick)",
  },
  judge: {
    type: "string",
    placeholder: "FILE",
    default: JUDGE_PATH,
    help: "the judge's weights (trained and cached there when missing)",
  },
  trainClassifier: { type: "boolean", help: "train the judge again even when --judge exists" },
  deferScores: {
    type: "boolean",
    help: "train without the judge: keep each epoch's generator in <out>/generators/ and score " +
      "them later with --rescore",
  },
  rescore: {
    type: "boolean",
    help: "score a finished --defer-scores run in --out: per-epoch scores into metrics.jsonl, " +
      "the summary and its pictures",
  },
  sample: {
    type: "integer",
    min: 1,
    max: 10_000,
    placeholder: "N",
    help: "write N digits from a saved checkpoint to <out>/sample.png (and with their z to " +
      "sample.safetensors), no training",
  },
  checkpoint: {
    type: "string",
    placeholder: "FILE",
    help: "--sample: the checkpoint to load (default <out>/gan.safetensors)",
  },
  scoreGenerator: {
    type: "string",
    placeholder: "FILE[,FILE…]",
    help: "score generators (files with generator.* weights) with the judge beside the real " +
      "digits; writes <out>/scores.json",
  },
  logEvery: {
    type: "integer",
    min: 1,
    default: 10,
    help: "read the losses back every N steps (progress updates)",
  },
} as const;

const HELP = {
  program: "examples/gan.ts",
  summary:
    "Train an MLP GAN that draws MNIST digits (BCE with label smoothing, input noise, Adam),\n" +
    "and judge its digits with a CNN classifier: counts per digit, confidence, Inception Score,\n" +
    "Fréchet distance of the classifier's features.",
  usage: [
    "deno run -A examples/gan.ts [flags]",
    "deno run -A examples/gan.ts --resume [--out DIR] [--epochs N]",
    "deno run -A examples/gan.ts --sample N [--checkpoint FILE]",
    "deno run -A examples/gan.ts --score-generator FILE[,FILE…]",
  ],
  epilog:
    "Writes to --out: metrics.jsonl, gan.safetensors, resume.safetensors, samples/epoch_XXX.png,\n" +
    "losses.svg, scores.svg, summary.json, analysis.svg, individual.svg, histogram.svg.\n" +
    "Exit codes: 0 ok, 1 runtime error (data, checkpoint), 2 usage error.",
};

type Values = ReturnType<typeof parseFlags<typeof FLAGS>>["values"];

/** Training settings stored in the resume state and the checkpoint's metadata. */
interface RunConfig extends Record<string, unknown> {
  batch: number;
  lrG: number;
  lrD: number;
  seed: number;
  trainCount: number;
  sampleEvery: number;
  evalSamples: number;
  summarySamples: number;
  deferScores: boolean;
}

function runConfig(v: Values): RunConfig {
  return {
    batch: v.batch,
    lrG: v.lrG,
    lrD: v.lrD,
    seed: v.seed,
    trainCount: v.trainCount ?? (v.quick ? 2000 : TRAIN_IMAGES),
    sampleEvery: v.sampleEvery,
    evalSamples: v.evalSamples ?? (v.quick ? 200 : 2000),
    summarySamples: v.summarySamples ?? (v.quick ? 500 : TEST_IMAGES),
    deferScores: v.deferScores,
  };
}

// ---- the judge and the reference values -----------------------------------------

/** What the judge says about real digits: the reference of the scores. */
interface Reference {
  /** Feature statistics of the real test digits (what generated digits are compared with). */
  test: FeatureStats;
  /** Inception Score of the real test digits. */
  realIs: number;
  /** Fréchet distance between real training and real test digits. */
  realFid: number;
  /** How many real digits of each set. */
  count: number;
}

/** Digits `0..n` of a set as `n × 784` pixels in [0, 1]. */
function pixels01(set: data.MnistSet, n: number): Float32Array {
  const out = new Float32Array(n * PIXELS);
  for (let i = 0; i < n * PIXELS; i++) out[i] = set.images[i]! / 255;
  return out;
}

async function loadJudge(v: Values): Promise<Judge> {
  return await obtainJudge({
    path: v.judge,
    retrain: v.trainClassifier,
    log: (line) => console.error(`gan: ${line}`),
  });
}

async function reference(
  judge: Judge,
  train: data.MnistSet,
  test: data.MnistSet,
  count: number,
): Promise<Reference> {
  const n = Math.min(count, test.count, train.count);
  const t = await judgeImages(judge, pixels01(test, n), n);
  const r = await judgeImages(judge, pixels01(train, n), n);
  const testStats = featureStats(t.features, n, 128);
  return {
    test: testStats,
    realIs: inceptionScore(t.probs, n),
    realFid: frechetDistance(featureStats(r.features, n, 128), testStats),
    count: n,
  };
}

/** IS and FID of `n` digits from the generator with noise `z`. */
async function scoreDigits(
  judge: Judge,
  ref: Reference,
  digits: Float32Array,
  n: number,
): Promise<{ isScore: number; fid: number; probs: Float32Array }> {
  const j = await judgeImages(judge, digits, n);
  return {
    isScore: inceptionScore(j.probs, n),
    fid: frechetDistance(featureStats(j.features, n, 128), ref.test),
    probs: j.probs,
  };
}

// ---- pictures and the summary -------------------------------------------------------

type Write = (name: string, contents: Uint8Array | string) => Promise<void>;

/** A 5×5 grid (or any count) of digits in [0, 1] as a PNG. */
function gridPng(digits: Float32Array, n: number, cols = 5): Uint8Array {
  return data.imageGridPng({ images: digits, n, h: 28, w: 28, cols, pad: 2, scale: 2 });
}

function epochName(epoch: number): string {
  return String(epoch).padStart(3, "0");
}

/** Loss and score curves of the metrics records. */
async function charts(records: MetricsRecord[], write: Write, what: string): Promise<void> {
  const x = records.map((r) => r.epoch);
  const series = (name: string, k: string) => ({
    name,
    x,
    y: records.map((r) => typeof r[k] === "number" ? r[k] as number : NaN),
  });
  await write(
    "losses.svg",
    await data.lineChartSvg({
      title: `gan.ts ${what}: losses and mean discriminator outputs`,
      xLabel: "epoch",
      yLabel: "BCE loss / D output",
      series: [
        series("loss D", "lossD"),
        series("loss G", "lossG"),
        series("D(real)", "dReal"),
        series("D(fake)", "dFake"),
      ],
    }),
  );
  if (records.some((r) => typeof r.isScore === "number")) {
    await write(
      "scores.svg",
      await data.lineChartSvg({
        title: `gan.ts ${what}: judge scores per epoch (higher IS, lower FID is better)`,
        xLabel: "epoch",
        yLabel: "score",
        series: [series("Inception Score", "isScore"), series("Fréchet distance", "fid")],
      }),
    );
  }
}

/** What the judge says about `n` digits of a generator from the summary's fixed noise. */
async function judgeGenerator(
  gan: Gan,
  judge: Judge,
  ref: Reference,
  seed: number,
  n: number,
): Promise<{ digits: Float32Array; probs: Float32Array; summary: Record<string, unknown> }> {
  const digits = await generateDigits(gan, await fixedNoise(n, seed + Z_SEED.summary), n);
  const s = await scoreDigits(judge, ref, digits, n);
  const j = summarizeJudgement(s.probs, n);
  return {
    digits,
    probs: s.probs,
    summary: {
      digits: n,
      perDigit: j.perDigit,
      shares: j.shares,
      minShare: Math.min(...j.shares),
      meanConfidence: j.meanConfidence,
      confidentShare: j.confidentShare,
      confidenceThreshold: j.threshold,
      inceptionScore: s.isScore,
      frechetDistance: s.fid,
    },
  };
}

/** The summary over many generated digits: counts, confidence, scores and the pictures. */
async function summarize(
  gan: Gan,
  judge: Judge,
  ref: Reference,
  cfg: { seed: number; summarySamples: number },
  write: Write,
  what: string,
): Promise<Record<string, unknown>> {
  const n = cfg.summarySamples;
  const { digits, probs, summary: judged } = await judgeGenerator(gan, judge, ref, cfg.seed, n);
  const j = summarizeJudgement(probs, n);
  const summary = {
    ...judged,
    realTestInceptionScore: ref.realIs,
    realTrainVsTestFrechetDistance: ref.realFid,
    realDigits: ref.count,
  };
  await write("summary.json", JSON.stringify(summary, null, 2) + "\n");
  const k = Math.min(GRID, n);
  const p = predictions(probs.subarray(0, k * 10), k);
  await write(
    "analysis.svg",
    analysisSvg(digits.subarray(0, k * PIXELS), p.digit, p.confidence, {
      title: `${what}: the judge's digit (confidence) for ${k} generated digits`,
    }),
  );
  const m = Math.min(6, n);
  await write(
    "individual.svg",
    individualSvg(digits, probs, m, `${what}: the judge's probabilities`),
  );
  await write(
    "histogram.svg",
    histogramSvg(j.perDigit, { title: `${what}: predicted digits of ${n} generated digits` }),
  );
  console.log(
    `summary of ${n} generated digits: ` +
      j.perDigit.map((c, d) => `${d}: ${c}`).join("  ") +
      `\n  mean confidence ${j.meanConfidence.toFixed(4)}, ` +
      `${(j.confidentShare * 100).toFixed(1)}% at ≥ ${j.threshold}; ` +
      `Inception Score ${(judged.inceptionScore as number).toFixed(3)} ` +
      `(real test digits ${ref.realIs.toFixed(3)}), ` +
      `Fréchet distance ${(judged.frechetDistance as number).toFixed(3)} ` +
      `(real training vs test ${ref.realFid.toFixed(3)})`,
  );
  return summary;
}

// ---- checkpoints -------------------------------------------------------------------

/** Load the `generator.*` tensors of a file (a whole GAN or a generator alone). */
async function loadGenerator(gan: Gan, path: string): Promise<Record<string, string>> {
  const file = await readSafetensorsFile(path, "the checkpoint");
  checkFinite(file.tensors, path);
  const own: Record<string, nn.DecodedSafetensorsTensor> = {};
  for (const [k, t] of Object.entries(file.tensors)) {
    if (k.startsWith("generator.")) own[k.slice("generator.".length)] = t;
  }
  if (Object.keys(own).length === 0) {
    throw new Error(
      `Cannot load '${path}': it holds no generator.* tensors (names: ${
        Object.keys(file.tensors).slice(0, 4).join(", ")
      }…)`,
    );
  }
  try {
    gan.generator.loadStateDict(own);
  } catch (e) {
    throw new Error(`Cannot load '${path}': ${e instanceof Error ? e.message : String(e)}`);
  }
  return file.metadata;
}

/** The settings a checkpoint was trained with, from its metadata (null when absent). */
function savedConfig(meta: Record<string, string>): Partial<RunConfig> | null {
  try {
    return meta.config ? JSON.parse(meta.config) : null;
  } catch {
    return null;
  }
}

// ---- training ----------------------------------------------------------------------

const COMMAND = "deno run -A examples/gan.ts";

async function train(v: Values, explicit: Set<string>): Promise<void> {
  const run = await Run.open({
    program: "gan",
    command: COMMAND,
    out: v.out,
    resume: v.resume,
    config: runConfig(v),
    explicit,
    flags: FLAGS,
    epochs: v.epochs ?? (v.quick ? 1 : 150),
  });
  const cfg = run.config as RunConfig;
  const trainSet = checkMnistSet(
    await data.loadMnist({ split: "train", dir: v.data }),
    "training",
    cfg.trainCount,
  );
  const testSet = checkMnistSet(await data.loadMnist({ split: "test", dir: v.data }), "test", 1);
  const { backend } = await init({ backend: v.backend as "auto" | "webgpu" | "cpu" });

  let judge: Judge | null = null, ref: Reference | null = null;
  if (!cfg.deferScores) {
    judge = await loadJudge(v);
    ref = await reference(judge, trainSet, testSet, cfg.summarySamples);
    console.error(
      `gan: reference on ${ref.count} real digits: Inception Score of the test digits ` +
        `${ref.realIs.toFixed(3)}, Fréchet distance training vs test ${ref.realFid.toFixed(3)}`,
    );
  }

  manualSeed(cfg.seed);
  const gan = new Gan();
  const opt = ganOptimizers(gan, cfg);
  if (!run.resumed) {
    console.error(
      `gan: ${cfg.trainCount} training digits, batch ${cfg.batch}, lr G ${cfg.lrG} / D ${cfg.lrD}, ` +
        `${run.epochs} epoch${run.epochs === 1 ? "" : "s"}, seed ${cfg.seed}` +
        (cfg.deferScores ? ", scores deferred (--rescore later)" : ""),
    );
  }
  await run.track({
    modules: { "": gan },
    optimizers: { adamG: opt.g, adamD: opt.d },
    keep: "last",
    modelFile: MODEL_FILE,
    metadata: { program: "gan", config: JSON.stringify(cfg) },
  });
  opt.g.lr = cfg.lrG; // a learning rate given again on resume wins over the saved one
  opt.d.lr = cfg.lrD;

  const gridZ = await fixedNoise(GRID, cfg.seed + Z_SEED.grid);
  const evalZ = cfg.evalSamples > 0 && judge
    ? await fixedNoise(cfg.evalSamples, cfg.seed + Z_SEED.eval)
    : null;
  const host = new Float32Array(cfg.batch * PIXELS);
  const images = trainSet.images;
  gan.train();
  await run.fit({
    batches: (epoch) =>
      data.batches(cfg.trainCount, cfg.batch, { seed: cfg.seed, epoch, shuffle: true }),
    step: (idx) => {
      const b = idx.length;
      for (let i = 0; i < b; i++) {
        const src = idx[i]! * PIXELS, dst = i * PIXELS;
        for (let p = 0; p < PIXELS; p++) host[dst + p] = images[src + p]! / 127.5 - 1;
      }
      const m = ganStep(gan, opt, tensor(host.subarray(0, b * PIXELS), [b, PIXELS]));
      return { lossD: m.lossD, lossG: m.lossG, dReal: m.dReal, dFake: m.dFake };
    },
    evaluate: async (): Promise<Record<string, number>> => {
      if (!evalZ || !judge || !ref) return {};
      const digits = await generateDigits(gan, evalZ, cfg.evalSamples);
      const s = await scoreDigits(judge, ref, digits, cfg.evalSamples);
      return { isScore: s.isScore, fid: s.fid };
    },
    afterEpoch: async (epoch) => {
      if (epoch % cfg.sampleEvery === 0 || epoch === run.epochs) {
        const digits = await generateDigits(gan, gridZ, GRID);
        await run.write(`samples/epoch_${epochName(epoch)}.png`, gridPng(digits, GRID));
      }
      if (cfg.deferScores) {
        const weights: Record<string, nn.SafetensorsTensor> = {};
        for (const [k, t] of Object.entries(gan.generator.stateDict())) {
          weights[`generator.${k}`] = {
            dtype: "F32",
            shape: [...t.shape],
            data: Float32Array.from(await t.data()),
          };
        }
        await run.write(
          `${GENERATORS_DIR}/epoch_${epochName(epoch)}.safetensors`,
          nn.encodeSafetensors(weights, { epoch: String(epoch), config: JSON.stringify(cfg) }),
        );
      }
    },
    columns: [
      ["loss D", "lossD"],
      ["loss G", "lossG"],
      ["D(real)", "dReal"],
      ["D(fake)", "dFake"],
      ...(evalZ ? [["IS", "isScore"], ["FID", "fid"]] as [string, string][] : []),
    ],
    extra: { lrG: cfg.lrG, lrD: cfg.lrD, batch: cfg.batch, backend },
    logEvery: v.logEvery,
  });

  const what = `${run.epoch} epoch${run.epoch === 1 ? "" : "s"}, seed ${cfg.seed}`;
  await charts(run.records, (n, c) => run.write(n, c), what);
  if (judge && ref) {
    await summarize(gan, judge, ref, cfg, (n, c) => run.write(n, c), what);
  } else {
    console.error(
      `gan: scores deferred; score this run with: ${COMMAND} --rescore --out ${v.out}`,
    );
  }
  run.finish();
  gan.dispose();
}

// ---- after training: rescore, sample, compare ----------------------------------------

async function rescore(v: Values): Promise<void> {
  const modelPath = join(v.out, MODEL_FILE);
  const gan = new Gan();
  await init({ backend: v.backend as "auto" | "webgpu" | "cpu", log: false });
  const meta = await loadGenerator(gan, modelPath);
  const saved = savedConfig(meta);
  if (!saved || typeof saved.seed !== "number") {
    throw new Error(`Cannot rescore '${modelPath}': its metadata holds no training settings`);
  }
  const cfg = { ...runConfig(v), ...saved } as RunConfig;
  const metricsPath = join(v.out, "metrics.jsonl");
  const text = await Deno.readTextFile(metricsPath).catch(() => {
    throw new Error(`Cannot rescore '${v.out}': '${metricsPath}' is missing`);
  });
  const records = text.split("\n").filter((l) => l.trim()).map((l) =>
    JSON.parse(l)
  ) as MetricsRecord[];
  const trainSet = await data.loadMnist({ split: "train", dir: v.data });
  const testSet = await data.loadMnist({ split: "test", dir: v.data });
  const judge = await loadJudge(v);
  const ref = await reference(judge, trainSet, testSet, cfg.summarySamples);
  const write: Write = (name, c) => data.writeFileAtomic(join(v.out, name), c);
  const evalZ = await fixedNoise(cfg.evalSamples, cfg.seed + Z_SEED.eval);
  const probe = new Gan();
  for (const r of records) {
    const file = join(v.out, GENERATORS_DIR, `epoch_${epochName(r.epoch)}.safetensors`);
    try {
      await Deno.stat(file);
    } catch {
      console.error(`gan: no ${file}; epoch ${r.epoch} keeps no scores`);
      continue;
    }
    await loadGenerator(probe, file);
    const digits = await generateDigits(probe, evalZ, cfg.evalSamples);
    const s = await scoreDigits(judge, ref, digits, cfg.evalSamples);
    r.isScore = s.isScore;
    r.fid = s.fid;
    console.log(`epoch ${r.epoch}  IS ${fmt(s.isScore)}  FID ${fmt(s.fid)}`);
  }
  await write("metrics.jsonl", records.map((r) => JSON.stringify(r) + "\n").join(""));
  // A run stopped before its planned end has no grid of its last epoch yet: draw it as the end
  // of training would have.
  const last = records.at(-1)?.epoch;
  const grid = `samples/epoch_${epochName(last ?? 0)}.png`;
  if (last !== undefined && !(await Deno.stat(join(v.out, grid)).catch(() => null))) {
    const digits = await generateDigits(gan, await fixedNoise(GRID, cfg.seed + Z_SEED.grid), GRID);
    await write(grid, gridPng(digits, GRID));
  }
  const what = `${records.length} epochs, seed ${cfg.seed}`;
  await charts(records, write, what);
  await summarize(gan, judge, ref, cfg, write, what);
  probe.dispose();
  gan.dispose();
}

async function sample(v: Values): Promise<void> {
  const path = v.checkpoint ?? join(v.out, MODEL_FILE);
  await init({ backend: v.backend as "auto" | "webgpu" | "cpu", log: false });
  const gan = new Gan();
  await loadGenerator(gan, path);
  const n = v.sample!;
  const z = await fixedNoise(n, v.seed);
  const digits = await generateDigits(gan, z, n);
  const png = join(v.out, "sample.png"), raw = join(v.out, "sample.safetensors");
  await data.writeFileAtomic(png, gridPng(digits, n, Math.ceil(Math.sqrt(n))));
  await data.writeFileAtomic(
    raw,
    nn.encodeSafetensors({
      z: { dtype: "F32", shape: [n, NOISE], data: z },
      images: { dtype: "F32", shape: [n, PIXELS], data: digits },
    }, { checkpoint: path, seed: String(v.seed), pixels: "[0, 1] = (tanh output + 1) / 2" }),
  );
  console.log(`wrote ${n} digits from '${path}' (noise seed ${v.seed}) to ${png} and ${raw}`);
  gan.dispose();
}

async function scoreGenerators(v: Values): Promise<void> {
  const files = v.scoreGenerator!.split(",").map((f) => f.trim()).filter(Boolean);
  if (files.length === 0) throw new UsageError("--score-generator needs at least one file");
  for (const f of files) {
    await Deno.stat(f).catch(() => {
      throw new Error(`Cannot find the generator '${f}'`);
    });
  }
  const cfg = runConfig(v);
  await init({ backend: v.backend as "auto" | "webgpu" | "cpu", log: false });
  const trainSet = await data.loadMnist({ split: "train", dir: v.data });
  const testSet = await data.loadMnist({ split: "test", dir: v.data });
  const judge = await loadJudge(v);
  const ref = await reference(judge, trainSet, testSet, cfg.summarySamples);
  const results: Record<string, unknown>[] = [];
  for (const f of files) {
    const gan = new Gan();
    await loadGenerator(gan, f);
    results.push({
      generator: f,
      ...(await judgeGenerator(gan, judge, ref, cfg.seed, cfg.summarySamples)).summary,
    });
    gan.dispose();
  }
  const report = {
    judge: v.judge,
    noiseSeed: cfg.seed + Z_SEED.summary,
    realDigits: ref.count,
    realTestInceptionScore: ref.realIs,
    realTrainVsTestFrechetDistance: ref.realFid,
    generators: results,
  };
  await data.writeFileAtomic(join(v.out, "scores.json"), JSON.stringify(report, null, 2) + "\n");
  console.log(
    `${"generator".padEnd(48)} ${"min share".padStart(9)} ${"mean conf".padStart(9)} ` +
      `${"≥0.9".padStart(6)} ${"IS".padStart(7)} ${"FID".padStart(8)}`,
  );
  for (const r of results) {
    console.log(
      `${String(r.generator).padEnd(48)} ${
        ((r.minShare as number) * 100).toFixed(1).padStart(8)
      }% ` +
        `${(r.meanConfidence as number).toFixed(4).padStart(9)} ` +
        `${((r.confidentShare as number) * 100).toFixed(1).padStart(5)}% ` +
        `${(r.inceptionScore as number).toFixed(3).padStart(7)} ` +
        `${(r.frechetDistance as number).toFixed(3).padStart(8)}`,
    );
  }
  console.log(
    `${"real test digits".padEnd(48)} ${"".padStart(9)} ${"".padStart(9)} ${"".padStart(6)} ` +
      `${ref.realIs.toFixed(3).padStart(7)} ${ref.realFid.toFixed(3).padStart(8)}  ` +
      `(FID: real training vs test, ${ref.count} each)`,
  );
  console.log(`wrote ${join(v.out, "scores.json")}`);
}

// ---- main -------------------------------------------------------------------------

/** Flags that only training uses: the other modes refuse them. */
const TRAINING_ONLY = ["epochs", "resume", "quick", "trainCount", "sampleEvery", "deferScores"];

/**
 * Run the program with command-line arguments.
 *
 * @param args the arguments, e.g. `["--quick", "--backend", "cpu"]`
 */
export async function main(args: string[]): Promise<void> {
  const { values, explicit } = parseFlags(args, FLAGS, HELP);
  const modes = (["sample", "rescore", "scoreGenerator"] as const).filter((k) => explicit.has(k));
  if (modes.length > 1) {
    throw new UsageError(`--${
      modes.map((m) => m.replace(/[A-Z]/g, (c) => "-" + c.toLowerCase()))
        .join(" and --")
    } cannot be combined`);
  }
  const mode = modes[0];
  if (mode) {
    const flag = mode === "scoreGenerator" ? "--score-generator" : `--${mode}`;
    const bad = TRAINING_ONLY.filter((k) => (explicit as Set<string>).has(k));
    if (bad.length > 0) {
      throw new UsageError(
        `${flag} does not train: --${bad[0]!.replace(/[A-Z]/g, (c) => "-" + c.toLowerCase())} ` +
          "is a training flag",
      );
    }
  }
  if (explicit.has("checkpoint") && mode !== "sample") {
    throw new UsageError("--checkpoint needs --sample");
  }
  if (mode === "sample") await sample(values);
  else if (mode === "rescore") await rescore(values);
  else if (mode === "scoreGenerator") await scoreGenerators(values);
  else await train(values, explicit as Set<string>);
}

if (import.meta.main) await runMain("gan", () => main(Deno.args));
