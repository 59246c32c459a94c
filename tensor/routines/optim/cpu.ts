/**
 * Fused optimizer updates of the CPU backend: one pass over a parameter that
 * rewrites it and its optimizer state in place (Adam/AdamW, SGD, RMSprop;
 * the formulas are those of `AdamStepArgs` etc. in ./args.ts), for
 * float32 and float64 storage.
 *
 * Each element is computed in float64 and rounded once when stored; a state
 * value is used after it was stored (rounded to the storage dtype), as
 * PyTorch uses the state tensor it has just updated. Float32 Adam/AdamW
 * updates of at least {@link SIMD_ADAM_MIN} elements run the same
 * arithmetic in WebAssembly SIMD float64 lanes (`SimdKernel.adam32`), block
 * by block through the kernel's memory: the same bits. Adam/AdamW updates of
 * at least {@link PARALLEL_ADAM} elements are split into element ranges across
 * the worker pool (`pool.ts`), each range updated by the loop, in place: the
 * same bits on any number of threads. (On two threads here the SIMD path's
 * copies did not get faster, 3.4–3.8 ms for 803,840 elements against 2.8–3.3
 * on one; the loop split in two took 2.0–2.4.)
 *
 * @module
 */
import type { Storage, TypedArray } from "../../backend.ts";
import type { AdamStepArgs, OptimizerStepArgs, RmspropStepArgs, SgdStepArgs } from "./args.ts";
import { arrayOf as cpuArrayOf } from "../../cpu/storage.ts";
import type { ArrayOf } from "../rnn/cpu.ts";
import { registerRoutine } from "../registry.ts";
import {
  ADAM_DECAYS,
  type AdamDecay,
  type AdamScalars,
  blockwise,
  type SimdKernel,
  simdKernel,
} from "../../cpu/simd.ts";
import { chunkRange, JOB_ADAM, parallelRanges } from "../../cpu/pool.ts";

/** Elements below which a float32 Adam update keeps its JavaScript loop. */
export const SIMD_ADAM_MIN = 1024;

/** Elements per block through the SIMD kernel's memory. */
const ADAM_BLOCK = 4096;

/** Adam/AdamW updates of at least this many elements are split across the worker pool. */
export const PARALLEL_ADAM = 1 << 16;

/** The SIMD Adam/AdamW update of p, g, m, v (float32, same length), block by block. */
function adamSimd(
  simd: SimdKernel,
  all: readonly Float32Array[],
  decayOf: AdamDecay,
  s: AdamScalars,
): void {
  const outs = [0, 2, 3].map((t) => [t, all[t]!] as const);
  blockwise(simd, all[0]!.length, ADAM_BLOCK, all, outs, (len, W) => {
    simd.adam32(decayOf, 0, W, 2 * W, 3 * W, len, s);
  });
}

/**
 * Adam/AdamW over all of p, g, m, v (`all`, one length) on this thread: in SIMD
 * for float32 of at least {@link SIMD_ADAM_MIN} elements where `useSimd` allows,
 * else the loop (the same bits). `s` and `decayOf` as `SimdKernel.adam32` takes them.
 */
function adamRange(
  all: readonly TypedArray[],
  decayOf: AdamDecay,
  s: AdamScalars,
  useSimd = true,
): void {
  const [p, g, m, v] = all as [TypedArray, TypedArray, TypedArray, TypedArray];
  const n = p.length;
  if (useSimd && n >= SIMD_ADAM_MIN && all.every((x) => x instanceof Float32Array)) {
    const simd = simdKernel();
    if (simd) return adamSimd(simd, all as Float32Array[], decayOf, s);
  }
  const [b1, c1, b2, c2, stepSize, bc2Sqrt, eps, f] = s;
  const l2 = decayOf === "l2" ? f : 0, decay = decayOf === "decoupled" ? f : 1;
  for (let i = 0; i < n; i++) {
    let x = p[i]!, d = g[i]!;
    if (l2 !== 0) d += l2 * x;
    else if (decay !== 1) x *= decay;
    m[i] = b1 * m[i]! + c1 * d;
    v[i] = b2 * v[i]! + c2 * (d * d);
    p[i] = x - stepSize * (m[i]! / (Math.sqrt(v[i]!) / bc2Sqrt + eps));
  }
}

/**
 * One chunk of a pooled Adam/AdamW update (see `pool.ts`): arrays param,
 * grad, expAvg, expAvgSq; nums n, elements per chunk, the decay's index in
 * `ADAM_DECAYS`, then the eight `AdamScalars`. Elementwise, so the same bits
 * on any number of threads.
 *
 * @param arrays the job's storages
 * @param nums the job's numbers
 * @param ch the chunk (elements ch·per …)
 */
export function adamChunk(
  arrays: readonly (TypedArray | null)[],
  nums: ArrayLike<number>,
  ch: number,
): void {
  const [i0, i1] = chunkRange(nums, ch);
  const all = arrays.map((a) => a!.subarray(i0, i1));
  const s = Array.from(nums).slice(3, 11) as unknown as AdamScalars;
  // the loop, which reads and writes the storages in place: the SIMD path's copies through the
  // kernel's memory (7 float32s an element) do not speed up on two threads here, the loop does
  adamRange(all, ADAM_DECAYS[nums[2]!]!, s, false);
}

export type { AdamStepArgs, OptimizerStepArgs, RmspropStepArgs, SgdStepArgs };

