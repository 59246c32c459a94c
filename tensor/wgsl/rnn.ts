/**
 * Fused recurrent time steps in WGSL: one dispatch per LSTM/GRU step,
 * forward and backward (the semantics are those of `Backend.lstmStep` etc. in
 * tensor/backend.ts).
 *
 * Invocation `gid` < B·H handles one (row b, hidden unit j): it computes the
 * dot products of its gate rows of W_hh with h_{t−1} (forward), or its column
 * of W_hh against the next step's gate gradients (backward), then the gate
 * nonlinearities and the state update for that unit.
 *
 * Every binding is `read_write` storage: the step's roles may share a buffer
 * (h_t next to h_{t−1} in one sequence buffer; dg of step t+1 read from the
 * storage dg of step t is written to), and WebGPU allows one buffer bound
 * several times only when every binding is writable. Each role is a row
 * view (offset, stride) given in the uniform; the roles never share elements.
 *
 * @module
 */
import {
  entry1d,
  PARAMS_WGSL,
  type ShaderSource,
  SIGMOID_WGSL,
  TANH_WGSL,
  unrolled4,
} from "./common.ts";

/** The four fused step kernels. */
export type RnnKernel = "lstmStep" | "lstmStepBackward" | "gruStep" | "gruStepBackward";

/** Binding names of each kernel, in binding order. */
export const RNN_ROLES: Record<RnnKernel, readonly string[]> = {
  lstmStep: ["x", "h", "c", "whh", "hOut", "cOut", "gates"],
  lstmStepBackward: ["dh", "cPrev", "c", "gates", "whh", "dc", "dg"],
  gruStep: ["x", "h", "whh", "bhh", "hOut", "saved"],
  gruStepBackward: ["dh", "h", "saved", "whh", "dhz", "dgx", "dgh"],
};

/**
 * Parameter slot of each role's row offset (its stride follows at +1).
 * P[0] = B, P[1] = H, P[2] = flag (gates/saved present, or next-step
 * gradient present), P[3] = offset of the next step's gradient rows.
 */
export function rowSlot(kernel: RnnKernel, role: string): number {
  return 4 + 2 * RNN_ROLES[kernel].indexOf(role);
}

function decls(kernel: RnnKernel): string {
  return RNN_ROLES[kernel].map((r, i) =>
    `@group(0) @binding(${i + 1}) var<storage, read_write> ${r}: array<f32>;`
  ).join("\n") + "\n";
}

/** `let <role>o = offset + b · stride;` for the row-view roles. */
function rowBases(kernel: RnnKernel, roles: string[]): string {
  return roles.map((r) => {
    const s = rowSlot(kernel, r);
    return `  let ${r}o = pu(${s}u) + b * pu(${s + 1}u);`;
  }).join("\n");
}

const HEAD = `  let B = pu(0u); let H = pu(1u);
  if (gid >= B * H) { return; }
  let b = gid / H; let j = gid % H;
`;

function lstmStep(): string {
  const k: RnnKernel = "lstmStep";
  return entry1d(`${HEAD}${rowBases(k, ["x", "h", "c", "hOut", "cOut", "gates"])}
  var p0 = 0.0; var p1 = 0.0; var p2 = 0.0; var p3 = 0.0;
  let w0 = j * H; let w1 = (H + j) * H; let w2 = (2u * H + j) * H; let w3 = (3u * H + j) * H;
  ${
    unrolled4("k", "0u", "H", 1, (q) =>
      `{ let hv = h[ho + ${q}]; p0 += hv * whh[w0 + ${q}]; p1 += hv * whh[w1 + ${q}]; ` +
      `p2 += hv * whh[w2 + ${q}]; p3 += hv * whh[w3 + ${q}]; }`)
  }
  let ig = sigmoid_(x[xo + j] + p0);
  let fg = sigmoid_(x[xo + H + j] + p1);
  let gg = tanh_(x[xo + 2u * H + j] + p2);
  let og = sigmoid_(x[xo + 3u * H + j] + p3);
  let cn = fg * c[co + j] + ig * gg;
  cOut[cOuto + j] = cn;
  hOut[hOuto + j] = og * tanh_(cn);
  if (pu(2u) != 0u) {
    gates[gateso + j] = ig;
    gates[gateso + H + j] = fg;
    gates[gateso + 2u * H + j] = gg;
    gates[gateso + 3u * H + j] = og;
  }`);
}

