/**
 * Elementwise WGSL: unary ops (one shader per op, the expression baked),
 * binary ops and `where` with broadcasting, and fill.
 *
 * Broadcasting comes in three layouts, chosen on the host after merging
 * dimensions (see `tensor/webgpu/layout.ts`):
 *
 * - `same`: every operand is contiguous with the output's shape; each
 *   invocation handles one vec4.
 * - `block`: each operand is one contiguous block repeated by broadcasting,
 *   read at `(gid / div) % mod` (scalars: mod 1; a bias along the last
 *   dimension: div 1; a column: div = last dimension).
 * - `strided`: up to {@link MAX_DIMS} dimensions, the index decomposed by the
 *   output shape and dotted with each operand's strides.
 *
 * @module
 */
import type { BinaryOp, UnaryOp } from "../backend.ts";
import { BINARY_OPS, UNARY_OPS } from "../optable.ts";
import {
  bindings,
  entry1d,
  PARAMS_WGSL,
  POW_WGSL,
  type ShaderSource,
  SIGMOID_WGSL,
  SPECIALS_WGSL,
  TANH_WGSL,
} from "./common.ts";

/** Most dimensions the strided kernels take (after merging). */
export const MAX_DIMS = 6;

/**
 * Broadcast layout of an elementwise kernel. `block4` is `block` over vec4s:
 * every operand has div 1 and a block of a multiple of 4 elements, and n is
 * a multiple of 4 (a bias along a last dimension of a multiple of 4).
 */
export type ElementwiseLayout = "same" | "block" | "block4" | "strided";

/** WGSL expression of each unary op in `x`, `p0`, `p1` (its entry's `wgsl` in the op table). */
export const UNARY_EXPR: Record<UnaryOp, string> = Object.fromEntries(
  Object.entries(UNARY_OPS).map(([op, e]) => [op, e.wgsl]),
) as Record<UnaryOp, string>;

/** WGSL expression of each binary op in `a`, `b` (its entry's `wgsl` in the op table). */
export const BINARY_EXPR: Record<BinaryOp, string> = Object.fromEntries(
  Object.entries(BINARY_OPS).map(([op, e]) => [op, e.wgsl]),
) as Record<BinaryOp, string>;

/** The helper functions an expression calls, and nothing else. */
function helpersFor(expr: string): string {
  let s = "";
  if (expr.includes("pow_(")) s += SPECIALS_WGSL + POW_WGSL;
  if (expr.includes("sigmoid_(")) s += SIGMOID_WGSL;
  if (expr.includes("tanh_(")) s += TANH_WGSL;
  return s;
}

/**
 * Unary op shader over vec4s (see `vec4Body`).
 *
 * Bindings: P = [⌈n / 4⌉, p0 (f32), p1 (f32)], n at P[{@link VEC4_N_SLOT}];
 * `x` (read), `y` (write), or
 * only `x` (read-write) when `inPlace`. Invocation `gid` computes elements
 * 4·gid … 4·gid + 3.
 *
 * @param op the op
 * @param inPlace whether the output aliases the input
 * @returns the shader
 */
export function unaryShader(op: UnaryOp, inPlace: boolean): ShaderSource {
  const expr = UNARY_EXPR[op];
  const code = PARAMS_WGSL + helpersFor(expr) +
    (inPlace ? bindings([], ["x_"], "vec4<f32>") : bindings(["x_"], ["y"], "vec4<f32>")) +
    entry1d(`  let p0 = pf(1u);
  let p1 = pf(2u);
${vec4Body(["x"], expr, inPlace ? "x_" : "y")}`);
  return {
    key: `unary:${op}:${inPlace ? "inplace" : "out"}`,
    code,
    reads: inPlace ? 0 : 1,
    writes: 1,
  };
}

/** Index expression of operand `k` for a layout (strided: from the loop below). */
function operandIndex(layout: ElementwiseLayout, k: number): string {
  if (layout === "same") return "gid";
  if (layout === "block") return `(gid / pu(${1 + 2 * k}u)) % pu(${2 + 2 * k}u)`;
  return `idx[${k}]`;
}

/** The N-d decomposition loop: shape at P[2..], operand k's strides after it. */
function stridedPrologue(count: number): string {
  const base = 2 + MAX_DIMS;
  return `  var idx: array<u32, ${count}>;
  var rem = gid;
  let nd = pu(1u);
  for (var d = i32(nd) - 1; d >= 0; d--) {
    let size = pu(2u + u32(d));
    let c = rem % size;
    rem = rem / size;
${
    Array.from({ length: count }, (_, k) =>
      `    idx[${k}] += c * pu(${base + k * MAX_DIMS}u + u32(d));`).join("\n")
  }
  }
`;
}

/**
 * Body of a contiguous kernel over vec4s: invocation `gid` < P[0] = ⌈n / 4⌉
 * computes elements 4·gid … 4·gid + 3 with the scalar expression per lane,
 * and stores those below n = P[{@link VEC4_N_SLOT}]. Loads past n stay inside
 * the buffer (pool buffers are whole multiples of 16 bytes).
 */
