/**
 * Deterministic test inputs that need no RNG state: a linear congruential
 * sequence, so two tests (or a test and its failure report) see the same
 * numbers for the same seed.
 *
 * @module
 */
import type { MatmulParams, Storage } from "../tensor/backend.ts";
import type { CpuBackend } from "../tensor/cpu/backend.ts";
import { arrayOf } from "../tensor/cpu/storage.ts";
import { optimizerStepKernel } from "../tensor/routines/optim/cpu.ts";

/**
 * `n` deterministic values in [-1, 1) from `seed`.
 *
 * @param n how many
 * @param seed the sequence's start
 * @param f64 a Float64Array instead of a Float32Array
 */
export function values(n: number, seed: number, f64 = false): Float32Array | Float64Array {
  const out = f64 ? new Float64Array(n) : new Float32Array(n);
  let s = seed >>> 0;
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    out[i] = s / 2 ** 31 - 1;
  }
  return out;
}

/** One matmul case of {@link matmulCases}: its parameters and inputs. */
export interface MatmulCase {
  /** The product's parameters. */
  p: MatmulParams;
  /** Float64 inputs (else float32). */
  f64: boolean;
  /** op(A)'s elements, `batch · m · k` of them. */
  a: Float32Array | Float64Array;
  /** op(B)'s elements, `batch · k · n` of them. */
  b: Float32Array | Float64Array;
  /** A short description for failure messages. */
  what: string;
}

/**
 * Every combination of `shapes` ([m, k, n]), both dtypes, both transposes of
 * each side and the batch `layouts` ([batch, A batched 0|1, B batched 0|1]:
 * 0 broadcasts one matrix over the batch), with fresh deterministic inputs.
 *
 * @param shapes the [m, k, n] sizes
 * @param layouts the [batch, A batched, B batched] layouts
 */
export function* matmulCases(
  shapes: readonly (readonly [number, number, number])[],
  layouts: readonly (readonly [number, 0 | 1, 0 | 1])[],
): Generator<MatmulCase> {
  let seed = 1;
  for (const [m, k, n] of shapes) {
    for (const f64 of [false, true]) {
      for (const transA of [false, true]) {
        for (const transB of [false, true]) {
          for (const [batch, sA, sB] of layouts) {
            const p: MatmulParams = {
              batch,
              m,
              n,
              k,
              transA,
              transB,
              strideA: sA * m * k,
              strideB: sB * k * n,
            };
            const a = values(batch * m * k, seed++, f64), b = values(batch * k * n, seed++, f64);
            const what = `${batch}×[${m}×${k}]·[${k}×${n}] ${f64 ? "float64" : "float32"} ` +
              `tA=${transA} tB=${transB} batched ${sA}${sB}`;
            yield { p, f64, a, b, what };
          }
        }
      }
    }
  }
}

/**
 * One Adam/AdamW update of float32 CPU storages through the optimizer kernel,
 * lr 1e-3, betas (0.9, 0.999), eps 1e-8, at step t (bias corrections of t).
 *
 * @param cpu the backend that owns the storages
 * @param kind "adam" or "adamw"
 * @param weightDecay L2 (adam) or decoupled (adamw) weight decay
 * @param t the step, from 1
 * @param s param, grad, expAvg, expAvgSq
 */
export function adamStep(
  cpu: CpuBackend,
  kind: "adam" | "adamw",
  weightDecay: number,
  t: number,
  s: { param: Storage; grad: Storage; expAvg: Storage; expAvgSq: Storage },
): void {
  optimizerStepKernel({
    kind,
    ...s,
    lr: 1e-3,
    beta1: 0.9,
    beta2: 0.999,
    eps: 1e-8,
    weightDecay,
    biasCorrection1: 1 - 0.9 ** t,
    biasCorrection2: 1 - 0.999 ** t,
  }, (st, role) => arrayOf(cpu, st, role));
}
