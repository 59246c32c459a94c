/**
 * Float64 finite-difference gradient checks of the nn functions (conv2d with
 * overlapping and strided windows, maxPool2d, batchNorm in both modes,
 * linear, dropout, the three losses): every analytic gradient agrees with
 * central differences within 1e-6 relative.
 */
import assert from "node:assert/strict";
import { manualSeed, type Tensor, tensor } from "../mod.ts";
import {
  batchNorm,
  bceLoss,
  conv2d,
  crossEntropy,
  dropout,
  linear,
  maxPool2d,
  mseLoss,
  type WindowOptions,
} from "../nn/mod.ts";
import { gradCheck, rand64 } from "./_gradcheck.ts";

const f64 = { dtype: "float64", backend: "cpu" } as const;

async function check(
  name: string,
  fn: (...xs: Tensor[]) => Tensor,
  inputs: Tensor[],
): Promise<void> {
  const r = await gradCheck(fn, inputs);
  assert.ok(r.maxRelError < 1e-6, `${name}: relative error ${r.maxRelError} at ${r.where}`);
  for (const x of inputs) {
    x.zeroGrad();
    x.dispose();
  }
}

const convCases: [string, number[], number[], WindowOptions][] = [
  ["3×3, stride 1, padding 1 (overlapping windows)", [2, 2, 5, 6], [3, 2, 3, 3], { padding: 1 }],
  ["3×3, stride 2, padding 1", [1, 2, 7, 6], [2, 2, 3, 3], { stride: 2, padding: 1 }],
  ["2×3, stride [2, 1], no padding", [2, 1, 6, 5], [2, 1, 2, 3], { stride: [2, 1] }],
];
for (const [label, xs, ws, opts] of convCases) {
  Deno.test(`conv2d gradients (${label}) match finite differences`, async () => {
    await check(
      `conv2d ${label}`,
      (x, w, b) => conv2d(x!, w!, b!, opts),
      [rand64(xs, 1), rand64(ws, 2, { lo: -1, hi: 1 }), rand64([ws[0]!], 3)],
    );
  });
}

Deno.test("maxPool2d gradients (2×2, and 3×3 stride 2 padding 1) match finite differences", async () => {
  await check("maxPool2d k2", (x) => maxPool2d(x!, 2), [rand64([2, 2, 6, 7], 4)]);
  await check(
    "maxPool2d k3 s2 p1",
    (x) => maxPool2d(x!, 3, { stride: 2, padding: 1 }),
    [rand64([1, 2, 7, 6], 5)],
  );
});

Deno.test("batchNorm gradients in training mode ([N, C] and [N, C, L]) match finite differences", async () => {
  const train = (x: Tensor, w: Tensor, b: Tensor) =>
    batchNorm(x, null, null, w, b, { training: true });
  await check(
    "batchNorm train 2d",
    (x, w, b) => train(x!, w!, b!),
    [rand64([5, 4], 6), rand64([4], 7), rand64([4], 8)],
  );
  await check(
    "batchNorm train 3d",
    (x, w, b) => train(x!, w!, b!),
    [rand64([3, 4, 5], 9), rand64([4], 10), rand64([4], 11)],
  );
});

Deno.test("batchNorm gradients in evaluation mode match finite differences", async () => {
  const rm = tensor(new Float64Array([0.5, -0.2, 0.1]), [3], f64);
  const rv = tensor(new Float64Array([1.5, 0.7, 2.0]), [3], f64);
  await check(
    "batchNorm eval",
    (x, w, b) => batchNorm(x!, rm, rv, w!, b!, { training: false }),
    [rand64([4, 3, 2], 12), rand64([3], 13), rand64([3], 14)],
  );
});

Deno.test("linear gradients with leading dimensions match finite differences", async () => {
  await check(
    "linear",
    (x, w, b) => linear(x!, w!, b!),
    [rand64([2, 3, 4], 15), rand64([5, 4], 16), rand64([5], 17)],
  );
});

Deno.test("dropout gradients (fixed seed) match finite differences", async () => {
  await check("dropout", (x) => {
    manualSeed(42);
    return dropout(x!, 0.3);
  }, [rand64([4, 6], 18)]);
});

Deno.test("mseLoss gradients (input and target, mean and sum) match finite differences", async () => {
  for (const reduction of ["mean", "sum"] as const) {
    await check(
      `mseLoss ${reduction}`,
      (x, y) => mseLoss(x!, y!, { reduction }),
      [rand64([3, 4], 19), rand64([3, 4], 20)],
    );
  }
});

Deno.test("bceLoss gradients on probabilities match finite differences", async () => {
  const y = tensor(new Float64Array([0, 1, 0.3, 1, 0, 0.8, 1, 0]), [2, 4], f64);
  for (const reduction of ["mean", "sum"] as const) {
    await check(
      `bceLoss ${reduction}`,
      (x) => bceLoss(x!, y, { reduction }),
      [rand64([2, 4], 21, { lo: 0.05, hi: 0.95 })],
    );
  }
});

Deno.test("crossEntropy gradients match finite differences", async () => {
  const labels = tensor(new Float64Array([2, 0, 4]), [3], f64);
  for (const reduction of ["mean", "sum"] as const) {
    await check(
      `crossEntropy ${reduction}`,
      (x) => crossEntropy(x!, labels, { reduction }),
      [rand64([3, 5], 22, { lo: -3, hi: 3 })],
    );
  }
});
