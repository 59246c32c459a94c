/**
 * End-to-end tests of `examples/classify.ts`, run as a subprocess on the CPU
 * backend with a few hundred images: the files of a run, the checkpoint
 * reloaded into a fresh model (here and, where PyTorch is installed, in
 * PyTorch) giving the same test accuracy, `--predict`, and the error cases.
 */
import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { data, init, nn } from "../mod.ts";
import { encodePng } from "../data/png.ts";
import { decodeSafetensors } from "../nn/safetensors.ts";
import { evaluateClassifier, RowClassifier } from "../examples/_classify_model.ts";
import { assertFails, files, metricLines, type Result, runProgram } from "./_program.ts";

const PROGRAM = "examples/classify.ts";
const TEST_COUNT = 200;
/** A tiny run: 256 training images, 16 hidden units, one epoch (a few seconds). */
const TINY = [
  "--quick",
  "--backend",
  "cpu",
  "--train-count",
  "256",
  "--val-count",
  "128",
  "--test-count",
  `${TEST_COUNT}`,
  "--hidden",
  "16",
  "--epochs",
  "1",
  "--lr",
  "3e-3",
  "--index",
  "7",
];
const TORCH_PYTHON = "/usr/bin/python3";

function run(args: string[]): Promise<Result> {
  return runProgram(PROGRAM, args);
}

async function hasTorch(): Promise<boolean> {
  if (!existsSync(TORCH_PYTHON)) return false;
  const { code } = await new Deno.Command(TORCH_PYTHON, {
    args: ["-c", "import torch"],
    stdout: "null",
    stderr: "null",
  }).output().catch(() => ({ code: 1 }));
  return code === 0;
}

