/**
 * Tests of `examples/next_digit.ts`: the sequence builder (digits d..d+4,
 * training sequences only from training images, seeded), one `--quick`
 * comparison of all three optimizers end to end on the CPU backend (every
 * file, identical initial weights, checkpoints that reload here and, where
 * PyTorch is installed, strictly into `nn.LSTM` + `nn.Linear`), `--resume`
 * without a judge, and the bad flags.
 */
import assert from "node:assert/strict";
import { init, manualSeed, nn, noGrad, tensor } from "../mod.ts";
import { digitSequences, indicesByDigit, loadMnist } from "../data/mod.ts";
import { Judge } from "../examples/_judge.ts";
import {
  NextDigitModel,
  parseOptimizers,
  pictureSequences,
  weightsSha256,
} from "../examples/next_digit.ts";
import { UsageError } from "../examples/_cli.ts";
import { hasTorch, TORCH_PYTHON } from "./_env.ts";
import { assertFails, files, metricLines, pngSize, runProgram } from "./_program.ts";

const PROGRAM = "examples/next_digit.ts";
await init({ backend: "cpu", log: false });

const [train, test] = await Promise.all([
  loadMnist({ split: "train" }),
  loadMnist({ split: "test" }),
]);

/** Hash of an image's bytes (FNV-1a, 32 bits). */
function imageHash(images: Uint8Array, i: number): number {
  let h = 0x811c9dc5;
  for (let p = i * 784; p < (i + 1) * 784; p++) h = Math.imul(h ^ images[p]!, 0x01000193);
  return h >>> 0;
}

Deno.test("digitSequences: consecutive digits d..d+4, d uniform over 0..5", () => {
  const s = digitSequences(train.labels, { count: 6000, length: 5, seed: 1, stream: 1 });
  assert.equal(s.images.length, 6000 * 5);
  const counts = new Array(6).fill(0);
  for (let k = 0; k < s.count; k++) {
    const d = s.first[k]!;
    assert.ok(d <= 5, `first digit ${d}`);
    counts[d]++;
    for (let j = 0; j < 5; j++) assert.equal(train.labels[s.images[k * 5 + j]!], d + j);
  }
  for (const c of counts) assert.ok(c > 850 && c < 1150, `first digits ${counts}`);
  // The images of a digit are drawn among many: 6000 sequences use thousands of images.
  assert.ok(new Set(s.images).size > 15_000);
});

Deno.test("digitSequences: training sequences hold no test image", () => {
  const testHashes = new Set<number>();
  for (let i = 0; i < test.count; i++) testHashes.add(imageHash(test.images, i));
  // MNIST's training and test images differ; a few hash collisions would be tolerable,
  // a training sequence drawn from the test set would give thousands.
  const s = digitSequences(train.labels, { count: 20_000, length: 5, seed: 1, stream: 3 });
  let shared = 0;
  for (const i of s.images) {
    assert.ok(i >= 0 && i < train.count);
    if (testHashes.has(imageHash(train.images, i))) shared++;
  }
  assert.ok(shared < 5, `${shared} training-sequence images equal a test image`);
});

Deno.test("digitSequences: seeded; each stream (epoch) its own draw", () => {
  const opts = { count: 500, length: 5, seed: 7, stream: 2 };
  const a = digitSequences(train.labels, opts);
  assert.deepEqual(digitSequences(train.labels, opts), a);
  const same = (x: Int32Array, y: Int32Array) => x.every((v, i) => v === y[i]);
  assert.ok(!same(a.images, digitSequences(train.labels, { ...opts, stream: 3 }).images));
  assert.ok(!same(a.images, digitSequences(train.labels, { ...opts, seed: 8 }).images));
  // A prefix does not depend on the count.
  const longer = digitSequences(train.labels, { ...opts, count: 800 });
  assert.deepEqual(longer.images.subarray(0, 2500), a.images);
});

Deno.test("digitSequences and indicesByDigit: bad input", () => {
  const labels = Uint8Array.from([0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 3]);
  assert.deepEqual([...indicesByDigit(labels)[3]!], [3, 10]);
  const opts = { count: 3, length: 5, seed: 1, stream: 0 };
  assert.throws(() => digitSequences(labels, { ...opts, length: 8 }), /length must be/);
  assert.throws(() => digitSequences(labels, { ...opts, seed: -1 }), /seed must be/);
  assert.throws(() => digitSequences(labels, { ...opts, stream: 2 ** 32 }), /stream must be/);
  assert.throws(() => digitSequences(labels.subarray(0, 9), opts), /no image of digit 9/);
});

