/**
 * Fused recurrent kernels of the CPU backend: one LSTM or GRU time step,
 * forward and backward, for float32 and float64 storage.
 *
 * Each step gathers the strided rows it multiplies (h_{t−1}, or the next
 * step's gate gradients) into a contiguous float64 panel and runs the
 * backend's register-blocked matmul on it, so the B·G·H·H multiply-adds of a
 * step read contiguous memory; the gate nonlinearities and the cell update
 * then run as one pass per (row, hidden unit). Everything is computed in
 * float64 and rounded once when stored.
 *
 * @module
 */
import type {
  GruStepArgs,
  GruStepBackwardArgs,
  LstmStepArgs,
  LstmStepBackwardArgs,
  Rows,
  Storage,
  TypedArray,
} from "../backend.ts";
import { matmulKernel } from "./matmul.ts";

export type { GruStepArgs, GruStepBackwardArgs, LstmStepArgs, LstmStepBackwardArgs, Rows };

/** Resolves a storage to its elements after the backend's ownership checks. */
export type ArrayOf = (s: Storage, role: string) => TypedArray;

/** Scratch panels reused across calls (grown on demand). */
let panel: Float64Array = new Float64Array(0);
let product: Float64Array = new Float64Array(0);

function grow(a: Float64Array, n: number): Float64Array {
  return a.length >= n ? a : new Float64Array(Math.max(n, 2 * a.length));
}

/** The elements of `r` after checking that `rows` rows of `width` fit. */
function rowsArray(
  arrayOf: ArrayOf,
  op: string,
  role: string,
  r: Rows,
  rows: number,
  width: number,
): TypedArray {
  const a = arrayOf(r.storage, `${role} of ${op}`);
  const last = r.offset + (rows - 1) * r.stride + width;
  if (rows > 0 && width > 0 && (r.offset < 0 || r.stride < 0 || last > a.length)) {
    throw new RangeError(
      `Cannot run cpu ${op}: ${role} (offset ${r.offset}, stride ${r.stride}) needs ${last} ` +
        `elements for ${rows} rows of ${width}, the storage holds ${a.length}`,
    );
  }
  return a;
}

/** A contiguous storage of at least `n` elements. */
function flatArray(arrayOf: ArrayOf, op: string, role: string, s: Storage, n: number): TypedArray {
  const a = arrayOf(s, `${role} of ${op}`);
  if (a.length < n) {
    throw new RangeError(`Cannot run cpu ${op}: ${role} holds ${a.length} elements, needs ${n}`);
  }
  return a;
}

/**
 * `product[b, :] = rows[b, :] · op(W)` for B rows of `k` elements: the rows
 * are gathered into a contiguous panel first. With `transW` W is [n, k]
 * (h·W_hhᵀ), otherwise [k, n] (dg·W_hh).
 */
function rowsTimesW(
  src: TypedArray,
  r: Rows,
  batch: number,
  k: number,
  w: TypedArray,
  n: number,
  transW: boolean,
): Float64Array {
  panel = grow(panel, batch * k);
  product = grow(product, batch * n);
  const p = panel;
  for (let b = 0; b < batch; b++) {
    const so = r.offset + b * r.stride, d = b * k;
    for (let i = 0; i < k; i++) p[d + i] = src[so + i]!;
  }
  matmulKernel(p, w, product, {
    batch: 1,
    m: batch,
    n,
    k,
    transA: false,
    transB: transW,
    strideA: 0,
    strideB: 0,
  });
  return product;
}

function sigmoid(v: number): number {
  if (v >= 0) return 1 / (1 + Math.exp(-v));
  const e = Math.exp(v);
  return e / (1 + e);
}

/**
 * One LSTM time step (see {@link LstmStepArgs}).
 *
 * @param a the step's arguments
 * @param arrayOf resolves storages (the backend's checks)
 */
