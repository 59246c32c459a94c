/**
 * The WebGPU dispatch budget of the headline model's training step (a 2-layer
 * LSTM or GRU of 64 over 15 steps, batch 100, Linear head, MSE, Adam; the
 * step `bench/_headline.ts` times), counted with `memory()`'s counters; and
 * the mechanisms that keep it: deferred copies (a slice, expand or stack nobody
 * reads costs nothing, a stack of slices reads their source directly) and
 * the multi-tensor Adam update (the same values as one update per
 * parameter).
 *
 * The budgets pin today's counts, which meet the goals (≤ 80 and
 * ≤ 72). Each cell's 72: 60 step kernels (15 steps × 2 layers, forward and
 * backward), 2 multi-tensor Adam dispatches, 3 input projections and head
 * with their biases in the matmul's store, 2 W_hhᵀ copies (the forward
 * steps' coalesced weights), the fused MSE forward and backward, and 3
 * grouped backward dispatches (the head's dX, dW, db; each layer's dW_hh,
 * dX, dW_ih and bias sums). No copy of a sequence, no gather of h_{t−1}, no
 * fill: the steps write h_{t−1} for dW_hh and take zero states and a zero
 * dc by flags, and the backward seed is a constant the MSE kernel reads as
 * a value.
 */
import assert from "node:assert/strict";
import { memory, tensor, tidy } from "../mod.ts";
import { optimizerUpdate, optimizerUpdates } from "../tensor/routines/optim/mod.ts";
import { buildHeadline, timeSteps } from "../bench/_headline.ts";
import { gpuTest, randArray, useGpu } from "./_gpu.ts";
import { slice, stack } from "../tensor/ops/shape.ts";

/** Dispatches per training step of the headline model (WebGPU). */
const BUDGET = { lstm: 72, gru: 72 } as const;

const dispatches = () =>
  (memory().backends.webgpu as { dispatches?: number } | undefined)?.dispatches ?? 0;

gpuTest("a headline training step stays within its WebGPU dispatch budget", async (gpu) => {
  await useGpu(gpu);
  // The count with the blocked matmul, the one the autotune picks on a software adapter:
  // only its products share grouped dispatches (the tiled kernel: LSTM 79, GRU 81).
  gpu.force.matmul = "blocked";
  try {
    for (const cell of ["lstm", "gru"] as const) {
      const h = buildHeadline(cell, "webgpu");
      const { counts, loss } = await timeSteps(() => h.train(), { warmup: 1, steps: 2 });
      assert.ok(Number.isFinite(loss), `${cell}: loss ${loss}`);
      assert.equal(counts[0], counts[1], `${cell}: every step costs the same (${counts})`);
      assert.ok(
        counts[0]! <= BUDGET[cell],
        `${cell}: a training step takes ${counts[0]} dispatches, the budget is ${BUDGET[cell]}`,
      );
    }
  } finally {
    gpu.force.matmul = undefined;
  }
});

gpuTest(
  "an unread slice or stack costs no dispatch; a stack of slices reads the source",
  async (gpu) => {
    await useGpu(gpu);
    const x = tensor(randArray(4 * 5 * 3, 1), [4, 5, 3], { backend: "webgpu" });
    const d0 = dispatches();
    tidy(() => stack([slice(x, [0, 4, 0], [4, 1, 3]), slice(x, [0, 2, 0], [4, 1, 3])], 0));
    assert.equal(dispatches() - d0, 0, "released unread: no copy ran");
    const s = tidy(() =>
      stack([slice(x, [0, 4, 0], [4, 1, 3]), slice(x, [0, 2, 0], [4, 1, 3])], 0)
    );
    const d1 = dispatches();
    const got = await s.data();
    assert.equal(
      dispatches() - d1,
      2,
      "one copy per stacked slice, none for the slices themselves",
    );
    const all = await x.data();
    const want: number[] = [];
    for (const t of [4, 2]) {
      for (let b = 0; b < 4; b++) {
        for (let j = 0; j < 3; j++) {
          want.push(all[(b * 5 + t) * 3 + j]!);
        }
      }
    }
    assert.deepEqual([...got], want);
    s.dispose();
    x.dispose();
  },
);

gpuTest(
  "a matmul reads a leading contiguous slice in place; a slice of it copies once",
  async (gpu) => {
    await useGpu(gpu);
    const xs = randArray(2 * 3 * 4 + 5, 2), ws = randArray(3 * 4, 3);
    const run = async (backend: "cpu" | "webgpu") => {
      const x = tensor(xs, [29], { backend }), w = tensor(ws, [3, 4], { backend });
      const d0 = dispatches();
      const seq = tidy(() => slice(x, [0], [24]).reshape([2, 3, 4]));
      const y = tidy(() => seq.reshape([6, 4]).matmul(w.transpose()));
      const dMatmul = dispatches() - d0 - 1; // minus the transpose's copy
      const row = tidy(() => slice(seq, [0, 2, 0], [2, 1, 4]));
      const d1 = dispatches();
      const rowData = await row.data();
      const out = { y: [...await y.data()], row: [...rowData], dRow: dispatches() - d1, dMatmul };
      for (const t of [x, w, seq, y, row]) t.dispose();
      return out;
    };
    const g = await run("webgpu"), c = await run("cpu");
    assert.equal(g.dMatmul, 1, "the matmul alone: the slice is not copied");
    assert.equal(g.dRow, 1, "the slice of the slice reads x directly");
    assert.deepEqual(g.row, [...xs.slice(8, 12), ...xs.slice(20, 24)]);
    g.y.forEach((v, i) => assert.ok(Math.abs(v - c.y[i]!) < 1e-5, `y[${i}]: ${v} vs ${c.y[i]}`));
  },
);

gpuTest("multi-tensor Adam writes what one update per parameter writes", async (gpu) => {
  await useGpu(gpu);
  const shapes = [[64, 49], [64], [256, 64], [3], [7, 5], [11], [2, 2], [9], [13, 3], [1]];
  const run = async (multi: boolean) => {
    const ts = (seed: number) =>
      shapes.map((s, k) =>
        tensor(randArray(s.reduce((a, b) => a * b, 1), seed + k), s, { backend: "webgpu" })
      );
    const ps = ts(0), ms = ts(100), vs = ts(200).map((v) => v.abs()), gs = ts(300);
    const updates = () =>
      ps.forEach((p, k) =>
        optimizerUpdate({
          kind: "adam",
          param: p,
          grad: gs[k]!,
          expAvg: ms[k]!,
          expAvgSq: vs[k]!,
          lr: 0.01,
          beta1: 0.9,
          beta2: 0.999,
          eps: 1e-8,
          weightDecay: 0,
          biasCorrection1: 1 - 0.9 ** 3,
          biasCorrection2: 1 - 0.999 ** 3,
        })
      );
    const d0 = dispatches();
    if (multi) optimizerUpdates(updates);
    else updates();
    const n = dispatches() - d0;
    const out = await Promise.all([...ps, ...ms, ...vs].map((t) => t.data()));
    for (const t of [...ps, ...ms, ...vs, ...gs]) t.dispose();
    return { out, n };
  };
  const a = await run(true), b = await run(false);
  assert.equal(b.n, shapes.length);
  assert.ok(a.n < b.n, `multi-tensor: ${a.n} dispatches for ${shapes.length} parameters`);
  a.out.forEach((v, k) => assert.deepEqual([...v], [...b.out[k]!], `tensor ${k}`));
});
