/**
 * The engine on WebGPU: backend selection and fallback, seeded random numbers
 * identical to the CPU backend, no hidden readbacks, and flat memory over
 * hundreds of training steps.
 */
import assert from "node:assert/strict";
import { cpuBackend, init } from "../tensor/engine.ts";
import { manualSeed, matmul, memory, noGrad, rand, randn, tensor, tidy, zeros } from "../mod.ts";
import { assertClose } from "./_gradcheck.ts";
import { gpuTest } from "./_gpu.ts";

Deno.test("init auto falls back to the CPU and says why when WebGPU is unavailable", async () => {
  const r = await init({
    backend: "auto",
    log: false,
    requestWebGPU: () => Promise.resolve({ error: "no adapter found (simulated)" }),
  });
  assert.equal(r.backend, "cpu");
  assert.equal(r.adapter, null);
  assert.match(r.message, /CPU backend \(WebGPU unavailable: no adapter found \(simulated\)\)/);
  assert.equal(zeros([1]).backend, "cpu");
  await assert.rejects(
    init({
      backend: "webgpu",
      log: false,
      requestWebGPU: () => Promise.resolve({ error: "no adapter found (simulated)" }),
    }),
    /Cannot initialise the WebGPU backend: no adapter found \(simulated\)/,
  );
  await assert.rejects(init({ backend: "tpu" as "cpu", log: false }), /Cannot init backend "tpu"/);
});

Deno.test("init auto prefers the CPU over a software fallback adapter and says so", async () => {
  const info = {
    vendor: "65541",
    architecture: "",
    device: "0",
    description: "llvmpipe (LLVM 15.0.6, 256 bits)",
    isFallback: true,
  };
  const r = await init({
    backend: "auto",
    log: false,
    requestWebGPU: () => Promise.resolve({ backend: cpuBackend(), info }),
  });
  assert.equal(r.backend, "cpu");
  assert.match(
    r.message,
    /only WebGPU adapter, llvmpipe \(LLVM 15\.0\.6, 256 bits\), is a software fallback/,
  );
  assert.equal(zeros([1]).backend, "cpu");
});

gpuTest("init webgpu reports the adapter and makes WebGPU the default", async () => {
  const r = await init({ backend: "webgpu", log: false });
  try {
    assert.equal(r.backend, "webgpu");
    assert.ok(r.adapter && typeof r.adapter.description === "string");
    assert.match(r.message, /using WebGPU on /);
    assert.equal(zeros([2]).backend, "webgpu");
    assert.throws(
      () => zeros([2], { dtype: "float64" }),
      /Cannot create a float64 tensor on the webgpu backend/,
    );
  } finally {
    await init({ backend: "cpu", log: false });
  }
});

gpuTest(
  "manualSeed gives the same rand bits on WebGPU as on the CPU, randn within 1e-5",
  async () => {
    await init({ backend: "webgpu", log: false });
    await init({ backend: "cpu", log: false });
    manualSeed(7);
    const uc = await rand([1031], { backend: "cpu" }).data();
    const nc = await randn([517], { backend: "cpu" }).data();
    manualSeed(7);
    const ug = await rand([1031], { backend: "webgpu" }).data();
    const ng = await randn([517], { backend: "webgpu" }).data();
    assert.deepEqual(Array.from(ug), Array.from(uc));
    assertClose(ng, nc, { rtol: 1e-5, atol: 1e-5 });
  },
);

gpuTest("a training step records work without reading back", async () => {
  await init({ backend: "webgpu", log: false });
  await init({ backend: "cpu", log: false });
  const w = randn([17, 9], { backend: "webgpu", requiresGrad: true });
  const x = randn([33, 17], { backend: "webgpu" });
  const stats = () => memory().backends.webgpu!;
  await w.data();
  const before = stats();
  for (let i = 0; i < 5; i++) {
    tidy(() => {
      const loss = x.matmul(w).tanh().pow(2).mean();
      loss.backward();
      noGrad(() => w.assign(w.sub(w.grad!.mul(0.1))));
      w.zeroGrad();
    });
  }
  const after = stats();
  assert.equal(after.readbacks, before.readbacks, "no readback inside training steps");
  assert.ok(after.dispatches > before.dispatches, "work was recorded");
  await w.data();
  assert.equal(stats().readbacks, before.readbacks + 1);
});

gpuTest("300 steps of a small MLP keep live tensors, buffers and bytes flat", async () => {
  await init({ backend: "webgpu", log: false });
  await init({ backend: "cpu", log: false });
  const o = { backend: "webgpu" as const, requiresGrad: true };
  manualSeed(3);
  const w1 = randn([8, 16], o), b1 = zeros([16], o), w2 = randn([16, 4], o), b2 = zeros([4], o);
  const x = randn([32, 8], { backend: "webgpu" });
  const y = randn([32, 4], { backend: "webgpu" });
  const params = [w1, b1, w2, b2];
  let first: ReturnType<typeof memory> | null = null;
  let lossFirst = 0;
  for (let step = 0; step < 300; step++) {
    const loss = tidy(() => {
      const h = matmul(x, w1).add(b1).relu();
      const l = matmul(h, w2).add(b2).sub(y).pow(2).mean();
      l.backward();
      noGrad(() => {
        for (const p of params) {
          p.assign(p.sub(p.grad!.mul(0.05)));
          p.zeroGrad();
        }
      });
      return l;
    });
    if (step === 0) lossFirst = await loss.item();
    if (step === 299) assert.ok((await loss.item()) < lossFirst, "the MLP learns");
    loss.dispose();
    if (step === 1) first = memory();
  }
  const last = memory();
  assert.equal(last.tensors, first!.tensors);
  assert.equal(last.bytes, first!.bytes);
  const g0 = first!.backends.webgpu!, g1 = last.backends.webgpu!;
  assert.equal(g1.liveBuffers, g0.liveBuffers, "live GPU buffers stay flat");
  assert.equal(g1.liveBytes, g0.liveBytes, "live GPU bytes stay flat");
  assert.ok(g1.pooledBytes <= g0.pooledBytes * 2 + 65536, "the pool does not grow without bound");
  assert.equal(g1.pipelines, g0.pipelines, "no pipeline is compiled after the first steps");
});

gpuTest("a disposed tensor on WebGPU refuses use; cross-backend copies round-trip", async () => {
  await init({ backend: "webgpu", log: false });
  await init({ backend: "cpu", log: false });
  const t = tensor([1, 2, 3], undefined, { backend: "webgpu" });
  const c = await t.to("cpu");
  assert.deepEqual(Array.from(await c.data()), [1, 2, 3]);
  const back = await c.to("webgpu");
  assert.deepEqual(Array.from(await back.data()), [1, 2, 3]);
  t.dispose();
  assert.throws(() => t.add(1), /it was disposed/);
});
