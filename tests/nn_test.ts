/**
 * nn layers, losses and optimizers against hand-computed values on the CPU
 * backend: module naming and state dicts, Sequential, Dropout, BatchNorm
 * running statistics, Conv2d/MaxPool2d shapes and values, losses at 0/1,
 * optimizer state round trips, gradient clipping, and flat memory over a
 * training loop; plus one check that Dropout masks match on WebGPU.
 */
import assert from "node:assert/strict";
import { manualSeed, memory, ones, type Tensor, tensor, tidy, where, zeros } from "../mod.ts";
import {
  BatchNorm1d,
  bceLoss,
  Conv2d,
  crossEntropy,
  Dropout,
  LeakyReLU,
  Linear,
  MaxPool2d,
  Module,
  mseLoss,
  ReLU,
  Sequential,
  Sigmoid,
  Tanh,
} from "../nn/mod.ts";
import { Adam, AdamW, clipGradNorm, RMSprop, SGD } from "../nn/optim.ts";
import { assertClose } from "./_gradcheck.ts";
import { gpuTest } from "./_gpu.ts";
import { init } from "../tensor/engine.ts";

const cpu = { backend: "cpu" } as const;
const vals = async (t: Tensor | null) => Array.from(await t!.data());
const t = (v: number[] | number[][], opts: { requiresGrad?: boolean } = {}) =>
  tensor(v, undefined, { ...cpu, ...opts });

class Net extends Module {
  readonly encoder = this.registerModule("encoder", new Linear(3, 4, cpu));
  readonly norm = this.registerModule("norm", new BatchNorm1d(4, cpu));
  readonly head = this.registerModule("head", new Linear(4, 2, { ...cpu, bias: false }));
  forward(x: Tensor): Tensor {
    return tidy(() => this.head.forward(this.norm.forward(this.encoder.forward(x)).relu()));
  }
}

Deno.test("Module: dotted parameter names, buffers in the state dict, train/eval propagate", () => {
  const net = new Net();
  assert.deepEqual(net.namedParameters().map(([n]) => n), [
    "encoder.weight",
    "encoder.bias",
    "norm.weight",
    "norm.bias",
    "head.weight",
  ]);
  assert.deepEqual(Object.keys(net.stateDict()), [
    "encoder.weight",
    "encoder.bias",
    "norm.weight",
    "norm.bias",
    "head.weight",
    "norm.running_mean",
    "norm.running_var",
    "norm.num_batches_tracked",
  ]);
  assert.deepEqual(net.stateDict()["encoder.weight"]!.shape, [4, 3]);
  assert.ok(net.parameters().every((p) => p.requiresGrad));
  net.eval();
  assert.equal(net.norm.training, false);
  net.train();
  assert.equal(net.norm.training, true);
  net.dispose();
});

Deno.test("Module.loadStateDict: missing, unexpected and misshapen entries fail and change nothing", async () => {
  const net = new Net();
  const before = await vals(net.encoder.weight);
  const good = Object.fromEntries(
    Object.entries(net.stateDict()).map((
      [k, v],
    ) => [k, { shape: v.shape, data: new Float32Array(v.size).fill(7) }]),
  );
  const { ["head.weight"]: _, ...missing } = good;
  assert.throws(
    () => net.loadStateDict(missing),
    /Cannot load state dict into Net: missing 'head\.weight'/,
  );
  assert.throws(
    () => net.loadStateDict({ ...good, extra: { shape: [1], data: new Float32Array(1) } }),
    /Cannot load state dict into Net: unexpected 'extra'/,
  );
  assert.throws(
    () =>
      net.loadStateDict({ ...good, "head.weight": { shape: [4, 2], data: new Float32Array(8) } }),
    /Cannot load 'head\.weight' into Net: expected shape \[2, 4\], got \[4, 2\]/,
  );
  assert.deepEqual(await vals(net.encoder.weight), before, "nothing was written");
  net.loadStateDict(good);
  assert.deepEqual(await vals(net.encoder.weight), new Array(12).fill(7));
  assert.deepEqual(await vals(net.norm.numBatchesTracked), [7]);
  net.dispose();
});

