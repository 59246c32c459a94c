/**
 * The WebAssembly SIMD matmul strip kernel of the CPU backend gives results
 * bit-identical to the scalar micro-kernel, for awkward sizes, transposes,
 * batches, both dtypes, and through the fused recurrent steps that use it.
 *
 * @module
 */
import assert from "node:assert/strict";
import { CpuBackend } from "../tensor/cpu/backend.ts";
import { matmulKernel } from "../tensor/cpu/matmul.ts";
import { setSimdEnabled, simdKernel } from "../tensor/cpu/simd.ts";
import { matmulCases, values } from "./_values.ts";

/** Run f with SIMD forced on or off. */
function withSimd<T>(on: boolean, f: () => T): T {
  const was = setSimdEnabled(on);
  try {
    return f();
  } finally {
    setSimdEnabled(was);
  }
}

Deno.test("the SIMD kernel is available on this runtime", () => {
  assert.ok(simdKernel() !== null);
});

Deno.test("SIMD matmul equals the scalar kernel bit for bit", () => {
  const shapes = [
    [5, 7, 9],
    [16, 16, 16],
    [33, 1, 65],
    [100, 64, 256],
    [13, 300, 17],
    [3, 2000, 5],
    [257, 129, 131],
    [1500, 49, 20],
    [7, 9000, 11],
  ] as const;
  const layouts = [[1, 1, 0], [3, 1, 0], [2, 1, 1]] as const;
  for (const { p, f64, a, b, what } of matmulCases(shapes, layouts)) {
    const size = p.batch * p.m * p.n;
    const simd = f64 ? new Float64Array(size) : new Float32Array(size);
    const scalar = f64 ? new Float64Array(size) : new Float32Array(size);
    withSimd(true, () => matmulKernel(a, b, simd, p));
    withSimd(false, () => matmulKernel(a, b, scalar, p));
    assert.deepEqual(simd, scalar, what);
  }
});

Deno.test("SIMD and scalar fused LSTM steps agree bit for bit", async () => {
  const run = (on: boolean) =>
    withSimd(on, async () => {
      const cpu = new CpuBackend();
      const B = 37, H = 29, G = 4 * H;
      const up = (n: number, s: number) => cpu.upload(values(n, s), "float32");
      const x = up(B * G, 1), h = up(B * H, 2), c = up(B * H, 3), w = up(G * H, 4);
      const hOut = cpu.alloc(B * H, "float32"), cOut = cpu.alloc(B * H, "float32");
      const rows = (storage: typeof x, stride: number) => ({ storage, offset: 0, stride });
      cpu.lstmStep({
        batch: B,
        hidden: H,
        x: rows(x, G),
        h: rows(h, H),
        c: rows(c, H),
        whh: w,
        hOut: rows(hOut, H),
        cOut: rows(cOut, H),
        gates: null,
      });
      return [await cpu.read(hOut), await cpu.read(cOut)];
    });
  assert.deepEqual(await run(true), await run(false));
});