function vec4Body(names: string[], expr: string, out = "out"): string {
  const lanes = ["x", "y", "z", "w"].map((c) =>
    `  { ${names.map((nm) => `let ${nm} = ${nm}4.${c};`).join(" ")} r.${c} = ${expr}; }`
  ).join("\n");
  return `  if (gid >= pu(0u)) { return; }
${names.map((nm) => `  let ${nm}4 = ${nm}_[gid];`).join("\n")}
  var r: vec4<f32>;
${lanes}
${vec4Store(out, "r")}`;
}

/** Parameter slot holding the element count n of the vec4 kernels. */
export const VEC4_N_SLOT = 60;

/** Store vec4 `r` at `gid`, writing only the lanes below n = P[VEC4_N_SLOT]. */
function vec4Store(out: string, r: string): string {
  return `  let rem = pu(${VEC4_N_SLOT}u) - gid * 4u;
  if (rem >= 4u) { ${out}[gid] = ${r}; } else {
    ${out}[gid].x = ${r}.x;
    if (rem > 1u) { ${out}[gid].y = ${r}.y; }
    if (rem > 2u) { ${out}[gid].z = ${r}.z; }
  }`;
}

/**
 * Shader for a broadcasting elementwise op over `names` inputs.
 *
 * Bindings: the inputs (read), `out` (write). P[0] = n (`same`: ⌈n / 4⌉,
 * vec4 bindings, see `vec4Body`). Layout `block`:
 * P[1 + 2k] = div, P[2 + 2k] = mod of operand k. Layout `strided`: P[1] =
 * ndim, P[2 …] = shape, then {@link MAX_DIMS} strides per operand.
 * Invocation `gid` < n computes output element `gid`.
 */
function naryShader(
  key: string,
  names: string[],
  expr: string,
  layout: ElementwiseLayout,
): ShaderSource {
  if (layout === "same") {
    const code = PARAMS_WGSL + helpersFor(expr) +
      bindings(names.map((n) => n + "_"), ["out"], "vec4<f32>") + entry1d(vec4Body(names, expr));
    return { key: `${key}:${layout}`, code, reads: names.length, writes: 1 };
  }
  if (layout === "block4") {
    // P[2 + 2k] holds operand k's block length in vec4s; n is a multiple of 4.
    const lanes = ["x", "y", "z", "w"].map((c) =>
      `  { ${names.map((nm) => `let ${nm} = ${nm}4.${c};`).join(" ")} r.${c} = ${expr}; }`
    ).join("\n");
    const body = `  if (gid >= pu(0u)) { return; }
${names.map((nm, k) => `  let ${nm}4 = ${nm}_[gid % pu(${2 + 2 * k}u)];`).join("\n")}
  var r: vec4<f32>;
${lanes}
  out[gid] = r;`;
    const code = PARAMS_WGSL + helpersFor(expr) +
      bindings(names.map((n) => n + "_"), ["out"], "vec4<f32>") + entry1d(body);
    return { key: `${key}:${layout}`, code, reads: names.length, writes: 1 };
  }
  const loads = names.map((nm, k) => `  let ${nm} = ${nm}_[${operandIndex(layout, k)}];`)
    .join("\n");
  const body = `  if (gid >= pu(0u)) { return; }
${layout === "strided" ? stridedPrologue(names.length) : ""}${loads}
  out[gid] = ${expr};`;
  const code = PARAMS_WGSL + helpersFor(expr) + bindings(names.map((n) => n + "_"), ["out"]) +
    entry1d(body);
  return { key: `${key}:${layout}`, code, reads: names.length, writes: 1 };
}

/**
 * Binary op shader (see {@link naryShader} layouts above): inputs `a`, `b`.
 *
 * @param op the op
 * @param layout broadcast layout
 * @returns the shader
 */
export function binaryShader(op: BinaryOp, layout: ElementwiseLayout): ShaderSource {
  return naryShader(`binary:${op}`, ["a", "b"], BINARY_EXPR[op], layout);
}

/**
 * `where` shader: inputs `c`, `a`, `b`; `out = c != 0 ? a : b`.
 *
 * @param layout broadcast layout
 * @returns the shader
 */
export function whereShader(layout: ElementwiseLayout): ShaderSource {
  return naryShader("where", ["c", "a", "b"], "select(b, a, c != 0.0)", layout);
}

/**
 * Fill shader over vec4s. Bindings: P = [⌈n / 4⌉, value (f32)], n at
 * P[{@link VEC4_N_SLOT}]; `out` (write). Invocation `gid` writes elements
 * 4·gid … 4·gid + 3 below n.
 *
 * @returns the shader
 */
export function fillShader(): ShaderSource {
  const code = PARAMS_WGSL + bindings([], ["out"], "vec4<f32>") +
    entry1d(`  if (gid >= pu(0u)) { return; }
${vec4Store("out", "vec4<f32>(pf(1u))")}`);
  return { key: "fill", code, reads: 0, writes: 1 };
}
