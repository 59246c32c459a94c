/**
 * Pieces shared by every WGSL generator: the parameter uniform, the entry
 * point with its 2-D grid folding, and the math helpers (stable sigmoid and
 * tanh, sign-aware pow) that a shader includes only when it uses them.
 *
 * Binding convention of every wgrad compute shader (the WebGPU runtime builds
 * its bind group layouts from it):
 *
 * - `@binding(0)`: `P`, a 256-byte uniform bound with a dynamic offset; the
 *   shader reads slot `i` as `pu(i)` (u32), `pi(i)` (i32) or `pf(i)` (f32).
 *   Sizes, strides and scalars live here, never in the source.
 * - `@binding(1 … r)`: the read-only storage inputs, in argument order.
 * - `@binding(r + 1 … r + w)`: the read-write storage outputs.
 *
 * @module
 */

/** Number of 32-bit parameter slots in the uniform (256 bytes). */
export const PARAM_SLOTS = 64;

/** Bytes of one parameter block: also the dynamic-offset stride of the ring. */
export const PARAM_BYTES = PARAM_SLOTS * 4;

/** What a generator returns: the source and how many buffers it binds. */
export interface ShaderSource {
  /** Cache key: family plus the baked constants, never sizes. */
  key: string;
  /** WGSL text. */
  code: string;
  /** Read-only storage bindings after the uniform. */
  reads: number;
  /** Read-write storage bindings after the inputs. */
  writes: number;
}

/** The uniform declaration and slot accessors. */
export const PARAMS_WGSL = `struct Params { v: array<vec4<u32>, ${PARAM_SLOTS / 4}> }
@group(0) @binding(0) var<uniform> P: Params;
fn pu(i: u32) -> u32 { return P.v[i >> 2u][i & 3u]; }
fn pi(i: u32) -> i32 { return bitcast<i32>(pu(i)); }
fn pf(i: u32) -> f32 { return bitcast<f32>(pu(i)); }
`;

/**
 * Storage binding declarations following the binding convention.
 *
 * @param reads names of the read-only inputs
 * @param writes names of the outputs
 * @param elem element type of every binding (default `f32`)
 * @returns WGSL declarations
 */
export function bindings(reads: string[], writes: string[], elem = "f32"): string {
  const lines: string[] = [];
  reads.forEach((n, i) =>
    lines.push(`@group(0) @binding(${i + 1}) var<storage, read> ${n}: array<${elem}>;`)
  );
  writes.forEach((n, i) =>
    lines.push(
      `@group(0) @binding(${reads.length + i + 1}) var<storage, read_write> ${n}: array<${elem}>;`,
    )
  );
  return lines.join("\n") + "\n";
}

/** Invocations per workgroup of the 1-D elementwise kernels. */
export const WG_1D = 256;

/**
 * A 1-D entry point: `gid` is the flat invocation index over a grid that the
 * runtime may fold into y when it exceeds 65535 workgroups in x.
 *
 * @param body statements that use `gid`
 * @param wg workgroup size
 * @returns WGSL entry point
 */
export function entry1d(body: string, wg = WG_1D): string {
  return `@compute @workgroup_size(${wg})
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
  let gid = (wid.y * nwg.x + wid.x) * ${wg}u + lid;
${body}
}
`;
}

/**
 * Loop iterations one invocation may run in total: llvmpipe (Mesa's gallivm)
 * counts the back-edges of every loop of an invocation against this budget
 * and silently exits loops once it is spent. Loops with a small constant trip
 * count are unrolled by the compiler and do not count.
 */
export const LOOP_BUDGET = 65535;

/**
 * Most elements a loop written with {@link unrolled4} may visit within the
 * budget (4 per iteration, with margin for the remainder and other loops).
 */
export const MAX_LOOP_ELEMENTS = 4 * 60000;

/**
 * A WGSL loop over `v = start, start + step, … < end` (u32) unrolled by 4,
 * so that it spends a quarter of the {@link LOOP_BUDGET}.
 *
 * @param v loop variable name
 * @param start start expression
 * @param end end expression (exclusive)
 * @param step step (a positive integer)
 * @param body statements for one element, given its index expression
 * @returns WGSL statements
 */
