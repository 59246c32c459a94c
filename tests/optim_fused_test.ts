/**
 * Fused optimizer updates (the `optimizerStep` routine, used by Adam, AdamW, SGD
 * and RMSprop by default) against the reference composition of tensor ops
 * (`{ fused: false }`): parameters and state tensors agree after 7 steps for
 * every optimizer setting, on the CPU in float64 (tight) and float32, and on
 * WebGPU in float32 (rtol 1e-5). On WebGPU a step records exactly one
 * dispatch per parameter and no readback, and a grid folded past 65535
 * workgroups updates every element. In-place updates keep the composed
 * path's observable behaviour: tensors from `stateDict()` stay live, and a
 * view taken before a step keeps the old values.
 */
import assert from "node:assert/strict";
import type { BackendName, DType, TypedArray } from "../tensor/backend.ts";
import { type Tensor, tensor } from "../mod.ts";
import { Adam, AdamW, type Optimizer, RMSprop, SGD } from "../nn/optim.ts";
import { CpuBackend } from "../tensor/cpu/backend.ts";
import { assertClose } from "./_gradcheck.ts";
import { gpuTest, numel, randArray, useGpu } from "./_gpu.ts";
import { optimizerStep } from "../tensor/routines/optim/mod.ts";

type Make = (params: Tensor[], fused: boolean) => Optimizer;

/** Every optimizer setting the optimizers support. */
const CONFIGS: [string, Make][] = [
  ["Adam", (p, fused) => new Adam(p, { lr: 0.01, fused })],
  ["Adam weightDecay", (p, fused) => new Adam(p, { lr: 0.01, weightDecay: 0.1, fused })],
  [
    "Adam betas/eps",
    (p, fused) => new Adam(p, { lr: 0.05, betas: [0.8, 0.95], eps: 1e-4, fused }),
  ],
  ["AdamW", (p, fused) => new AdamW(p, { lr: 0.01, fused })],
  ["AdamW weightDecay 0.2", (p, fused) => new AdamW(p, { lr: 0.02, weightDecay: 0.2, fused })],
  ["AdamW weightDecay 0", (p, fused) => new AdamW(p, { lr: 0.02, weightDecay: 0, fused })],
  ["SGD", (p, fused) => new SGD(p, { lr: 0.1, fused })],
  ["SGD weightDecay", (p, fused) => new SGD(p, { lr: 0.1, weightDecay: 0.05, fused })],
  ["SGD momentum", (p, fused) => new SGD(p, { lr: 0.1, momentum: 0.9, fused })],
  [
    "SGD momentum dampening weightDecay",
    (p, fused) => new SGD(p, { lr: 0.05, momentum: 0.8, dampening: 0.3, weightDecay: 0.1, fused }),
  ],
  [
    "SGD nesterov weightDecay",
    (p, fused) => new SGD(p, { lr: 0.05, momentum: 0.9, nesterov: true, weightDecay: 0.01, fused }),
  ],
  ["RMSprop", (p, fused) => new RMSprop(p, { lr: 0.01, fused })],
  [
    "RMSprop alpha/eps weightDecay",
    (p, fused) => new RMSprop(p, { lr: 0.01, alpha: 0.9, eps: 1e-3, weightDecay: 0.1, fused }),
  ],
  ["RMSprop momentum", (p, fused) => new RMSprop(p, { lr: 0.01, momentum: 0.9, fused })],
  ["RMSprop centered", (p, fused) => new RMSprop(p, { lr: 0.01, centered: true, fused })],
  [
    "RMSprop centered momentum weightDecay",
    (p, fused) =>
      new RMSprop(p, { lr: 0.005, momentum: 0.5, centered: true, weightDecay: 0.05, fused }),
  ],
];

/** Parameter shapes: several workgroups, odd sizes, a scalar and an empty one. */
const SHAPES = [[4, 5], [7], [700], [], [2, 0]];

const STEPS = 7;

