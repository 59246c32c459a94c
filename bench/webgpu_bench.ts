/**
 * `deno bench` entries for the WebGPU backend: a matmul per variant, an
 * elementwise add, a submit + wait, and 100 trivial dispatches. Each entry
 * records its work and waits for it (flush), so it measures GPU time plus the
 * submit + wait (~11 ms on a software adapter); `webgpu_matmul.ts` amortises
 * that cost and prints GFLOP/s.
 *
 * Run: `DENO_WEBGPU_BACKEND=vulkan deno bench -A bench/webgpu_bench.ts`
 *
 * @module
 */
import type { MatmulParams } from "../tensor/backend.ts";
import { requestWebGPU } from "../tensor/webgpu/device.ts";
import { MATMUL_VARIANTS } from "../tensor/wgsl/matmul.ts";

const got = await requestWebGPU();
const gpu = "error" in got ? null : got.backend;
if (!gpu) console.error(`webgpu benches ignored: ${"error" in got ? got.error : ""}`);

const N = 256;
const a = gpu?.upload(new Float32Array(N * N).fill(0.5), "float32");
const b = gpu?.upload(new Float32Array(N * N).fill(0.25), "float32");
const c = gpu?.alloc(N * N, "float32");
const p: MatmulParams = {
  batch: 1,
  m: N,
  n: N,
  k: N,
  transA: false,
  transB: false,
  strideA: 0,
  strideB: 0,
};

for (const variant of MATMUL_VARIANTS) {
  Deno.bench({
    name: `webgpu matmul ${variant} 256³ + flush`,
    group: "matmul",
    ignore: !gpu,
    async fn() {
      gpu!.force.matmul = variant;
      gpu!.matmul(a!, b!, c!, p);
      gpu!.force.matmul = undefined;
      await gpu!.flush();
    },
  });
}

const M = 1 << 20;
const x = gpu?.upload(new Float32Array(M).fill(1), "float32");
const y = gpu?.upload(new Float32Array(M).fill(2), "float32");
const z = gpu?.alloc(M, "float32");

Deno.bench({
  name: "webgpu add 1M ×10 + flush",
  ignore: !gpu,
  async fn() {
    for (let i = 0; i < 10; i++) gpu!.binary("add", x!, [1], y!, [1], z!, [M]);
    await gpu!.flush();
  },
});

const one = gpu?.alloc(1, "float32");

Deno.bench({
  name: "webgpu submit + wait of one trivial dispatch",
  group: "overhead",
  baseline: true,
  ignore: !gpu,
  async fn() {
    gpu!.fill(one!, 1);
    await gpu!.flush();
  },
});

Deno.bench({
  name: "webgpu 100 trivial dispatches + flush",
  group: "overhead",
  ignore: !gpu,
  async fn() {
    for (let i = 0; i < 100; i++) gpu!.fill(one!, i);
    await gpu!.flush();
  },
});
