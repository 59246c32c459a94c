/**
 * Fused recurrent time steps in WGSL: one dispatch per LSTM/GRU step,
 * forward and backward (the semantics are those of `lstmStep` etc. in
 * ./mod.ts and ./args.ts).
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
 * The forward kernels have two more variants that read the `whh` binding as
 * W_hhᵀ [H, G·H] (row k holds column k of every gate row), which the caller
 * makes once per layer per sequence. `tvec4` handles four units
 * j0 … j0 + 3 of four batch rows per invocation: for each k it loads the G
 * vec4s W_hhᵀ[k, q·H + j0 … q·H + j0 + 3], so adjacent invocations read
 * adjacent vec4s of one row (coalesced on GPUs, where the W_hh form has each
 * invocation read its own rows, H elements apart), h_{t−1} as vec4 along k,
 * and every other row role as vec4 along the units, gate activations
 * included. On llvmpipe (B = 100 or 1000, H = 64) a dispatch runs ≈ 20–35%
 * faster than `vec4`; most of that is the vectorised epilogue, since the
 * dot-product loop costs about the same in both forms there (W_hh stays in
 * cache). It needs every row role's offset and stride, and H, to be
 * multiples of 4. `tscalar` is the one-unit scalar kernel with the
 * transposed (still coalesced) indexing, for any sizes.
 *
 * The forward kernels also copy h_{t−1} (the rows they read) to `hPrev`
 * when flag bit 1 is set: the layer's W_hh gradient then reads those rows
 * [B, T, H] as they are, with no gather copies.
 *
 * Every binding is `read_write` storage: the step's roles may share a buffer
 * (h_t next to h_{t−1} in one sequence buffer; the next step's gradient rows
 * in the storage this step writes), and WebGPU allows one buffer bound
 * several times only when every binding is writable. Each row role is a view
 * (offset, stride) given in the uniform; roles never share elements.
 *
 * @module
 */
import {
  entry1d,
  PARAMS_WGSL,
  type ShaderSource,
  SIGMOID_WGSL,
  TANH_WGSL,
  VEC4_ACTIVATIONS_WGSL,
} from "../../wgsl/common.ts";

/** The four fused step kernels. */
export type RnnKernel = "lstmStep" | "lstmStepBackward" | "gruStep" | "gruStepBackward";

/**
 * Kernel variant: vec4 loads along the dot products, or scalar loads; the
 * forward kernels also have `tvec4` and `tscalar`, which read the `whh`
 * binding as W_hhᵀ [H, G·H] (see the module doc).
 */
export type RnnVariant = "vec4" | "scalar" | "tvec4" | "tscalar";

/** Batch rows per invocation. */
export const RNN_ROWS = 4;

/** Invocations per workgroup. */
export const RNN_WG = 64;

/** Binding names of each kernel, in binding order. */
export const RNN_ROLES: Record<RnnKernel, readonly string[]> = {
  lstmStep: ["x", "h", "c", "whh", "hOut", "cOut", "gates", "hPrev"],
  lstmStepBackward: ["dh", "cPrev", "c", "gates", "whh", "dc", "dg", "dgNext"],
  gruStep: ["x", "h", "whh", "bhh", "hOut", "saved", "hPrev"],
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
  lstmStep: ["x", "h", "c", "hOut", "cOut", "gates", "hPrev"],
  lstmStepBackward: ["dh", "cPrev", "c", "gates", "dg"],
  gruStep: ["x", "h", "hOut", "saved", "hPrev"],
  gruStepBackward: ["dh", "h", "saved", "dgx", "dgh"],
};

/**
 * Parameter slot of a row role's offset (its stride follows at +1), or -1
 * for a role that is not a row view. P[0] = B, P[1] = H, P[2] = flags
 * (forward: bit 0 gates or saved values wanted, bit 1 h_{t−1} copied to
 * `hPrev`; backward: bit 0 next-step gradient present, bit 1 (LSTM) `dc`
 * taken as zero on entry, not read; both: bit 2 h_{t−1}, c_{t−1} zero, not
 * read),
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

/**
 * Flag bit 2 (both directions): h_{t−1} (and c_{t−1}) are zero, the zero
 * initial state, and not read: the forward skips the W_hh·h_{t−1} loop.
 */
const ZERO = "(pu(2u) & 4u) != 0u";

/** `e`, or `zero` when the state is zero (see {@link ZERO}). */
function unlessZero(e: string, zero = "0.0"): string {
  return `select(${e}, ${zero}, ${ZERO})`;
}

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

/**
 * Forward: the head and the gate sums of h_{t−1}·W_hhᵀ (G ≤ 4 gates). The
 * one-unit variants leave `s<r>` (vec4 of the gates of row r), and
 * `perUnit(r, body)` wraps the body with `sr` = `s<r>`; `tvec4` leaves
 * `s<r>_<q>` (gate q of row r, vec4 along the units j0 … j0 + 3) for the
 * kernels' own vectorised epilogues.
 */
