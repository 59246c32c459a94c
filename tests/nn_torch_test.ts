/**
 * nn layers, losses and optimizers against PyTorch 1.13 reference fixtures
 * (fixtures/*.safetensors, see fixtures/README.md): outputs and gradients
 * agree within 1e-5 relative (atol 1e-6) on the CPU backend, and every case
 * runs again, with the same tolerance, on WebGPU when an adapter exists.
 */
import assert from "node:assert/strict";
import { init } from "../tensor/engine.ts";
import type { BackendName } from "../tensor/backend.ts";
import { type Tensor, tensor } from "../mod.ts";
import {
  BatchNorm1d,
  bceLoss,
  Conv2d,
  crossEntropy,
  type DecodedSafetensors,
  decodeSafetensors,
  Linear,
  MaxPool2d,
  mseLoss,
} from "../nn/mod.ts";
import { Adam, AdamW, type Optimizer, RMSprop, SGD } from "../nn/optim.ts";
import { assertClose } from "./_gradcheck.ts";
import { gpuTest } from "./_gpu.ts";

const FIXTURES = new URL("../fixtures/", import.meta.url);

const cache = new Map<string, DecodedSafetensors>();
function fixture(file: string): DecodedSafetensors {
  let f = cache.get(file);
  if (!f) {
    f = decodeSafetensors(Deno.readFileSync(new URL(file, FIXTURES)), `fixtures/${file}`);
    cache.set(file, f);
  }
  return f;
}

/** One fixture file on one backend: tensors, host arrays and comparisons. */
class Fx {
  constructor(readonly f: DecodedSafetensors, readonly backend: BackendName) {}
  host(name: string): { shape: number[]; data: Float32Array } {
    const t = this.f.tensors[name];
    if (!t) throw new Error(`fixture has no tensor '${name}'`);
    return { shape: t.shape, data: Float32Array.from(t.data) };
  }
  t(name: string, requiresGrad = false): Tensor {
    const h = this.host(name);
    return tensor(h.data, h.shape, { backend: this.backend, requiresGrad });
  }
  async close(actual: Tensor | null, name: string, label = name): Promise<void> {
    assert.ok(actual, `${label}: no tensor (missing gradient?)`);
    const e = this.host(name);
    assert.deepEqual(actual.shape, e.shape, `${label}: shape`);
    assertClose(await actual.data(), e.data, {
      rtol: 1e-5,
      atol: 1e-6,
      label: `${label} (${this.backend})`,
    });
  }
}

/** Register a test on the CPU and (when an adapter exists) on WebGPU. */
function backendTest(name: string, fn: (fx: (file: string) => Fx) => Promise<void>): void {
  Deno.test(`${name} [cpu]`, () => fn((file) => new Fx(fixture(file), "cpu")));
  gpuTest(`${name} [webgpu]`, async (gpu) => {
    await init({
      backend: "webgpu",
      log: false,
      requestWebGPU: () =>
        Promise.resolve({
          backend: gpu,
          info: {
            vendor: "",
            architecture: "",
            device: "",
            description: "test",
            isFallback: false,
          },
        }),
    });
    await init({ backend: "cpu", log: false });
    await fn((file) => new Fx(fixture(file), "webgpu"));
  });
}

backendTest("Linear matches torch.nn.Linear(7, 3): output and gradients", async (open) => {
  const fx = open("linear.safetensors");
  const lin = new Linear(7, 3, { backend: fx.backend });
  lin.loadStateDict({ weight: fx.host("param.weight"), bias: fx.host("param.bias") });
  const x = fx.t("input", true);
  const y = lin.forward(x);
  await fx.close(y, "output");
  y.backward(fx.t("grad_out"));
  await fx.close(x.grad, "grad.input");
  await fx.close(lin.weight.grad, "grad.weight");
  await fx.close(lin.bias!.grad, "grad.bias");
  // Leading dimensions are flattened and restored.
  const x3 = x.detach().reshape([2, 2, 7]);
  const y3 = lin.forward(x3);
  assert.deepEqual(y3.shape, [2, 2, 3]);
  const e = fx.host("output");
  assertClose(await y3.data(), e.data, { rtol: 1e-5, atol: 1e-6 });
  lin.dispose();
});

for (const c of ["2d", "3d"]) {
  backendTest(
    `BatchNorm1d matches torch on ${c} input: train output, gradients, running stats, then eval`,
    async (open) => {
      const fx = open("batchnorm.safetensors");
      const bn = new BatchNorm1d(6, { backend: fx.backend });
      bn.loadStateDict({
        weight: fx.host("param.weight"),
        bias: fx.host("param.bias"),
        running_mean: fx.host("param.running_mean"),
        running_var: fx.host("param.running_var"),
        num_batches_tracked: { shape: [], data: new Float32Array([0]) },
      });
      const x = fx.t(`${c}.input`, true);
      const y = bn.forward(x);
      await fx.close(y, `${c}.output`);
      y.backward(fx.t(`${c}.grad_out`));
      await fx.close(x.grad, `${c}.grad.input`);
      await fx.close(bn.weight!.grad, `${c}.grad.weight`);
      await fx.close(bn.bias!.grad, `${c}.grad.bias`);
      await fx.close(bn.runningMean, `${c}.running_mean`);
      await fx.close(bn.runningVar, `${c}.running_var`);
      assert.equal(await bn.numBatchesTracked!.item(), 1);
      x.zeroGrad();
      bn.zeroGrad();
      bn.eval();
      const ye = bn.forward(x);
      await fx.close(ye, `${c}.eval.output`);
      ye.backward(fx.t(`${c}.eval.grad_out`));
      await fx.close(x.grad, `${c}.eval.grad.input`);
      await fx.close(bn.weight!.grad, `${c}.eval.grad.weight`);
      await fx.close(bn.bias!.grad, `${c}.eval.grad.bias`);
      await fx.close(bn.runningMean, `${c}.running_mean`, "running_mean unchanged in eval");
      bn.dispose();
    },
  );
}

