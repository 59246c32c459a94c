/**
 * WebGPU speed table: GFLOP/s of every matmul variant on square and model
 * shapes, elementwise add bandwidth, the cost of a submit + wait, and the cost
 * per dispatch of 1000 trivial dispatches in one submit.
 *
 * Run: `DENO_WEBGPU_BACKEND=vulkan deno run -A bench/webgpu_matmul.ts [--quick]`
 *
 * Each figure is the median over several repetitions of many dispatches
 * recorded into one submit followed by one wait, so the ~11 ms submit + wait
 * of a software adapter is amortised.
 *
 * @module
 */
import type { MatmulParams } from "../tensor/backend.ts";
import { WebGPUBackend } from "../tensor/webgpu/backend.ts";
import { requestWebGPU } from "../tensor/webgpu/device.ts";
import { MATMUL_VARIANTS } from "../tensor/wgsl/matmul.ts";

const quick = Deno.args.includes("--quick");

/** Median of a list. */
function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

/**
 * Milliseconds per call of `record`, timing batches of calls followed by one
 * flush; the batch size grows until a batch takes `minMs`.
 */
async function timePerCall(
  gpu: WebGPUBackend,
  record: () => void,
  minMs = quick ? 60 : 200,
  reps = quick ? 3 : 5,
): Promise<number> {
  record();
  await gpu.flush();
  let iters = 1;
  for (;;) {
    const t0 = performance.now();
    for (let i = 0; i < iters; i++) record();
    await gpu.flush();
    const ms = performance.now() - t0;
    if (ms >= minMs || iters >= 4096) break;
    iters = Math.min(4096, Math.max(iters * 2, Math.ceil((iters * minMs) / Math.max(ms, 0.01))));
  }
  const times: number[] = [];
  for (let r = 0; r < reps; r++) {
    const t0 = performance.now();
    for (let i = 0; i < iters; i++) record();
    await gpu.flush();
    times.push((performance.now() - t0) / iters);
  }
  return median(times);
}

const got = await requestWebGPU();
if ("error" in got) {
  console.error(`No WebGPU adapter: ${got.error}`);
  Deno.exit(1);
}
const { backend: gpu, info, matmul } = got;
console.log(
  `adapter: ${
    info.description || info.device
  } (vendor ${info.vendor}, arch "${info.architecture}", ` +
    `fallback ${info.isFallback}); DENO_WEBGPU_BACKEND=${
      Deno.env.get("DENO_WEBGPU_BACKEND") ?? ""
    }`,
);
console.log(
  `selector: ${matmul.variant} (${matmul.reason}${
    matmul.timings.map((t) => `; ${t.variant} ${t.ms.toFixed(2)} ms`).join("")
  } per 256³)`,
);

const shapes: [string, number, number, number][] = [
  ...(quick ? [64, 256, 1024] : [64, 128, 256, 512, 1024]).map((
    s,
  ): [string, number, number, number] => [
    `${s}³`,
    s,
    s,
    s,
  ]),
  ["100×113·113×256", 100, 256, 113],
  ["1500×49·49×256", 1500, 256, 49],
];

const rows: string[][] = [["shape", ...MATMUL_VARIANTS.map((v) => `${v} GFLOP/s`)]];
for (const [label, m, n, k] of shapes) {
  const a = gpu.upload(new Float32Array(m * k).fill(0.5), "float32");
  const b = gpu.upload(new Float32Array(k * n).fill(0.25), "float32");
  const out = gpu.alloc(m * n, "float32");
  const p: MatmulParams = {
    batch: 1,
    m,
    n,
    k,
    transA: false,
    transB: false,
    strideA: 0,
    strideB: 0,
  };
  const row = [label];
  for (const variant of MATMUL_VARIANTS) {
    if (variant === "simple" && m * n * k > 300 ** 3) {
      row.push("—");
      continue;
    }
    gpu.force.matmul = variant;
    const ms = await timePerCall(gpu, () => gpu.matmul(a, b, out, p));
    row.push(((2 * m * n * k) / (ms * 1e6)).toFixed(2));
  }
  gpu.force.matmul = undefined;
  rows.push(row);
  for (const s of [a, b, out]) gpu.free(s);
}
const widths = rows[0]!.map((_, c) => Math.max(...rows.map((r) => r[c]!.length)));
for (const r of rows) console.log(r.map((cell, c) => cell.padStart(widths[c]!)).join("  "));

// Elementwise add over 1M elements: 12 bytes moved per element.
{
  const n = 1 << 20;
  const x = gpu.upload(new Float32Array(n).fill(1), "float32");
  const y = gpu.upload(new Float32Array(n).fill(2), "float32");
  const z = gpu.alloc(n, "float32");
  const ms = await timePerCall(gpu, () => gpu.binary("add", x, [1], y, [1], z, [n]));
  console.log(`add 1M float32: ${ms.toFixed(3)} ms, ${((12 * n) / (ms * 1e6)).toFixed(2)} GB/s`);
  for (const s of [x, y, z]) gpu.free(s);
}

// Submit + wait of one trivial dispatch.
{
  const t = gpu.alloc(1, "float32");
  const times: number[] = [];
  for (let i = 0; i < (quick ? 10 : 30); i++) {
    const t0 = performance.now();
    gpu.fill(t, i);
    await gpu.flush();
    times.push(performance.now() - t0);
  }
  console.log(`submit + wait, one trivial dispatch: ${median(times).toFixed(2)} ms (median)`);
  gpu.free(t);
}

// 1000 trivial dispatches in one submit (a backend with a batch of 1024 on the same device).
{
  const big = new WebGPUBackend(gpu.rt.device, { batchSize: 1024 });
  const t = big.alloc(1, "float32");
  big.fill(t, 0);
  await big.flush();
  const times: number[] = [];
  for (let r = 0; r < (quick ? 3 : 5); r++) {
    const t0 = performance.now();
    for (let i = 0; i < 1000; i++) big.fill(t, i);
    const recorded = performance.now() - t0;
    await big.flush();
    const total = performance.now() - t0;
    times.push(total);
    if (r === 0) {
      console.log(
        `  (recording 1000 dispatches took ${recorded.toFixed(1)} ms of ${total.toFixed(1)} ms)`,
      );
    }
  }
  const ms = median(times);
  console.log(
    `1000 trivial dispatches, one submit: ${ms.toFixed(1)} ms, ${
      (ms / 1000).toFixed(3)
    } ms per dispatch`,
  );
  big.free(t);
}