function forwardDots(
  kernel: RnnKernel,
  gates: number,
  v: RnnVariant,
): { head: string; perUnit: (r: number, body: string) => string } {
  const [ho, hs] = view(kernel, "h");
  const g = [...Array(gates).keys()];
  const pad = (xs: string[]) => [...xs, ...Array(4 - xs.length).fill("0.0")].join(", ");
  const acc = ROWS.map((r) => `  var s${r} = vec4<f32>(0.0);`).join("\n");
  const one = (r: number, body: string) => `    let sr = s${r};\n${body}`;
  if (v === "tvec4") {
    // W_hhᵀ as vec4: row k is G·nj vec4s; 4 rows (one k4 step) are G·H vec4s.
    const lanes = ["x", "y", "z", "w"];
    const fmas = [0, 1, 2, 3].map((kk) =>
      g.map((q) =>
        `{ let wv = whh[w + ${kk * gates + q}u * nj]; ${
          ROWS.map((r) => `s${r}_${q} += wv * hv${r}.${lanes[kk]};`).join(" ")
        } }`
      ).join("\n    ")
    ).join("\n    ");
    const head = `  let B = pu(0u); let H = pu(1u); let nj = H / 4u;
  if (gid >= ((B + ${RNN_ROWS - 1}u) / ${RNN_ROWS}u) * nj) { return; }
  let jq = gid % nj; let j0 = jq * 4u;
  let b0 = (gid / nj) * ${RNN_ROWS}u;
  let gh = ${gates}u * H;
${clampedRows("hr", `(${ho}`, `${hs}) / 4u`)}
${ROWS.map((r) => g.map((q) => `  var s${r}_${q} = vec4<f32>(0.0);`).join(" ")).join("\n")}
  for (var k = 0u; k < select(nj, 0u, ${ZERO}); k++) {
    let w = k * gh + jq;
    ${ROWS.map((r) => `let hv${r} = h[hr${r} + k];`).join(" ")}
    ${fmas}
  }
`;
    return { head, perUnit: one };
  }
  if (v === "tscalar") {
    return {
      head: HEAD + `  let gh = ${gates}u * H;
${clampedRows("hr", ho, hs)}
${acc}
  for (var k = 0u; k < select(H, 0u, ${ZERO}); k++) {
    let w = k * gh + j;
    let wv = vec4<f32>(${pad(g.map((q) => `whh[w + ${q}u * H]`))});
    ${ROWS.map((r) => `s${r} += wv * h[hr${r} + k];`).join(" ")}
  }
`,
      perUnit: one,
    };
  }
  if (v === "vec4") {
    return {
      head: HEAD + `  let n4 = H / 4u; let hh = H * n4; let w0 = j * n4;
${clampedRows("hr", `(${ho}`, `${hs}) / 4u`)}
${acc}
  for (var k = 0u; k < select(n4, 0u, ${ZERO}); k++) {
    ${g.map((q) => `let wq${q} = whh[w0 + ${q}u * hh + k];`).join(" ")}
    ${
        ROWS.map((r) =>
          `{ let xv = h[hr${r} + k]; s${r} += vec4<f32>(${pad(g.map((q) => `dot(wq${q}, xv)`))}); }`
        ).join("\n    ")
      }
  }
`,
      perUnit: one,
    };
  }
  return {
    head: HEAD + `  let hh = H * H; let w0 = j * H;
${clampedRows("hr", ho, hs)}
${acc}
  for (var k = 0u; k < select(H, 0u, ${ZERO}); k++) {
    let wv = vec4<f32>(${pad(g.map((q) => `whh[w0 + ${q}u * hh + k]`))});
    ${ROWS.map((r) => `s${r} += wv * h[hr${r} + k];`).join(" ")}
  }
`,
    perUnit: one,
  };
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
  if ((pu(2u) & 1u) != 0u) {
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
  if ((pu(2u) & 1u) != 0u) {
  ${clampedRows("nr", "pu(3u)", dgs)}
    for (var k = 0u; k < ${gates}u * H; k++) {
      let wv = whh[k * H + j];
      d += wv * vec4<f32>(${ROWS.map((r) => `${next}[nr${r} + k]`).join(", ")});
    }
  }
`;
  return { head, perUnit: (r, body) => `    let dr = d[${r}];\n${body}` };
}

/** h_{t−1}[b, j] of row r in a one-unit forward kernel, from the scalar or the vec4 view of the rows. */
function hPrevAt(v: RnnVariant, r: number): string {
  return unlessZero(v === "vec4" ? `h[hr${r} + j / 4u][j % 4u]` : `h[hr${r} + j]`);
}

/** h_{t−1} of row r at units j0 … j0 + 3 in a tvec4 forward kernel (zero for the zero state). */
function hv(r: number): string {
  return unlessZero(`h[hr${r} + jq]`, "vec4<f32>(0.0)");
}

function lstmStep(v: RnnVariant): string {
  const k: RnnKernel = "lstmStep";
  const [xo, xs] = view(k, "x"), [co, cs] = view(k, "c");
  const [hoo, hos] = view(k, "hOut"), [coo, cos] = view(k, "cOut"), [go, gs] = view(k, "gates");
  const [hpo, hps] = view(k, "hPrev"), hAt = (r: number) => hPrevAt(v, r);
  const { head, perUnit } = forwardDots(k, 4, v);
  if (v === "tvec4") {
    // Every row role is vec4 along the units: lanes are j0 … j0 + 3.
    const q4 = (o: string, st: string) => `(${o} + b * ${st}) / 4u + jq`;
    return head + eachRow((r) =>
      `    let xo = ${q4(xo, xs)};
    let ig = sigmoid4(s${r}_0 + x[xo]); let fg = sigmoid4(s${r}_1 + x[xo + nj]);
    let gg = tanh4(s${r}_2 + x[xo + 2u * nj]); let og = sigmoid4(s${r}_3 + x[xo + 3u * nj]);
    let cn = fg * ${unlessZero(`c[${q4(co, cs)}]`, "vec4<f32>(0.0)")} + ig * gg;
    cOut[${q4(coo, cos)}] = cn;
    hOut[${q4(hoo, hos)}] = og * tanh4(cn);
    if ((pu(2u) & 2u) != 0u) { hPrev[${q4(hpo, hps)}] = ${hv(r)}; }
    if ((pu(2u) & 1u) != 0u) {
      let o = ${q4(go, gs)};
      gates[o] = ig; gates[o + nj] = fg; gates[o + 2u * nj] = gg; gates[o + 3u * nj] = og;
    }`
    );
  }
  return head + eachRow((r) =>
    perUnit(
      r,
      `    let xo = ${xo} + b * ${xs} + j;
    let a = sr + vec4<f32>(x[xo], x[xo + H], x[xo + 2u * H], x[xo + 3u * H]);
    let ig = sigmoid_(a.x); let fg = sigmoid_(a.y); let gg = tanh_(a.z); let og = sigmoid_(a.w);
    let cn = fg * ${unlessZero(`c[${co} + b * ${cs} + j]`)} + ig * gg;
    cOut[${coo} + b * ${cos} + j] = cn;
    hOut[${hoo} + b * ${hos} + j] = og * tanh_(cn);
    if ((pu(2u) & 2u) != 0u) { hPrev[${hpo} + b * ${hps} + j] = ${hAt(r)}; }
    if ((pu(2u) & 1u) != 0u) {
      let o = ${go} + b * ${gs} + j;
      gates[o] = ig; gates[o + H] = fg; gates[o + 2u * H] = gg; gates[o + 3u * H] = og;
    }`,
    )
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
    let dcIn = select(dc[b * H + j], 0.0, (pu(2u) & 2u) != 0u);
    let dcv = dcIn + dh_ * og * (1.0 - tc * tc);
    let e = ${dgo} + b * ${dgs} + j;
    dg[e] = dcv * gg * ig * (1.0 - ig);
    dg[e + H] = dcv * ${unlessZero(`cPrev[${po} + b * ${ps} + j]`)} * fg * (1.0 - fg);
    dg[e + 2u * H] = dcv * ig * (1.0 - gg * gg);
    dg[e + 3u * H] = dh_ * tc * og * (1.0 - og);
    dc[b * H + j] = dcv * fg;`,
    )
  );
}

