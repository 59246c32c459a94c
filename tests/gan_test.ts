/**
 * The GAN of `examples/gan.ts`: two whole training steps against PyTorch
 * (fixtures/gan.safetensors from fixtures/make_gan_fixtures.py: same weights,
 * z, input noise and dropout masks; BatchNorm1d in training and evaluation
 * mode, LeakyReLU, Dropout, BCE with smoothed targets, both Adams), the
 * scores against hand-computed cases, and the program end to end on a tiny
 * run with a stand-in judge (random weights of the judge's architecture).
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { init, manualSeed, nn, noGrad, type Tensor, tensor, tidy } from "../mod.ts";
import { decodeSafetensors } from "../nn/safetensors.ts";
import {
  DROPOUT,
  Gan,
  ganOptimizers,
  type GanSizes,
  ganStep,
  generateDigits,
} from "../examples/_gan_model.ts";
import {
  featureStats,
  frechetDistance,
  inceptionScore,
  sqrtSymmetric,
  summarizeJudgement,
} from "../examples/_scores.ts";
import { Judge } from "../examples/_judge.ts";
import { assertClose } from "./_gradcheck.ts";
import { assertFails, files, metricLines, pngSize, runProgram } from "./_program.ts";

await init({ backend: "cpu", log: false });

const fx = decodeSafetensors(
  Deno.readFileSync(new URL("../fixtures/gan.safetensors", import.meta.url)),
  "fixtures/gan.safetensors",
);
const host = (name: string) => {
  const t = fx.tensors[name];
  if (!t) throw new Error(`fixture has no tensor '${name}'`);
  return { shape: t.shape, data: Float32Array.from(t.data) };
};
const t = (name: string): Tensor => {
  const h = host(name);
  return tensor(h.data, h.shape);
};

/** Dropout that applies the masks it is handed, as the fixture's PyTorch module does. */
class MaskDropout extends nn.Module {
  constructor(readonly queue: Tensor[]) {
    super();
  }
  forward(x: Tensor): Tensor {
    if (!this.training) return x.reshape(x.shape);
    const m = this.queue.shift();
    if (!m) throw new Error("MaskDropout: no mask left");
    return x.mul(m.mul(1 / (1 - DROPOUT)));
  }
}

Deno.test("GAN: two whole steps equal PyTorch's (weights, BatchNorm statistics, losses, D outputs, eval mode)", async () => {
  const sizes = JSON.parse(fx.metadata.sizes!) as GanSizes;
  const queue: Tensor[] = [];
  const gan = new Gan({ dropout: () => new MaskDropout(queue) }, sizes);
  const names = Object.keys(gan.stateDict()).sort();
  const start: Record<string, { shape: number[]; data: Float32Array }> = {};
  for (const k of names) start[k] = host(`param.${k}`);
  gan.loadStateDict(start);
  assert.ok(names.includes("generator.1.running_mean") && names.includes("generator.9.bias"));
  assert.ok(names.includes("discriminator.9.weight"));
  const opt = ganOptimizers(gan, { lrG: 1e-4, lrD: 3e-4 });
  gan.train();
  for (const s of [1, 2]) {
    for (let k = 0; k < 3; k++) {
      for (let j = 0; j < 3; j++) queue.push(t(`step${s}.mask.${k}.${j}`));
    }
    const m = tidy(() =>
      ganStep(gan, opt, t(`step${s}.real`), {
        z: t(`step${s}.z`),
        noise: [t(`step${s}.noise.0`), t(`step${s}.noise.1`), t(`step${s}.noise.2`)],
      })
    );
    assert.equal(queue.length, 0, "every mask used, in PyTorch's order");
    for (const k of ["lossD", "lossG", "dReal", "dFake"] as const) {
      assertClose(await m[k].data(), host(`step${s}.${k}`).data, {
        rtol: 1e-5,
        atol: 1e-6,
        label: `step ${s} ${k}`,
      });
    }
    const state = gan.stateDict();
    for (const k of names) {
      // The biases of the Linear layers before a BatchNorm (generator.0, .3, .6) have a zero
      // gradient in exact arithmetic (BatchNorm subtracts the batch mean), so both sides hand
      // rounding noise to Adam, which turns it into steps of up to lr (1e-4) of either sign.
      const noise = /^generator\.[036]\.bias$/.test(k);
      assertClose(await state[k]!.data(), host(`after${s}.${k}`).data, {
        rtol: 1e-4,
        atol: noise ? 2.5e-4 : 2e-6,
        label: `after step ${s}: ${k}`,
      });
    }
  }
  gan.eval();
  const [g, d] = noGrad(() => [
    gan.generator.forward(t("eval.z")),
    gan.discriminator.forward(t("eval.d_input")),
  ]);
  assertClose(await g!.data(), host("eval.output").data, { rtol: 1e-4, atol: 1e-5 });
  assertClose(await d!.data(), host("eval.d_output").data, { rtol: 1e-4, atol: 1e-6 });
  // generateDigits: eval mode, [-1, 1] → [0, 1], the mode restored.
  gan.train();
  const digits = await generateDigits(gan, host("eval.z").data, 5, 2);
  const want = host("eval.output").data.map((v) => (v + 1) / 2);
  assertClose(digits, want, { rtol: 1e-4, atol: 1e-5 });
  assert.ok(gan.generator.training);
});

