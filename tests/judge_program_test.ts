/**
 * End-to-end tests of `examples/judge.ts` on the CPU backend: a `--quick`
 * run writes every file and a checkpoint that `obtainJudge` loads; bad flags
 * fail with exit code 2 and one line; the shift augmentation moves pixels.
 */
import assert from "node:assert/strict";
import { init } from "../mod.ts";
import { confusionSvg, shiftedImage } from "../examples/judge.ts";
import { judgeImages, obtainJudge } from "../examples/_judge.ts";
import { assertFails, files, metricLines, runProgram } from "./_program.ts";

const PROGRAM = "examples/judge.ts";
const QUICK = ["--quick", "--backend", "cpu"];

Deno.test("judge.ts --quick: every file, test metrics, a checkpoint obtainJudge loads", async () => {
  const dir = await Deno.makeTempDir({ prefix: "judge_program_test_" });
  try {
    const r = await runProgram(PROGRAM, [...QUICK, "--out", dir]);
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(await files(dir), [
      "accuracy.svg",
      "confusion.svg",
      "loss.svg",
      "metrics.jsonl",
      "model.safetensors",
      "resume.safetensors",
      "test_metrics.json",
    ]);
    const m = await metricLines(dir);
    assert.equal(m.length, 1);
    for (const k of ["trainLoss", "trainAcc", "valLoss", "valAcc", "seconds", "imagesPerSecond"]) {
      assert(typeof m[0]![k] === "number" && Number.isFinite(m[0]![k]), `metrics field ${k}`);
    }
    // Five steps: no better than a few guesses yet, but a sane loss (ln 10 = chance).
    assert(m[0]!.valAcc >= 0 && m[0]!.valAcc <= 1, `valAcc ${m[0]!.valAcc}`);
    assert(m[0]!.valLoss > 0 && m[0]!.valLoss < Math.log(10) + 0.2, `valLoss ${m[0]!.valLoss}`);
    assert(!("testAcc" in m[0]!), "no test metric in metrics.jsonl");
    const test = JSON.parse(await Deno.readTextFile(`${dir}/test_metrics.json`));
    assert.equal(test.testImages, 100);
    const confusion = test.confusion as number[][];
    assert.equal(confusion.flat().reduce((a, b) => a + b, 0), 100);
    const right = confusion.reduce((a, row, d) => a + row[d]!, 0);
    assert.equal(test.testAcc, right / 100);
    assert.deepEqual(Object.keys(test.perDigitAcc), [..."0123456789"]);
    assert.match(r.stdout, /^test {2}accuracy \d+\.\d\d% /m);
    assert.match(await Deno.readTextFile(`${dir}/confusion.svg`), /^<svg[\s>]/);

    await init({ backend: "cpu", log: false });
    const judge = await obtainJudge({ path: `${dir}/model.safetensors`, log: () => {} });
    const { probs } = await judgeImages(judge, new Float32Array(2 * 784), 2);
    assert.equal(probs.length, 20);
    assert(Math.abs(probs.subarray(0, 10).reduce((a, b) => a + b, 0) - 1) < 1e-5);
    judge.dispose();
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("obtainJudge trains and writes a judge where none is cached", async () => {
  const dir = await Deno.makeTempDir({ prefix: "judge_program_test_" });
  try {
    await init({ backend: "cpu", log: false });
    const path = `${dir}/cache/judge.safetensors`;
    const lines: string[] = [];
    const trainArgs = ["--quick", "--train-count", "64", "--val-count", "20", "--test-count", "20"];
    const judge = await obtainJudge({ path, trainArgs, log: (l) => lines.push(l) });
    assert.equal(judge.training, false);
    assert.match(lines[0]!, /no judge at '.*judge\.safetensors'; training one/);
    assert.match(lines.at(-1)!, /trained in .*; wrote .*judge\.safetensors/);
    assert.ok((await files(`${dir}/cache`)).includes("judge.safetensors"));
    const again = await obtainJudge({ path, log: (l) => lines.push(l) });
    assert.equal(lines.length, 2, "the second call loads the cache");
    const x = new Float32Array(784).fill(0.5);
    const [a, b] = [await judgeImages(judge, x, 1), await judgeImages(again, x, 1)];
    assert.deepEqual(a.probs, b.probs);
    judge.dispose();
    again.dispose();
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("judge.ts: --help, and bad flags fail with exit code 2 and one line", async () => {
  const help = await runProgram(PROGRAM, ["--help"]);
  assert.equal(help.code, 0, help.stderr);
  assert.match(help.stdout, /--shift/);
  assert.match(help.stdout, /--epochs/);
  const cases: [string[], RegExp][] = [
    [["--epochs", "0"], /--epochs/],
    [["--shift", "9"], /--shift/],
    [["--lr", "-1"], /--lr/],
    [["--bogus"], /--bogus/],
    [["--train-count", "58000", "--val-count", "5000"], /add up to more than the 60000/],
  ];
  for (const [args, pattern] of cases) {
    assertFails(await runProgram(PROGRAM, [...args, "--backend", "cpu"]), 2, pattern);
  }
  const dir = await Deno.makeTempDir({ prefix: "judge_program_test_" });
  try {
    assertFails(
      await runProgram(PROGRAM, ["--resume", "--out", dir, "--backend", "cpu"]),
      1,
      /nothing to resume/,
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("shiftedImage moves the digit and fills with background", () => {
  const src = new Uint8Array(784);
  src[10 * 28 + 12] = 255;
  src[0] = 51;
  const dst = new Float32Array(784 + 5).fill(7);
  shiftedImage(src, dst, 5, 2, -1);
  assert.equal(dst[5 + 9 * 28 + 14], 1, "pixel (12, 10) moves to (14, 9)");
  assert.equal(dst[4], 7, "nothing written before the offset");
  const ones = Array.from(dst.subarray(5)).filter((v) => v !== 0);
  assert.deepEqual(ones, [1], "the corner pixel left the image; the rest is background");
  const same = new Float32Array(784);
  shiftedImage(src, same, 0, 0, 0);
  assert.equal(same[0], Math.fround(0.2));
});

Deno.test("confusionSvg: one cell per pair with its count", () => {
  const c = Array.from({ length: 10 }, (_, t) => Array.from({ length: 10 }, (_, p) => t * 10 + p));
  const svg = confusionSvg(c, "t");
  assert.equal(svg.match(/<rect x=/g)?.length, 100);
  assert.match(svg, />99</);
});
