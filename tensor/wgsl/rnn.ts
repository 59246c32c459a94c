/**
 * Fused recurrent time steps in WGSL: one dispatch per LSTM/GRU step,
 * forward and backward (the semantics are those of `Backend.lstmStep` etc. in
 * tensor/backend.ts).
 *
 * Invocation `gid` < ⌈B / 4⌉·H (scalar kernels and the vec4 forward ones)
 * handles hidden unit j = gid mod H of the
 * {@link RNN_ROWS} batch rows b = 4·⌊gid / H⌋ + r: it computes the dot
 * products of its G gate rows of W_hh with h_{t−1} of those rows (forward),
 * or column j of W_hh against the next step's gate gradients of those rows
 * (backward), then the gate nonlinearities and the state update for each
 * row. Four rows per invocation give four independent accumulators and let
 * each weight load serve four rows: on a software adapter (llvmpipe) that
 * ran the B = 100, H = 64 step about 2× faster than one row per invocation.
 *
 * Two variants per kernel. `vec4` reads the dot-product operands as
 * `vec4<f32>`: W_hh and h_{t−1} along k (forward, another ~1.3–1.5×), or the
 * next step's gradient rows along the gates and W_hh rows along j, with four
 * units j0 … j0 + 3 per invocation (backward, ~2× over one unit); it needs
 * H and those rows' offsets and strides to be multiples of 4, which the host
 * checks. `scalar` works for any sizes.
 *
 * Every binding is `read_write` storage: the step's roles may share a buffer
 * (h_t next to h_{t−1} in one sequence buffer; the next step's gradient rows
 * in the storage this step writes), and WebGPU allows one buffer bound
 * several times only when every binding is writable. Each row role is a view
 * (offset, stride) given in the uniform; roles never share elements.
 *
 * @module
 */
import { entry1d, PARAMS_WGSL, type ShaderSource, SIGMOID_WGSL, TANH_WGSL } from "./common.ts";

/** The four fused step kernels. */
export type RnnKernel = "lstmStep" | "lstmStepBackward" | "gruStep" | "gruStepBackward";

/** Kernel variant: vec4 loads along the dot products, or scalar loads. */
export type RnnVariant = "vec4" | "scalar";

/** Batch rows per invocation. */
export const RNN_ROWS = 4;

/** Invocations per workgroup. */
export const RNN_WG = 64;

/** Binding names of each kernel, in binding order. */
export const RNN_ROLES: Record<RnnKernel, readonly string[]> = {
  lstmStep: ["x", "h", "c", "whh", "hOut", "cOut", "gates"],
  lstmStepBackward: ["dh", "cPrev", "c", "gates", "whh", "dc", "dg", "dgNext"],
  gruStep: ["x", "h", "whh", "bhh", "hOut", "saved"],
  gruStepBackward: ["dh", "h", "saved", "whh", "dhz", "dgx", "dgh", "dghNext"],
};

/** Roles bound as `array<vec4<f32>>` in the vec4 variant (the dot-product operands). */
export const RNN_VEC4_ROLES: Record<RnnKernel, readonly string[]> = {
  lstmStep: ["h", "whh"],
  lstmStepBackward: ["dgNext", "whh"],
  gruStep: ["h", "whh"],
  gruStepBackward: ["dghNext", "whh"],
};

/** Roles that are row views (offset, stride in the uniform), per kernel. */
const ROW_ROLES: Record<RnnKernel, readonly string[]> = {
  lstmStep: ["x", "h", "c", "hOut", "cOut", "gates"],
  lstmStepBackward: ["dh", "cPrev", "c", "gates", "dg"],
  gruStep: ["x", "h", "hOut", "saved"],
  gruStepBackward: ["dh", "h", "saved", "dgx", "dgh"],
};

/**
 * Parameter slot of a row role's offset (its stride follows at +1), or -1
 * for a role that is not a row view. P[0] = B, P[1] = H, P[2] = flag (gates
 * or saved values wanted, forward; next-step gradient present, backward),
 * P[3] = element offset of the next step's gradient rows (stride: `dg`'s or
 * `dgh`'s).
 *
 * @param kernel the kernel
 * @param role the role
 * @returns the slot
 */
export function rowSlot(kernel: RnnKernel, role: string): number {
  const i = ROW_ROLES[kernel].indexOf(role);
  return i < 0 ? -1 : 4 + 2 * i;
}

