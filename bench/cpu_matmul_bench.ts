/**
 * `deno bench -A bench/cpu_matmul_bench.ts`: float32 matmul of the CPU backend
 * against a naive triple loop, on one thread and split across the worker pool
 * (`WGRAD_CPU_THREADS` threads, default min(2, cores)). GFLOP/s = 2·m·n·k /
 * (time per iteration in ns).
 *
 * @module
 */
import { poolReady, withCpuThreads } from "../tensor/cpu/pool.ts";
import { setup, SHAPES } from "./cpu_matmul.ts";

await poolReady();
for (const s of SHAPES) {
  const run = setup(s), both = setup(s, true, true);
  const flop = 2 * s.m * s.n * s.k;
  const group = `matmul ${s.label} (${(flop / 1e6).toFixed(1)} MFLOP)`;
  Deno.bench({ name: `naive ${s.label}`, group, baseline: true, fn: run.naive });
  Deno.bench({ name: `cpu 1 thread ${s.label}`, group, fn: () => withCpuThreads(1, run.cpu) });
  Deno.bench({ name: `cpu pool ${s.label}`, group, fn: run.cpu });
  Deno.bench({
    name: `cpu transA+transB 1 thread ${s.label}`,
    group,
    fn: () => withCpuThreads(1, both.cpu),
  });
}