Deno.test("Linear: PyTorch init bounds, seeded reproducibility, any leading dims, shape errors", async () => {
  manualSeed(5);
  const a = new Linear(16, 8, cpu);
  manualSeed(5);
  const b = new Linear(16, 8, cpu);
  const w = await vals(a.weight);
  assert.deepEqual(w, await vals(b.weight));
  assert.ok(w.every((v) => Math.abs(v) <= 0.25) && w.some((v) => Math.abs(v) > 0.2));
  assert.ok((await vals(a.bias)).every((v) => Math.abs(v) <= 0.25));
  const y = a.forward(zeros([2, 3, 5, 16], cpu));
  assert.deepEqual(y.shape, [2, 3, 5, 8]);
  const bias = await vals(a.bias);
  assertClose(await y.data(), Array.from({ length: 30 }, () => bias).flat());
  assert.throws(
    () => a.forward(zeros([2, 15], cpu)),
    /Cannot apply a linear layer with weight \[8, 16\] to a tensor of shape \[2, 15\]/,
  );
  const nb = new Linear(2, 3, { ...cpu, bias: false });
  assert.equal(nb.bias, null);
  assert.deepEqual(nb.namedParameters().map(([n]) => n), ["weight"]);
  assert.throws(
    () => new Linear(0, 3),
    /Cannot create Linear: inFeatures must be a positive integer, got 0/,
  );
  for (const m of [a, b, nb]) m.dispose();
});

Deno.test("Sequential: children named 0, 1, … as in PyTorch, applied in order", async () => {
  const net = new Sequential(
    new Linear(2, 3, cpu),
    new ReLU(),
    new Linear(3, 1, cpu),
    new Sigmoid(),
  );
  assert.deepEqual(Object.keys(net.stateDict()), ["0.weight", "0.bias", "2.weight", "2.bias"]);
  assert.equal(net.length, 4);
  net.loadStateDict({
    "0.weight": { shape: [3, 2], data: new Float32Array([1, 0, 0, 1, -1, -1]) },
    "0.bias": { shape: [3], data: new Float32Array([0, 0, 0]) },
    "2.weight": { shape: [1, 3], data: new Float32Array([1, 2, 3]) },
    "2.bias": { shape: [1], data: new Float32Array([-1]) },
  });
  // x = [1, -2]: hidden relu([1, -2, 1]) = [1, 0, 1]; 1 + 0 + 3 - 1 = 3; sigmoid(3).
  const y = net.forward(t([[1, -2]]));
  assertClose(await y.data(), [1 / (1 + Math.exp(-3))]);
  assert.deepEqual(
    await vals(new Sequential(new Tanh(), new LeakyReLU(0.2)).forward(t([-1, 2]))),
    [Math.fround(Math.tanh(-1) * 0.2), Math.fround(Math.tanh(2))],
  );
  assert.throws(
    () => new Sequential({} as unknown as Linear),
    /Cannot create Sequential: argument 0 is not a module with a forward\(x\) method/,
  );
  net.dispose();
});

Deno.test("Dropout: seeded masks, 1/(1-p) scaling, identity in eval, p=0 and p=1", async () => {
  const drop = new Dropout(0.25);
  const x = ones([4000], cpu);
  manualSeed(9);
  const a = await vals(drop.forward(x));
  manualSeed(9);
  const b = await vals(drop.forward(x));
  assert.deepEqual(a, b, "same seed, same mask");
  assert.ok(a.every((v) => v === 0 || Math.abs(v - 4 / 3) < 1e-6));
  const kept = a.filter((v) => v !== 0).length / a.length;
  assert.ok(Math.abs(kept - 0.75) < 0.03, `kept fraction ${kept}`);
  assert.notDeepEqual(await vals(drop.forward(x)), a, "the next call draws a new mask");
  drop.eval();
  const xg = t([1, 2, 3], { requiresGrad: true });
  const y = drop.forward(xg);
  assert.deepEqual(await vals(y), [1, 2, 3]);
  y.sum().backward();
  assert.deepEqual(await vals(xg.grad), [1, 1, 1], "gradient passes through in eval");
  assert.deepEqual(await vals(new Dropout(1).forward(t([1, 2]))), [0, 0]);
  assert.deepEqual(await vals(new Dropout(0).forward(t([1, 2]))), [1, 2]);
  assert.throws(() => new Dropout(1.5), /Cannot create Dropout: p must be in \[0, 1\], got 1\.5/);
});