interface Result {
  params: TypedArray[];
  state: Record<string, TypedArray>;
  stepCount: number;
}

/**
 * Run 7 steps with fixed gradients: the learning rate halves before step 4
 * and parameter 1 gets no gradient at step 3 (so its update count, and with
 * it the bias corrections, lag the others').
 */
async function trajectory(
  backend: BackendName,
  dtype: DType,
  make: Make,
  fused: boolean,
): Promise<Result> {
  const ps = SHAPES.map((s, k) =>
    tensor(randArray(numel(s), 100 + k), s, { backend, dtype, requiresGrad: true })
  );
  const opt = make(ps, fused);
  for (let step = 1; step <= STEPS; step++) {
    if (step === 4) opt.lr *= 0.5;
    ps.forEach((p, k) => {
      p.zeroGrad();
      if (step === 3 && k === 1) return;
      p.grad = tensor(randArray(p.size, 1000 * step + k, -1, 1), p.shape, { backend, dtype });
    });
    opt.step();
  }
  const sd = opt.stateDict();
  const stepCount = opt.stepCount;
  const state: Record<string, TypedArray> = {};
  for (const [k, t] of Object.entries(sd.state)) state[k] = await t.data();
  const params = await Promise.all(ps.map((p) => p.data()));
  opt.dispose();
  for (const p of ps) {
    p.zeroGrad();
    p.dispose();
  }
  return { params, state, stepCount };
}

async function agree(
  backend: BackendName,
  dtype: DType,
  tol: { rtol: number; atol: number },
): Promise<void> {
  for (const [name, make] of CONFIGS) {
    const fused = await trajectory(backend, dtype, make, true);
    const ref = await trajectory(backend, dtype, make, false);
    assert.equal(fused.stepCount, ref.stepCount);
    fused.params.forEach((p, k) =>
      assertClose(p, ref.params[k]!, { ...tol, label: `${name} param ${k} (${backend} ${dtype})` })
    );
    assert.deepEqual(
      Object.keys(fused.state),
      Object.keys(ref.state),
      `${name}: the same state tensors, in the same order`,
    );
    for (const [k, v] of Object.entries(ref.state)) {
      assertClose(fused.state[k]!, v, {
        ...tol,
        label: `${name} state ${k} (${backend} ${dtype})`,
      });
    }
  }
}

Deno.test("fused optimizers match the composed reference over 7 steps on the CPU (float64)", async () => {
  await agree("cpu", "float64", { rtol: 1e-12, atol: 1e-14 });
});

Deno.test("fused optimizers match the composed reference over 7 steps on the CPU (float32)", async () => {
  await agree("cpu", "float32", { rtol: 1e-5, atol: 1e-6 });
});

gpuTest("fused optimizers match the composed reference over 7 steps on WebGPU", async (gpu) => {
  await useGpu(gpu);
  await agree("webgpu", "float32", { rtol: 1e-5, atol: 1e-6 });
});

gpuTest(
  "a fused step is one dispatch per parameter (Adam/AdamW: one per group of parameters the binding limit allows) and reads nothing back",
  async (gpu) => {
    await useGpu(gpu);
    for (const [name, make] of CONFIGS) {
      const ps = [[64, 49], [64], [256, 64], [3]].map((s, k) =>
        tensor(randArray(numel(s), k), s, { backend: "webgpu", requiresGrad: true })
      );
      const grads = ps.map((p, k) =>
        tensor(randArray(p.size, 50 + k), p.shape, { backend: "webgpu" })
      );
      const counts: number[] = [];
      for (const fused of [true, false]) {
        const opt = make(ps, fused);
        ps.forEach((p, k) => (p.grad = grads[k]!.clone()));
        opt.step(); // creates the state (zero fills)
        const before = gpu.stats();
        for (let s = 0; s < 3; s++) opt.step();
        const after = gpu.stats();
        counts.push((after.dispatches - before.dispatches) / 3);
        assert.equal(after.readbacks, before.readbacks, `${name}: no readback in a step`);
        opt.dispose();
      }
      // Multi-tensor Adam: 4 storage bindings per parameter, as many parameters per dispatch as fit.
      const perDispatch = Math.floor(gpu.rt.device.limits.maxStorageBuffersPerShaderStage / 4);
      const want = name.startsWith("Adam") && perDispatch >= 2
        ? Math.ceil(ps.length / perDispatch)
        : ps.length;
      assert.equal(counts[0], want, `${name}: fused dispatches per step`);
      assert.ok(
        counts[1]! > counts[0]!,
        `${name}: the composed path takes ${counts[1]} dispatches`,
      );
      for (const t of [...ps, ...grads]) {
        t.zeroGrad();
        t.dispose();
      }
    }
  },
);

