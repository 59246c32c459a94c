/**
 * Forward values against hand-computed expectations, the autograd contract
 * (accumulation, retainGraph, noGrad, detach, tidy, using), errors that name
 * the op and the shapes, and seeded reproducibility — on the CPU backend.
 */
import assert from "node:assert/strict";
import {
  arange,
  cat,
  full,
  gather,
  manualSeed,
  matmul,
  memory,
  noGrad,
  ones,
  rand,
  randn,
  ShapeError,
  stack,
  type Tensor,
  tensor,
  tidy,
  where,
  zeros,
} from "../mod.ts";
import { assertClose } from "./_gradcheck.ts";

const cpu = { backend: "cpu" } as const;
const vals = async (t: Tensor) => Array.from(await t.data());

Deno.test("tensor() infers shapes, defaults to float32 and reads back", async () => {
  const x = tensor([[1, 2, 3], [4, 5, 6]], undefined, cpu);
  assert.deepEqual(x.shape, [2, 3]);
  assert.equal(x.dtype, "float32");
  assert.equal(x.backend, "cpu");
  assert.deepEqual(await x.array(), [[1, 2, 3], [4, 5, 6]]);
  const z = tensor(new Float64Array(6), [2, 3], cpu);
  assert.equal(z.dtype, "float64");
  assert.equal(await tensor(7, undefined, cpu).item(), 7);
  assert.throws(() => tensor([[1, 2], [3]], undefined, cpu), /ragged/);
  assert.throws(() => tensor([1, 2, 3], [2, 2], cpu), /shape \[2, 2\] \(4 elements\) from 3/);
});

Deno.test("creation functions fill as specified", async () => {
  assert.deepEqual(await vals(zeros([2, 2], cpu)), [0, 0, 0, 0]);
  assert.deepEqual(await vals(ones([3], cpu)), [1, 1, 1]);
  assert.deepEqual(await vals(full([2], 2.5, cpu)), [2.5, 2.5]);
  assert.deepEqual(await vals(arange(4, cpu)), [0, 1, 2, 3]);
  const u = await vals(rand([1000], { ...cpu, low: -2, high: 3 }));
  assert.ok(u.every((v) => v >= -2 && v < 3));
  const mean = u.reduce((a, b) => a + b, 0) / u.length;
  assert.ok(Math.abs(mean - 0.5) < 0.15, `uniform mean ${mean}`);
  const n = await vals(randn([4000], cpu));
  const m = n.reduce((a, b) => a + b, 0) / n.length;
  const v = n.reduce((a, b) => a + (b - m) ** 2, 0) / n.length;
  assert.ok(Math.abs(m) < 0.06 && Math.abs(v - 1) < 0.08, `normal mean ${m} var ${v}`);
});

Deno.test("manualSeed() gives the same randn bits for the same seed and differs otherwise", async () => {
  manualSeed(123);
  const a = await vals(randn([64], cpu));
  const a2 = await vals(rand([8], cpu));
  manualSeed(123);
  const b = await vals(randn([64], cpu));
  const b2 = await vals(rand([8], cpu));
  manualSeed(124);
  const c = await vals(randn([64], cpu));
  assert.deepEqual(a, b);
  assert.deepEqual(a2, b2);
  assert.notDeepEqual(a, c);
  assert.notDeepEqual(a.slice(0, 8), a2);
});

