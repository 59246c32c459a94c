/**
 * Gather and its adjoint scatterAdd over x viewed as [outer, axis, inner] and
 * indices (stored as floats) of shape [outer, indexSize, inner].
 *
 * scatterAdd comes in two kernels, picked on the host by size:
 *
 * - `loop`: one invocation per output element scans the index axis and sums
 *   the matches in index order (deterministic; cost outer·axis·index·inner).
 * - `atomic`: one invocation per gradient element adds into a zero-filled
 *   output with a compare-exchange loop on the float's bits (cost
 *   outer·index·inner; the summation order varies between runs).
 *
 * @module
 */
import { bindings, entry1d, PARAMS_WGSL, type ShaderSource, unrolled4 } from "./common.ts";

/** scatterAdd kernel kind. */
export type ScatterKernel = "loop" | "atomic";

/**
 * Gather shader.
 *
 * Bindings: P = [outer, axisSize, indexSize, inner]; `x`, `idx` (read),
 * `out` (write). Invocation `gid` < outer·indexSize·inner computes out[gid];
 * an index outside [0, axisSize) gives 0.
 *
 * @returns the shader
 */
export function gatherShader(): ShaderSource {
  const code = PARAMS_WGSL + bindings(["x", "idx"], ["out"]) +
    entry1d(`  let axis = pu(1u);
  let inner = pu(3u);
  let per = pu(2u) * inner;
  if (gid >= pu(0u) * per) { return; }
  let o = gid / per;
  let i = gid % inner;
  let k = i32(idx[gid]);
  var v = 0.0;
  if (k >= 0 && u32(k) < axis) { v = x[(o * axis + u32(k)) * inner + i]; }
  out[gid] = v;`);
  return { key: "gather", code, reads: 2, writes: 1 };
}

/**
 * scatterAdd shader.
 *
 * Bindings: P = [outer, axisSize, indexSize, inner]; `g`, `idx` (read),
 * `out` (write; `atomic<u32>` in the atomic kernel, which expects it zeroed).
 * `loop`: invocation `gid` < outer·axisSize·inner computes out[gid].
 * `atomic`: invocation `gid` < outer·indexSize·inner adds g[gid] into its
 * target; out-of-range indices are dropped.
 *
 * @param kernel loop or atomic
 * @returns the shader
 */
export function scatterAddShader(kernel: ScatterKernel): ShaderSource {
  if (kernel === "loop") {
    const code = PARAMS_WGSL + bindings(["g", "idx"], ["out"]) +
      entry1d(`  let axis = pu(1u);
  let nidx = pu(2u);
  let inner = pu(3u);
  if (gid >= pu(0u) * axis * inner) { return; }
  let o = gid / (axis * inner);
  let k = i32((gid / inner) % axis);
  let i = gid % inner;
  var acc = 0.0;
  let p0 = o * nidx * inner + i;
  ${
        unrolled4("j", "0u", "nidx", 1, (j) =>
          `if (i32(idx[p0 + ${j} * inner]) == k) { acc += g[p0 + ${j} * inner]; }`)
      }
  out[gid] = acc;`);
    return { key: "scatterAdd:loop", code, reads: 2, writes: 1 };
  }
  const code = PARAMS_WGSL + bindings(["g", "idx"], []) +
    `@group(0) @binding(3) var<storage, read_write> out: array<atomic<u32>>;\n` +
    entry1d(`  let axis = pu(1u);
  let inner = pu(3u);
  let per = pu(2u) * inner;
  if (gid >= pu(0u) * per) { return; }
  let k = i32(idx[gid]);
  if (k < 0 || u32(k) >= axis) { return; }
  let t = ((gid / per) * axis + u32(k)) * inner + gid % inner;
  let v = g[gid];
  var old = atomicLoad(&out[t]);
  loop {
    let r = atomicCompareExchangeWeak(&out[t], old, bitcast<u32>(bitcast<f32>(old) + v));
    if (r.exchanged) { break; }
    old = r.old_value;
  }`);
  return { key: "scatterAdd:atomic", code, reads: 2, writes: 1 };
}