Deno.test("pictureSequences: rows 0-1-2-3-4 … 5-6-7-8-9 of distinct test images", () => {
  const s = pictureSequences(test.labels);
  assert.equal(s.count, 6);
  for (let d = 0; d < 6; d++) {
    for (let j = 0; j < 5; j++) assert.equal(test.labels[s.images[d * 5 + j]!], d + j);
  }
  assert.equal(new Set(s.images).size, 30);
});

Deno.test("parseOptimizers", () => {
  assert.deepEqual(parseOptimizers("adam, sgd"), ["adam", "sgd"]);
  assert.throws(() => parseOptimizers("adam,adam"), UsageError);
  assert.throws(() => parseOptimizers("adamw"), /--optimizers: 'adamw'/);
});

Deno.test("next_digit.ts: --quick compares the three optimizers end to end", async (t) => {
  const dir = await Deno.makeTempDir({ prefix: "next_digit_test_" });
  try {
    // A judge with seeded random weights: the program only needs a checkpoint of the right kind.
    manualSeed(5);
    const judge = new Judge();
    const judgePath = `${dir}/judge.safetensors`;
    await nn.save(judgePath, judge);
    judge.dispose();
    const out = `${dir}/out`;

    await t.step("every file of the comparison is written", async () => {
      const r = await runProgram(PROGRAM, [
        "--quick",
        "--backend",
        "cpu",
        "--judge",
        judgePath,
        "--out",
        out,
      ]);
      assert.equal(r.code, 0, r.stderr);
      assert.deepEqual(await files(out), [
        "adam",
        "chain.png",
        "comparison.svg",
        "rmsprop",
        "sgd",
        "summary.json",
      ]);
      for (const o of ["sgd", "rmsprop", "adam"]) {
        assert.deepEqual(await files(`${out}/${o}`), [
          "metrics.jsonl",
          "model.safetensors",
          "predictions.png",
          "resume.safetensors",
          "test_metrics.json",
        ]);
        const m = await metricLines(`${out}/${o}`);
        assert.deepEqual(m.map((x) => x.epoch), [1, 2]);
        for (const k of ["trainLoss", "testMse", "classifierAccuracy", "imagesPerSecond"]) {
          assert.ok(Number.isFinite(m[1]![k]), `${o} metrics field ${k}`);
        }
        // Six rows of four inputs, the prediction and a true image, 56 px cells, 4 px padding.
        assert.deepEqual(await pngSize(`${out}/${o}/predictions.png`), [
          6 * 56 + 7 * 4,
          6 * 56 + 7 * 4,
        ]);
      }
      assert.deepEqual(await pngSize(`${out}/chain.png`), [10 * 56 + 11 * 4, 3 * 56 + 4 * 4]);
      const svg = await Deno.readTextFile(`${out}/comparison.svg`);
      assert.match(svg, /^<svg[\s>]/);
      assert.equal(svg.match(/<svg/g)!.length, 3, "two charts in one picture");
      assert.match(r.stdout, /^optimizer +lr +epochs +test MSE +floor +judged d\+4 +s\/epoch$/m);
      assert.match(r.stdout, /^rmsprop +0\.001 +2 +0\.\d{4} +0\.0\d{3} +\d+\.\d% +\d/m);
    });

    await t.step("all three started from the seed's initial weights", async () => {
      const summary = JSON.parse(await Deno.readTextFile(`${out}/summary.json`));
      assert.deepEqual(summary.optimizers.map((o: { optimizer: string }) => o.optimizer), [
        "sgd",
        "rmsprop",
        "adam",
      ]);
      manualSeed(1); // the default --seed
      const fresh = new NextDigitModel();
      const want = await weightsSha256(fresh);
      fresh.dispose();
      for (const o of summary.optimizers) assert.equal(o.initialWeightsSha256, want, o.optimizer);
      assert.equal(summary.sameInitialWeights, true);
      // Same start, same data, different updates: the results differ.
      const mses = summary.optimizers.map((o: { testMse: number }) => o.testMse);
      assert.equal(new Set(mses).size, 3, `test MSEs ${mses}`);
      assert.ok(summary.floor.testMse > 0.04 && summary.floor.testMse < 0.07, summary.floor);
      assert.equal(summary.judge.path, judgePath);
      assert.match(summary.judge.sha256, /^[0-9a-f]{64}$/);
      for (const o of summary.optimizers) {
        assert.ok(o.classifierAccuracy >= 0 && o.classifierAccuracy <= 1);
        assert.equal(o.chainLabels.length, 6);
      }
    });

    await t.step("the checkpoints reload strictly, holding their optimizer and epoch", async () => {
      const summary = JSON.parse(await Deno.readTextFile(`${out}/summary.json`));
      for (const o of summary.optimizers) {
        const model = new NextDigitModel();
        const meta = await nn.load(`${out}/${o.optimizer}/model.safetensors`, model);
        assert.equal(meta.optimizer, o.optimizer);
        assert.equal(meta.epoch, "2");
        const trained = await weightsSha256(model);
        assert.notEqual(trained, o.initialWeightsSha256);
        model.dispose();
      }
    });

    await t.step({
      name: "the checkpoints load strictly into PyTorch and predict the same (needs torch)",
      ignore: !(await hasTorch()),
      fn: async () => {
        const model = new NextDigitModel();
        const path = `${out}/adam/model.safetensors`;
        await nn.load(path, model);
        const s = digitSequences(test.labels, { count: 8, length: 5, seed: 2, stream: 0 });
        const x = new Float32Array(8 * 4 * 784);
        for (let k = 0; k < 8; k++) {
          for (let j = 0; j < 4; j++) {
            const src = s.images[k * 5 + j]! * 784;
            for (let p = 0; p < 784; p++) x[(k * 4 + j) * 784 + p] = test.images[src + p]! / 255;
          }
        }
        const y = noGrad(() => model.forward(tensor(x, [8, 4, 784])));
        const compare = `${dir}/compare.safetensors`;
        await Deno.writeFile(
          compare,
          nn.encodeSafetensors({
            input: { dtype: "F32", shape: [8, 4, 784], data: x },
            output: { dtype: "F32", shape: [8, 784], data: Float32Array.from(await y.data()) },
          }),
        );
        y.dispose();
        model.dispose();
        const r = await new Deno.Command(TORCH_PYTHON, {
          args: ["fixtures/check_next_digit.py", path, "--compare", compare],
          env: { OMP_WAIT_POLICY: "PASSIVE" },
        }).output();
        const dec = new TextDecoder();
        assert.equal(r.code, 0, dec.decode(r.stderr));
        assert.match(dec.decode(r.stdout), /^ok 6 max_abs_diff /);
      },
    });

    await t.step("--resume --epochs 3 --judge none trains adam's third epoch only", async () => {
      const before = await metricLines(`${out}/adam`);
      const sgd = await Deno.readFile(`${out}/sgd/model.safetensors`);
      const r = await runProgram(PROGRAM, [
        "--resume",
        "--optimizers",
        "adam",
        "--epochs",
        "3",
        "--judge",
        "none",
        "--backend",
        "cpu",
        "--out",
        out,
      ]);
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stderr, /next_digit\/adam: resuming after epoch 2 of 3/);
      const m = await metricLines(`${out}/adam`);
      assert.deepEqual(m.map((x) => x.epoch), [1, 2, 3]);
      assert.deepEqual(m[1], before[1]);
      assert.equal(m[2]!.classifierAccuracy, undefined);
      assert.deepEqual(await Deno.readFile(`${out}/sgd/model.safetensors`), sgd);
      const summary = JSON.parse(await Deno.readTextFile(`${out}/summary.json`));
      assert.equal(summary.judge, null);
      const svg = await Deno.readTextFile(`${out}/comparison.svg`);
      assert.equal(svg.match(/<svg/g)!.length, 2, "no judge: the MSE chart alone");
      assert.deepEqual(summary.optimizers.map((o: { epochs: number }) => o.epochs), [3]);
    });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("next_digit.ts: bad flags fail with one line and touch nothing", async () => {
  const dir = await Deno.makeTempDir({ prefix: "next_digit_flags_" });
  try {
    const out = `${dir}/out`;
    const cases: [string[], number, RegExp][] = [
      [["--optimizers", "sgd,adamw"], 2, /--optimizers: 'adamw' \(expected .*sgd, rmsprop, adam/],
      [["--optimizers", "adam,adam"], 2, /'adam' is named twice/],
      [["--optimizers", ""], 2, /--optimizers: empty/],
      [["--epochs", "0"], 2, /--epochs: 0 \(must be at least 1\)/],
      [["--sgd-lr", "-1"], 2, /--sgd-lr: -1 \(must be greater than 0\)/],
      [["--lr", "0.1"], 2, /unknown flag --lr/],
      [["--judge", `${dir}/nope.safetensors`], 1, /Cannot find the judge '.*nope\.safetensors'/],
      [["--resume"], 1, /Cannot find the resume state '.*sgd\/resume\.safetensors'/],
    ];
    for (const [args, code, pattern] of cases) {
      const r = await runProgram(PROGRAM, [...args, "--backend", "cpu", "--out", out]);
      assertFails(r, code, new RegExp(`^next_digit: (error: )?.*${pattern.source}`));
      assert.deepEqual(await files(out), [], `${args.join(" ")} wrote nothing`);
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