Deno.test("elementwise ops give hand-computed values with broadcasting", async () => {
  const a = tensor([[1, 2, 3], [4, 5, 6]], undefined, cpu);
  const b = tensor([10, 20, 30], undefined, cpu);
  assert.deepEqual(await vals(a.add(b)), [11, 22, 33, 14, 25, 36]);
  assert.deepEqual(await vals(a.sub(1)), [0, 1, 2, 3, 4, 5]);
  assert.deepEqual(await vals(a.mul(tensor([[2], [3]], undefined, cpu))), [2, 4, 6, 12, 15, 18]);
  assert.deepEqual(await vals(b.div(10)), [1, 2, 3]);
  assert.deepEqual(await vals(a.pow(2)), [1, 4, 9, 16, 25, 36]);
  assert.deepEqual(await vals(tensor([-2, 0, 3], undefined, cpu).relu()), [0, 0, 3]);
  assert.deepEqual(await vals(tensor([-2, 0, 3], undefined, cpu).abs()), [2, 0, 3]);
  assertClose(await vals(tensor([-1, 2], undefined, cpu).leakyRelu(0.2)), [-0.2, 2]);
  assertClose(await vals(tensor([0, 1], undefined, cpu).exp()), [1, Math.E]);
  assertClose(await vals(tensor([1, Math.E], undefined, cpu).log()), [0, 1]);
  assertClose(await vals(tensor([0, 2], undefined, cpu).sigmoid()), [0.5, 1 / (1 + Math.exp(-2))]);
  assertClose(await vals(tensor([-1000, 1000], undefined, cpu).sigmoid()), [0, 1]);
  assertClose(await vals(tensor([-1000, 0.5, 1000], undefined, cpu).tanh()), [
    -1,
    Math.tanh(0.5),
    1,
  ]);
  assert.deepEqual(await vals(tensor([-5, 0.5, 5], undefined, cpu).clamp(-1, 1)), [-1, 0.5, 1]);
  assert.deepEqual(await vals(a.maximum(3)), [3, 3, 3, 4, 5, 6]);
  assert.deepEqual(await vals(a.gt(3)), [0, 0, 0, 1, 1, 1]);
  assert.deepEqual(await vals(a.eq(b.div(10))), [1, 1, 1, 0, 0, 0]);
  assert.deepEqual(await vals(a.le(2)), [1, 1, 0, 0, 0, 0]);
  assert.deepEqual(await vals(where(a.ge(5), a, 0)), [0, 0, 0, 0, 5, 6]);
});

Deno.test("matmul, reductions and softmax give hand-computed values", async () => {
  const a = tensor([[1, 2], [3, 4]], undefined, cpu);
  assert.deepEqual(await vals(a.matmul(a)), [7, 10, 15, 22]);
  assert.deepEqual(await vals(matmul(a, a, { transA: true })), [10, 14, 14, 20]);
  assert.deepEqual(await vals(matmul(a, a, { transB: true })), [5, 11, 11, 25]);
  const x = tensor([[1, 5, 2], [7, 0, 3]], undefined, cpu);
  assert.deepEqual(await vals(x.sum()), [18]);
  assert.deepEqual(await vals(x.sum(0)), [8, 5, 5]);
  assert.deepEqual(x.sum(-1, true).shape, [2, 1]);
  assert.deepEqual(await vals(x.mean(1)), [8 / 3, 10 / 3].map(Math.fround));
  assert.deepEqual(await vals(x.max(1)), [5, 7]);
  assert.deepEqual(await vals(x.max()), [7]);
  const s = await vals(tensor([1, 2, 3], undefined, cpu).softmax());
  const e = [1, 2, 3].map(Math.exp), z = e[0]! + e[1]! + e[2]!;
  assertClose(s, e.map((v) => v / z));
  // Stable for large logits.
  const ls = await vals(tensor([1000, 1001], undefined, cpu).logSoftmax());
  const lse = Math.log(1 + Math.exp(-1));
  assertClose(ls, [-1 - lse, -lse]);
});