Deno.test("BatchNorm1d: batch statistics in train, running stats updated with the unbiased variance", async () => {
  const bn = new BatchNorm1d(2, cpu);
  // Column means [2, 4], biased variances [1, 4], unbiased [2, 8].
  const x = t([[1, 2], [3, 6]]);
  const y = bn.forward(x);
  const s0 = 1 / Math.sqrt(1 + 1e-5), s1 = 2 / Math.sqrt(4 + 1e-5);
  assertClose(await y.data(), [-s0, -s1, s0, s1]);
  assertClose(await vals(bn.runningMean), [0.2, 0.4]);
  assertClose(await vals(bn.runningVar), [0.9 + 0.2, 0.9 + 0.8]);
  assert.deepEqual(await vals(bn.numBatchesTracked), [1]);
  bn.forward(x);
  assertClose(await vals(bn.runningMean), [0.38, 0.76]);
  assert.deepEqual(await vals(bn.numBatchesTracked), [2]);
  bn.eval();
  const e = bn.forward(t([[0.38, 0.76]]));
  assertClose(await e.data(), [0, 0], { atol: 1e-6 });
  assert.deepEqual(await vals(bn.numBatchesTracked), [2], "eval does not count batches");
  // [N, C, L]: statistics over N and L.
  const bn3 = new BatchNorm1d(2, { ...cpu, affine: false });
  const y3 = bn3.forward(tensor([1, 3, 10, 10, 5, 7, 20, 40], [2, 2, 2], cpu));
  assertClose(await vals(bn3.runningMean), [0.4, 2]);
  const out = await vals(y3);
  assertClose([out[0]! + out[1]! + out[4]! + out[5]!], [0], { atol: 1e-5 });
  assert.deepEqual(bn3.namedParameters(), []);
  bn.train();
  assert.throws(
    () => bn.forward(t([[1, 2]])),
    /Cannot batch-normalise a tensor of shape \[1, 2\] in training mode: it needs more than one value per feature/,
  );
  assert.throws(
    () => bn.forward(zeros([4, 3], cpu)),
    /Cannot apply BatchNorm1d\(2\) to a tensor of shape \[4, 3\]: expected \[N, 2\] or \[N, 2, L\]/,
  );
  bn.dispose();
  bn3.dispose();
});

Deno.test("Conv2d and MaxPool2d: output shapes, hand-computed values, errors", async () => {
  const conv = new Conv2d(3, 8, 3, { ...cpu, padding: 1 });
  assert.deepEqual(conv.weight.shape, [8, 3, 3, 3]);
  const bound = 1 / Math.sqrt(27);
  assert.ok((await vals(conv.weight)).every((v) => Math.abs(v) <= bound));
  assert.deepEqual(conv.forward(zeros([2, 3, 28, 28], cpu)).shape, [2, 8, 28, 28]);
  const strided = new Conv2d(3, 4, [3, 5], { ...cpu, stride: 2, padding: [1, 2] });
  assert.deepEqual(strided.forward(zeros([1, 3, 9, 8], cpu)).shape, [1, 4, 5, 4]);
  // All-ones 3×3 filter with zero padding counts each pixel's in-image neighbours.
  const box = new Conv2d(1, 1, 3, { ...cpu, padding: 1 });
  box.loadStateDict({
    weight: { shape: [1, 1, 3, 3], data: new Float32Array(9).fill(1) },
    bias: { shape: [1], data: new Float32Array([0.5]) },
  });
  assert.deepEqual(
    await vals(box.forward(ones([1, 1, 3, 3], cpu))),
    [4, 6, 4, 6, 9, 6, 4, 6, 4].map((v) => v + 0.5),
  );
  const pool = new MaxPool2d(2);
  const x = tensor(Array.from({ length: 20 }, (_, i) => (i * 7) % 20), [1, 1, 4, 5], cpu);
  // rows: [0 7 14 1 8] [15 2 9 16 3] [10 17 4 11 18] [5 12 19 6 13]; windows floor the odd width.
  assert.deepEqual(await vals(pool.forward(x)), [15, 16, 17, 19]);
  assert.deepEqual(new MaxPool2d(3, { stride: 2, padding: 1 }).forward(x).shape, [1, 1, 2, 3]);
  assert.deepEqual(new MaxPool2d(2, 1).forward(x).shape, [1, 1, 3, 4]);
  assert.throws(
    () => conv.forward(zeros([2, 4, 8, 8], cpu)),
    /Cannot apply conv2d to a tensor of shape \[2, 4, 8, 8\]: expected \[N, 3, H, W\]/,
  );
  assert.throws(
    () => new Conv2d(1, 1, 5, cpu).forward(zeros([1, 1, 4, 9], cpu)),
    /the padded input 4×9 is smaller than the 5×5 kernel/,
  );
  assert.throws(() => new Conv2d(1, 1, 0), /Cannot use Conv2d with kernelSize 0/);
  assert.throws(() => new MaxPool2d(2, { padding: 2 }), /padding \[2, 2\] must be at most half/);
  for (const m of [conv, strided, box]) m.dispose();
});