const ROWS = [...Array(RNN_ROWS).keys()];

/** Slot accessors of a row role: `[offset, stride]` as WGSL expressions. */
function view(kernel: RnnKernel, role: string): [string, string] {
  const s = rowSlot(kernel, role);
  return [`pu(${s}u)`, `pu(${s + 1}u)`];
}

/** `let <name>r = <offset> + min(row r, B − 1) · <stride>;` for every row r (clamped loads). */
function clampedRows(name: string, off: string, stride: string): string {
  return ROWS.map((r) => `  let ${name}${r} = ${off} + min(b0 + ${r}u, B - 1u) * ${stride};`)
    .join("\n");
}

/** `if (b0 + r < B) { body(r, b) }` for every row r, unrolled. */
function eachRow(body: (r: number) => string): string {
  return ROWS.map((r) =>
    `  if (b0 + ${r}u < B) {
    let b = b0 + ${r}u;
${body(r)}
  }`
  ).join("\n");
}

const HEAD = `  let B = pu(0u); let H = pu(1u);
  if (gid >= ((B + ${RNN_ROWS - 1}u) / ${RNN_ROWS}u) * H) { return; }
  let j = gid % H;
  let b0 = (gid / H) * ${RNN_ROWS}u;
`;

/** Forward gate sums s0…s3 (vec4 of the G ≤ 4 gates per row) of h_{t−1}·W_hhᵀ. */
function forwardDots(kernel: RnnKernel, gates: number, v: RnnVariant): string {
  const [ho, hs] = view(kernel, "h");
  const g = [...Array(gates).keys()];
  const pad = (xs: string[]) => [...xs, ...Array(4 - xs.length).fill("0.0")].join(", ");
  const acc = ROWS.map((r) => `  var s${r} = vec4<f32>(0.0);`).join("\n");
  if (v === "vec4") {
    return `  let n4 = H / 4u; let hh = H * n4; let w0 = j * n4;
${clampedRows("hr", `(${ho}`, `${hs}) / 4u`)}
${acc}
  for (var k = 0u; k < n4; k++) {
    ${g.map((q) => `let wq${q} = whh[w0 + ${q}u * hh + k];`).join(" ")}
    ${
      ROWS.map((r) =>
        `{ let xv = h[hr${r} + k]; s${r} += vec4<f32>(${pad(g.map((q) => `dot(wq${q}, xv)`))}); }`
      ).join("\n    ")
    }
  }
`;
  }
  return `  let hh = H * H; let w0 = j * H;
${clampedRows("hr", ho, hs)}
${acc}
  for (var k = 0u; k < H; k++) {
    let wv = vec4<f32>(${pad(g.map((q) => `whh[w0 + ${q}u * hh + k]`))});
    ${ROWS.map((r) => `s${r} += wv * h[hr${r} + k];`).join(" ")}
  }
`;
}

/**
 * Backward: the head, then the recurrent part of dL/dh for each of the
 * invocation's rows, as `dr` inside `perUnit(r, body)`. The scalar variant
 * handles one unit j per invocation (`d[r]`); the vec4 variant handles four
 * units j0 … j0 + 3 (`d<r>[u]`), reading W_hh rows as vec4 along j and the
 * next step's gradient rows as vec4 along the gates (about 2× faster on
 * llvmpipe than one unit per invocation).
 */
function backwardDots(
  kernel: RnnKernel,
  gates: number,
  next: string,
  v: RnnVariant,
): { head: string; perUnit: (r: number, body: string) => string } {
  const [, dgs] = view(kernel, kernel === "lstmStepBackward" ? "dg" : "dgh");
  if (v === "vec4") {
    const head = `  let B = pu(0u); let H = pu(1u); let nj = H / 4u;
  if (gid >= ((B + ${RNN_ROWS - 1}u) / ${RNN_ROWS}u) * nj) { return; }
  let j0 = (gid % nj) * 4u;
  let b0 = (gid / nj) * ${RNN_ROWS}u;
${ROWS.map((r) => `  var d${r} = vec4<f32>(0.0);`).join("\n")}
  if (pu(2u) != 0u) {
  ${clampedRows("nr", "(pu(3u)", `${dgs}) / 4u`)}
    let jq = j0 / 4u;
    for (var k = 0u; k < ${gates}u * H / 4u; k++) {
      let q = 4u * k * nj + jq;
      let wa = whh[q]; let wb = whh[q + nj]; let wc = whh[q + 2u * nj]; let wd = whh[q + 3u * nj];
      ${
      ROWS.map((r) =>
        `{ let g = ${next}[nr${r} + k]; d${r} += wa * g.x + wb * g.y + wc * g.z + wd * g.w; }`
      ).join("\n      ")
    }
    }
  }
`;
    return {
      head,
      perUnit: (r, body) =>
        `    for (var u = 0u; u < 4u; u++) {
      let j = j0 + u;
      let dr = d${r}[u];
${body}
    }`,
    };
  }
  const head = HEAD + `  var d = vec4<f32>(0.0);
  if (pu(2u) != 0u) {
  ${clampedRows("nr", "pu(3u)", dgs)}
    for (var k = 0u; k < ${gates}u * H; k++) {
      let wv = whh[k * H + j];
      d += wv * vec4<f32>(${ROWS.map((r) => `${next}[nr${r} + k]`).join(", ")});
    }
  }
`;
  return { head, perUnit: (r, body) => `    let dr = d[${r}];\n${body}` };
}

