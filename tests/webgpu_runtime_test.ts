/**
 * The WebGPU runtime: the buffer pool (reuse, flat counters, the upload
 * hazard of pending-release buffers), use-after-free errors, command
 * batching, grid folding past 65535 workgroups, aliasing, compile errors and
 * the validation mode.
 */
import assert from "node:assert/strict";
import { WebGPUBackend } from "../tensor/webgpu/backend.ts";
import { foldGrid } from "../tensor/webgpu/runtime.ts";
import { sizeClass } from "../tensor/webgpu/pool.ts";
import { unaryShader, VEC4_N_SLOT } from "../tensor/wgsl/elementwise.ts";
import { assertClose } from "./_gradcheck.ts";
import { gpuTest, randArray } from "./_gpu.ts";

Deno.test("sizeClass() pads to 256 bytes and steps by 1.25× within each power of two", () => {
  assert.equal(sizeClass(0), 256);
  assert.equal(sizeClass(4), 256);
  assert.equal(sizeClass(257), 320);
  assert.equal(sizeClass(1000), 1024);
  assert.equal(sizeClass(1025), 1280);
  assert.equal(sizeClass(65 * 1024 * 1024 + 1), 65 * 1024 * 1024 + 256);
});

Deno.test("foldGrid() keeps both dimensions within 65535", () => {
  assert.deepEqual(foldGrid(10), [10, 1, 1]);
  const [x, y] = foldGrid(65536 * 3 + 1);
  assert.ok(x <= 65535 && y <= 65535 && x * y >= 65536 * 3 + 1);
});

gpuTest("a freed storage's buffer is reused by the next alloc of its size class", async (gpu) => {
  await gpu.flush();
  const a = gpu.alloc(1000, "float32");
  const s0 = gpu.stats();
  gpu.free(a);
  const s1 = gpu.stats();
  assert.equal(s1.liveBuffers, s0.liveBuffers - 1);
  assert.equal(s1.pooledBuffers, s0.pooledBuffers + 1);
  const b = gpu.alloc(900, "float32"); // same 4 KiB class
  const s2 = gpu.stats();
  assert.equal(s2.pooledBuffers, s0.pooledBuffers);
  assert.equal(s2.liveBuffers, s0.liveBuffers);
  gpu.free(b);
});

gpuTest("pool and pipeline counters stay flat over 300 alloc/dispatch/free cycles", async (gpu) => {
  const x = gpu.upload(randArray(777, 1), "float32");
  let first = gpu.stats();
  for (let i = 0; i < 300; i++) {
    const y = gpu.alloc(777, "float32"), z = gpu.alloc(777, "float32");
    gpu.unary("tanh", x, y);
    gpu.binary("add", x, [1], y, [1], z, [777]);
    const u = gpu.upload(randArray(777, i), "float32");
    gpu.binary("mul", z, [1], u, [1], y, [777]);
    for (const s of [y, z, u]) gpu.free(s);
    if (i === 9) {
      await gpu.flush();
      first = gpu.stats();
    }
  }
  await gpu.flush();
  const last = gpu.stats();
  for (
    const k of ["liveBuffers", "liveBytes", "pooledBuffers", "pooledBytes", "pipelines"] as const
  ) {
    assert.equal(last[k], first[k], `${k} changed from ${first[k]} to ${last[k]}`);
  }
  gpu.free(x);
});

gpuTest("an upload never lands in a buffer that recorded work still reads", async (gpu) => {
  const x = randArray(1024, 2), y = randArray(1024, 3);
  const a = gpu.upload(x, "float32");
  const out = gpu.alloc(1024, "float32");
  gpu.unary("neg", a, out); // recorded, not submitted
  gpu.free(a); // pending release: the open encoder still reads it
  const b = gpu.upload(y, "float32"); // must not take a's buffer
  const c = gpu.alloc(1024, "float32"); // may take it: kernels run in order
  gpu.unary("exp", out, c);
  assertClose(await gpu.read(out), x.map((v) => -v), { rtol: 0, atol: 0, label: "neg" });
  assertClose(await gpu.read(b), y, { rtol: 0, atol: 0, label: "upload" });
  assertClose(await gpu.read(c), x.map((v) => Math.exp(-v)), { rtol: 2e-6, label: "exp" });
  for (const s of [out, b, c]) gpu.free(s);
});

gpuTest("using or freeing a freed storage throws a clear error", async (gpu) => {
  const a = gpu.upload(Float32Array.from([1, 2]), "float32");
  const b = gpu.alloc(2, "float32");
  gpu.free(a);
  assert.throws(() => gpu.unary("neg", a, b), /storage \(2 elements\) was already freed/);
  assert.throws(() => gpu.free(a), /already freed/);
  await assert.rejects(gpu.read(a), /already freed/);
  assert.throws(() => gpu.alloc(2, "float64"), TypeError);
  assert.equal(gpu.supports("float64"), false);
  gpu.free(b);
});

