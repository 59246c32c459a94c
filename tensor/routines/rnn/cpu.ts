/**
 * Fused recurrent kernels of the CPU backend: one LSTM or GRU time step,
 * forward and backward, for float32 and float64 storage.
 *
 * Each step gathers the strided rows it multiplies (h_{t−1}, or the next
 * step's gate gradients) into a contiguous float64 panel and runs the
 * backend's register-blocked matmul on it, so the B·G·H·H multiply-adds of a
 * step read contiguous memory; the gate nonlinearities and the cell update
 * then run over the rows: the gate pre-activations are staged in a scratch,
 * sigmoid and tanh applied to whole ranges of it, and the cell update done in
 * float64. For float32 storage the product accumulates in float32 (as
 * PyTorch's does) and, where WebAssembly SIMD is available, the scratch is
 * float32 and the gate functions run four lanes at a time (`simd.ts`, within
 * 2e−7 of `Math`); float64 storage stays float64 with `Math` throughout.
 *
 * Float32 LSTM and GRU steps where WebAssembly SIMD is available (and H is a
 * multiple of 4) run fused in the SIMD kernel's memory instead: the rows are
 * copied in once, the product runs the matmul's own strips, and the input
 * part, the gate functions and the state update (forward), or the whole
 * gate-gradient update (backward), run as whole-row SIMD calls;
 * the cell arithmetic runs in float64 lanes rounded once, so the results are
 * the same bits as the staged path's. W_hh stays packed in that memory for
 * the steps of one sequence pass (the step args' `pass`).
 *
 * Each batch row's outputs depend only on that row, so a large step is split
 * by batch rows across the threads of `pool.ts` (a chunk gathers, multiplies
 * and activates its own rows): the same bits as on one thread.
 *
 * @module
 */
import type { Storage, TypedArray } from "../../backend.ts";
import type {
  GruStepArgs,
  GruStepBackwardArgs,
  LstmStepArgs,
  LstmStepBackwardArgs,
  Rows,
} from "./args.ts";
import {
  copyLines,
  matmulKernel,
  pack,
  packedShape,
  PARALLEL_MACS,
  rowStrips,
} from "../../cpu/matmul.ts";
import { MR32, type SimdKernel, simdKernel } from "../../cpu/simd.ts";
import { arrayOf as cpuArrayOf } from "../../cpu/storage.ts";
import { registerRoutine } from "../registry.ts";
import { sigmoid, tanh } from "../../optable.ts";
import {
  type ChunkFn,
  cpuThreads,
  JOB_GRU,
  JOB_GRU_BACKWARD,
  JOB_LSTM,
  JOB_LSTM_BACKWARD,
  parallel,
} from "../../cpu/pool.ts";

export type { GruStepArgs, GruStepBackwardArgs, LstmStepArgs, LstmStepBackwardArgs, Rows };

/** Resolves a storage to its elements after the backend's ownership checks. */
export type ArrayOf = (s: Storage, role: string) => TypedArray;

/** Scratch panels reused across calls (grown on demand): float64 and float32. */
let panel: Float64Array = new Float64Array(0);
let product: Float64Array = new Float64Array(0);
let panel32: Float32Array = new Float32Array(0);
let product32: Float32Array = new Float32Array(0);

function grow<T extends Float64Array | Float32Array>(a: T, n: number): T {
  if (a.length >= n) return a;
  const size = Math.max(n, 2 * a.length);
  return (a instanceof Float32Array ? new Float32Array(size) : new Float64Array(size)) as T;
}

/**
 * Scratch where a step stages its gate pre-activations, with the gate
 * functions applied in place on element ranges of it.
 */
interface GateScratch {
  /** The scratch elements (valid until the next call of {@link gateScratch}). */
  a: Float32Array | Float64Array;
  /** sigmoid in place on a[off … off+n−1]. */
  sigmoid(off: number, n: number): void;
  /** tanh in place on a[off … off+n−1]. */
  tanh(off: number, n: number): void;
}

let scratch64 = new Float64Array(0);

const scalarGates: GateScratch = {
  a: scratch64,
  sigmoid(off, n) {
    const a = this.a;
    for (let i = off; i < off + n; i++) a[i] = sigmoid(a[i]!);
  },
  tanh(off, n) {
    const a = this.a;
    for (let i = off; i < off + n; i++) a[i] = tanh(a[i]!);
  },
};