function lstmStep(v: RnnVariant): string {
  const k: RnnKernel = "lstmStep";
  const [xo, xs] = view(k, "x"), [co, cs] = view(k, "c");
  const [hoo, hos] = view(k, "hOut"), [coo, cos] = view(k, "cOut"), [go, gs] = view(k, "gates");
  return HEAD + forwardDots(k, 4, v) + eachRow((r) =>
    `    let xo = ${xo} + b * ${xs} + j;
    let a = s${r} + vec4<f32>(x[xo], x[xo + H], x[xo + 2u * H], x[xo + 3u * H]);
    let ig = sigmoid_(a.x); let fg = sigmoid_(a.y); let gg = tanh_(a.z); let og = sigmoid_(a.w);
    let cn = fg * c[${co} + b * ${cs} + j] + ig * gg;
    cOut[${coo} + b * ${cos} + j] = cn;
    hOut[${hoo} + b * ${hos} + j] = og * tanh_(cn);
    if (pu(2u) != 0u) {
      let o = ${go} + b * ${gs} + j;
      gates[o] = ig; gates[o + H] = fg; gates[o + 2u * H] = gg; gates[o + 3u * H] = og;
    }`
  );
}

function lstmStepBackward(v: RnnVariant): string {
  const k: RnnKernel = "lstmStepBackward";
  const [dho, dhs] = view(k, "dh"), [po, ps] = view(k, "cPrev"), [co, cs] = view(k, "c");
  const [go, gs] = view(k, "gates"), [dgo, dgs] = view(k, "dg");
  const { head, perUnit } = backwardDots(k, 4, "dgNext", v);
  return head + eachRow((r) =>
    perUnit(
      r,
      `    let dh_ = dh[${dho} + b * ${dhs} + j] + dr;
    let o = ${go} + b * ${gs} + j;
    let ig = gates[o]; let fg = gates[o + H]; let gg = gates[o + 2u * H]; let og = gates[o + 3u * H];
    let tc = tanh_(c[${co} + b * ${cs} + j]);
    let dcv = dc[b * H + j] + dh_ * og * (1.0 - tc * tc);
    let e = ${dgo} + b * ${dgs} + j;
    dg[e] = dcv * gg * ig * (1.0 - ig);
    dg[e + H] = dcv * cPrev[${po} + b * ${ps} + j] * fg * (1.0 - fg);
    dg[e + 2u * H] = dcv * ig * (1.0 - gg * gg);
    dg[e + 3u * H] = dh_ * tc * og * (1.0 - og);
    dc[b * H + j] = dcv * fg;`,
    )
  );
}

function gruStep(v: RnnVariant): string {
  const k: RnnKernel = "gruStep";
  const [xo, xs] = view(k, "x"), [hoo, hos] = view(k, "hOut"), [so, ss] = view(k, "saved");
  // h_{t−1}[b, j] itself, from the scalar or the vec4 view of the rows.
  const hPrev = (r: number) => v === "vec4" ? `h[hr${r} + j / 4u][j % 4u]` : `h[hr${r} + j]`;
  return HEAD + forwardDots(k, 3, v) + eachRow((r) =>
    `    let xo = ${xo} + b * ${xs} + j;
    let a = s${r}.xyz + vec3<f32>(bhh[j], bhh[H + j], bhh[2u * H + j]);
    let rg = sigmoid_(x[xo] + a.x);
    let zg = sigmoid_(x[xo + H] + a.y);
    let ng = tanh_(x[xo + 2u * H] + rg * a.z);
    hOut[${hoo} + b * ${hos} + j] = (1.0 - zg) * ng + zg * ${hPrev(r)};
    if (pu(2u) != 0u) {
      let o = ${so} + b * ${ss} + j;
      saved[o] = rg; saved[o + H] = zg; saved[o + 2u * H] = ng; saved[o + 3u * H] = a.z;
    }`
  );
}

