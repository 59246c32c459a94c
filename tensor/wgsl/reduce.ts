/**
 * Reduction WGSL over x viewed as [outer, reduce, inner] → out [outer, inner].
 *
 * Two kernels, picked on the host by size (`pickReduceKernel`):
 *
 * - `loop`: one invocation per output element loops over the reduced axis.
 *   Best when there are many outputs or the axis is short.
 * - `tree`: one workgroup of {@link REDUCE_WG} invocations per output; each
 *   invocation folds a strided slice of the axis, then a shared-memory tree
 *   combines the partial results. Best for few outputs over a long axis.
 *
 * @module
 */
import type { ReduceOp } from "../backend.ts";
import { bindings, entry1d, PARAMS_WGSL, type ShaderSource, unrolled4 } from "./common.ts";

/** Workgroup size of the tree kernel. */
export const REDUCE_WG = 256;

/** Reduction kernel kind. */
export type ReduceKernel = "loop" | "tree";

const COMBINE: Record<ReduceOp, (v: string) => string> = {
  sum: (v) => `acc + ${v}`,
  max: (v) => `max(acc, ${v})`,
};

/**
 * What a fused reduction reads and stores instead of `x[j]` and the plain
 * sum: its inputs (read bindings, in order), the element expression at flat
 * index `j`, the stored value of the result `v`, WGSL helpers it needs, and
 * the cache key. The summation order is the plain kernel's, so a fused
 * reduction of `f(x)` gives the bits of reducing a stored `f(x)` (the MSE
 * loss routine reads `(x − t)²` this way).
 */
export interface ReduceFusion {
  /** Cache key of the shader. */
  key: string;
  /** Read-only bindings. */
  reads: string[];
  /** The element at flat index `j` (a WGSL expression). */
  load: (j: string) => string;
  /** The value stored for the result `v`. */
  store: (v: string) => string;
  /** WGSL declarations the expressions use. */
  helpers?: string;
}

/**
 * The statements of the `loop` kernel for invocation `gid` (which they may
 * return early from): output gid of x viewed as [outer, reduce, inner],
 * folded in order from the identity; sizes and identity at slots
 * `slot` … `slot` + 3.
 *
 * @param op sum or max
 * @param load the element at a flat index
 * @param store the statement storing the result `v`
 * @param slot the first parameter slot
 * @returns WGSL statements
 */
export function reduceLoopBody(
  op: ReduceOp,
  load: (j: string) => string,
  store: (v: string) => string,
  slot: number,
): string {
  const combine = COMBINE[op];
  return `  let outer = pu(${slot}u);
  let red = pu(${slot + 1}u);
  let inner = pu(${slot + 2}u);
  if (gid >= outer * inner) { return; }
  let o = gid / inner;
  let i = gid % inner;
  var acc = pf(${slot + 3}u);
  let j = o * red * inner + i;
  ${unrolled4("r", "0u", "red", 1, (r) => `acc = ${combine(load(`j + ${r} * inner`))};`)}
  ${store("acc")}`;
}

const PLAIN: Omit<ReduceFusion, "key"> = { reads: ["x"], load: (j) => `x[${j}]`, store: (v) => v };

/**
 * Reduce shader.
 *
 * Bindings: P = [outer, reduce, inner, identity bits (0 for sum, -inf for
 * max)]; `x` (read), `out` (write). `loop`: invocation `gid` < outer·inner
 * computes out[gid]. `tree`: workgroup `w` (flattened over x and y) computes
 * out[w]; its invocations split the axis by stride {@link REDUCE_WG}.
 * With `fusion` the element read, the inputs and the store are its own
 * (further slots from P[4] are the fusion's).
 *
 * @param op sum or max
 * @param kernel loop or tree
 * @param fusion what a fused reduction reads and stores (default: `x` as it is)
 * @returns the shader
 */
export function reduceShader(
  op: ReduceOp,
  kernel: ReduceKernel,
  fusion?: ReduceFusion,
): ShaderSource {
  const combine = COMBINE[op];
  const f = fusion ?? PLAIN, key = fusion ? fusion.key : `reduce:${op}`;
  const head = PARAMS_WGSL + (f.helpers ?? "") + bindings(f.reads, ["out"]);
  const reads = f.reads.length;
  if (kernel === "loop") {
    const code = head + entry1d(reduceLoopBody(op, f.load, (v) => `out[gid] = ${f.store(v)};`, 0));
    return { key: `${key}:loop`, code, reads, writes: 1 };
  }
  const code = head + `var<workgroup> part: array<f32, ${REDUCE_WG}>;
@compute @workgroup_size(${REDUCE_WG})
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
  let w = wid.y * nwg.x + wid.x;
  let outer = pu(0u);
  let red = pu(1u);
  let inner = pu(2u);
  if (w >= outer * inner) { return; }
  let o = w / inner;
  let i = w % inner;
  var acc = pf(3u);
  ${
    unrolled4("r", "lid", "red", REDUCE_WG, (r) =>
      `acc = ${combine(f.load(`(o * red + ${r}) * inner + i`))};`)
  }
  part[lid] = acc;
  workgroupBarrier();
  for (var s = ${REDUCE_WG / 2}u; s > 0u; s = s >> 1u) {
    if (lid < s) {
      acc = ${combine("part[lid + s]")};
      part[lid] = acc;
    }
    workgroupBarrier();
  }
  if (lid == 0u) { out[w] = ${f.store("part[0]")}; }
}
`;
  return { key: `${key}:tree`, code, reads, writes: 1 };
}