export function lstmStepKernel(a: LstmStepArgs, arrayOf: ArrayOf): void {
  const op = "lstmStep", B = a.batch, H = a.hidden, G = 4 * H;
  if (B * H === 0) return;
  const x = rowsArray(arrayOf, op, "x", a.x, B, G);
  const h = rowsArray(arrayOf, op, "h", a.h, B, H);
  const c = rowsArray(arrayOf, op, "c", a.c, B, H);
  const w = flatArray(arrayOf, op, "whh", a.whh, G * H);
  const hOut = rowsArray(arrayOf, op, "hOut", a.hOut, B, H);
  const cOut = rowsArray(arrayOf, op, "cOut", a.cOut, B, H);
  const gates = a.gates ? rowsArray(arrayOf, op, "gates", a.gates, B, G) : null;
  const pre = rowsTimesW(h, a.h, B, H, w, G, true);
  for (let b = 0; b < B; b++) {
    const xo = a.x.offset + b * a.x.stride, po = b * G;
    const co = a.c.offset + b * a.c.stride;
    const ho2 = a.hOut.offset + b * a.hOut.stride, co2 = a.cOut.offset + b * a.cOut.stride;
    const go = gates ? a.gates!.offset + b * a.gates!.stride : 0;
    for (let j = 0; j < H; j++) {
      const ig = sigmoid(x[xo + j]! + pre[po + j]!);
      const fg = sigmoid(x[xo + H + j]! + pre[po + H + j]!);
      const gg = Math.tanh(x[xo + 2 * H + j]! + pre[po + 2 * H + j]!);
      const og = sigmoid(x[xo + 3 * H + j]! + pre[po + 3 * H + j]!);
      const cn = fg * c[co + j]! + ig * gg;
      cOut[co2 + j] = cn;
      hOut[ho2 + j] = og * Math.tanh(cn);
      if (gates) {
        gates[go + j] = ig;
        gates[go + H + j] = fg;
        gates[go + 2 * H + j] = gg;
        gates[go + 3 * H + j] = og;
      }
    }
  }
}

/**
 * One LSTM backward step (see {@link LstmStepBackwardArgs}).
 *
 * @param a the step's arguments
 * @param arrayOf resolves storages (the backend's checks)
 */
export function lstmStepBackwardKernel(a: LstmStepBackwardArgs, arrayOf: ArrayOf): void {
  const op = "lstmStepBackward", B = a.batch, H = a.hidden, G = 4 * H;
  if (B * H === 0) return;
  const dhUp = rowsArray(arrayOf, op, "dh", a.dh, B, H);
  const cPrev = rowsArray(arrayOf, op, "cPrev", a.cPrev, B, H);
  const c = rowsArray(arrayOf, op, "c", a.c, B, H);
  const gates = rowsArray(arrayOf, op, "gates", a.gates, B, G);
  const w = flatArray(arrayOf, op, "whh", a.whh, G * H);
  const dc = flatArray(arrayOf, op, "dc", a.dc, B * H);
  const dg = rowsArray(arrayOf, op, "dg", a.dg, B, G);
  let rec: Float64Array | null = null;
  if (a.dgNext !== null) {
    const next: Rows = { storage: a.dg.storage, offset: a.dgNext, stride: a.dg.stride };
    rowsArray(arrayOf, op, "dgNext", next, B, G);
    rec = rowsTimesW(dg, next, B, G, w, H, false);
  }
  for (let b = 0; b < B; b++) {
    const uo = a.dh.offset + b * a.dh.stride;
    const po = a.cPrev.offset + b * a.cPrev.stride, co = a.c.offset + b * a.c.stride;
    const go = a.gates.offset + b * a.gates.stride, dgo = a.dg.offset + b * a.dg.stride;
    for (let j = 0; j < H; j++) {
      const dh = dhUp[uo + j]! + (rec ? rec[b * H + j]! : 0);
      const ig = gates[go + j]!, fg = gates[go + H + j]!;
      const gg = gates[go + 2 * H + j]!, og = gates[go + 3 * H + j]!;
      const tc = Math.tanh(c[co + j]!);
      const dcv = dc[b * H + j]! + dh * og * (1 - tc * tc);
      dg[dgo + j] = dcv * gg * ig * (1 - ig);
      dg[dgo + H + j] = dcv * cPrev[po + j]! * fg * (1 - fg);
      dg[dgo + 2 * H + j] = dcv * ig * (1 - gg * gg);
      dg[dgo + 3 * H + j] = dh * tc * og * (1 - og);
      dc[b * H + j] = dcv * fg;
    }
  }
}

/**
 * One GRU time step (see {@link GruStepArgs}).
 *
 * @param a the step's arguments
 * @param arrayOf resolves storages (the backend's checks)
 */