function gruStepBackward(v: RnnVariant): string {
  const k: RnnKernel = "gruStepBackward";
  const [dho, dhs] = view(k, "dh"), [ho, hs] = view(k, "h"), [so, ss] = view(k, "saved");
  const [xo, xs] = view(k, "dgx"), [go, gs] = view(k, "dgh");
  const { head, perUnit } = backwardDots(k, 3, "dghNext", v);
  return head + eachRow((r) =>
    perUnit(
      r,
      `    var dh_ = dh[${dho} + b * ${dhs} + j];
    if (pu(2u) != 0u) { dh_ += dhz[b * H + j] + dr; }
    let o = ${so} + b * ${ss} + j;
    let rg = saved[o]; let zg = saved[o + H]; let ng = saved[o + 2u * H]; let hn = saved[o + 3u * H];
    let dn = dh_ * (1.0 - zg) * (1.0 - ng * ng);
    let dz = dh_ * (h[${ho} + b * ${hs} + j] - ng) * zg * (1.0 - zg);
    let dr_ = dn * hn * rg * (1.0 - rg);
    let ex = ${xo} + b * ${xs} + j;
    dgx[ex] = dr_; dgx[ex + H] = dz; dgx[ex + 2u * H] = dn;
    let eg = ${go} + b * ${gs} + j;
    dgh[eg] = dr_; dgh[eg + H] = dz; dgh[eg + 2u * H] = dn * rg;
    dhz[b * H + j] = dh_ * zg;`,
    )
  );
}

const BODY: Record<RnnKernel, (v: RnnVariant) => string> = {
  lstmStep,
  lstmStepBackward,
  gruStep,
  gruStepBackward,
};

/**
 * Number of workgroups of a step over `batch` rows of `hidden` units: one
 * invocation per {@link RNN_ROWS} rows and unit, or per 4 units in the vec4
 * backward kernels.
 *
 * @param kernel the kernel
 * @param variant its variant
 * @param batch B
 * @param hidden H
 * @returns workgroups
 */
export function rnnWorkgroups(
  kernel: RnnKernel,
  variant: RnnVariant,
  batch: number,
  hidden: number,
): number {
  const units = variant === "vec4" && kernel.endsWith("Backward") ? hidden / 4 : hidden;
  return Math.ceil(Math.ceil(batch / RNN_ROWS) * units / RNN_WG);
}

const cache = new Map<string, ShaderSource>();

/**
 * A fused step shader.
 *
 * Bindings: the roles of {@link RNN_ROLES} in order, all read-write storage,
 * `array<f32>` except the {@link RNN_VEC4_ROLES} of the vec4 variant. Uniform:
 * P = [B, H, flag, next offset, then (offset, stride) per row role; see
 * {@link rowSlot}]. Grid: {@link rnnWorkgroups}.
 *
 * @param kernel which step
 * @param variant vec4 (rows of the dot-product operands start at multiples of 4) or scalar
 * @returns the shader (cached)
 */
export function rnnShader(kernel: RnnKernel, variant: RnnVariant = "scalar"): ShaderSource {
  const key = `rnn:${kernel}:${variant}`;
  const hit = cache.get(key);
  if (hit) return hit;
  const vec = variant === "vec4" ? RNN_VEC4_ROLES[kernel] : [];
  const decls =
    RNN_ROLES[kernel].map((r, i) =>
      `@group(0) @binding(${i + 1}) var<storage, read_write> ${r}: array<${
        vec.includes(r) ? "vec4<f32>" : "f32"
      }>;`
    ).join("\n") + "\n";
  const code = PARAMS_WGSL + SIGMOID_WGSL + TANH_WGSL + decls +
    entry1d(BODY[kernel](variant), RNN_WG);
  const src = { key, code, reads: 0, writes: RNN_ROLES[kernel].length };
  cache.set(key, src);
  return src;
}