gpuTest("100 dispatches go out in at most a few submits; only read() waits", async (gpu) => {
  await gpu.flush();
  const x = gpu.upload(randArray(4096, 4), "float32");
  const y = gpu.alloc(4096, "float32");
  const s0 = gpu.stats();
  for (let i = 0; i < 100; i++) gpu.unary(i % 2 ? "tanh" : "neg", i % 2 ? y : x, i % 2 ? x : y);
  const s1 = gpu.stats();
  assert.equal(s1.dispatches - s0.dispatches, 100);
  assert.ok(s1.submits - s0.submits <= 1, `${s1.submits - s0.submits} submits while recording`);
  assert.equal(s1.readbacks, s0.readbacks);
  await gpu.read(y);
  const s2 = gpu.stats();
  assert.ok(s2.submits - s0.submits <= 2, `${s2.submits - s0.submits} submits`);
  assert.equal(s2.readbacks, s0.readbacks + 1);
  gpu.free(x);
  gpu.free(y);
});

gpuTest("zero-size storages share one buffer and read back empty", async (gpu) => {
  const s0 = gpu.stats();
  const a = gpu.alloc(0, "float32"), b = gpu.upload(new Float32Array(0), "float32");
  gpu.unary("exp", a, b);
  assert.equal((await gpu.read(b)).length, 0);
  gpu.free(a);
  gpu.free(b);
  const s1 = gpu.stats();
  assert.equal(s1.liveBuffers, s0.liveBuffers);
  assert.equal(s1.pooledBuffers, s0.pooledBuffers);
});

gpuTest("grids past 65535 workgroups fold into y (unary over 2^24 + 3 elements)", async (gpu) => {
  const n = 65536 * 256 + 3;
  const a = gpu.alloc(n, "float32"), b = gpu.alloc(n, "float32");
  gpu.fill(a, 2);
  gpu.unary("affine", a, b, 3, -1);
  const r = await gpu.read(b);
  assert.equal(r.length, n);
  for (const i of [0, 1, 65535 * 256, 65536 * 256, n - 1]) assert.equal(r[i], 5, `index ${i}`);
  assert.ok(r.every((v) => v === 5));
  gpu.free(a);
  gpu.free(b);
});

gpuTest("tree reduce over more than 65535 outputs folds its grid", async (gpu) => {
  const outer = 70001;
  gpu.force.reduce = "tree";
  try {
    const x = gpu.upload(randArray(outer * 2, 5), "float32"), o = gpu.alloc(outer, "float32");
    gpu.reduce("sum", x, o, { outer, reduce: 2, inner: 1 });
    const xs = await gpu.read(x), r = await gpu.read(o);
    assertClose(r, Float32Array.from({ length: outer }, (_, i) => xs[2 * i]! + xs[2 * i + 1]!), {
      rtol: 0,
      atol: 0,
    });
    gpu.free(x);
    gpu.free(o);
  } finally {
    gpu.force.reduce = undefined;
  }
});

gpuTest("kernels whose output aliases an input read a snapshot", async (gpu) => {
  const x = randArray(65, 6);
  const a = gpu.upload(x, "float32");
  gpu.binary("mul", a, [1], a, [0], a, [65]); // a = a * a[0]
  assertClose(await gpu.read(a), x.map((v) => Math.fround(v * x[0]!)), { rtol: 0, atol: 0 });
  gpu.free(a);
});

gpuTest("a WGSL compile error surfaces at flush with the key and numbered source", async (gpu) => {
  gpu.rt.pipeline({
    key: "test:broken",
    code: "@compute @workgroup_size(1) fn main() { let x: f32 = 1u; }",
    reads: 0,
    writes: 0,
  });
  await assert.rejects(gpu.flush(), (e: Error) => {
    assert.match(e.message, /Cannot compile WGSL kernel test:broken/);
    assert.match(e.message, /1\| @compute/);
    return true;
  });
});

gpuTest("a dispatch that breaks a WebGPU usage rule fails the next flush", async (gpu) => {
  const a = gpu.upload(Float32Array.from([1, 2, 3, 4]), "float32");
  // The same buffer as a read-only input and a writable output of one dispatch.
  const buf = gpu.rt.pool.acquire(16, false);
  gpu.rt.dispatch(
    { key: "test:alias", code: unaryShader("neg", false).code, reads: 1, writes: 1 },
    [buf, buf],
    (p) => p.u(0, 1).u(VEC4_N_SLOT, 4),
    1,
  );
  await assert.rejects(gpu.flush(), /WebGPU/);
  gpu.rt.pool.release(buf, gpu.rt.batchId);
  assert.deepEqual(Array.from(await gpu.read(a)), [1, 2, 3, 4], "the backend still works");
  gpu.free(a);
});

gpuTest("validation mode submits each dispatch alone and still computes", async (gpu) => {
  const v = new WebGPUBackend(gpu.rt.device, { validate: true });
  const x = v.upload(Float32Array.from([1, -2, 3]), "float32"), y = v.alloc(3, "float32");
  const s0 = v.stats();
  v.unary("relu", x, y);
  v.unary("neg", y, y);
  assert.equal(v.stats().submits - s0.submits, 2);
  assert.deepEqual(Array.from(await v.read(y)), [-1, -0, -3]);
  await v.flush();
  v.free(x);
  v.free(y);
});

gpuTest("runtime tests finish: flush() resolves", async (gpu) => {
  await gpu.flush();
});
