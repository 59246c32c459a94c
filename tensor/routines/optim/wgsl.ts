/**
 * Fused optimizer updates in WGSL: one dispatch rewrites a parameter and its
 * optimizer state in place (the semantics are those of `AdamStepArgs`,
 * `SgdStepArgs` and `RmspropStepArgs` in ./args.ts).
 *
 * One invocation per element (no loop, so llvmpipe's per-invocation loop
 * budget never applies), over a 1-D grid that the runtime folds into 2-D
 * past 65535 workgroups. Every hyper-parameter, the host-computed bias
 * corrections and the option flags (L2 or decoupled weight decay, Nesterov,
 * first momentum step) are uniforms, so one pipeline serves every step, lr
 * and setting; only which state buffers exist (momentum, centring) selects a
 * variant, because it changes the bindings.
 *
 * Bindings: `grad` (read), then `param` and the state buffers (read-write),
 * in the order of {@link optimWrites}.
 *
 * @module
 */
import { bindings, entry1d, PARAMS_WGSL, type ShaderSource } from "../../wgsl/common.ts";

/** Shader families: Adam and AdamW share one (decoupled decay is a flag). */
export type OptimShaderKind = "adam" | "sgd" | "rmsprop";

/** Which state buffers a variant binds. */
export interface OptimVariant {
  /** A momentum buffer (SGD with momentum ≠ 0, RMSprop with momentum > 0). */
  momentum: boolean;
  /** RMSprop's `grad_avg` (centred). */
  centered: boolean;
}

/** Uniform slot 0: the element count (u32). */
export const OPTIM_N_SLOT = 0;
/** Uniform slot 1: the option flags (u32, the `OPTIM_FLAG_*` bits). */
export const OPTIM_FLAGS_SLOT = 1;

/** Flag: add `weightDecay · p` to the gradient (L2). */
export const OPTIM_FLAG_L2 = 1;
/** Flag: multiply p by the decay factor first (AdamW). */
export const OPTIM_FLAG_DECOUPLED = 2;
/** Flag: Nesterov momentum (SGD). */
export const OPTIM_FLAG_NESTEROV = 4;
/** Flag: first momentum step, the buffer becomes the gradient (SGD). */
export const OPTIM_FLAG_FIRST = 8;

/** f32 uniform slots of each family's scalars (computed on the host in float64). */
export const OPTIM_SLOTS = {
  /** β1, 1 − β1, β2, 1 − β2, eps, weightDecay, 1 − lr·weightDecay, lr / bc1, √bc2. */
  adam: {
    beta1: 2,
    oneMinusBeta1: 3,
    beta2: 4,
    oneMinusBeta2: 5,
    eps: 6,
    weightDecay: 7,
    decayFactor: 8,
    stepSize: 9,
    bc2Sqrt: 10,
  },
  /** lr, momentum, 1 − dampening, weightDecay. */
  sgd: { lr: 2, momentum: 3, oneMinusDampening: 4, weightDecay: 5 },
  /** lr, α, 1 − α, eps, momentum, weightDecay. */
  rmsprop: { lr: 2, alpha: 3, oneMinusAlpha: 4, eps: 5, momentum: 6, weightDecay: 7 },
} as const;

/**
 * Names of the read-write bindings of a variant, in binding order after
 * `grad`: the parameter, then the state buffers.
 *
 * @param kind the family
 * @param v which state buffers exist
 * @returns binding names
 */
export function optimWrites(kind: OptimShaderKind, v: OptimVariant): string[] {
  switch (kind) {
    case "adam":
      return ["param", "expAvg", "expAvgSq"];
    case "sgd":
      return v.momentum ? ["param", "momentumBuffer"] : ["param"];
    case "rmsprop":
      return [
        "param",
        "squareAvg",
        ...(v.momentum ? ["momentumBuffer"] : []),
        ...(v.centered ? ["gradAvg"] : []),
      ];
  }
}

const f = (s: number) => `pf(${s}u)`;
const flag = (bit: number) => `(flags & ${bit}u) != 0u`;

function adamBody(): string {
  const s = OPTIM_SLOTS.adam;
  return `  var x = param[i];
  var d = grad[i];
  if (${flag(OPTIM_FLAG_L2)}) { d = d + ${f(s.weightDecay)} * x; }
  if (${flag(OPTIM_FLAG_DECOUPLED)}) { x = x * ${f(s.decayFactor)}; }
  let m = ${f(s.beta1)} * expAvg[i] + ${f(s.oneMinusBeta1)} * d;
  let v = ${f(s.beta2)} * expAvgSq[i] + ${f(s.oneMinusBeta2)} * (d * d);
  expAvg[i] = m;
  expAvgSq[i] = v;
  param[i] = x - (m / (sqrt(v) / ${f(s.bc2Sqrt)} + ${f(s.eps)})) * ${f(s.stepSize)};`;
}

function sgdBody(v: OptimVariant): string {
  const s = OPTIM_SLOTS.sgd;
  const momentum = v.momentum
    ? `  var b = d;
  if (!(${flag(OPTIM_FLAG_FIRST)})) { b = ${f(s.momentum)} * momentumBuffer[i] + ${
      f(s.oneMinusDampening)
    } * d; }
  momentumBuffer[i] = b;
  if (${flag(OPTIM_FLAG_NESTEROV)}) { d = d + ${f(s.momentum)} * b; } else { d = b; }
`
    : "";
  return `  let x = param[i];
  var d = grad[i];
  if (${flag(OPTIM_FLAG_L2)}) { d = d + ${f(s.weightDecay)} * x; }
${momentum}  param[i] = x - ${f(s.lr)} * d;`;
}