export function unrolled4(
  v: string,
  start: string,
  end: string,
  step: number,
  body: (at: string) => string,
): string {
  const at = (q: number) => (q === 0 ? v : `(${v} + ${q * step}u)`);
  return `var ${v} = ${start};
  for (; ${v} + ${3 * step}u < ${end}; ${v} += ${4 * step}u) {
    ${[0, 1, 2, 3].map((q) => body(at(q))).join("\n    ")}
  }
  for (; ${v} < ${end}; ${v} += ${step}u) {
    ${body(v)}
  }`;
}

/** Bit patterns of special floats (WGSL has no literals for them). */
export const SPECIALS_WGSL = `const NAN_BITS: u32 = 0x7fc00000u;
const POS_INF_BITS: u32 = 0x7f800000u;
const NEG_INF_BITS: u32 = 0xff800000u;
`;

/**
 * sigmoid without overflow: e = exp(-|x|) lies in (0, 1], so neither branch
 * can produce inf/inf.
 */
export const SIGMOID_WGSL = `fn sigmoid_(x: f32) -> f32 {
  let e = exp(-abs(x));
  let s = 1.0 / (1.0 + e);
  return select(e * s, s, x >= 0.0);
}
`;

/**
 * tanh via t = exp(-2|x|) in (0, 1] (the builtin overflows to NaN on some
 * drivers for large |x|); a short odd series near 0 where 1 - t cancels.
 */
export const TANH_WGSL = `fn tanh_(x: f32) -> f32 {
  let a = abs(x);
  if (a < 0.125) {
    let x2 = x * x;
    return x * (1.0 + x2 * (-0.33333333 + x2 * (0.13333333 + x2 * -0.053968254)));
  }
  let t = exp(-2.0 * a);
  let r = (1.0 - t) / (1.0 + t);
  return select(r, -r, x < 0.0);
}
`;

/**
 * {@link SIGMOID_WGSL} and {@link TANH_WGSL} on vec4 (`sigmoid4`, `tanh4`),
 * with the same operations per lane (the series and the exp branch both
 * evaluated, then selected).
 */
export const VEC4_ACTIVATIONS_WGSL = `fn sigmoid4(x: vec4<f32>) -> vec4<f32> {
  let e = exp(-abs(x));
  let s = 1.0 / (1.0 + e);
  return select(e * s, s, x >= vec4<f32>(0.0));
}
fn tanh4(x: vec4<f32>) -> vec4<f32> {
  let a = abs(x);
  let x2 = x * x;
  let p = x * (1.0 + x2 * (-0.33333333 + x2 * (0.13333333 + x2 * -0.053968254)));
  let t = exp(-2.0 * a);
  let r = (1.0 - t) / (1.0 + t);
  return select(select(r, -r, x < vec4<f32>(0.0)), p, a < vec4<f32>(0.125));
}
`;

/**
 * x^p as IEEE pow: sign-aware for integral p, NaN for negative x otherwise;
 * small integral powers are multiplied out for accuracy.
 */
export const POW_WGSL = `fn pow_(x: f32, p: f32) -> f32 {
  if (p == 0.0) { return 1.0; }
  if (p == 1.0) { return x; }
  if (p == 2.0) { return x * x; }
  if (p == 3.0) { return x * x * x; }
  if (p == -1.0) { return 1.0 / x; }
  if (p == 0.5) { return sqrt(x); }
  let ax = abs(x);
  var r: f32;
  if (ax == 0.0) {
    r = select(bitcast<f32>(POS_INF_BITS), 0.0, p > 0.0);
  } else {
    r = exp2(p * log2(ax));
  }
  if (x < 0.0) {
    if (floor(p) != p) { return bitcast<f32>(NAN_BITS); }
    if (abs(p) % 2.0 == 1.0) { r = -r; }
  }
  return r;
}
`;

/**
 * Number each line of a WGSL source (for compile errors).
 *
 * @param code the source
 * @returns the numbered source
 */
export function numbered(code: string): string {
  return code.split("\n").map((l, i) => `${String(i + 1).padStart(4)}| ${l}`).join("\n");
}