/** The elements of every storage of an update, checked to match the parameter. */
function arrays(
  arrayOf: ArrayOf,
  kind: string,
  roles: [string, Storage | null][],
): (TypedArray | null)[] {
  const seen = new Set<Storage>();
  const n = roles[0]![1]!.size;
  return roles.map(([role, s]) => {
    if (s === null) return null;
    const a = arrayOf(s, `${role} of ${kind} optimizerStep`);
    if (a.length !== n) {
      throw new RangeError(
        `Cannot run cpu ${kind} optimizerStep: ${role} holds ${a.length} elements, the parameter ${n}`,
      );
    }
    if (seen.has(s)) {
      throw new TypeError(
        `Cannot run cpu ${kind} optimizerStep: ${role} is the same storage as another argument`,
      );
    }
    seen.add(s);
    return a;
  });
}

/** Adam / AdamW. */
function adam(a: AdamStepArgs, arrayOf: ArrayOf): void {
  const [p, g, m, v] = arrays(arrayOf, a.kind, [
    ["param", a.param],
    ["grad", a.grad],
    ["expAvg", a.expAvg],
    ["expAvgSq", a.expAvgSq],
  ]) as TypedArray[];
  const { beta1: b1, beta2: b2, eps, weightDecay: wd } = a;
  const c1 = 1 - b1, c2 = 1 - b2;
  const decay = wd !== 0 && a.kind === "adamw" ? 1 - a.lr * wd : 1;
  const l2 = a.kind === "adam" ? wd : 0;
  const stepSize = a.lr / a.biasCorrection1, bc2Sqrt = Math.sqrt(a.biasCorrection2);
  const n = p!.length;
  const decayOf: AdamDecay = l2 !== 0 ? "l2" : decay !== 1 ? "decoupled" : "none";
  const f = l2 !== 0 ? l2 : decay;
  const s: AdamScalars = [b1, c1, b2, c2, stepSize, bc2Sqrt, eps, f];
  const all = [p!, g!, m!, v!];
  if (n >= PARALLEL_ADAM) {
    const alone = () => adamRange(all, decayOf, s);
    const nums = [ADAM_DECAYS.indexOf(decayOf), ...s];
    if (parallelRanges(JOB_ADAM, adamChunk, all, n, ADAM_BLOCK, nums, alone)) return;
  }
  adamRange(all, decayOf, s);
}

/** SGD with optional momentum, dampening, Nesterov and weight decay. */
function sgd(a: SgdStepArgs, arrayOf: ArrayOf): void {
  const [p, g, buf] = arrays(arrayOf, "sgd", [
    ["param", a.param],
    ["grad", a.grad],
    ["momentumBuffer", a.momentumBuffer],
  ]);
  const { lr, momentum: mu, weightDecay: wd, nesterov, firstStep } = a;
  const keep = 1 - a.dampening;
  const n = p!.length;
  for (let i = 0; i < n; i++) {
    const x = p![i]!;
    let d = g![i]!;
    if (wd !== 0) d += wd * x;
    if (buf) {
      buf[i] = firstStep ? d : mu * buf[i]! + keep * d;
      d = nesterov ? d + mu * buf[i]! : buf[i]!;
    }
    p![i] = x - lr * d;
  }
}

/** RMSprop with optional momentum, centring and weight decay. */
function rmsprop(a: RmspropStepArgs, arrayOf: ArrayOf): void {
  const [p, g, s, buf, ga] = arrays(arrayOf, "rmsprop", [
    ["param", a.param],
    ["grad", a.grad],
    ["squareAvg", a.squareAvg],
    ["momentumBuffer", a.momentumBuffer],
    ["gradAvg", a.gradAvg],
  ]);
  const { lr, alpha, eps, momentum: mu, weightDecay: wd } = a;
  const c = 1 - alpha;
  const n = p!.length;
  for (let i = 0; i < n; i++) {
    const x = p![i]!;
    let d = g![i]!;
    if (wd !== 0) d += wd * x;
    s![i] = alpha * s![i]! + c * (d * d);
    let avg: number;
    if (ga) {
      ga[i] = alpha * ga[i]! + c * d;
      avg = Math.sqrt(s![i]! - ga[i]! * ga[i]!) + eps;
    } else {
      avg = Math.sqrt(s![i]!) + eps;
    }
    if (buf) {
      buf[i] = mu * buf[i]! + d / avg;
      p![i] = x - lr * buf[i]!;
    } else {
      p![i] = x - lr * (d / avg);
    }
  }
}

/**
 * Run one fused optimizer update in place (see `optimizerStep` in ./mod.ts).
 *
 * @param a the update's storages and scalars
 * @param arrayOf storage → elements, with the backend's ownership checks
 */
export function optimizerStepKernel(a: OptimizerStepArgs, arrayOf: ArrayOf): void {
  switch (a.kind) {
    case "adam":
    case "adamw":
      return adam(a, arrayOf);
    case "sgd":
      return sgd(a, arrayOf);
    case "rmsprop":
      return rmsprop(a, arrayOf);
    default:
      throw new TypeError(
        `Cannot run cpu optimizerStep: unknown kind "${(a as { kind: unknown }).kind}"`,
      );
  }
}

registerRoutine<OptimizerStepArgs>("cpu", "optimizerStep", (be, a) => {
  optimizerStepKernel(a, (s, role) => cpuArrayOf(be, s, role));
});