Deno.test("a slice of a transpose reads the source through both views, not a copy of the whole", async () => {
  const x = arange(24, cpu).reshape([2, 3, 4]);
  const t = x.transpose(0, 2); // [4, 3, 2]: t[i, j, k] = x[k, j, i] = 12k + 4j + i
  const isCopied = (v: Tensor) =>
    (v as unknown as { buf: { materialized: boolean } }).buf.materialized;
  const s = t.slice([1, 0, 1], [2, 3, 1]); // s[a, b, 0] = t[1 + a, b, 1] = 13 + 4b + a
  assert.deepEqual(await s.array(), [[[13], [17], [21]], [[14], [18], [22]]]);
  // a slice of that slice composes the three views
  assert.deepEqual(await s.slice([1, 1, 0], [1, 2, 1]).array(), [[[18], [22]]]);
  assert.equal(isCopied(t), false, "reading the slices did not copy the transpose");
  // the transpose itself, and a reshape of it (no longer its view's shape), still read right
  assert.deepEqual(await t.reshape([4, 6]).slice([3, 0], [1, 6]).array(), [[3, 15, 7, 19, 11, 23]]);
  assert.deepEqual((await t.data()).slice(0, 6), Float32Array.from([0, 12, 4, 16, 8, 20]));
  // a transpose of a transpose, then a slice
  assert.deepEqual(await t.transpose(0, 1).slice([2, 3, 0], [1, 1, 2]).array(), [[[11, 23]]]);
});

Deno.test("shape ops move the right elements", async () => {
  const x = arange(6, cpu).reshape([2, 3]);
  assert.deepEqual(await x.transpose().array(), [[0, 3], [1, 4], [2, 5]]);
  assert.deepEqual(await x.slice([0, 1], [2, 2]).array(), [[1, 2], [4, 5]]);
  assert.deepEqual(await cat([x, x.mul(10)], 0).array(), [[0, 1, 2], [3, 4, 5], [0, 10, 20], [
    30,
    40,
    50,
  ]]);
  assert.deepEqual(stack([x, x], 2).shape, [2, 3, 2]);
  assert.deepEqual(await gather(x, tensor([[2], [0]], undefined, cpu), 1).array(), [[2], [3]]);
  assert.deepEqual(await x.reshape([3, 1, 2]).permute([2, 0, 1]).array(), [[[0], [2], [4]], [[1], [
    3,
  ], [5]]]);
  assert.deepEqual(await tensor([1, 2], undefined, cpu).expand([2, 2]).array(), [[1, 2], [1, 2]]);
  assert.deepEqual(x.unsqueeze(-1).shape, [2, 3, 1]);
});

Deno.test("errors name the op and the shapes", () => {
  const a = zeros([3, 4], cpu), b = zeros([5, 6], cpu);
  assert.throws(() => a.matmul(b), (e: unknown) => {
    assert.ok(e instanceof ShapeError);
    assert.equal(e.op, "matmul");
    assert.match(
      e.message,
      /Cannot matmul tensors of shapes \[3, 4\] and \[5, 6\]: inner dimensions 4 and 5 differ/,
    );
    return true;
  });
  assert.throws(
    () => a.reshape([5, 2]),
    /Cannot reshape a tensor of shape \[3, 4\] \(12 elements\) to \[5, 2\]/,
  );
  assert.throws(() => a.sum(2), (e: unknown) => {
    assert.ok(e instanceof RangeError);
    assert.match(
      e.message,
      /Cannot apply sum along axis 2: tensor of shape \[3, 4\] has 2 dimensions/,
    );
    return true;
  });
  assert.throws(() => a.softmax(-3), /softmax along axis -3: tensor of shape \[3, 4\]/);
  assert.throws(() => a.add(b), /Cannot broadcast shapes \[3, 4\] and \[5, 6\] in add/);
  assert.throws(() => a.transpose(0, 5), /transpose along axis 5/);
  assert.throws(() => a.slice([2], [3]), /Cannot slice a tensor of shape \[3, 4\]/);
  assert.throws(() => cat([a, b], 0), /Cannot cat tensors of shapes \[3, 4\], \[5, 6\]/);
  assert.throws(() => zeros([2], { backend: "cpu", dtype: "int8" as "float32" }), /dtype "int8"/);
  assert.throws(() => gather(a, tensor([[7]], undefined, cpu), 1), /indices must match/);
  assert.throws(() => gather(a, tensor([[7], [0], [1]], undefined, cpu), 1), RangeError);
});

