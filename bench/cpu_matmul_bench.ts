/**
 * `deno bench -A bench/cpu_matmul_bench.ts`: float32 matmul of the CPU backend
 * against a naive triple loop. GFLOP/s = 2·m·n·k / (time per iteration in ns).
 *
 * @module
 */
import { setup, SHAPES } from "./cpu_matmul.ts";

for (const s of SHAPES) {
  const run = setup(s);
  const flop = 2 * s.m * s.n * s.k;
  const group = `matmul ${s.label} (${(flop / 1e6).toFixed(1)} MFLOP)`;
  Deno.bench({ name: `naive ${s.label}`, group, baseline: true, fn: run.naive });
  Deno.bench({ name: `cpu ${s.label}`, group, fn: run.cpu });
  Deno.bench({ name: `cpu transA+transB ${s.label}`, group, fn: setup(s, true, true).cpu });
}