/**
 * Scratch of at least `n` elements for a step's gates: for float32 storage
 * where WebAssembly SIMD is available, the SIMD kernel's float32 memory and
 * its four-lane sigmoid/tanh (`simd.ts`: within 2e−7 of `Math`); otherwise
 * float64 and `Math`. Call it after the step's matmul (they share the SIMD
 * memory). Ranges passed to the functions start at multiples of 4.
 */
function gateScratch(f32: boolean, n: number): GateScratch {
  const simd = f32 ? simdKernel() : null;
  if (simd) {
    simd.reserve((n + 4) * 4);
    simd.tag = 0;
    return { a: simd.f32, sigmoid: simd.sigmoid32, tanh: simd.tanh32 };
  }
  scalarGates.a = scratch64 = grow(scratch64, n);
  return scalarGates;
}

/** n rounded up to a multiple of 4 (scratch ranges start on whole SIMD vectors). */
const pad4 = (n: number) => (n + 3) & ~3;

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
 * `product[b − b0, :] = src rows b0…b1−1 · op(W)` for rows of `k` elements at
 * `off + b·stride`: the rows are gathered into a contiguous panel first. With
 * `transW` W is [n, k] (h·W_hhᵀ), otherwise [k, n] (dg·W_hh). Float32 operands
 * are multiplied in float32 (the matmul's float32 kernel, as BLAS does),
 * float64 ones in float64.
 */
function rowsTimesW(
  src: TypedArray,
  off: number,
  stride: number,
  b0: number,
  b1: number,
  k: number,
  w: TypedArray,
  n: number,
  transW: boolean,
): Float64Array | Float32Array {
  const rows = b1 - b0;
  const f32 = src instanceof Float32Array && w instanceof Float32Array;
  let p: Float64Array | Float32Array, out: Float64Array | Float32Array;
  if (f32) {
    p = panel32 = grow(panel32, rows * k);
    out = product32 = grow(product32, rows * n);
  } else {
    p = panel = grow(panel, rows * k);
    out = product = grow(product, rows * n);
  }
  for (let b = b0; b < b1; b++) {
    const so = off + b * stride, d = (b - b0) * k;
    for (let i = 0; i < k; i++) p[d + i] = src[so + i]!;
  }
  const params = {
    batch: 1,
    m: rows,
    n,
    k,
    transA: false,
    transB: transW,
    strideA: 0,
    strideB: 0,
  };
  matmulKernel(p, w, out, params, false);
  return out;
}

let fusedCells = true;

/**
 * Turn the fused float32 LSTM and GRU steps (below) off, so that float32 steps take
 * the staged path, or back on; for tests and comparisons. Results are the
 * same to the bit either way.
 *
 * @param on whether float32 LSTM and GRU steps may use the fused path
 * @returns the previous setting
 */
export function setFusedCellsEnabled(on: boolean): boolean {
  const was = fusedCells;
  fusedCells = on;
  return was;
}

/**
 * The SIMD kernel when a float32 LSTM or GRU step of `rows` rows with an m-row
 * product of n × k can run fused in its memory with the same bits as the
 * staged path: float32 storage, SIMD available, H a multiple of 4 (gate
 * blocks start on whole vectors) and a product the matmul would run through
 * the same strip kernel ({@link packedShape}).
 */
function fusedKernel(
  arrays: readonly (TypedArray | null)[],
  rows: number,
  n: number,
  k: number,
  H: number,
): SimdKernel | null {
  if (!fusedCells || H % 4 !== 0 || !packedShape(rows, n, k)) return null;
  for (const a of arrays) if (a !== null && !(a instanceof Float32Array)) return null;
  return simdKernel();
}

/** R rounded up to whole float32 strips ({@link MR32} rows). */
const padRows = (R: number) => Math.ceil(R / MR32) * MR32;

/** Copy `rows` rows of `width` at `off + r·stride` of src to mem[at + r·width]. */
function rowsIn(
  mem: Float32Array,
  at: number,
  src: TypedArray,
  off: number,
  stride: number,
  width: number,
  rows: number,
): void {
  copyLines(mem, at, width, src, off, stride, width, rows);
}

/** Copy `rows` rows of `width` at mem[at + r·memStride] to `off + r·stride` of dst. */
function rowsOut(
  dst: TypedArray,
  off: number,
  stride: number,
  mem: Float32Array,
  at: number,
  memStride: number,
  width: number,
  rows: number,
): void {
  if (stride === width && memStride === width) dst.set(mem.subarray(at, at + rows * width), off);
  else {
    for (let r = 0, o = off, q = at; r < rows; r++, o += stride, q += memStride) {
      dst.set(mem.subarray(q, q + width), o);
    }
  }
}

/**
 * mem[c + r·N …] = rows r < R of `src` (at `off + r·stride`, k wide) · op(W),
 * op(W) n × k, N = n rounded up to a multiple of 8 (the row stride of the
 * result): the strips the matmul runs for this product, so the same bits.
 * op(W) is packed at mem[0] (8-wide panels) unless the memory still holds
 * this pass's pack (`pass` ≠ 0 and the memory's tag), then tagged; the rows
 * are staged at mem[a] (⌈R / MR32⌉·MR32·k elements).
 */
function fusedProduct(
  simd: SimdKernel,
  src: TypedArray,
  off: number,
  stride: number,
  R: number,
  k: number,
  w: TypedArray,
  n: number,
  transW: boolean,
  pass: number,
  c: number,
  a: number,
): void {
  const mem = simd.f32, N = Math.ceil(n / 8) * 8;
  if (pass === 0 || simd.tag !== pass) {
    if (transW) pack(w, 0, k, 1, n, k, mem, 0, 8); // W [n, k]
    else pack(w, 0, 1, n, n, k, mem, 0, 8); // W [k, n]
    simd.tag = pass;
  }
  rowStrips(simd, src, off, stride, R, k, a, 0, c, N);
}

/**
 * The start offsets (in float32s) of consecutive regions of the given sizes
 * from `start` on, a chunk's layout of the kernel's memory, reserved.
 */
function regions(simd: SimdKernel, start: number, sizes: number[]): number[] {
  const at = [start];
  for (const s of sizes) at.push(at[at.length - 1]! + s);
  simd.reserve(at[at.length - 1]! * 4);
  return at;
}

/** Rows b0…b1−1 of a step's pool chunk (arrays and nums as the chunk's), run in SIMD memory. */
type FusedChunk = (
  simd: SimdKernel,
  arrays: readonly (TypedArray | null)[],
  nums: ArrayLike<number>,
  b0: number,
  b1: number,
) => void;

/**
 * {@link lstmChunk} for float32 storage in the SIMD kernel's memory: the
 * product, then one `lstmRows` call over the chunk's rows (x added, the gate
 * functions in place, the cell update and h = o·tanh(c)), the rows copied in
 * and out once. Same bits as the staged path (the cell update in float64
 * lanes, rounded once).
 */
const lstmChunkFused: FusedChunk = (simd, arrays, nums, b0, b1) => {
  const [x, h, c, w, hOut, cOut] = arrays as TypedArray[];
  const gates = arrays[6] ?? null;
  const H = nums[2]!, G = 4 * H, R = b1 - b0, R4 = padRows(R);
  const xOff = nums[3]!, xS = nums[4]!, hOff = nums[5]!, hS = nums[6]!;
  const cOff = nums[7]!, cS = nums[8]!, hoOff = nums[9]!, hoS = nums[10]!;
  const coOff = nums[11]!, coS = nums[12]!, gOff = nums[13]!, gS = nums[14]!;
  // memory: W packed [0, G·H), pre-activations C [R4 × G], h rows packed, x rows,
  // c_{t−1} rows, c_t rows, h_t rows
  const at = regions(simd, G * H, [R4 * G, R4 * H, R * G, R * H, R * H, R * H]);
  const [C, A, X, CP, CN, HT] = at;
  fusedProduct(simd, h, hOff + b0 * hS, hS, R, H, w, G, true, nums[15]!, C, A);
  const mem = simd.f32;
  rowsIn(mem, X, x, xOff + b0 * xS, xS, G, R);
  rowsIn(mem, CP, c, cOff + b0 * cS, cS, H, R);
  simd.lstmRows(C, X, CP, CN, HT, R, H);
  if (gates) rowsOut(gates, gOff + b0 * gS, gS, mem, C, G, G, R);
  rowsOut(cOut, coOff + b0 * coS, coS, mem, CN, H, H, R);
  rowsOut(hOut, hoOff + b0 * hoS, hoS, mem, HT, H, H, R);
};

/**
 * {@link lstmBackwardChunk} for float32 storage in the SIMD kernel's memory,
 * as {@link lstmChunkFused}: same bits as the staged path.
 */
const lstmBackwardChunkFused: FusedChunk = (simd, arrays, nums, b0, b1) => {
  const [dhUp, cPrev, c, gates, w, dc, dg] = arrays as TypedArray[];
  const H = nums[2]!, G = 4 * H, R = b1 - b0, R4 = padRows(R), N = Math.ceil(H / 8) * 8;
  const uOff = nums[3]!, uS = nums[4]!, pOff = nums[5]!, pS = nums[6]!;
  const cOff = nums[7]!, cS = nums[8]!, gOff = nums[9]!, gS = nums[10]!;
  const dgOff = nums[11]!, dgS = nums[12]!, next = nums[13]!;
  // memory: W packed [0, N·G), the recurrent part C [R4 × N], next rows packed, dh rows,
  // gates, tanh(c_t), c_{t−1}, dc, dg
  const at = regions(simd, N * G, [R4 * N, R4 * G, R * H, R * G, R * H, R * H, R * H, R * G]);
  const [C, A, DH, GT, TC, CP, DC, DG] = at;
  if (next >= 0) fusedProduct(simd, dg, next + b0 * dgS, dgS, R, G, w, H, false, nums[14]!, C, A);
  const mem = simd.f32;
  if (next < 0) mem.fill(0, C, C + R * N);
  rowsIn(mem, DH, dhUp, uOff + b0 * uS, uS, H, R);
  rowsIn(mem, GT, gates, gOff + b0 * gS, gS, G, R);
  rowsIn(mem, TC, c, cOff + b0 * cS, cS, H, R);
  simd.tanh32(TC, R * H);
  rowsIn(mem, CP, cPrev, pOff + b0 * pS, pS, H, R);
  rowsIn(mem, DC, dc, b0 * H, H, H, R);
  for (let r = 0; r < R; r++) {
    const u = r * H;
    simd.lstmCellBack(DH + u, C + r * N, GT + r * G, TC + u, CP + u, DC + u, DG + r * G, H);
  }
  rowsOut(dg, dgOff + b0 * dgS, dgS, mem, DG, G, G, R);
  rowsOut(dc, b0 * H, H, mem, DC, H, H, R);
};

/**
 * {@link gruChunk} for float32 storage in the SIMD kernel's memory, as
 * {@link lstmChunkFused}: same bits as the staged path.
 */
const gruChunkFused: FusedChunk = (simd, arrays, nums, b0, b1) => {
  const [x, h, w, bias, hOut] = arrays as TypedArray[];
  const saved = arrays[5] ?? null;
  const H = nums[2]!, G = 3 * H, R = b1 - b0, R6 = padRows(R), N = Math.ceil(G / 8) * 8;
  const xOff = nums[3]!, xS = nums[4]!, hOff = nums[5]!, hS = nums[6]!;
  const hoOff = nums[7]!, hoS = nums[8]!, sOff = nums[9]!, sS = nums[10]!;
  // memory: W packed [0, N·H), W_hh·h C [R6 × N], h rows packed, x rows, b_hh, the saved
  // rows r, z, n, hn, h_{t−1} rows, h_t rows
  const at = regions(simd, N * H, [R6 * N, R6 * H, R * G, G, R * 4 * H, R * H, R * H]);
  const [C, A, X, BI, SV, HP, HT] = at;
  fusedProduct(simd, h, hOff + b0 * hS, hS, R, H, w, G, true, nums[11]!, C, A);
  const mem = simd.f32;
  rowsIn(mem, X, x, xOff + b0 * xS, xS, G, R);
  mem.set(bias.subarray(0, G), BI);
  rowsIn(mem, HP, h, hOff + b0 * hS, hS, H, R);
  simd.gruRows(C, X, BI, SV, HP, HT, R, H);
  rowsOut(hOut, hoOff + b0 * hoS, hoS, mem, HT, H, H, R);
  if (saved) rowsOut(saved, sOff + b0 * sS, sS, mem, SV, 4 * H, 4 * H, R);
};

/**
 * {@link gruBackwardChunk} for float32 storage in the SIMD kernel's memory,
 * as {@link lstmChunkFused}: same bits as the staged path.
 */
const gruBackwardChunkFused: FusedChunk = (simd, arrays, nums, b0, b1) => {
  const [dhUp, h, saved, w, dhz, dgx, dgh] = arrays as TypedArray[];
  const H = nums[2]!, G = 3 * H, R = b1 - b0, R6 = padRows(R), N = Math.ceil(H / 8) * 8;
  const uOff = nums[3]!, uS = nums[4]!, hOff = nums[5]!, hS = nums[6]!;
  const sOff = nums[7]!, sS = nums[8]!, xOff = nums[9]!, xS = nums[10]!;
  const gOff = nums[11]!, gS = nums[12]!, next = nums[13]!;
  // memory: W packed [0, N·G), the recurrent part C [R6 × N], next rows packed, dh rows,
  // dhz, saved rows, h_{t−1} rows, dgx, dgh
  const at = regions(simd, N * G, [R6 * N, R6 * G, R * H, R * H, R * 4 * H, R * H, R * G, R * G]);
  const [C, A, DH, DHZ, SV, HP, DGX, DGH] = at;
  if (next >= 0) fusedProduct(simd, dgh, next + b0 * gS, gS, R, G, w, H, false, nums[14]!, C, A);
  const mem = simd.f32;
  if (next >= 0) rowsIn(mem, DHZ, dhz, b0 * H, H, H, R);
  else mem.fill(0, C, C + R * N).fill(0, DHZ, DHZ + R * H); // dh' = dh + 0, as the staged path
  rowsIn(mem, DH, dhUp, uOff + b0 * uS, uS, H, R);
  rowsIn(mem, SV, saved, sOff + b0 * sS, sS, 4 * H, R);
  rowsIn(mem, HP, h, hOff + b0 * hS, hS, H, R);
  for (let r = 0; r < R; r++) {
    const u = r * H;
    simd.gruCellBack(DH + u, DHZ + u, C + r * N, SV + 4 * u, HP + u, DGX + r * G, DGH + r * G, H);
  }
  rowsOut(dgx, xOff + b0 * xS, xS, mem, DGX, G, G, R);
  rowsOut(dgh, gOff + b0 * gS, gS, mem, DGH, G, G, R);
  rowsOut(dhz, b0 * H, H, mem, DHZ, H, H, R);
};

/** Steps with fewer batch rows than this stay on one thread. */
export const PARALLEL_ROWS = 16;

/**
 * Run a step's chunk function over all `batch` rows: split across the pool
 * when the step is large and `split` allows it (nums[1] is set to the rows
 * per chunk), else as one chunk here.
 */
function runRows(
  kind: number,
  fn: ChunkFn,
  arrays: (TypedArray | null)[],
  nums: number[],
  batch: number,
  workPerRow: number,
  split = true,
): void {
  const threads = cpuThreads();
  if (split && threads > 1 && batch >= PARALLEL_ROWS && batch * workPerRow >= PARALLEL_MACS) {
    const rpc = Math.ceil(batch / threads);
    nums[1] = rpc;
    const alone = () => fn(arrays, [nums[0]!, batch, ...nums.slice(2)], 0);
    if (parallel(kind, fn, arrays, nums, Math.ceil(batch / rpc), batch * workPerRow, alone)) return;
  }
  nums[1] = batch;
  fn(arrays, nums, 0);
}

/**
 * Whether rows at `o1 + b·stride` (width w1) and `o2 + b·stride` (width w2),
 * b < batch, share no element: then one thread's writes to one set cannot
 * reach another thread's reads of the other.
 */
function disjointRows(
  o1: number,
  w1: number,
  o2: number,
  w2: number,
  stride: number,
  batch: number,
): boolean {
  const span = (batch - 1) * stride;
  if (o1 + span + w1 <= o2 || o2 + span + w2 <= o1) return true;
  if (stride <= 0) return false;
  const d = (((o2 - o1) % stride) + stride) % stride;
  return d >= w1 && stride - d >= w2;
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
  const g = a.gates ?? { offset: 0, stride: 0 };
  const nums = [B, B, H, a.x.offset, a.x.stride, a.h.offset, a.h.stride, a.c.offset, a.c.stride];
  nums.push(a.hOut.offset, a.hOut.stride, a.cOut.offset, a.cOut.stride, g.offset, g.stride);
  nums.push(a.pass ?? 0);
  runRows(JOB_LSTM, lstmChunk, [x, h, c, w, hOut, cOut, gates], nums, B, G * H);
}

/**
 * Rows of one LSTM forward step, as a pool chunk: arrays x, h, c, whh, hOut,
 * cOut, gates (or null); nums batch, rows per chunk, hidden, then offset and
 * stride of x, h, c, hOut, cOut and gates, then the pass id (0: none).
 *
 * @param arrays the step's storages
 * @param nums the step's numbers
 * @param ch the chunk (rows ch·rpc …)
 */
export function lstmChunk(
  arrays: readonly (TypedArray | null)[],
  nums: ArrayLike<number>,
  ch: number,
): void {
  const [x, h, c, w, hOut, cOut] = arrays as TypedArray[];
  const gates = arrays[6] ?? null; // null: not saved
  const B = nums[0]!, rpc = nums[1]!, H = nums[2]!, G = 4 * H;
  const xOff = nums[3]!, xS = nums[4]!, hOff = nums[5]!, hS = nums[6]!;
  const cOff = nums[7]!, cS = nums[8]!, hoOff = nums[9]!, hoS = nums[10]!;
  const coOff = nums[11]!, coS = nums[12]!, gOff = nums[13]!, gS = nums[14]!;
  const b0 = ch * rpc, b1 = Math.min(B, b0 + rpc);
  const simd = fusedKernel(arrays, b1 - b0, G, H, H);
  if (simd) return lstmChunkFused(simd, arrays, nums, b0, b1);
  const pre = rowsTimesW(h, hOff, hS, b0, b1, H, w, G, true);
  // stage i, f, o (sigmoid) and g (tanh) pre-activations, activate, update the cell,
  // then tanh of the new cell
  const R = b1 - b0, T0 = pad4(R * 3 * H), U0 = T0 + pad4(R * H);
  const g = gateScratch(hOut instanceof Float32Array, U0 + R * H);
  const a = g.a;
  for (let b = b0; b < b1; b++) {
    const xo = xOff + b * xS, po = (b - b0) * G, so = (b - b0) * 3 * H, to = T0 + (b - b0) * H;
    for (let j = 0; j < H; j++) {
      a[so + j] = x[xo + j]! + pre[po + j]!;
      a[so + H + j] = x[xo + H + j]! + pre[po + H + j]!;
      a[so + 2 * H + j] = x[xo + 3 * H + j]! + pre[po + 3 * H + j]!;
      a[to + j] = x[xo + 2 * H + j]! + pre[po + 2 * H + j]!;
    }
  }
  g.sigmoid(0, R * 3 * H);
  g.tanh(T0, R * H);
  for (let b = b0; b < b1; b++) {
    const so = (b - b0) * 3 * H, to = T0 + (b - b0) * H, uo = U0 + (b - b0) * H;
    const co = cOff + b * cS, co2 = coOff + b * coS, go = gOff + b * gS;
    for (let j = 0; j < H; j++) {
      const ig = a[so + j]!, fg = a[so + H + j]!, og = a[so + 2 * H + j]!, gg = a[to + j]!;
      const cn = fg * c[co + j]! + ig * gg;
      cOut[co2 + j] = cn;
      a[uo + j] = cn;
      if (gates) {
        gates[go + j] = ig;
        gates[go + H + j] = fg;
        gates[go + 2 * H + j] = gg;
        gates[go + 3 * H + j] = og;
      }
    }
  }
  g.tanh(U0, R * H);
  for (let b = b0; b < b1; b++) {
    const so = (b - b0) * 3 * H, uo = U0 + (b - b0) * H, ho2 = hoOff + b * hoS;
    for (let j = 0; j < H; j++) hOut[ho2 + j] = a[so + 2 * H + j]! * a[uo + j]!;
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
  if (a.dgNext !== null) {
    const next: Rows = { storage: a.dg.storage, offset: a.dgNext, stride: a.dg.stride };
    rowsArray(arrayOf, op, "dgNext", next, B, G);
  }
  const next = a.dgNext ?? -1;
  const nums = [B, B, H, a.dh.offset, a.dh.stride, a.cPrev.offset, a.cPrev.stride];
  nums.push(a.c.offset, a.c.stride, a.gates.offset, a.gates.stride, a.dg.offset, a.dg.stride, next);
  nums.push(a.pass ?? 0);
  const arrays = [dhUp, cPrev, c, gates, w, dc, dg];
  // step t+1's rows are read by every chunk: split only if no chunk's writes can reach them
  const split = next < 0 || disjointRows(a.dg.offset, G, next, G, a.dg.stride, B);
  runRows(JOB_LSTM_BACKWARD, lstmBackwardChunk, arrays, nums, B, G * H, split);
}

/**
 * Rows of one LSTM backward step, as a pool chunk: arrays dh, cPrev, c,
 * gates, whh, dc, dg; nums batch, rows per chunk, hidden, offset and stride
 * of dh, cPrev, c, gates and dg, then dgNext (−1: none) and the pass id (0: none).
 *
 * @param arrays the step's storages
 * @param nums the step's numbers
 * @param ch the chunk (rows ch·rpc …)
 */
export function lstmBackwardChunk(
  arrays: readonly (TypedArray | null)[],
  nums: ArrayLike<number>,
  ch: number,
): void {
  const [dhUp, cPrev, c, gates, w, dc, dg] = arrays as TypedArray[];
  const B = nums[0]!, rpc = nums[1]!, H = nums[2]!, G = 4 * H;
  const uOff = nums[3]!, uS = nums[4]!, pOff = nums[5]!, pS = nums[6]!;
  const cOff = nums[7]!, cS = nums[8]!, gOff = nums[9]!, gS = nums[10]!;
  const dgOff = nums[11]!, dgS = nums[12]!, next = nums[13]!;
  const b0 = ch * rpc, b1 = Math.min(B, b0 + rpc);
  const simd = fusedKernel(arrays, b1 - b0, H, G, H);
  if (simd) return lstmBackwardChunkFused(simd, arrays, nums, b0, b1);
  const rec = next >= 0 ? rowsTimesW(dg, next, dgS, b0, b1, G, w, H, false) : null;
  const R = b1 - b0, t = gateScratch(dg instanceof Float32Array, R * H), a = t.a;
  for (let b = b0; b < b1; b++) {
    const co = cOff + b * cS, ro = (b - b0) * H;
    for (let j = 0; j < H; j++) a[ro + j] = c[co + j]!;
  }
  t.tanh(0, R * H);
  for (let b = b0; b < b1; b++) {
    const uo = uOff + b * uS;
    const po = pOff + b * pS;
    const go = gOff + b * gS, dgo = dgOff + b * dgS, ro = (b - b0) * H;
    for (let j = 0; j < H; j++) {
      const dh = dhUp[uo + j]! + (rec ? rec[ro + j]! : 0);
      const ig = gates[go + j]!, fg = gates[go + H + j]!;
      const gg = gates[go + 2 * H + j]!, og = gates[go + 3 * H + j]!;
      const tc = a[ro + j]!;
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
  const sv = a.saved ?? { offset: 0, stride: 0 };
  const nums = [B, B, H, a.x.offset, a.x.stride, a.h.offset, a.h.stride];
  nums.push(a.hOut.offset, a.hOut.stride, sv.offset, sv.stride, a.pass ?? 0);
  runRows(JOB_GRU, gruChunk, [x, h, w, bias, hOut, saved], nums, B, G * H);
}

/**
 * Rows of one GRU forward step, as a pool chunk: arrays x, h, whh, bhh, hOut,
 * saved (or null); nums batch, rows per chunk, hidden, then offset and stride
 * of x, h, hOut and saved, then the pass id (0: none).
 *
 * @param arrays the step's storages
 * @param nums the step's numbers
 * @param ch the chunk (rows ch·rpc …)
 */
export function gruChunk(
  arrays: readonly (TypedArray | null)[],
  nums: ArrayLike<number>,
  ch: number,
): void {
  const [x, h, w, bias, hOut] = arrays as TypedArray[];
  const saved = arrays[5] ?? null; // null: not saved
  const B = nums[0]!, rpc = nums[1]!, H = nums[2]!, G = 3 * H;
  const xOff = nums[3]!, xS = nums[4]!, hOff = nums[5]!, hS = nums[6]!;
  const hoOff = nums[7]!, hoS = nums[8]!, sOff = nums[9]!, sS = nums[10]!;
  const b0 = ch * rpc, b1 = Math.min(B, b0 + rpc);
  const simd = fusedKernel(arrays, b1 - b0, G, H, H);
  if (simd) return gruChunkFused(simd, arrays, nums, b0, b1);
  const pre = rowsTimesW(h, hOff, hS, b0, b1, H, w, G, true);
  // stage r, z (sigmoid), activate, then n's pre-activation (tanh)
  const R = b1 - b0, T0 = pad4(R * 2 * H);
  const g = gateScratch(hOut instanceof Float32Array, T0 + R * H), a = g.a;
  for (let b = b0; b < b1; b++) {
    const xo = xOff + b * xS, po = (b - b0) * G, ao = (b - b0) * 2 * H;
    for (let j = 0; j < 2 * H; j++) a[ao + j] = x[xo + j]! + pre[po + j]! + bias[j]!;
  }
  g.sigmoid(0, R * 2 * H);
  for (let b = b0; b < b1; b++) {
    const xo = xOff + b * xS, po = (b - b0) * G, ao = (b - b0) * 2 * H, to = T0 + (b - b0) * H;
    for (let j = 0; j < H; j++) {
      a[to + j] = x[xo + 2 * H + j]! + a[ao + j]! * (pre[po + 2 * H + j]! + bias[2 * H + j]!);
    }
  }
  g.tanh(T0, R * H);
  for (let b = b0; b < b1; b++) {
    const po = (b - b0) * G, ao = (b - b0) * 2 * H, to = T0 + (b - b0) * H;
    const ho = hOff + b * hS, ho2 = hoOff + b * hoS;
    const so = sOff + b * sS;
    for (let j = 0; j < H; j++) {
      const r = a[ao + j]!, z = a[ao + H + j]!;
      const hn = pre[po + 2 * H + j]! + bias[2 * H + j]!;
      const n = a[to + j]!;
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
  if (a.dghNext !== null) {
    const next: Rows = { storage: a.dgh.storage, offset: a.dghNext, stride: a.dgh.stride };
    rowsArray(arrayOf, op, "dghNext", next, B, G);
  }
  const next = a.dghNext ?? -1;
  const nums = [B, B, H, a.dh.offset, a.dh.stride, a.h.offset, a.h.stride];
  nums.push(a.saved.offset, a.saved.stride, a.dgx.offset, a.dgx.stride, a.dgh.offset);
  nums.push(a.dgh.stride, next, a.pass ?? 0);
  // step t+1's rows are read by every chunk: split only if no chunk's writes can reach them
  const split = next < 0 ||
    (disjointRows(a.dgh.offset, G, next, G, a.dgh.stride, B) &&
      (a.dgx.storage !== a.dgh.storage ||
        (a.dgx.stride === a.dgh.stride &&
          disjointRows(a.dgx.offset, G, next, G, a.dgh.stride, B))));
  const arrays = [dhUp, h, saved, w, dhz, dgx, dgh];
  runRows(JOB_GRU_BACKWARD, gruBackwardChunk, arrays, nums, B, G * H, split);
}

/**
 * Rows of one GRU backward step, as a pool chunk: arrays dh, h, saved, whh,
 * dhz, dgx, dgh; nums batch, rows per chunk, hidden, offset and stride of dh,
 * h, saved and dgx, offset and stride of dgh, then dghNext (−1: none) and the
 * pass id (0: none).
 *
 * @param arrays the step's storages
 * @param nums the step's numbers
 * @param ch the chunk (rows ch·rpc …)
 */
export function gruBackwardChunk(
  arrays: readonly (TypedArray | null)[],
  nums: ArrayLike<number>,
  ch: number,
): void {
  const [dhUp, h, saved, w, dhz, dgx, dgh] = arrays as TypedArray[];
  const B = nums[0]!, rpc = nums[1]!, H = nums[2]!, G = 3 * H;
  const uOff = nums[3]!, uS = nums[4]!, hOff = nums[5]!, hS = nums[6]!;
  const sOff = nums[7]!, sS = nums[8]!, xOff = nums[9]!, xS = nums[10]!;
  const gOff = nums[11]!, gS = nums[12]!, next = nums[13]!;
  const b0 = ch * rpc, b1 = Math.min(B, b0 + rpc);
  const simd = fusedKernel(arrays, b1 - b0, H, G, H);
  if (simd) return gruBackwardChunkFused(simd, arrays, nums, b0, b1);
  const rec = next >= 0 ? rowsTimesW(dgh, next, gS, b0, b1, G, w, H, false) : null;
  for (let b = b0; b < b1; b++) {
    const uo = uOff + b * uS, ho = hOff + b * hS;
    const so = sOff + b * sS, ro = (b - b0) * H;
    const xo = xOff + b * xS, go = gOff + b * gS;
    for (let j = 0; j < H; j++) {
      const dh = dhUp[uo + j]! + (rec ? dhz[b * H + j]! + rec[ro + j]! : 0);
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

registerRoutine<LstmStepArgs>("cpu", "lstmStep", (be, a) => {
  lstmStepKernel(a, (s, role) => cpuArrayOf(be, s, role));
});
registerRoutine<LstmStepBackwardArgs>("cpu", "lstmStepBackward", (be, a) => {
  lstmStepBackwardKernel(a, (s, role) => cpuArrayOf(be, s, role));
});
registerRoutine<GruStepArgs>("cpu", "gruStep", (be, a) => {
  gruStepKernel(a, (s, role) => cpuArrayOf(be, s, role));
});
registerRoutine<GruStepBackwardArgs>("cpu", "gruStepBackward", (be, a) => {
  gruStepBackwardKernel(a, (s, role) => cpuArrayOf(be, s, role));
});
