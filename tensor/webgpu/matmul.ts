/**
 * Matmul dispatch and the per-adapter variant selector.
 *
 * The selector times each variant once per process on a 256³ product (a
 * short autotune, ~0.1–0.5 s on a software adapter) and keeps the fastest.
 * `WGRAD_MATMUL=blocked|tiled|simple` skips the measurement and forces a
 * variant; tests force each one through `backend.force.matmul`.
 *
 * @module
 */
import type { MatmulParams } from "../backend.ts";
import { LOOP_BUDGET, MAX_LOOP_ELEMENTS } from "../wgsl/common.ts";
import {
  MATMUL_TILE,
  MATMUL_VARIANTS,
  matmulShader,
  type MatmulVariant,
  matmulVec4,
} from "../wgsl/matmul.ts";
import type { GpuBuf } from "./pool.ts";
import { MAX_WORKGROUPS_PER_DIM, type Runtime } from "./runtime.ts";

/**
 * Record `out[b] = op(A[b]) · op(B[b])` with one variant (batches beyond
 * 65535 take several dispatches; K beyond one invocation's loop budget for
 * the blocked and simple kernels takes the tiled one).
 *
 * @param rt the runtime
 * @param variant kernel variant
 * @param a A's buffer
 * @param b B's buffer
 * @param out the output buffer
 * @param p sizes, flags and batch strides
 * @param bias 0–2 bias vectors of n elements added in the store
 */
export function recordMatmul(
  rt: Runtime,
  variant: MatmulVariant,
  a: GpuBuf,
  b: GpuBuf,
  out: GpuBuf,
  p: MatmulParams,
  bias: readonly GpuBuf[] = [],
): void {
  // Per-invocation loop budget (see LOOP_BUDGET): the blocked and simple
  // kernels loop over K in steps of 4, the tiled one in steps of 16.
  const v = p.k > MAX_LOOP_ELEMENTS ? "tiled" : variant;
  if (p.k > 16 * (LOOP_BUDGET - 1)) {
    throw new RangeError(
      `Cannot matmul on WebGPU with inner dimension ${p.k}: at most ${
        16 * (LOOP_BUDGET - 1)
      } supported`,
    );
  }
  const tile = MATMUL_TILE[v];
  const src = matmulShader(v, p.transA, p.transB, matmulVec4(p), bias.length);
  const gx = Math.ceil(p.n / tile.cols), gy = Math.ceil(p.m / tile.rows);
  for (let base = 0; base < p.batch; base += MAX_WORKGROUPS_PER_DIM) {
    const count = Math.min(MAX_WORKGROUPS_PER_DIM, p.batch - base);
    rt.dispatch(src, [a, b, ...bias, out], (q) => {
      q.u(0, p.m).u(1, p.n).u(2, p.k).u(3, p.strideA).u(4, p.strideB).u(5, base);
    }, [gx, gy, count]);
  }
}

/** One variant's timing from {@link autotuneMatmul}. */
export interface MatmulTiming {
  /** The variant. */
  variant: MatmulVariant;
  /** Median milliseconds per 256³ product. */
  ms: number;
}

/** Result of the autotune. */
export interface MatmulChoice {
  /** The fastest variant. */
  variant: MatmulVariant;
  /** The measurements behind it (empty when forced). */
  timings: MatmulTiming[];
  /** Why: "forced by WGRAD_MATMUL" or "measured". */
  reason: string;
}

const TUNE_SIZE = 256, PER_SUBMIT = 4;

/**
 * Time each variant on a 256³ product and return the fastest. `simple` is
 * skipped: it is never the fastest at this size.
 *
 * @param rt the runtime
 * @param reps timed submits of 4 products per variant (after one warm-up)
 * @returns the choice and its timings
 */
export async function autotuneMatmul(rt: Runtime, reps = 3): Promise<MatmulChoice> {
  const n = TUNE_SIZE, bytes = n * n * 4;
  const a = rt.uploadBuffer(bytes), b = rt.uploadBuffer(bytes);
  const out = rt.pool.acquire(bytes, false);
  const data = new Float32Array(n * n).map((_, i) => ((i * 7919) % 13) / 13 - 0.5);
  rt.device.queue.writeBuffer(a.buffer, 0, data);
  rt.device.queue.writeBuffer(b.buffer, 0, data);
  const p: MatmulParams = {
    batch: 1,
    m: n,
    n,
    k: n,
    transA: false,
    transB: false,
    strideA: 0,
    strideB: 0,
  };
  const timings: MatmulTiming[] = [];
  try {
    for (const variant of MATMUL_VARIANTS.filter((v) => v !== "simple")) {
      recordMatmul(rt, variant, a, b, out, p);
      await rt.flush();
      // Several products per submit, so the fixed submit + wait cost (~11 ms
      // on llvmpipe) does not mask the difference between kernels.
      const times: number[] = [];
      for (let r = 0; r < reps; r++) {
        const t0 = performance.now();
        for (let i = 0; i < PER_SUBMIT; i++) recordMatmul(rt, variant, a, b, out, p);
        await rt.flush();
        times.push((performance.now() - t0) / PER_SUBMIT);
      }
      times.sort((x, y) => x - y);
      timings.push({ variant, ms: times[Math.floor(times.length / 2)]! });
    }
  } finally {
    for (const buf of [a, b, out]) rt.pool.release(buf, rt.batchId);
  }
  const best = timings.reduce((x, y) => (y.ms < x.ms ? y : x));
  return { variant: best.variant, timings, reason: "measured" };
}
