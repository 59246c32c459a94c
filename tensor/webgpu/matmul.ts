/**
 * Matmul dispatch and the per-adapter variant selector.
 *
 * A blocked product waits (`Runtime.dispatchLater`) for the next ones: up to
 * {@link MATMUL_GROUP_MAX} independent blocked products and `loop` row sums
 * recorded back to back (dW_hh, the input gradient, dW_ih and the bias
 * gradients of a recurrent layer; a head's dX, dW and db) run as one grouped
 * dispatch, each job with its own kernel's statements, so with its own bits;
 * one alone runs its own kernel.
 *
 * The selector times each variant once per process on a 256³ product (a
 * short autotune, ~0.1–0.5 s on a software adapter) and keeps the fastest.
 * `WGRAD_MATMUL=blocked|tiled|simple` skips the measurement and forces a
 * variant; tests force each one through `backend.force.matmul`.
 *
 * @module
 */
import type { MatmulParams, ReduceParams } from "../backend.ts";
import { LOOP_BUDGET, MAX_LOOP_ELEMENTS } from "../wgsl/common.ts";
import {
  type GroupedJob,
  MATMUL_GROUP_END_SLOT,
  MATMUL_GROUP_JOB_SLOTS,
  MATMUL_GROUP_MAX,
  MATMUL_GROUP_STRIDE_SLOT,
  MATMUL_GROUP_WG,
  MATMUL_TILE,
  MATMUL_VARIANTS,
  type MatmulFlags,
  matmulGroupShader,
  matmulShader,
  type MatmulVariant,
  matmulVec4,
} from "../wgsl/matmul.ts";
import type { GpuBuf } from "./pool.ts";
import { type Deferrable, MAX_WORKGROUPS_PER_DIM, type Runtime } from "./runtime.ts";

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
 * @param group let the product wait to share a dispatch with the next
 *   independent blocked products ({@link Runtime.dispatchLater})
 */
export function recordMatmul(
  rt: Runtime,
  variant: MatmulVariant,
  a: GpuBuf,
  b: GpuBuf,
  out: GpuBuf,
  p: MatmulParams,
  bias: readonly GpuBuf[] = [],
  group = false,
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
  if (group && v === "blocked" && p.batch <= MAX_WORKGROUPS_PER_DIM) {
    const vec = matmulVec4(p);
    const flags = {
      transA: p.transA,
      transB: p.transB,
      vecA: vec.a,
      vecB: vec.b,
      biases: bias.length,
    };
    recordLater(rt, {
      family: "matmul",
      kind: "matmul",
      reads: [a, b, ...bias],
      writes: [out],
      p,
      flags,
      alone: () => recordMatmul(rt, "blocked", a, b, out, p, bias),
    });
    return;
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

/**
 * A job waiting in {@link Runtime.dispatchLater} to share a dispatch: a
 * blocked product (reads [a, b, ...bias], writes [out]) or a row sum by the
 * `loop` reduction (reads [x], writes [out]); `alone` records it as its own
 * dispatch.
 */
export type HeldJob =
  & Deferrable
  & { alone: () => void }
  & (
    | { kind: "matmul"; p: MatmulParams; flags: MatmulFlags }
    | { kind: "reduce"; p: ReduceParams }
  );

/** The read bindings of a group, one per buffer and element type, and each job's places. */
function groupBindings(items: readonly HeldJob[]) {
  const reads: { buf: GpuBuf; vec4: boolean }[] = [];
  const at = (buf: GpuBuf, vec4: boolean) => {
    let i = reads.findIndex((r) => r.buf === buf && r.vec4 === vec4);
    if (i < 0) i = reads.push({ buf, vec4 }) - 1;
    return i;
  };
  // A row sum reads its input through an f32 binding of its own where a product binds
  // the buffer as vec4s: a plain load per element, not a component picked by index.
  const jobs: GroupedJob[] = items.map((it, i) =>
    it.kind === "reduce" ? { kind: "reduce", x: at(it.reads[0]!, false), out: i } : {
      kind: "matmul",
      flags: it.flags,
      a: at(it.reads[0]!, it.flags.vecA),
      b: at(it.reads[1]!, it.flags.vecB),
      bias: it.reads.slice(2).map((x) => at(x, false)),
      out: i,
    }
  );
  return { reads, jobs };
}

/** Workgroups of each job of a group: a product's own grid, a row sum's 64-wide blocks. */
function jobWorkgroups(items: readonly HeldJob[]): number[] {
  const tile = MATMUL_TILE.blocked;
  return items.map((it) =>
    it.kind === "matmul"
      ? Math.ceil(it.p.n / tile.cols) * Math.ceil(it.p.m / tile.rows) * it.p.batch
      : Math.ceil((it.p.outer * it.p.inner) / MATMUL_GROUP_WG)
  );
}

/** A stride coprime to `n` near n / φ (1 for small n): consecutive workgroups land far apart. */
function spreadStride(n: number): number {
  const gcd = (a: number, b: number): number => (b === 0 ? a : gcd(b, a % b));
  let p = Math.max(1, Math.round(n * 0.618));
  while (gcd(p, n) !== 1) p++;
  return p;
}

/** Whether `next` may join `held`: group size, storage bindings, workgroups in z. */
function joins(rt: Runtime, held: readonly HeldJob[], next: HeldJob): boolean {
  const all = [...held, next];
  if (all.length > MATMUL_GROUP_MAX) return false;
  const { reads } = groupBindings(all);
  const limit = rt.device.limits.maxStorageBuffersPerShaderStage;
  return reads.length + all.length <= limit &&
    jobWorkgroups(all).reduce((a, b) => a + b, 0) <=
      MAX_WORKGROUPS_PER_DIM;
}

/** Record held jobs: one alone as its own kernel, several as one grouped dispatch. */
function recordGroup(rt: Runtime, held: readonly HeldJob[]): void {
  if (held.length === 1) return held[0]!.alone();
  const { reads, jobs } = groupBindings(held);
  const src = matmulGroupShader(jobs, reads.map((r) => r.vec4), held.length);
  let total = 0;
  const ends = jobWorkgroups(held).map((n) => (total += n));
  rt.dispatch(src, [...reads.map((r) => r.buf), ...held.map((it) => it.writes[0]!)], (q) => {
    held.forEach((it, i) => {
      const s = MATMUL_GROUP_JOB_SLOTS * i;
      if (it.kind === "matmul") {
        const { m, n, k, strideA, strideB } = it.p;
        q.u(s, m).u(s + 1, n).u(s + 2, k).u(s + 3, strideA).u(s + 4, strideB).u(s + 5, 0);
      } else q.u(s, it.p.outer).u(s + 1, it.p.reduce).u(s + 2, it.p.inner).u(s + 3, 0);
      q.u(MATMUL_GROUP_END_SLOT + i, ends[i]!);
    });
    q.u(MATMUL_GROUP_STRIDE_SLOT, spreadStride(total));
  }, total);
}

/**
 * Hold a job so that the next independent matmuls and row sums recorded
 * back to back share its dispatch (see {@link Runtime.dispatchLater}).
 *
 * @param rt the runtime
 * @param job the job
 */
export function recordLater(rt: Runtime, job: HeldJob): void {
  rt.dispatchLater(job, (held, next) => joins(rt, held, next), (held) => recordGroup(rt, held));
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