gpuTest(
  "the fused update covers every element of a grid folded past 65535 workgroups",
  async (gpu) => {
    const n = 65535 * 256 + 4099;
    const cpu = new CpuBackend();
    const host = [
      randArray(n, 1),
      randArray(n, 2, -1, 1),
      randArray(n, 3, -0.1, 0.1),
      randArray(n, 4, 0, 1),
    ];
    const results: TypedArray[][] = [];
    for (const b of [gpu, cpu]) {
      const [param, grad, expAvg, expAvgSq] = host.map((h) => b.upload(h, "float32"));
      for (let t = 1; t <= 2; t++) {
        optimizerStep(b, {
          kind: "adamw",
          param: param!,
          grad: grad!,
          expAvg: expAvg!,
          expAvgSq: expAvgSq!,
          lr: 0.01,
          beta1: 0.9,
          beta2: 0.999,
          eps: 1e-8,
          weightDecay: 0.01,
          biasCorrection1: 1 - 0.9 ** t,
          biasCorrection2: 1 - 0.999 ** t,
        });
      }
      results.push(await Promise.all([param!, expAvg!, expAvgSq!].map((s) => b.read(s))));
      for (const s of [param!, grad!, expAvg!, expAvgSq!]) b.free(s);
    }
    const [g, c] = results as [TypedArray[], TypedArray[]];
    g.forEach((a, k) => assertClose(a, c[k]!, { rtol: 1e-5, atol: 1e-6, label: `output ${k}` }));
  },
);

Deno.test("in-place updates: state tensors stay live, earlier views keep old values", async () => {
  for (const [name, make] of CONFIGS) {
    const p = tensor([1, -2, 3], [3], { backend: "cpu", requiresGrad: true });
    const opt = make([p], true);
    p.grad = tensor([0.5, 0.25, -1], [3], { backend: "cpu" });
    opt.step();
    const state = opt.stateDict().state;
    const live = Object.fromEntries(Object.entries(state).map(([k, t]) => [k, t]));
    const snapshots = await Promise.all(Object.values(state).map((t) => t.data()));
    const view = p.detach();
    const before = await p.data();
    opt.step();
    assert.deepEqual(await view.data(), before, `${name}: a view taken before the step`);
    assert.notDeepEqual(await p.data(), before, `${name}: the parameter moved`);
    const after = opt.stateDict().state;
    Object.entries(live).forEach(([k, t]) => assert.equal(after[k], t, `${name}: ${k} is live`));
    const now = await Promise.all(Object.values(live).map((t) => t.data()));
    now.forEach((d, k) =>
      assert.ok(
        d.some((x, i) => x !== snapshots[k]![i]),
        `${name}: state ${k} was updated`,
      )
    );
    view.dispose();
    opt.dispose();
    p.zeroGrad();
    p.dispose();
  }
});

Deno.test("optimizers reject a non-boolean fused option", () => {
  const p = tensor([1], [1], { backend: "cpu", requiresGrad: true });
  assert.throws(
    () => new Adam([p], { fused: "yes" as unknown as boolean }),
    /Cannot create Adam: fused must be a boolean, got yes/,
  );
  p.dispose();
});