export function gruStepKernel(a: GruStepArgs, arrayOf: ArrayOf): void {
  const op = "gruStep", B = a.batch, H = a.hidden, G = 3 * H;
  if (B * H === 0) return;
  const x = rowsArray(arrayOf, op, "x", a.x, B, G);
  const h = rowsArray(arrayOf, op, "h", a.h, B, H);
  const w = flatArray(arrayOf, op, "whh", a.whh, G * H);
  const bias = flatArray(arrayOf, op, "bhh", a.bhh, G);
  const hOut = rowsArray(arrayOf, op, "hOut", a.hOut, B, H);
  const saved = a.saved ? rowsArray(arrayOf, op, "saved", a.saved, B, 4 * H) : null;
  const pre = rowsTimesW(h, a.h, B, H, w, G, true);
  for (let b = 0; b < B; b++) {
    const xo = a.x.offset + b * a.x.stride, po = b * G;
    const ho = a.h.offset + b * a.h.stride, ho2 = a.hOut.offset + b * a.hOut.stride;
    const so = saved ? a.saved!.offset + b * a.saved!.stride : 0;
    for (let j = 0; j < H; j++) {
      const r = sigmoid(x[xo + j]! + pre[po + j]! + bias[j]!);
      const z = sigmoid(x[xo + H + j]! + pre[po + H + j]! + bias[H + j]!);
      const hn = pre[po + 2 * H + j]! + bias[2 * H + j]!;
      const n = Math.tanh(x[xo + 2 * H + j]! + r * hn);
      hOut[ho2 + j] = (1 - z) * n + z * h[ho + j]!;
      if (saved) {
        saved[so + j] = r;
        saved[so + H + j] = z;
        saved[so + 2 * H + j] = n;
        saved[so + 3 * H + j] = hn;
      }
    }
  }
}

/**
 * One GRU backward step (see {@link GruStepBackwardArgs}).
 *
 * @param a the step's arguments
 * @param arrayOf resolves storages (the backend's checks)
 */
export function gruStepBackwardKernel(a: GruStepBackwardArgs, arrayOf: ArrayOf): void {
  const op = "gruStepBackward", B = a.batch, H = a.hidden, G = 3 * H;
  if (B * H === 0) return;
  const dhUp = rowsArray(arrayOf, op, "dh", a.dh, B, H);
  const h = rowsArray(arrayOf, op, "h", a.h, B, H);
  const saved = rowsArray(arrayOf, op, "saved", a.saved, B, 4 * H);
  const w = flatArray(arrayOf, op, "whh", a.whh, G * H);
  const dhz = flatArray(arrayOf, op, "dhz", a.dhz, B * H);
  const dgx = rowsArray(arrayOf, op, "dgx", a.dgx, B, G);
  const dgh = rowsArray(arrayOf, op, "dgh", a.dgh, B, G);
  let rec: Float64Array | null = null;
  if (a.dghNext !== null) {
    const next: Rows = { storage: a.dgh.storage, offset: a.dghNext, stride: a.dgh.stride };
    rowsArray(arrayOf, op, "dghNext", next, B, G);
    rec = rowsTimesW(dgh, next, B, G, w, H, false);
  }
  for (let b = 0; b < B; b++) {
    const uo = a.dh.offset + b * a.dh.stride, ho = a.h.offset + b * a.h.stride;
    const so = a.saved.offset + b * a.saved.stride;
    const xo = a.dgx.offset + b * a.dgx.stride, go = a.dgh.offset + b * a.dgh.stride;
    for (let j = 0; j < H; j++) {
      const dh = dhUp[uo + j]! + (rec ? dhz[b * H + j]! + rec[b * H + j]! : 0);
      const r = saved[so + j]!, z = saved[so + H + j]!;
      const n = saved[so + 2 * H + j]!, hn = saved[so + 3 * H + j]!;
      const dn = dh * (1 - z) * (1 - n * n);
      const dz = dh * (h[ho + j]! - n) * z * (1 - z);
      const dr = dn * hn * r * (1 - r);
      dgx[xo + j] = dr;
      dgx[xo + H + j] = dz;
      dgx[xo + 2 * H + j] = dn;
      dgh[go + j] = dr;
      dgh[go + H + j] = dz;
      dgh[go + 2 * H + j] = dn * r;
      dhz[b * H + j] = dh * z;
    }
  }
}