const convCases = {
  strided: () => [3, 4, 3, { stride: 2, padding: 1 }] as const,
  valid: () => [1, 2, 5, {}] as const,
};
for (const [c, args] of Object.entries(convCases)) {
  backendTest(`Conv2d matches torch (${c}): output and gradients`, async (open) => {
    const fx = open("conv.safetensors");
    const [i, o, k, opts] = args();
    const conv = new Conv2d(i, o, k, { ...opts, backend: fx.backend });
    conv.loadStateDict({ weight: fx.host(`${c}.param.weight`), bias: fx.host(`${c}.param.bias`) });
    const x = fx.t(`${c}.input`, true);
    const y = conv.forward(x);
    await fx.close(y, `${c}.output`);
    y.backward(fx.t(`${c}.grad_out`));
    await fx.close(x.grad, `${c}.grad.input`);
    await fx.close(conv.weight.grad, `${c}.grad.weight`);
    await fx.close(conv.bias!.grad, `${c}.grad.bias`);
    conv.dispose();
  });
}

const poolCases = {
  k2: () => new MaxPool2d(2),
  k3s2p1: () => new MaxPool2d(3, { stride: 2, padding: 1 }),
};
for (const [c, make] of Object.entries(poolCases)) {
  backendTest(`MaxPool2d matches torch (${c}): output and input gradient`, async (open) => {
    const fx = open("maxpool.safetensors");
    const x = fx.t(`${c}.input`, true);
    const y = make().forward(x);
    await fx.close(y, `${c}.output`);
    y.backward(fx.t(`${c}.grad_out`));
    await fx.close(x.grad, `${c}.grad.input`);
  });
}

const lossCases = {
  mse: mseLoss,
  bce: bceLoss,
  bce_edge: bceLoss,
  ce: crossEntropy,
  ce_batch: crossEntropy,
};
for (const [c, fn] of Object.entries(lossCases)) {
  backendTest(`${c} loss matches torch with mean and sum reductions`, async (open) => {
    const fx = open("losses.safetensors");
    for (const reduction of ["mean", "sum"] as const) {
      const x = fx.t(`${c}.input`, true);
      const l = fn(x, fx.t(`${c}.target`), { reduction });
      await fx.close(l, `${c}.${reduction}.value`);
      l.backward();
      await fx.close(x.grad, `${c}.${reduction}.grad.input`);
    }
  });
}

interface OptimConfig {
  optimizer: string;
  lr: number;
  betas?: [number, number];
  eps?: number;
  weight_decay?: number;
  momentum?: number;
  alpha?: number;
}

function makeOptimizer(p: Tensor, c: OptimConfig): Optimizer {
  const wd = { weightDecay: c.weight_decay ?? 0 };
  switch (c.optimizer) {
    case "Adam":
      return new Adam([p], { lr: c.lr, betas: c.betas, eps: c.eps, ...wd });
    case "AdamW":
      return new AdamW([p], { lr: c.lr, betas: c.betas, eps: c.eps, ...wd });
    case "SGD":
      return new SGD([p], { lr: c.lr, momentum: c.momentum ?? 0, ...wd });
    case "RMSprop":
      return new RMSprop([p], {
        lr: c.lr,
        alpha: c.alpha,
        eps: c.eps,
        momentum: c.momentum ?? 0,
        ...wd,
      });
  }
  throw new Error(`unknown optimizer ${c.optimizer}`);
}

const optimCases = [
  "adam",
  "adam_wd",
  "adamw",
  "sgd",
  "sgd_momentum",
  "rmsprop",
  "rmsprop_momentum",
];
for (const c of optimCases) {
  backendTest(`${c}: five optimizer steps match torch.optim`, async (open) => {
    const fx = open("optim.safetensors");
    const config = JSON.parse(fx.f.metadata[c]!) as OptimConfig;
    const p = fx.t(`${c}.param.0`, true);
    const opt = makeOptimizer(p, config);
    for (let k = 1; k <= 5; k++) {
      p.grad = fx.t(`${c}.grad.${k}`);
      opt.step();
      opt.zeroGrad();
      await fx.close(p, `${c}.param.${k}`, `${c} after step ${k}`);
    }
    assert.equal(opt.stepCount, 5);
    opt.dispose();
    p.dispose();
  });
}