Deno.test("losses: hand-computed values, finite at probabilities 0 and 1, shape errors", async () => {
  const x = t([[1, 2], [3, 4]], { requiresGrad: true });
  const y = t([[1, 0], [1, 2]]);
  assert.equal(await mseLoss(x, y).item(), (0 + 4 + 4 + 4) / 4);
  assert.equal(await mseLoss(x, y, { reduction: "sum" }).item(), 12);
  assert.deepEqual(await vals(mseLoss(x, y, { reduction: "none" })), [0, 4, 4, 4]);
  // A certain wrong prediction costs 100 (log clamped at -100), a certain right one 0.
  const p = t([0, 1, 0, 1], { requiresGrad: true });
  const l = bceLoss(p, t([0, 1, 1, 0]));
  assert.equal(await l.item(), 50);
  l.backward();
  const g = await vals(p.grad);
  assert.ok(g.every(Number.isFinite), `finite gradients ${g}`);
  assertClose(g, [0, 0, -0.25e12, 0.25e12], { rtol: 1e-5 });
  assertClose([await bceLoss(t([0.5]), t([1])).item()], [Math.LN2]);
  // Logits far apart and shifted by +1000 stay finite.
  const logits = t([[1000, 0, -1000], [1001, 1002, 1003]], { requiresGrad: true });
  const ce = crossEntropy(logits, t([0, 1]));
  const lse = Math.log(Math.exp(-2) + Math.exp(-1) + 1);
  assertClose([await ce.item()], [(0 + (lse + 1)) / 2]);
  ce.backward();
  assert.ok((await vals(logits.grad)).every(Number.isFinite));
  assert.throws(
    () => mseLoss(x, t([1, 2])),
    /Cannot compute mseLoss of an input of shape \[2, 2\] and a target of shape \[2\]: shapes differ/,
  );
  assert.throws(
    () => crossEntropy(logits, t([0, 1, 2])),
    /Cannot compute crossEntropy of logits of shape \[2, 3\] and labels of shape \[3\]/,
  );
  assert.throws(
    () => mseLoss(x, y, { reduction: "avg" as "mean" }),
    /Cannot compute mseLoss: reduction must be "mean", "sum" or "none", got "avg"/,
  );
});