function gruStep(v: RnnVariant): string {
  const k: RnnKernel = "gruStep";
  const [xo, xs] = view(k, "x"), [hoo, hos] = view(k, "hOut"), [so, ss] = view(k, "saved");
  const [hpo, hps] = view(k, "hPrev"), hAt = (r: number) => hPrevAt(v, r);
  const { head, perUnit } = forwardDots(k, 3, v);
  if (v === "tvec4") {
    // Every row role is vec4 along the units: lanes are j0 … j0 + 3.
    const q4 = (o: string, st: string) => `(${o} + b * ${st}) / 4u + jq`;
    return head + eachRow((r) =>
      `    let xo = ${q4(xo, xs)};
    let an = s${r}_2 + bhh[jq + 2u * nj];
    let rg = sigmoid4(x[xo] + (s${r}_0 + bhh[jq]));
    let zg = sigmoid4(x[xo + nj] + (s${r}_1 + bhh[jq + nj]));
    let ng = tanh4(x[xo + 2u * nj] + rg * an);
    hOut[${q4(hoo, hos)}] = (1.0 - zg) * ng + zg * ${hv(r)};
    if ((pu(2u) & 2u) != 0u) { hPrev[${q4(hpo, hps)}] = ${hv(r)}; }
    if ((pu(2u) & 1u) != 0u) {
      let o = ${q4(so, ss)};
      saved[o] = rg; saved[o + nj] = zg; saved[o + 2u * nj] = ng; saved[o + 3u * nj] = an;
    }`
    );
  }
  return head + eachRow((r) =>
    perUnit(
      r,
      `    let xo = ${xo} + b * ${xs} + j;
    let a = sr.xyz + vec3<f32>(bhh[j], bhh[H + j], bhh[2u * H + j]);
    let rg = sigmoid_(x[xo] + a.x);
    let zg = sigmoid_(x[xo + H] + a.y);
    let ng = tanh_(x[xo + 2u * H] + rg * a.z);
    hOut[${hoo} + b * ${hos} + j] = (1.0 - zg) * ng + zg * ${hAt(r)};
    if ((pu(2u) & 2u) != 0u) { hPrev[${hpo} + b * ${hps} + j] = ${hAt(r)}; }
    if ((pu(2u) & 1u) != 0u) {
      let o = ${so} + b * ${ss} + j;
      saved[o] = rg; saved[o + H] = zg; saved[o + 2u * H] = ng; saved[o + 3u * H] = a.z;
    }`,
    )
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
    if ((pu(2u) & 1u) != 0u) { dh_ += dhz[b * H + j] + dr; }
    let o = ${so} + b * ${ss} + j;
    let rg = saved[o]; let zg = saved[o + H]; let ng = saved[o + 2u * H]; let hn = saved[o + 3u * H];
    let dn = dh_ * (1.0 - zg) * (1.0 - ng * ng);
    let dz = dh_ * (${unlessZero(`h[${ho} + b * ${hs} + j]`)} - ng) * zg * (1.0 - zg);
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
 * backward kernels and the `tvec4` forward kernels.
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
  const quads = variant === "tvec4" || variant === "vec4" && kernel.endsWith("Backward");
  const units = quads ? hidden / 4 : hidden;
  return Math.ceil(Math.ceil(batch / RNN_ROWS) * units / RNN_WG);
}

/**
 * Roles bound as `array<vec4<f32>>` in a variant: the dot-product operands
 * ({@link RNN_VEC4_ROLES}) in `vec4`, every role in `tvec4`, none otherwise.
 *
 * @param kernel the kernel
 * @param variant its variant
 * @returns the role names
 */
export function rnnVec4Roles(kernel: RnnKernel, variant: RnnVariant): readonly string[] {
  return variant === "vec4" ? RNN_VEC4_ROLES[kernel] : variant === "tvec4" ? RNN_ROLES[kernel] : [];
}

const cache = new Map<string, ShaderSource>();

/**
 * A fused step shader.
 *
 * Bindings: the roles of {@link RNN_ROLES} in order, all read-write storage,
 * `array<f32>` except the {@link RNN_VEC4_ROLES} of the vec4 and tvec4
 * variants; in the tvec4 and tscalar variants (forward kernels only) `whh`
 * holds W_hhᵀ [H, G·H]. Uniform: P = [B, H, flag, next offset, then
 * (offset, stride) per row role; see {@link rowSlot}]. Grid:
 * {@link rnnWorkgroups}.
 *
 * @param kernel which step
 * @param variant vec4 (rows of the dot-product operands start at multiples
 *   of 4) or scalar; tvec4 or tscalar likewise, with W_hhᵀ
 * @returns the shader (cached)
 */
export function rnnShader(kernel: RnnKernel, variant: RnnVariant = "scalar"): ShaderSource {
  const key = `rnn:${kernel}:${variant}`;
  const hit = cache.get(key);
  if (hit) return hit;
  if (variant.startsWith("t") && kernel.endsWith("Backward")) {
    throw new RangeError(`rnnShader: ${kernel} has no ${variant} (W_hhᵀ) variant`);
  }
  const vec = rnnVec4Roles(kernel, variant);
  const decls =
    RNN_ROLES[kernel].map((r, i) =>
      `@group(0) @binding(${i + 1}) var<storage, read_write> ${r}: array<${
        vec.includes(r) ? "vec4<f32>" : "f32"
      }>;`
    ).join("\n") + "\n";
  const code = PARAMS_WGSL + SIGMOID_WGSL + TANH_WGSL +
    (variant === "tvec4" ? VEC4_ACTIVATIONS_WGSL : "") + decls +
    entry1d(BODY[kernel](variant), RNN_WG);
  const src = { key, code, reads: 0, writes: RNN_ROLES[kernel].length };
  cache.set(key, src);
  return src;
}