Deno.test("Fréchet distance: hand-computed 2-D cases, zero for equal sets, square root squares back", () => {
  const stats = (mean: number[], cov: number[]) => ({
    dim: mean.length,
    count: 2,
    mean: Float64Array.from(mean),
    cov: Float64Array.from(cov),
  });
  // Diagonal: |(1,2)|² + (1+4) + (4+9) − 2(√(1·4) + √(4·9)) = 5 + 18 − 16 = 7.
  assertClose(
    [frechetDistance(stats([0, 0], [1, 0, 0, 4]), stats([1, 2], [4, 0, 0, 9]))],
    [7],
    { rtol: 1e-12, atol: 1e-12 },
  );
  // Not commuting: Σ₁ = [[2,1],[1,2]], Σ₂ = diag(1, 4); Σ₁Σ₂ = [[2,4],[1,8]] has trace 10 and
  // determinant 12, and a 2×2 matrix with positive eigenvalues has Tr √M = √(Tr M + 2√det M),
  // so FD = (4 + 5) − 2√(10 + 4√3).
  assertClose(
    [frechetDistance(stats([0, 0], [2, 1, 1, 2]), stats([0, 0], [1, 0, 0, 4]))],
    [9 - 2 * Math.sqrt(10 + 4 * Math.sqrt(3))],
    { rtol: 1e-12, atol: 1e-12 },
  );
  // featureStats: the corners of a square of side 2 have mean (1, 1), unbiased variance 4/3.
  const sq = featureStats(new Float32Array([0, 0, 2, 0, 0, 2, 2, 2]), 4, 2);
  assert.deepEqual([...sq.mean], [1, 1]);
  assertClose(sq.cov, [4 / 3, 0, 0, 4 / 3], { rtol: 1e-12, atol: 1e-12 });
  // 128 dimensions, as the judge's features: equal sets are at distance 0, the square root of a
  // covariance squares back to it, a shifted mean adds its squared length.
  const n = 300, d = 128;
  let u = 2463534242; // xorshift32: values with a full-rank covariance
  const next = () => ((u ^= u << 13, u ^= u >>> 17, u ^= u << 5) >>> 0) / 2 ** 32 - 0.5;
  const x = new Float32Array(n * d).map((_, i) => next() * (1 + (i % d) / 64));
  const a = featureStats(x, n, d);
  assert.ok(Math.abs(frechetDistance(a, a)) < 1e-8, `FD(a, a) = ${frechetDistance(a, a)}`);
  const shifted = { ...a, mean: a.mean.map((v) => v + 0.5) };
  assertClose([frechetDistance(a, shifted)], [0.25 * d], { rtol: 1e-8, atol: 1e-8 });
  const s = sqrtSymmetric(a.cov, d);
  const back = new Float64Array(d * d);
  for (let i = 0; i < d; i++) {
    for (let k = 0; k < d; k++) {
      for (let j = 0; j < d; j++) back[i * d + j]! += s[i * d + k]! * s[k * d + j]!;
    }
  }
  assertClose(back, a.cov, { rtol: 1e-8, atol: 1e-9 });
});