Deno.test("optimizers: hand-computed first steps; parameters without a gradient are skipped", async () => {
  const w = t([1, -2], { requiresGrad: true });
  const frozen = t([5], { requiresGrad: true });
  const sgd = new SGD([w, frozen], { lr: 0.1, momentum: 0.9 });
  w.grad = t([1, 1]);
  sgd.step();
  assertClose(await vals(w), [0.9, -2.1]);
  w.grad = t([1, 1]);
  sgd.step(); // buf = 0.9 · 1 + 1 = 1.9
  assertClose(await vals(w), [0.71, -2.29]);
  assert.deepEqual(await vals(frozen), [5]);
  assert.deepEqual(Object.keys(sgd.stateDict().state), ["0.momentum_buffer"]);
  assert.deepEqual(sgd.stateDict().paramSteps, [2, 0]);
  const a = t([1, -2], { requiresGrad: true });
  const adam = new Adam([a], { lr: 0.1 });
  a.grad = t([3, -0.5]);
  adam.step(); // the first Adam step moves every coordinate by lr · sign(grad)
  assertClose(await vals(a), [0.9, -1.9], { rtol: 1e-6 });
  adam.zeroGrad();
  assert.equal(a.grad, null);
  assert.throws(
    () => new SGD([w], {} as { lr: number }),
    /Cannot create SGD: opts\.lr is required/,
  );
  assert.throws(() => new Adam([]), /Cannot create Adam: the parameter list is empty/);
  assert.throws(() => new Adam([w, w]), /Cannot create Adam: a parameter appears more than once/);
  assert.throws(
    () => new Adam([w.mul(2)]),
    /Cannot create Adam: parameter 0 of shape \[2\] is not a leaf/,
  );
  assert.throws(
    () => new RMSprop([w], { alpha: 1 }),
    /Cannot create RMSprop: alpha must be in \[0, 1\), got 1/,
  );
  assert.equal(new AdamW([w]).weightDecay, 0.01);
  for (const o of [sgd, adam]) o.dispose();
});

Deno.test("optimizer state dicts: resume continues the exact trajectory; bad states change nothing", async () => {
  const grads = [[0.3, -1, 2], [1, 1, -0.5], [-2, 0.1, 0.7], [0.5, 0.5, 0.5]];
  for (
    const make of [
      (p: Tensor) => new Adam([p], { lr: 0.05, weightDecay: 0.1 }),
      (p: Tensor) => new RMSprop([p], { lr: 0.01, momentum: 0.9, centered: true }),
      (p: Tensor) => new SGD([p], { lr: 0.1, momentum: 0.5, nesterov: true }),
    ]
  ) {
    const p = t([1, 2, 3], { requiresGrad: true });
    const opt = make(p);
    for (const g of grads) {
      p.grad = t(g);
      opt.step();
    }
    const expected = await vals(p);
    const q = t([1, 2, 3], { requiresGrad: true });
    const first = make(q);
    for (const g of grads.slice(0, 2)) {
      q.grad = t(g);
      first.step();
    }
    // Serialise as a checkpoint would: host arrays plus JSON.
    const sd = first.stateDict();
    const host = Object.fromEntries(
      await Promise.all(
        Object.entries(sd.state).map(async ([k, v]) => [k, {
          shape: v.shape,
          data: Float32Array.from(await v.data()),
        }]),
      ),
    );
    const json = JSON.parse(JSON.stringify({ ...sd, state: undefined }));
    const k0 = Object.keys(host)[0]!;
    const resumed = make(q);
    resumed.lr = 123;
    assert.throws(
      () =>
        resumed.loadStateDict({
          ...json,
          state: { ...host, "0.bogus": host[k0]! },
        }),
      new RegExp(
        `Cannot load ${resumed.constructor.name} state: unexpected state tensor '0\\.bogus'`,
      ),
    );
    assert.throws(
      () =>
        resumed.loadStateDict({
          ...json,
          state: { ...host, [k0]: { shape: [4], data: new Float32Array(4) } },
        }),
      new RegExp(
        `Cannot load ${resumed.constructor.name} state '${
          k0.replace(".", "\\.")
        }': expected shape \\[3\\], got \\[4\\]`,
      ),
    );
    assert.equal(resumed.lr, 123, "a failed load changes nothing");
    resumed.loadStateDict({ ...json, state: host });
    assert.equal(resumed.stepCount, 2);
    assert.equal(resumed.lr, sd.hyperParams.lr);
    for (const g of grads.slice(2)) {
      q.grad = t(g);
      resumed.step();
    }
    assertClose(await vals(q), expected, { rtol: 1e-6, atol: 1e-7 });
    for (const o of [opt, first, resumed]) o.dispose();
  }
});

