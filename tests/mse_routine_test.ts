/**
 * The fused MSE loss routine (`tensor/routines/losses`: one kernel forward,
 * one backward) against the composition it replaces, `d = x − t;
 * d.mul(d).mean()` (or `.sum()`): the same bits for the loss and the input
 * gradient on the CPU (float32 and float64) and on WebGPU (both reduction
 * kernels), for the backward seed and for a computed upstream gradient, on
 * awkward sizes; two dispatches on WebGPU; CPU-vs-WebGPU parity.
 */
import assert from "node:assert/strict";
import { memory, type Tensor, tensor } from "../mod.ts";
import type { BackendName, DType } from "../tensor/backend.ts";
import { mseReduced } from "../tensor/routines/losses/mod.ts";
import { assertClose } from "./_gradcheck.ts";
import { gpuTest, randArray, useGpu } from "./_gpu.ts";

const SHAPES = [[1], [7, 13], [3, 1, 5], [100, 15, 49], [3, 7, 1001]];

/** Loss and input gradient, fused or composed; `upstream` multiplies the loss by 3 first. */
async function run(
  backend: BackendName,
  dtype: DType,
  shape: number[],
  fused: boolean,
  mean: boolean,
  upstream: boolean,
) {
  const n = shape.reduce((a, b) => a * b, 1);
  const x = tensor(randArray(n, n + 1), shape, { backend, dtype, requiresGrad: true });
  const t = tensor(randArray(n, n + 2), shape, { backend, dtype });
  let l: Tensor;
  if (fused) l = mseReduced(x, t, mean);
  else {
    const d = x.sub(t), sq = d.mul(d);
    l = mean ? sq.mean() : sq.sum();
  }
  const root = upstream ? l.mul(3) : l;
  root.backward();
  const out = { loss: [...await l.data()], grad: [...await x.grad!.data()] };
  for (const v of [x, t, l, root]) v.dispose();
  return out;
}

async function sameBits(backend: BackendName, dtype: DType, label: string) {
  for (const shape of SHAPES) {
    for (const mean of [true, false]) {
      for (const upstream of [false, true]) {
        const what = `${label} ${JSON.stringify(shape)} mean=${mean} upstream=${upstream}`;
        const f = await run(backend, dtype, shape, true, mean, upstream);
        const c = await run(backend, dtype, shape, false, mean, upstream);
        assert.deepEqual(f.loss, c.loss, `${what}: loss`);
        assert.deepEqual(f.grad, c.grad, `${what}: gradient`);
      }
    }
  }
}

Deno.test("mseReduced on the CPU: the composition's bits (float32, float64)", async () => {
  await sameBits("cpu", "float32", "cpu float32");
  await sameBits("cpu", "float64", "cpu float64");
});

gpuTest("mseReduced on WebGPU: the composition's bits (loop and tree reductions)", async (gpu) => {
  await useGpu(gpu);
  for (const kernel of [undefined, "loop", "tree"] as const) {
    gpu.force.reduce = kernel;
    try {
      await sameBits("webgpu", "float32", `webgpu reduce=${kernel ?? "picked"}`);
    } finally {
      gpu.force.reduce = undefined;
    }
  }
});

gpuTest("mseReduced: two dispatches per step on WebGPU, and CPU parity", async (gpu) => {
  await useGpu(gpu);
  const dispatches = () =>
    (memory().backends.webgpu as { dispatches?: number } | undefined)?.dispatches ?? 0;
  const n = 100 * 15 * 49;
  const x = tensor(randArray(n, 5), [n], { backend: "webgpu", requiresGrad: true });
  const t = tensor(randArray(n, 6), [n], { backend: "webgpu" });
  const d0 = dispatches();
  const l = mseReduced(x, t, true);
  l.backward();
  assert.equal(dispatches() - d0, 2, "one forward and one backward dispatch, no seed fill");
  for (const shape of SHAPES) {
    for (const upstream of [false, true]) {
      const g = await run("webgpu", "float32", shape, true, true, upstream);
      const c = await run("cpu", "float32", shape, true, true, upstream);
      assertClose(g.loss, c.loss, { rtol: 1e-5, atol: 1e-7, label: `loss ${shape}` });
      assertClose(g.grad, c.grad, { rtol: 1e-5, atol: 1e-9, label: `grad ${shape}` });
    }
  }
  for (const v of [x, t, l]) v.dispose();
});

Deno.test("mseReduced on the CPU sums the squares in the sum reduction's order", async () => {
  // squares 1 and 2^-24 at elements 0 and 2, 2^-60 at every element 4j + 3: the odd sum
  // collects the tiny squares first (exactly 2^-50), so the total is just above the float32
  // midpoint 1 + 2^-24 and rounds up; added to the even sum after the 1 they would be lost
  // and the total would round down to 1
  const n = 4 * 1024 + 3;
  const v = new Array(n).fill(0).map((_, i) => (i % 4 === 3 ? 2 ** -30 : 0));
  v[0] = 1;
  v[2] = 2 ** -12;
  for (const dtype of ["float32", "float64"] as const) {
    const x = tensor(v, [n], { backend: "cpu", dtype, requiresGrad: true });
    const t = tensor(new Array(n).fill(0), [n], { backend: "cpu", dtype });
    const fused = [...await mseReduced(x, t, false).data()];
    const composed = [...await x.mul(x).sum().data()];
    assert.deepEqual(fused, composed, dtype);
    if (dtype === "float32") assert.equal(fused[0], 1 + 2 ** -23);
  }
});