Deno.test("classify.ts: a run writes every output, the checkpoint reloads, --predict", async (t) => {
  const dir = await Deno.makeTempDir({ prefix: "classify_test_" });
  try {
    const r = await run([...TINY, "--out", dir]);
    assert.equal(r.code, 0, r.stderr);

    await t.step("every file, metrics and test metrics", async () => {
      assert.deepEqual(await files(dir), [
        "confusion.svg",
        "curves.svg",
        "metrics.jsonl",
        "model.safetensors",
        "prediction.svg",
        "resume.safetensors",
        "test_metrics.json",
      ]);
      const [m, ...more] = await metricLines(dir);
      assert.equal(more.length, 0);
      for (
        const k of ["trainLoss", "trainAcc", "valLoss", "valAcc", "seconds", "imagesPerSecond"]
      ) {
        assert.ok(Number.isFinite(m![k]), `metrics field ${k}: ${m![k]}`);
      }
      assert.equal(m!.epoch, 1);
      for (const k of ["trainAcc", "valAcc"]) assert.ok(m![k]! >= 0 && m![k]! <= 1, `${k}`);
      // Two steps of 128 cannot have learnt much: the loss is near ln 10.
      assert.ok(Math.abs(m!.valLoss! - Math.log(10)) < 0.3, `valLoss ${m!.valLoss}`);
      const test = JSON.parse(await Deno.readTextFile(`${dir}/test_metrics.json`));
      const confusion = test.confusion as number[][];
      assert.equal(confusion.length, 10);
      assert.equal(confusion.flat().reduce((a, b) => a + b, 0), TEST_COUNT);
      const labels = (await data.loadMnist({ split: "test" })).labels.subarray(0, TEST_COUNT);
      confusion.forEach((row, d) => {
        assert.equal(row.reduce((a, b) => a + b, 0), labels.filter((l) => l === d).length);
        const n = labels.filter((l) => l === d).length;
        assert.ok(Math.abs(test.perDigitAccuracy[d] - (n ? row[d]! / n : 0)) < 1e-12);
      });
      const trace = confusion.reduce((a, row, d) => a + row[d]!, 0);
      assert.equal(test.testAccuracy, trace / TEST_COUNT);
      assert.ok(test.testLoss > 0);
      const curves = await Deno.readTextFile(`${dir}/curves.svg`);
      assert.match(curves, /^<svg[\s>]/);
      for (const word of ["accuracy", "loss", "train", "validation"]) {
        assert.ok(curves.includes(word));
      }
      assert.match(await Deno.readTextFile(`${dir}/confusion.svg`), /confusion matrix/);
      const pred = await Deno.readTextFile(`${dir}/prediction.svg`);
      assert.ok(pred.includes(`test image 7: a ${labels[7]}`), "prediction.svg names the digit");
    });

    await t.step(
      "the checkpoint reloads into a fresh model with the same test accuracy",
      async () => {
        const file = decodeSafetensors(await Deno.readFile(`${dir}/model.safetensors`));
        assert.deepEqual(Object.keys(file.tensors).sort(), [
          "fc.bias",
          "fc.weight",
          "lstm.bias_hh_l0",
          "lstm.bias_ih_l0",
          "lstm.weight_hh_l0",
          "lstm.weight_ih_l0",
        ]);
        assert.deepEqual(file.tensors["lstm.weight_ih_l0"]!.shape, [64, 28]);
        await init({ backend: "cpu", log: false });
        const model = new RowClassifier(16);
        await nn.load(`${dir}/model.safetensors`, model);
        const set = await data.loadMnist({ split: "test" });
        const ev = await evaluateClassifier(
          model,
          set.images.subarray(0, TEST_COUNT * 784),
          set.labels.subarray(0, TEST_COUNT),
        );
        const test = JSON.parse(await Deno.readTextFile(`${dir}/test_metrics.json`));
        assert.equal(ev.accuracy, test.testAccuracy);
        assert.ok(Math.abs(ev.loss - test.testLoss) < 1e-5, `${ev.loss} vs ${test.testLoss}`);
        model.dispose();
      },
    );

    await t.step({
      name: "PyTorch loads it strictly and gets the same accuracy (skipped without torch)",
      ignore: !(await hasTorch()),
      fn: async () => {
        const out = await new Deno.Command(TORCH_PYTHON, {
          args: [
            "fixtures/check_classify.py",
            `${dir}/model.safetensors`,
            "--hidden",
            "16",
            "--count",
            `${TEST_COUNT}`,
            "--test-metrics",
            `${dir}/test_metrics.json`,
          ],
          env: { OMP_WAIT_POLICY: "PASSIVE" },
        }).output();
        const dec = new TextDecoder();
        assert.equal(out.code, 0, dec.decode(out.stderr));
        const test = JSON.parse(await Deno.readTextFile(`${dir}/test_metrics.json`));
        assert.equal(
          dec.decode(out.stdout).trim().split(" ")[1],
          test.testAccuracy.toFixed(4),
        );
      },
    });

    await t.step("--predict classifies a test image and a PNG", async () => {
      const p = await run(["--predict", "--backend", "cpu", "--out", dir, "--index", "3"]);
      assert.equal(p.code, 0, p.stderr);
      const [head, line] = p.stdout.trim().split("\n");
      assert.match(head!, /^test image 3 \(a 0\): predicted \d$/);
      const probs = [...line!.matchAll(/(\d): ([0-9.]+)/g)].map((m) => Number(m[2]));
      assert.equal(probs.length, 10);
      assert.ok(Math.abs(probs.reduce((a, b) => a + b, 0) - 1) < 1e-3);
      assert.equal(Number(/predicted (\d)/.exec(head!)![1]), probs.indexOf(Math.max(...probs)));

      const png = `${dir}/digit.png`;
      const img = new Uint8Array(784);
      for (let y = 6; y < 22; y++) img[y * 28 + 14] = 255; // a "1"
      await Deno.writeFile(png, encodePng(img, 28, 28));
      const q = await run(["--predict", "--backend", "cpu", "--out", dir, "--image", png]);
      assert.equal(q.code, 0, q.stderr);
      assert.match(q.stdout, new RegExp(`^'${png}': predicted \\d\\n0: `));
    });

    await t.step("bad input: a PNG of the wrong size, a missing checkpoint, usage", async () => {
      const png = `${dir}/big.png`;
      await Deno.writeFile(png, encodePng(new Uint8Array(32 * 32), 32, 32));
      const r1 = await run(["--predict", "--backend", "cpu", "--out", dir, "--image", png]);
      assertFails(r1, 1, /^classify: error: Cannot read image '.*big\.png': .*32.*28/);
      const r2 = await run(["--predict", "--backend", "cpu", "--out", `${dir}/nothing`]);
      assertFails(
        r2,
        1,
        /^classify: error: Cannot find the checkpoint '.*nothing\/model\.safetensors' \(train one first/,
      );
      const r3 = await run(["--image", png]);
      assertFails(r3, 2, /^classify: --image needs --predict/);
      const r4 = await run(["--predict", "--image", png, "--index", "2"]);
      assertFails(r4, 2, /--image and --index cannot be combined/);
      const r5 = await run(["--rho", "2"]);
      assertFails(r5, 2, /--rho/);
    });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