function lstmStepBackward(): string {
  const k: RnnKernel = "lstmStepBackward";
  return entry1d(`${HEAD}${rowBases(k, ["dh", "cPrev", "c", "gates", "dg"])}
  var d = dh[dho + j];
  if (pu(2u) != 0u) {
    let no = pu(3u) + b * pu(${rowSlot(k, "dg") + 1}u);
    ${unrolled4("q", "0u", "4u * H", 1, (q) => `d += dg[no + ${q}] * whh[${q} * H + j];`)}
  }
  let ig = gates[gateso + j]; let fg = gates[gateso + H + j];
  let gg = gates[gateso + 2u * H + j]; let og = gates[gateso + 3u * H + j];
  let tc = tanh_(c[co + j]);
  let dcv = dc[b * H + j] + d * og * (1.0 - tc * tc);
  dg[dgo + j] = dcv * gg * ig * (1.0 - ig);
  dg[dgo + H + j] = dcv * cPrev[cPrevo + j] * fg * (1.0 - fg);
  dg[dgo + 2u * H + j] = dcv * ig * (1.0 - gg * gg);
  dg[dgo + 3u * H + j] = d * tc * og * (1.0 - og);
  dc[b * H + j] = dcv * fg;`);
}

function gruStep(): string {
  const k: RnnKernel = "gruStep";
  return entry1d(`${HEAD}${rowBases(k, ["x", "h", "hOut", "saved"])}
  var p0 = 0.0; var p1 = 0.0; var p2 = 0.0;
  let w0 = j * H; let w1 = (H + j) * H; let w2 = (2u * H + j) * H;
  ${
    unrolled4("k", "0u", "H", 1, (q) =>
      `{ let hv = h[ho + ${q}]; p0 += hv * whh[w0 + ${q}]; p1 += hv * whh[w1 + ${q}]; ` +
      `p2 += hv * whh[w2 + ${q}]; }`)
  }
  let r = sigmoid_(x[xo + j] + p0 + bhh[j]);
  let z = sigmoid_(x[xo + H + j] + p1 + bhh[H + j]);
  let hn = p2 + bhh[2u * H + j];
  let n = tanh_(x[xo + 2u * H + j] + r * hn);
  hOut[hOuto + j] = (1.0 - z) * n + z * h[ho + j];
  if (pu(2u) != 0u) {
    saved[savedo + j] = r;
    saved[savedo + H + j] = z;
    saved[savedo + 2u * H + j] = n;
    saved[savedo + 3u * H + j] = hn;
  }`);
}

function gruStepBackward(): string {
  const k: RnnKernel = "gruStepBackward";
  return entry1d(`${HEAD}${rowBases(k, ["dh", "h", "saved", "dgx", "dgh"])}
  var d = dh[dho + j];
  if (pu(2u) != 0u) {
    d += dhz[b * H + j];
    let no = pu(3u) + b * pu(${rowSlot(k, "dgh") + 1}u);
    ${unrolled4("q", "0u", "3u * H", 1, (q) => `d += dgh[no + ${q}] * whh[${q} * H + j];`)}
  }
  let r = saved[savedo + j]; let z = saved[savedo + H + j];
  let n = saved[savedo + 2u * H + j]; let hn = saved[savedo + 3u * H + j];
  let dn = d * (1.0 - z) * (1.0 - n * n);
  let dz = d * (h[ho + j] - n) * z * (1.0 - z);
  let dr = dn * hn * r * (1.0 - r);
  dgx[dgxo + j] = dr;
  dgx[dgxo + H + j] = dz;
  dgx[dgxo + 2u * H + j] = dn;
  dgh[dgho + j] = dr;
  dgh[dgho + H + j] = dz;
  dgh[dgho + 2u * H + j] = dn * r;
  dhz[b * H + j] = d * z;`);
}

const BODY: Record<RnnKernel, () => string> = {
  lstmStep,
  lstmStepBackward,
  gruStep,
  gruStepBackward,
};

/**
 * A fused step shader.
 *
 * Bindings: P = [B, H, flag, nextOffset, then (offset, stride) per role in
 * {@link RNN_ROLES} order]; the roles as read-write storage. Invocation
 * `gid` < B·H computes unit j = gid mod H of row b = gid / H.
 *
 * @param kernel which step
 * @returns the shader
 */
export function rnnShader(kernel: RnnKernel): ShaderSource {
  const code = PARAMS_WGSL + SIGMOID_WGSL + TANH_WGSL + decls(kernel) + BODY[kernel]();
  return { key: `rnn:${kernel}`, code, reads: 0, writes: RNN_ROLES[kernel].length };
}