Deno.test("backward accumulates, frees the graph, and refuses a second pass", async () => {
  const x = tensor([1, 2, 3], undefined, { ...cpu, requiresGrad: true });
  const y = x.mul(x).sum();
  y.backward();
  assert.deepEqual(await vals(x.grad!), [2, 4, 6]);
  assert.throws(() => y.backward(), /Cannot run backward\(\) through .* a second time/);
  const y2 = x.mul(3).sum();
  y2.backward(undefined, { retainGraph: true });
  y2.backward();
  assert.deepEqual(await vals(x.grad!), [8, 10, 12]);
  x.zeroGrad();
  assert.equal(x.grad, null);
  assert.throws(() => x.mul(2).backward(), /not a scalar/);
  assert.throws(() => zeros([2], cpu).sum().backward(), /does not require a gradient/);
  const v = x.mul(2);
  v.backward(tensor([1, 0, -1], undefined, cpu));
  assert.deepEqual(await vals(x.grad!), [2, 0, -2]);
});

Deno.test("noGrad, detach and requiresGrad propagation", () => {
  const x = ones([2], { ...cpu, requiresGrad: true });
  assert.equal(x.mul(2).requiresGrad, true);
  assert.equal(noGrad(() => x.mul(2)).requiresGrad, false);
  assert.equal(x.detach().mul(2).requiresGrad, false);
  assert.equal(x.gt(0).requiresGrad, false);
  assert.throws(() => noGrad(() => Promise.resolve(1)), /synchronous/);
});

Deno.test("tidy and using release temporaries; disposed tensors refuse use", () => {
  const before = memory();
  const kept = tidy(() => {
    const a = ones([100], cpu);
    const b = a.add(1).mul(2);
    return b.sum();
  });
  assert.equal(memory().tensors, before.tensors + 1);
  assert.equal(memory().bytes, before.bytes + 4);
  kept.dispose();
  {
    using t = ones([10], cpu);
    assert.equal(t.size, 10);
  }
  assert.equal(memory().tensors, before.tensors);
  const d = ones([2], cpu);
  d.dispose();
  assert.throws(() => d.add(1), /Cannot use a tensor of shape \[2\]: it was disposed/);
});

Deno.test("training steps keep live tensors and bytes flat", () => {
  const w = zeros([4, 3], { ...cpu, requiresGrad: true });
  const x = ones([5, 4], cpu);
  let after1 = -1, bytes1 = -1;
  for (let step = 0; step < 50; step++) {
    tidy(() => {
      const loss = x.matmul(w).tanh().pow(2).mean();
      loss.backward();
      noGrad(() => w.assign(w.sub(w.grad!.mul(0.1))));
      w.zeroGrad();
    });
    if (step === 0) [after1, bytes1] = [memory().tensors, memory().bytes];
  }
  assert.equal(memory().tensors, after1);
  assert.equal(memory().bytes, bytes1);
});

Deno.test("a graph nobody can backward through is freed when its outputs are disposed", async () => {
  const w = ones([3, 3], { ...cpu, requiresGrad: true });
  const x = ones([2, 3], cpu);
  const before = memory();
  for (let i = 0; i < 20; i++) tidy(() => x.matmul(w).tanh().sum()).dispose();
  assert.equal(memory().tensors, before.tensors);
  assert.equal(memory().bytes, before.bytes);
  // An intermediate disposed early still backpropagates: later nodes hold it.
  const h = x.matmul(w);
  const s = h.sigmoid();
  const y = s.sum();
  h.dispose();
  s.dispose();
  y.backward();
  assert.equal(w.grad!.shape.length, 2);
  assert.ok((await w.grad!.data()).every((v) => v > 0));
  y.dispose();
  w.zeroGrad();
  assert.equal(memory().tensors, before.tensors);
});
