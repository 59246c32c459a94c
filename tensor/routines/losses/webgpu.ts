/**
 * The fused MSE loss on WebGPU: the forward is the backend's sum reduction
 * reading `(x − t)²` in place of a stored square (one dispatch, the same
 * summation order as the unfused sub, mul and sum, then `mean()`'s scale in
 * the store); the backward is one elementwise dispatch, which takes a
 * constant upstream gradient (the backward seed) as a uniform.
 *
 * @module
 */
import { bindings, entry1d, PARAMS_WGSL, type ShaderSource, WG_1D } from "../../wgsl/common.ts";
import type { ReduceFusion } from "../../wgsl/reduce.ts";
import type { WebGPUBackend } from "../../webgpu/backend.ts";
import { registerRoutine } from "../registry.ts";
import type { MseLossArgs, MseLossBackwardArgs } from "./args.ts";

/** The forward's reduction: `(x − t)²` read per element, `P[4] · s + P[5]` stored. */
const FORWARD: ReduceFusion = {
  key: "loss:mse",
  reads: ["x", "t"],
  helpers: "fn sqdiff_(a: f32, b: f32) -> f32 { let d = a - b; return d * d; }\n",
  load: (j) => `sqdiff_(x[${j}], t[${j}])`,
  store: (v) => `pf(4u) * ${v} + pf(5u)`,
};

/**
 * The backward shader. P = [n, scale, g from `g` (1) or P[3] (0), g].
 * Bindings: `x`, `t`, `g` (read), `dx` (write).
 */
const BACKWARD: ShaderSource = {
  key: "loss:mseBackward",
  code: PARAMS_WGSL + bindings(["x", "t", "g"], ["dx"]) + entry1d(`  if (gid >= pu(0u)) { return; }
  var g0 = pf(3u);
  if (pu(2u) != 0u) { g0 = g[0]; }
  let gs = pf(1u) * g0 + 0.0;
  dx[gid] = 2.0 * (gs * (x[gid] - t[gid])) + 0.0;`),
  reads: 3,
  writes: 1,
};

registerRoutine<MseLossArgs>("webgpu", "mseLoss", (be, a) => {
  const g = be as WebGPUBackend;
  g.reduceFused(
    "sum",
    [a.input, a.target],
    a.out,
    { outer: 1, reduce: a.size, inner: 1 },
    FORWARD,
    (q) => {
      q.f(4, a.scale).f(5, 0);
    },
  );
});

registerRoutine<MseLossBackwardArgs>("webgpu", "mseLossBackward", (be, a) => {
  const g = be as WebGPUBackend;
  if (a.size === 0) return;
  const bufs = [a.input, a.target, a.grad ?? a.input, a.out].map((s) =>
    g.buffer(s, "mseLossBackward")
  );
  g.rt.dispatch(BACKWARD, bufs, (q) => {
    q.u(0, a.size).f(1, a.scale).u(2, a.grad ? 1 : 0).f(3, a.gradValue);
  }, Math.ceil(a.size / WG_1D));
});