Deno.test("Inception Score and the judge's summary: hand-computed cases", () => {
  const eye = new Float32Array(100).map((_, i) => (i % 11 === 0 ? 1 : 0)); // 10 one-hot rows
  assertClose([inceptionScore(eye, 10)], [10], { rtol: 1e-12, atol: 1e-12 });
  const same = new Float32Array(40).fill(0.1);
  assertClose([inceptionScore(same, 4)], [1], { rtol: 1e-12, atol: 1e-12 });
  // Two rows (0.5, 0.5, 0…) and (1, 0, 0…): p̄ = (0.75, 0.25); KL = 0.5·ln(2/3) + 0.5·ln 2, then
  // ln(4/3); IS = exp of their mean.
  const two = new Float32Array(20);
  two.set([0.5, 0.5], 0);
  two[10] = 1;
  const kl = (0.5 * Math.log(0.5 / 0.75) + 0.5 * Math.log(0.5 / 0.25) + Math.log(1 / 0.75)) / 2;
  assertClose([inceptionScore(two, 2)], [Math.exp(kl)], { rtol: 1e-7, atol: 1e-7 });
  const j = summarizeJudgement(two, 2);
  assert.deepEqual(j.perDigit, [2, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
  assert.equal(j.meanConfidence, 0.75);
  assert.equal(j.confidentShare, 0.5);
});

Deno.test("gan.ts end to end: a tiny run, --sample, --score-generator, usage errors", async (t) => {
  const dir = await Deno.makeTempDir({ prefix: "gan_test_" });
  try {
    // A stand-in judge: the judge's architecture with fresh weights.
    const judgePath = join(dir, "judge.safetensors");
    manualSeed(3);
    await nn.save(judgePath, new Judge());
    const out = join(dir, "run");
    const tiny = [
      "--quick",
      "--backend",
      "cpu",
      "--train-count",
      "384",
      "--epochs",
      "2",
      "--sample-every",
      "1",
      "--eval-samples",
      "40",
      "--summary-samples",
      "60",
      "--judge",
      judgePath,
      "--seed",
      "7",
    ];
    await t.step(
      "training writes every file with the issue's fields and PyTorch's names",
      async () => {
        const r = await runProgram("examples/gan.ts", [...tiny, "--out", out]);
        assert.equal(r.code, 0, r.stderr);
        assert.deepEqual(await files(out), [
          "analysis.svg",
          "gan.safetensors",
          "histogram.svg",
          "individual.svg",
          "losses.svg",
          "metrics.jsonl",
          "resume.safetensors",
          "samples",
          "scores.svg",
          "summary.json",
        ]);
        assert.deepEqual(await files(join(out, "samples")), ["epoch_001.png", "epoch_002.png"]);
        assert.deepEqual(await pngSize(join(out, "samples", "epoch_002.png")), [
          5 * 56 + 12,
          5 * 56 + 12,
        ]);
        const m = await metricLines(out);
        assert.equal(m.length, 2);
        for (
          const k of [
            "lossD",
            "lossG",
            "dReal",
            "dFake",
            "isScore",
            "fid",
            "seconds",
            "imagesPerSecond",
          ]
        ) {
          assert.ok(Number.isFinite(m[1]![k]), `metrics field ${k}: ${m[1]![k]}`);
        }
        assert.ok(m[1]!.isScore! >= 1 && m[1]!.isScore! <= 10);
        const summary = JSON.parse(await Deno.readTextFile(join(out, "summary.json")));
        assert.equal(summary.digits, 60);
        assert.equal(summary.perDigit.reduce((a: number, b: number) => a + b, 0), 60);
        for (
          const k of [
            "meanConfidence",
            "inceptionScore",
            "frechetDistance",
            "realTestInceptionScore",
            "realTrainVsTestFrechetDistance",
          ]
        ) {
          assert.ok(Number.isFinite(summary[k]), k);
        }
        assert.match(
          await Deno.readTextFile(join(out, "analysis.svg")),
          /^<svg[^]*data:image\/png;base64/,
        );
        const ckpt = decodeSafetensors(await Deno.readFile(join(out, "gan.safetensors")), "gan");
        const names = Object.keys(ckpt.tensors);
        for (
          const k of [
            "generator.0.weight",
            "generator.1.running_mean",
            "generator.1.num_batches_tracked",
            "generator.9.bias",
            "discriminator.0.weight",
            "discriminator.9.bias",
          ]
        ) {
          assert.ok(names.includes(k), `checkpoint has ${k}`);
        }
        assert.equal(names.length, 4 * 2 + 3 * 5 + 4 * 2);
        assert.match(r.stdout, /summary of 60 generated digits/);
      },
    );
    await t.step("--sample N writes N digits from the checkpoint", async () => {
      const r = await runProgram("examples/gan.ts", [
        "--sample",
        "9",
        "--backend",
        "cpu",
        "--out",
        out,
      ]);
      assert.equal(r.code, 0, r.stderr);
      assert.deepEqual(await pngSize(join(out, "sample.png")), [3 * 56 + 8, 3 * 56 + 8]);
    });
    await t.step("--score-generator scores checkpoints beside the real digits", async () => {
      const r = await runProgram("examples/gan.ts", [
        "--score-generator",
        join(out, "gan.safetensors"),
        "--summary-samples",
        "50",
        "--judge",
        judgePath,
        "--backend",
        "cpu",
        "--out",
        out,
      ]);
      assert.equal(r.code, 0, r.stderr);
      const s = JSON.parse(await Deno.readTextFile(join(out, "scores.json")));
      assert.equal(s.generators.length, 1);
      assert.ok(Number.isFinite(s.generators[0].frechetDistance));
      assert.ok(Number.isFinite(s.realTestInceptionScore));
    });
    await t.step(
      "--defer-scores keeps each epoch's generator; --rescore scores them later",
      async () => {
        const deferred = join(dir, "deferred");
        const args = tiny.filter((a, i) => a !== "--epochs" && tiny[i - 1] !== "--epochs");
        const r = await runProgram("examples/gan.ts", [
          ...args,
          "--epochs",
          "1",
          "--sample-every",
          "5",
          "--defer-scores",
          "--out",
          deferred,
        ]);
        assert.equal(r.code, 0, r.stderr);
        assert.deepEqual(await files(join(deferred, "generators")), ["epoch_001.safetensors"]);
        assert.ok(!(await files(deferred)).includes("summary.json"));
        assert.ok(!("isScore" in (await metricLines(deferred))[0]!));
        const again = await runProgram("examples/gan.ts", [
          "--rescore",
          "--judge",
          judgePath,
          "--backend",
          "cpu",
          "--out",
          deferred,
        ]);
        assert.equal(again.code, 0, again.stderr);
        const m = await metricLines(deferred);
        assert.ok(Number.isFinite(m[0]!.isScore) && Number.isFinite(m[0]!.fid));
        for (const f of ["summary.json", "analysis.svg", "scores.svg", "samples"]) {
          assert.ok((await files(deferred)).includes(f), f);
        }
        assert.deepEqual(await files(join(deferred, "samples")), ["epoch_001.png"]);
      },
    );
    await t.step("usage and runtime errors: one line, exit 2 or 1", async () => {
      assertFails(
        await runProgram("examples/gan.ts", ["--sample", "4", "--epochs", "3"]),
        2,
        /--sample does not train: --epochs is a training flag/,
      );
      assertFails(
        await runProgram("examples/gan.ts", [
          "--sample",
          "4",
          "--backend",
          "cpu",
          "--checkpoint",
          join(dir, "nope.safetensors"),
        ]),
        1,
        /Cannot find the checkpoint '.*nope\.safetensors'/,
      );
    });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