Deno.test("clipGradNorm scales gradients to the max norm and returns the norm before clipping", async () => {
  const a = t([1, 1], { requiresGrad: true }), b = t([1], { requiresGrad: true });
  const none = t([1], { requiresGrad: true });
  a.grad = t([3, 0]);
  b.grad = t([4]);
  const n = clipGradNorm([a, b, none], 1);
  assert.deepEqual(n.shape, []);
  assertClose([await n.item()], [5]);
  assertClose(await vals(a.grad), [0.6, 0], { rtol: 1e-5 });
  assertClose(await vals(b.grad), [0.8], { rtol: 1e-5 });
  const n2 = clipGradNorm([a, b], 10);
  assertClose([await n2.item()], [1], { rtol: 1e-5 });
  assertClose(await vals(b.grad), [0.8], { rtol: 1e-5 });
  assert.equal(await clipGradNorm([none], 1).item(), 0);
});

Deno.test("a Sequential MLP learns XOR with Adam, and memory stays flat across steps", async () => {
  manualSeed(1);
  const net = new Sequential(
    new Linear(2, 8, cpu),
    new Tanh(),
    new Linear(8, 1, cpu),
    new Sigmoid(),
  );
  const opt = new Adam(net.parameters(), { lr: 0.05 });
  const x = t([[0, 0], [0, 1], [1, 0], [1, 1]]);
  const y = t([[0], [1], [1], [0]]);
  let counts: number[] = [];
  let last = Infinity;
  for (let step = 0; step < 300; step++) {
    const loss = tidy(() => {
      opt.zeroGrad();
      const l = bceLoss(net.forward(x), y);
      l.backward();
      opt.step();
      return l;
    });
    if (step === 299) last = await loss.item();
    loss.dispose();
    if (step >= 2 && step < 6) counts.push(memory().tensors);
  }
  counts = [...new Set(counts)];
  assert.equal(counts.length, 1, `live tensors per step ${counts}`);
  assert.ok(last < 0.05, `final loss ${last}`);
  opt.dispose();
  net.dispose();
});

Deno.test("regression: ops with a number argument free the 0-d constant they make", async () => {
  // div/maximum/minimum/comparisons/where with a number used to leave a live 0-d tensor behind
  // on every call outside tidy (Dropout's `u.ge(p)` leaked one per forward).
  const x = t([1, -2, 3]);
  const before = memory().tensors;
  for (
    const make of [
      () => x.div(2),
      () => x.maximum(0),
      () => x.minimum(0),
      () => x.gt(0),
      () => x.ge(1),
      () => x.eq(3),
    ]
  ) {
    const y = make();
    y.dispose();
  }
  const cond = x.gt(0);
  for (const y of [x.where(cond, 0), where(cond, 1, 0), where(cond, 1, x)]) y.dispose();
  cond.dispose();
  assert.equal(memory().tensors, before, "no tensor is left behind");
  // With a graph, gradients are unchanged.
  x.requiresGrad = true;
  const y = x.maximum(0).div(2).sum();
  y.backward();
  assert.deepEqual(await vals(x.grad), [0.5, 0, 0.5]);
  const c = x.gt(0);
  const w = x.where(c, 0).sum();
  w.backward();
  assert.deepEqual(await vals(x.grad), [1.5, 0, 1.5]);
});

gpuTest("Dropout draws the same mask on WebGPU as on the CPU for the same seed", async (gpu) => {
  await init({
    backend: "webgpu",
    log: false,
    requestWebGPU: () =>
      Promise.resolve({
        backend: gpu,
        info: { vendor: "", architecture: "", device: "", description: "test", isFallback: false },
      }),
  });
  await init({ backend: "cpu", log: false });
  const drop = new Dropout(0.4);
  manualSeed(11);
  const c = await vals(drop.forward(ones([257], cpu)));
  manualSeed(11);
  const g = await vals(drop.forward(ones([257], { backend: "webgpu" })));
  assert.deepEqual(g.map((v) => v !== 0), c.map((v) => v !== 0));
  assertClose(g, c);
});
