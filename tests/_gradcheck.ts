/**
 * Test helpers: float64 finite-difference gradient checks and array
 * comparison with readable failure messages.
 *
 * @module
 */
import { type Tensor, tensor } from "../mod.ts";
import { noGrad } from "../tensor/engine.ts";

/** Deterministic pseudo-random numbers for test inputs (mulberry32). */
export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6D2B79F5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Options of {@link randomValues}. */
export interface ValueRange {
  /** Lower bound (default -2). */
  lo?: number;
  /** Upper bound (default 2). */
  hi?: number;
  /** Keep values at least this far from 0 (avoids kinks). */
  awayFromZero?: number;
}

/** Random values in [lo, hi), optionally kept away from 0. */
export function randomValues(n: number, seed: number, r: ValueRange = {}): number[] {
  const next = rng(seed);
  const lo = r.lo ?? -2, hi = r.hi ?? 2, gap = r.awayFromZero ?? 0;
  return Array.from({ length: n }, () => {
    let v = lo + (hi - lo) * next();
    if (gap > 0 && Math.abs(v) < gap) v = v < 0 ? -gap - Math.abs(v) : gap + v;
    return v;
  });
}

/** A float64 CPU tensor of random values that requires a gradient. */
export function rand64(shape: number[], seed: number, r: ValueRange = {}): Tensor {
  const n = shape.reduce((a, b) => a * b, 1);
  return tensor(Float64Array.from(randomValues(n, seed, r)), shape, {
    dtype: "float64",
    backend: "cpu",
    requiresGrad: true,
  });
}

/** Result of {@link gradCheck}. */
export interface GradCheckResult {
  /** Largest relative error over all input elements. */
  maxRelError: number;
  /** Where it occurred. */
  where: string;
}

/**
 * Compare backward() with central finite differences of L = Σ w ⊙ fn(inputs)
 * for a fixed random w, in float64. L is summed on the host, independent of the
 * ops under test. Relative error = |a − n| / max(|a|, |n|, 1e-3).
 *
 * @param fn the function of the inputs
 * @param inputs float64 CPU tensors that require a gradient
 * @param eps finite-difference step
 */
export async function gradCheck(
  fn: (...xs: Tensor[]) => Tensor,
  inputs: Tensor[],
  eps = 1e-5,
): Promise<GradCheckResult> {
  const y = fn(...inputs);
  const w = Float64Array.from(randomValues(y.size, 99, { lo: -1, hi: 1 }));
  const wt = tensor(w, [...y.shape], { dtype: "float64", backend: "cpu" });
  for (const x of inputs) x.zeroGrad();
  y.backward(wt);
  const loss = async (xs: Tensor[]): Promise<number> => {
    const out = noGrad(() => fn(...xs));
    const d = await out.data();
    out.dispose();
    let s = 0;
    for (let i = 0; i < d.length; i++) s += d[i]! * w[i]!;
    return s;
  };
  let worst = 0, where = "";
  for (let j = 0; j < inputs.length; j++) {
    const x = inputs[j]!;
    if (!x.grad) throw new Error(`gradCheck: input ${j} got no gradient`);
    const analytic = await x.grad.data();
    const base = Float64Array.from(await x.data());
    for (let i = 0; i < base.length; i++) {
      const at = (delta: number) => {
        const v = base.slice();
        v[i] = v[i]! + delta;
        const t = tensor(v, [...x.shape], { dtype: "float64", backend: "cpu" });
        return inputs.map((o, k) => (k === j ? t : o));
      };
      const plus = at(eps), minus = at(-eps);
      const numeric = ((await loss(plus)) - (await loss(minus))) / (2 * eps);
      plus[j]!.dispose();
      minus[j]!.dispose();
      const a = analytic[i]!;
      const err = Math.abs(a - numeric) / Math.max(Math.abs(a), Math.abs(numeric), 1e-3);
      if (!(err <= worst)) {
        worst = Number.isNaN(err) ? Infinity : err;
        where = `input ${j} element ${i}: analytic ${a}, numeric ${numeric}`;
      }
    }
  }
  y.dispose();
  wt.dispose();
  return { maxRelError: worst, where };
}

/**
 * Assert two arrays agree elementwise within |a − e| <= atol + rtol·|e|,
 * printing index, actual, expected, difference and tolerance on failure.
 */
export function assertClose(
  actual: ArrayLike<number>,
  expected: ArrayLike<number>,
  opts: { rtol?: number; atol?: number; label?: string } = {},
): void {
  const rtol = opts.rtol ?? 1e-5, atol = opts.atol ?? 1e-6;
  const label = opts.label ? `${opts.label}: ` : "";
  if (actual.length !== expected.length) {
    throw new Error(`${label}length ${actual.length} differs from expected ${expected.length}`);
  }
  for (let i = 0; i < actual.length; i++) {
    const a = actual[i]!, e = expected[i]!;
    if (Number.isNaN(e) && Number.isNaN(a)) continue;
    if (a === e) continue;
    const diff = Math.abs(a - e), tol = atol + rtol * Math.abs(e);
    if (!(diff <= tol)) {
      throw new Error(
        `${label}index ${i}: actual ${a}, expected ${e}, difference ${diff}, tolerance ${tol}`,
      );
    }
  }
}
