/**
 * Prints the float32 matmul throughput (GFLOP/s, median of several runs) of
 * the CPU backend against a naive triple loop, per shape: on one thread and
 * split across the worker pool (`tensor/cpu/pool.ts`; `WGRAD_CPU_THREADS`
 * threads, default min(2, cores)).
 *
 * Run with `deno run -A bench/cpu_matmul.ts`.
 *
 * @module
 */
import { CpuBackend } from "../tensor/cpu/backend.ts";
import type { MatmulParams, Storage } from "../tensor/backend.ts";
import { cpuThreads, poolReady, withCpuThreads } from "../tensor/cpu/pool.ts";

/** One benchmarked product: [m×k]·[k×n]. */
export interface Shape {
  /** Label shown in the table. */
  label: string;
  /** Rows of A and C. */
  m: number;
  /** Inner dimension. */
  k: number;
  /** Columns of B and C. */
  n: number;
}

/** The shapes benchmarked here and in `cpu_matmul_bench.ts`. */
export const SHAPES: readonly Shape[] = [
  { label: "64³", m: 64, k: 64, n: 64 },
  { label: "128³", m: 128, k: 128, n: 128 },
  { label: "256³", m: 256, k: 256, n: 256 },
  { label: "512³", m: 512, k: 512, n: 512 },
  { label: "[100×113]·[113×256]", m: 100, k: 113, n: 256 },
  { label: "[1500×49]·[49×256]", m: 1500, k: 49, n: 256 },
];

/**
 * The naive triple loop (i, j, then k), the baseline.
 *
 * @param a row-major [m, k]
 * @param b row-major [k, n]
 * @param c row-major [m, n], overwritten
 */
export function naiveMatmul(
  a: Float32Array,
  b: Float32Array,
  c: Float32Array,
  m: number,
  k: number,
  n: number,
): void {
  for (let i = 0; i < m; i++) {
    for (let j = 0; j < n; j++) {
      let s = 0;
      for (let p = 0; p < k; p++) s += a[i * k + p]! * b[p * n + j]!;
      c[i * n + j] = s;
    }
  }
}

/**
 * Random float32 data in [-1, 1).
 *
 * @param size element count
 */
export function randomF32(size: number): Float32Array {
  const x = new Float32Array(size);
  for (let i = 0; i < size; i++) x[i] = Math.random() * 2 - 1;
  return x;
}

/**
 * Backend storages and parameters for one shape, plus a runner for each.
 *
 * @param s the shape
 * @param transA use A stored as [k, m]
 * @param transB use B stored as [n, k]
 */
export function setup(
  s: Shape,
  transA = false,
  transB = false,
): { cpu: () => void; naive: () => void; dispose: () => void } {
  const backend = new CpuBackend();
  const ha = randomF32(s.m * s.k), hb = randomF32(s.k * s.n), hc = new Float32Array(s.m * s.n);
  const a: Storage = backend.upload(ha, "float32");
  const b: Storage = backend.upload(hb, "float32");
  const c: Storage = backend.alloc(s.m * s.n, "float32");
  const p: MatmulParams = {
    batch: 1,
    m: s.m,
    n: s.n,
    k: s.k,
    transA,
    transB,
    strideA: 0,
    strideB: 0,
  };
  return {
    cpu: () => backend.matmul(a, b, c, p),
    naive: () => naiveMatmul(ha, hb, hc, s.m, s.k, s.n),
    dispose: () => [a, b, c].forEach((x) => backend.free(x)),
  };
}

function medianMs(f: () => void, minMs: number, minRuns: number): number {
  f(); // warm-up
  const times: number[] = [];
  const start = performance.now();
  while (times.length < minRuns || performance.now() - start < minMs) {
    const t0 = performance.now();
    f();
    times.push(performance.now() - t0);
  }
  times.sort((x, y) => x - y);
  return times[Math.floor(times.length / 2)]!;
}

if (import.meta.main) {
  const threads = cpuThreads();
  const pooled = await poolReady();
  const t = `${threads} threads${pooled ? "" : " (pool off)"}`;
  const rows: string[][] = [[
    "shape",
    "naive GFLOP/s",
    "cpu 1 thread",
    `cpu ${t}`,
    "cpu transA+B 1 thread",
    `cpu transA+B ${t}`,
  ]];
  for (const s of SHAPES) {
    const flop = 2 * s.m * s.n * s.k;
    const plain = setup(s), both = setup(s, true, true);
    const gf = (ms: number) => (flop / ms / 1e6).toFixed(2);
    rows.push([
      s.label,
      gf(medianMs(plain.naive, 300, 5)),
      gf(withCpuThreads(1, () => medianMs(plain.cpu, 300, 9))),
      gf(medianMs(plain.cpu, 300, 9)),
      gf(withCpuThreads(1, () => medianMs(both.cpu, 300, 9))),
      gf(medianMs(both.cpu, 300, 9)),
    ]);
    plain.dispose();
    both.dispose();
  }
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  for (const r of rows) console.log(r.map((x, i) => x.padStart(widths[i]!)).join("  "));
}