function rmspropBody(v: OptimVariant): string {
  const s = OPTIM_SLOTS.rmsprop;
  const avg = v.centered
    ? `  let ga = ${f(s.alpha)} * gradAvg[i] + ${f(s.oneMinusAlpha)} * d;
  gradAvg[i] = ga;
  let avg = sqrt(sq - ga * ga) + ${f(s.eps)};`
    : `  let avg = sqrt(sq) + ${f(s.eps)};`;
  const update = v.momentum
    ? `  let b = ${f(s.momentum)} * momentumBuffer[i] + d / avg;
  momentumBuffer[i] = b;
  param[i] = x - ${f(s.lr)} * b;`
    : `  param[i] = x - ${f(s.lr)} * (d / avg);`;
  return `  let x = param[i];
  var d = grad[i];
  if (${flag(OPTIM_FLAG_L2)}) { d = d + ${f(s.weightDecay)} * x; }
  let sq = ${f(s.alpha)} * squareAvg[i] + ${f(s.oneMinusAlpha)} * (d * d);
  squareAvg[i] = sq;
${avg}
${update}`;
}

const cache = new Map<string, ShaderSource>();

/**
 * The fused update shader of a family and variant (cached). Uniform:
 * P[0] = n, P[1] = flags, then the f32 scalars of {@link OPTIM_SLOTS}. Grid:
 * ⌈n / WG_1D⌉ workgroups of the 1-D entry point.
 *
 * @param kind the family
 * @param v which state buffers exist (ignored where the family has no such buffer)
 * @returns the shader
 */
export function optimShader(kind: OptimShaderKind, v: OptimVariant): ShaderSource {
  const momentum = kind !== "adam" && v.momentum, centered = kind === "rmsprop" && v.centered;
  const key = `optim:${kind}${momentum ? ":momentum" : ""}${centered ? ":centered" : ""}`;
  const hit = cache.get(key);
  if (hit) return hit;
  const variant = { momentum, centered };
  const writes = optimWrites(kind, variant);
  const body = kind === "adam"
    ? adamBody()
    : kind === "sgd"
    ? sgdBody(variant)
    : rmspropBody(variant);
  const code = PARAMS_WGSL + bindings(["grad"], writes) + entry1d(
    `  let i = gid;
  if (i >= pu(${OPTIM_N_SLOT}u)) { return; }
  let flags = pu(${OPTIM_FLAGS_SLOT}u);
${body}`,
  );
  const src = { key, code, reads: 1, writes: writes.length };
  cache.set(key, src);
  return src;
}

/** Uniform slot of the first per-parameter end offset of {@link adamMultiShader}. */
export const OPTIM_MULTI_ENDS_SLOT = 11;
/** Most parameters one multi-tensor Adam dispatch takes (uniform slots left for end offsets). */
export const OPTIM_MULTI_MAX = 64 - OPTIM_MULTI_ENDS_SLOT;

/**
 * One Adam/AdamW update of `k` parameters in one dispatch (the same scalars
 * for all): the 1-D grid covers the parameters' elements back to back, and
 * invocation `i` updates element `i − start` of the parameter whose range
 * holds it, with exactly {@link optimShader}'s arithmetic. Bindings: `grad0`
 * … `grad{k−1}` (read), then `param{j}`, `expAvg{j}`, `expAvgSq{j}` per
 * parameter. Uniform: P[0] = total elements, P[1] = flags, the Adam scalars
 * of {@link OPTIM_SLOTS}, then from {@link OPTIM_MULTI_ENDS_SLOT} the end
 * (exclusive, cumulative) of each parameter's range.
 *
 * @param k parameters per dispatch (2 … {@link OPTIM_MULTI_MAX})
 * @returns the shader (cached per k)
 */
export function adamMultiShader(k: number): ShaderSource {
  const key = `optim:adam:multi${k}`;
  const hit = cache.get(key);
  if (hit) return hit;
  const reads: string[] = [], writes: string[] = [];
  const branches: string[] = [];
  for (let j = 0; j < k; j++) {
    reads.push(`grad${j}`);
    writes.push(`param${j}`, `expAvg${j}`, `expAvgSq${j}`);
    const body = adamBody().replace(/\b(param|grad|expAvgSq|expAvg)\[i\]/g, `$1${j}[e]`);
    const start = j === 0 ? "0u" : `pu(${OPTIM_MULTI_ENDS_SLOT + j - 1}u)`;
    branches.push(
      `${j === 0 ? "  " : " else "}if (i < pu(${OPTIM_MULTI_ENDS_SLOT + j}u)) {
  let e = i - ${start};
${body}
  }`,
    );
  }
  const code = PARAMS_WGSL + bindings(reads, writes) + entry1d(
    `  let i = gid;
  if (i >= pu(${OPTIM_N_SLOT}u)) { return; }
  let flags = pu(${OPTIM_FLAGS_SLOT}u);
${branches.join("")}`,
  );
  const src = { key, code, reads: k, writes: 3 * k };
  cache.set(key, src);
  return src;
}
