/**
 * Batched matrix product of the CPU backend.
 *
 * Large products copy op(A) and op(B) into scratch panels (4 rows of op(A),
 * or 4 columns of op(B), interleaved along k) so the inner loop reads both
 * operands contiguously whatever the transpose flags, then run a 4×4
 * register-blocked micro-kernel: 16 accumulators in locals, one pass over k.
 * op(B) is packed in column blocks small enough to stay in L2 cache; op(A) in
 * row blocks that bound the scratch memory. This scalar path (and the plain
 * loop that small products use) accumulates in float64 and rounds once when
 * storing.
 *
 * Where WebAssembly SIMD is available (`simd.ts`) the panels are packed into
 * its memory and each strip of rows runs there. Float64 tensors use two float64
 * lanes per instruction: same sums in the same order, so the same bits as the
 * scalar kernel, ≈ 3× faster. Float32 tensors use four float32 lanes and
 * accumulate in float32 (fused multiply-adds where the runtime has relaxed
 * SIMD), as BLAS libraries do: op(A) is packed 6 rows and op(B) 8 columns
 * wide for a 6 × 8 block of accumulators; there op(A) is not packed where its
 * strides allow a plain copy into the kernel's memory (rows of a matrix used as
 * stored, one block copy when they are adjacent; depths of a matrix used
 * transposed), and the strip kernels read it in place: the same sums in the
 * same order. Without SIMD, float32 products accumulate in float64.
 * Every element is computed the same way on every thread, so the pool gives
 * the same bits as one thread.
 *
 * @module
 */
import type { MatmulParams, TypedArray } from "../backend.ts";
import { cpuThreads, JOB_MATMUL, parallel } from "./pool.ts";
import { MR32, type RowStrip, type SimdKernel, simdKernel } from "./simd.ts";

/** Rows of op(A) per micro-kernel call. */
const MR = 4;
/** Columns of op(B) per micro-kernel call. */
const NR = 4;
/** Columns of op(B) per float32 SIMD panel (two 4-lane vectors). */
const NR32 = 8;
/** Products with fewer multiply-adds than this use the plain loop. */
const SMALL = 4096;
/** Elements of packed op(B) per column block (512 KiB of float64: half of L2 here). */
const B_BLOCK = 1 << 16;
/** Elements of packed op(A) per row block (bounds scratch memory). */
const A_BLOCK = 1 << 19;
/**
 * Elements of the SIMD path's C block (rows × padded columns, 256 KiB of
 * float32): it stays in L2 between the strips that write it, the bias add and
 * the copy out (a C block of 4,000 × 256 took 6–10% longer).
 */
const C_BLOCK = 1 << 16;
/** Longest inner-dimension block of the SIMD path. */
const KC = 512;

let packedA = new Float64Array(0);
let packedB = new Float64Array(0);
const edge = new Float64Array(MR * NR);
let rowAcc = new Float64Array(0);

/**
 * Copy `count` lines of a matrix into `w`-wide panels interleaved along k:
 * element (line l, depth p) sits at `src[off + l·ls + p·ks]` and goes to
 * `dst[dOff + ⌊l/w⌋·w·k + p·w + l mod w]`. A last partial panel is padded with zeros.
 * The SIMD strip kernels read op(A) packed 4 wide and op(B) packed 4
 * (float64) or 8 (float32) wide this way.
 *
 * @param src the matrix's elements
 * @param off element offset of line 0, depth 0
 * @param ls elements from one line to the next
 * @param ks elements from one depth to the next
 * @param count lines to pack
 * @param k depth of each line
 * @param dst receives the panels
 * @param dOff element offset of the first panel in dst
 * @param w panel width
 */
export function pack(
  src: TypedArray,
  off: number,
  ls: number,
  ks: number,
  count: number,
  k: number,
  dst: Float64Array | Float32Array,
  dOff = 0,
  w = 4,
): void {
  let d = dOff;
  for (let l = 0; l < count; l += w) {
    const s0 = off + l * ls;
    if (w === 4 && count - l >= 4) {
      const s1 = s0 + ls, s2 = s1 + ls, s3 = s2 + ls;
      for (let p = 0, q = 0; p < k; p++, q += ks, d += 4) {
        dst[d] = src[s0 + q]!;
        dst[d + 1] = src[s1 + q]!;
        dst[d + 2] = src[s2 + q]!;
        dst[d + 3] = src[s3 + q]!;
      }
    } else if (w === 6 && count - l >= 6) {
      const s1 = s0 + ls, s2 = s1 + ls, s3 = s2 + ls, s4 = s3 + ls, s5 = s4 + ls;
      for (let p = 0, q = 0; p < k; p++, q += ks, d += 6) {
        dst[d] = src[s0 + q]!;
        dst[d + 1] = src[s1 + q]!;
        dst[d + 2] = src[s2 + q]!;
        dst[d + 3] = src[s3 + q]!;
        dst[d + 4] = src[s4 + q]!;
        dst[d + 5] = src[s5 + q]!;
      }
    } else if (w === 8 && ls === 1 && count - l >= 8) {
      // adjacent lines: the 8 elements of each depth are consecutive
      for (let p = 0, q = s0; p < k; p++, q += ks, d += 8) {
        dst[d] = src[q]!;
        dst[d + 1] = src[q + 1]!;
        dst[d + 2] = src[q + 2]!;
        dst[d + 3] = src[q + 3]!;
        dst[d + 4] = src[q + 4]!;
        dst[d + 5] = src[q + 5]!;
        dst[d + 6] = src[q + 6]!;
        dst[d + 7] = src[q + 7]!;
      }
    } else if (ks === 1 && count - l >= w) {
      // lines contiguous along k: read each line once, scatter with stride w
      for (let r = 0; r < w; r++) {
        const sr = s0 + r * ls;
        for (let p = 0, q = d + r; p < k; p++, q += w) dst[q] = src[sr + p]!;
      }
      d += w * k;
    } else if (count - l >= w) {
      // a whole panel: the w lines of each depth p in turn
      for (let p = 0, q = s0; p < k; p++, q += ks) {
        for (let r = 0, t = q; r < w; r++, t += ls, d++) dst[d] = src[t]!;
      }
    } else {
      const lines = Math.min(w, count - l);
      for (let p = 0; p < k; p++) {
        for (let r = 0; r < w; r++, d++) dst[d] = r < lines ? src[s0 + r * ls + p * ks]! : 0;
      }
    }
  }
}

/** Store the `rows`×`cols` top-left corner of the 4×4 `edge` block at c[o]. */
function storeEdge(c: TypedArray, o: number, ldc: number, rows: number, cols: number): void {
  for (let r = 0; r < rows; r++) {
    for (let j = 0; j < cols; j++) c[o + r * ldc + j] = edge[r * NR + j]!;
  }
}

/**
 * C block (mh × nw at c[co], row stride ldc) = packed A block · packed B block.
 * Both packs hold k-long 4-wide panels; edges were padded with zeros.
 */
function microKernel(
  ap: Float64Array,
  bp: Float64Array,
  c: TypedArray,
  co: number,
  ldc: number,
  mh: number,
  nw: number,
  k: number,
): void {
  for (let i0 = 0; i0 < mh; i0 += MR) {
    const aBase = i0 * k;
    for (let j0 = 0; j0 < nw; j0 += NR) {
      let ai = aBase, bi = j0 * k;
      let c00 = 0, c01 = 0, c02 = 0, c03 = 0;
      let c10 = 0, c11 = 0, c12 = 0, c13 = 0;
      let c20 = 0, c21 = 0, c22 = 0, c23 = 0;
      let c30 = 0, c31 = 0, c32 = 0, c33 = 0;
      for (let p = 0; p < k; p++, ai += MR, bi += NR) {
        const a0 = ap[ai]!, a1 = ap[ai + 1]!, a2 = ap[ai + 2]!, a3 = ap[ai + 3]!;
        const b0 = bp[bi]!, b1 = bp[bi + 1]!, b2 = bp[bi + 2]!, b3 = bp[bi + 3]!;
        c00 += a0 * b0, c01 += a0 * b1, c02 += a0 * b2, c03 += a0 * b3;
        c10 += a1 * b0, c11 += a1 * b1, c12 += a1 * b2, c13 += a1 * b3;
        c20 += a2 * b0, c21 += a2 * b1, c22 += a2 * b2, c23 += a2 * b3;
        c30 += a3 * b0, c31 += a3 * b1, c32 += a3 * b2, c33 += a3 * b3;
      }
      const o = co + i0 * ldc + j0;
      if (mh - i0 >= MR && nw - j0 >= NR) {
        c[o] = c00, c[o + 1] = c01, c[o + 2] = c02, c[o + 3] = c03;
        const o1 = o + ldc;
        c[o1] = c10, c[o1 + 1] = c11, c[o1 + 2] = c12, c[o1 + 3] = c13;
        const o2 = o1 + ldc;
        c[o2] = c20, c[o2 + 1] = c21, c[o2 + 2] = c22, c[o2 + 3] = c23;
        const o3 = o2 + ldc;
        c[o3] = c30, c[o3 + 1] = c31, c[o3 + 2] = c32, c[o3 + 3] = c33;
      } else {
        edge[0] = c00, edge[1] = c01, edge[2] = c02, edge[3] = c03;
        edge[4] = c10, edge[5] = c11, edge[6] = c12, edge[7] = c13;
        edge[8] = c20, edge[9] = c21, edge[10] = c22, edge[11] = c23;
        edge[12] = c30, edge[13] = c31, edge[14] = c32, edge[15] = c33;
        storeEdge(c, o, ldc, Math.min(MR, mh - i0), Math.min(NR, nw - j0));
      }
    }
  }
}

/**
 * Element strides of op(A) and op(B): op(A)(i, p) = a[i·ai + p·ap] and
 * op(B)(p, j) = b[p·bp + j·bj] within one batch.
 */
interface OpStrides {
  ai: number;
  ap: number;
  bp: number;
  bj: number;
}

function opStrides(p: MatmulParams): OpStrides {
  const { m, n, k, transA, transB } = p;
  return {
    ai: transA ? 1 : k,
    ap: transA ? m : 1,
    bp: transB ? 1 : n,
    bj: transB ? k : 1,
  };
}

/**
 * Whether {@link matmulKernel} multiplies an m × k by k × n product (one
 * batch) through the packed kernel, rather than the plain loop used for
 * small or vector-shaped operands: callers that run the SIMD strips
 * themselves use this to compute the same bits.
 *
 * @param m rows of op(A)
 * @param n columns of op(B)
 * @param k the inner dimension
 * @returns true where the packed kernel runs
 */
export function packedShape(m: number, n: number, k: number): boolean {
  return !(m * n * k < SMALL || m === 1 || n === 1);
}

/** One product with the plain loop, for small or vector-shaped operands. */
function simpleProduct(
  a: TypedArray,
  aOff: number,
  b: TypedArray,
  bOff: number,
  c: TypedArray,
  cOff: number,
  p: MatmulParams,
  s: OpStrides,
  r0: number,
  r1: number,
): void {
  const { n, k } = p;
  if (s.bj === 1 && n > 1) {
    // Row of C += op(A)(i, q) · row q of op(B): both rows contiguous.
    if (rowAcc.length < n) rowAcc = new Float64Array(n);
    const acc = rowAcc;
    for (let i = r0; i < r1; i++) {
      acc.fill(0, 0, n);
      for (let q = 0; q < k; q++) {
        const x = a[aOff + i * s.ai + q * s.ap]!;
        const bRow = bOff + q * s.bp;
        for (let j = 0; j < n; j++) acc[j] += x * b[bRow + j]!;
      }
      for (let j = 0; j < n; j++) c[cOff + i * n + j] = acc[j]!;
    }
    return;
  }
  for (let i = r0; i < r1; i++) {
    const aRow = aOff + i * s.ai;
    for (let j = 0; j < n; j++) {
      const bCol = bOff + j * s.bj;
      let sum = 0;
      for (let q = 0; q < k; q++) sum += a[aRow + q * s.ap]! * b[bCol + q * s.bp]!;
      c[cOff + i * n + j] = sum;
    }
  }
}

/**
 * Lines per block so that a block of `k`-long lines holds at most `budget`
 * elements (or `w` lines): a multiple of `w`, the blocks of `total` lines
 * as even as that allows.
 */
function blockLines(total: number, k: number, budget: number, w = 4): number {
  const most = Math.max(w, Math.floor(budget / k / w) * w);
  // as many blocks as the budget needs, of even size (no thin last block)
  const blocks = Math.ceil(total / most);
  return Math.ceil(total / blocks / w) * w;
}

/** One product through the packed kernel. */
function packedProduct(
  a: TypedArray,
  aOff: number,
  b: TypedArray,
  bOff: number,
  c: TypedArray,
  cOff: number,
  p: MatmulParams,
  s: OpStrides,
  reuse: Reuse,
  r0: number,
  r1: number,
  bias: TypedArray | null,
  c0: number,
  c1: number,
): void {
  const simd = simdKernel();
  if (simd) {
    simdProduct(simd, a, aOff, b, bOff, c, cOff, p, s, reuse, r0, r1, bias, c0, c1);
    return;
  }
  const { n, k } = p;
  const rows = r1 - r0, cols = c1 - c0;
  const mc = blockLines(rows, k, A_BLOCK);
  const nc = blockLines(cols, k, B_BLOCK);
  if (packedA.length < mc * k) packedA = new Float64Array(mc * k);
  if (packedB.length < nc * k) packedB = new Float64Array(nc * k);
  for (let jc = c0; jc < c1; jc += nc) {
    const nw = Math.min(nc, c1 - jc);
    if (!(nc >= cols && reuse.b === bOff)) {
      pack(b, bOff + jc * s.bj, s.bj, s.bp, nw, k, packedB);
      reuse.b = nc >= cols ? bOff : -1;
    }
    for (let ic = r0; ic < r1; ic += mc) {
      const mh = Math.min(mc, r1 - ic);
      if (!(mc >= rows && reuse.a === aOff)) {
        pack(a, aOff + ic * s.ai, s.ai, s.ap, mh, k, packedA);
        reuse.a = mc >= rows ? aOff : -1;
      }
      microKernel(packedA, packedB, c, cOff + ic * n + jc, n, mh, nw, k);
    }
  }
  if (bias) addBiasRows(c, cOff + r0 * n + c0, n, rows, cols, bias, c0);
}

/**
 * `c[at + i·stride + j] += bias[b0 + j]` for `rows` rows of `width` (each a
 * rounded product already stored, so the bits are those of a separate
 * broadcasting add).
 */
function addBiasRows(
  c: TypedArray,
  at: number,
  stride: number,
  rows: number,
  width: number,
  bias: TypedArray,
  b0 = 0,
): void {
  for (let i = 0; i < rows; i++) {
    const o = at + i * stride;
    for (let j = 0; j < width; j++) c[o + j] = c[o + j]! + bias[b0 + j]!;
  }
}

/**
 * Copy `count` lines of `width` elements, line l at `src[off + l·stride]`, to
 * `mem[at + l·pitch]`: one copy when the lines are already `pitch` apart (the
 * elements between them come along), else one per line.
 *
 * @param mem the kernel's float32 memory
 * @param at where line 0 goes
 * @param pitch elements from one line to the next in mem
 * @param src the lines' storage
 * @param off element offset of line 0
 * @param stride elements from one line to the next in src
 * @param width elements per line
 * @param count lines
 */
export function copyLines(
  mem: Float32Array,
  at: number,
  pitch: number,
  src: TypedArray,
  off: number,
  stride: number,
  width: number,
  count: number,
): void {
  if (count === 0) return;
  if (stride === pitch) mem.set(src.subarray(off, off + (count - 1) * stride + width), at);
  else {
    for (let l = 0, o = off, q = at; l < count; l++, o += stride, q += pitch) {
      mem.set(src.subarray(o, o + width), q);
    }
  }
}

/**
 * How {@link stageA} lays out a block of op(A) in float32 SIMD memory: strip i0
 * starts at `at + i0·rowStep`; `as` is the strip kernel's step per depth, 0
 * for rows copied as they are (`rowStep` apart, run by `rowStrip(rowStep)`).
 */
interface ALayout {
  rowStep: number;
  as: number;
}

/**
 * The layout {@link stageA} gives `R` lines of op(A), `k` deep, with line
 * stride `ls` and depth stride `ks`, the cheapest the strides allow: lines
 * contiguous along k are copied as they are, k apart (a matrix used as it is
 * stored: one copy where its rows are adjacent); depths contiguous along the
 * lines are copied one depth at a time (a matrix used transposed), or all in
 * one copy where they are at most a strip's padding apart; anything else is
 * packed {@link MR32} wide. Each takes ⌈R / MR32⌉·MR32·k elements, and the
 * strips may read up to {@link MR32} elements past them.
 */
function aLayout(ls: number, ks: number, R: number, k: number, out: ALayout): ALayout {
  const Rp = Math.ceil(R / MR32) * MR32;
  if (ks === 1) {
    out.rowStep = k;
    out.as = 0;
  } else if (ls === 1 && R >= MR32) {
    out.rowStep = 1;
    out.as = R <= ks && ks <= Rp ? ks : Rp;
  } else {
    out.rowStep = k;
    out.as = MR32;
  }
  return out;
}

/**
 * Put `R` lines of op(A), `k` deep (line l, depth p at `src[off + l·ls + p·ks]`),
 * into float32 SIMD memory at `at` for the strip kernels, laid out as
 * {@link aLayout} says. Lines past R up to a whole strip are zeros, as in a
 * pack (their sums are never stored).
 */
function stageA(
  mem: Float32Array,
  src: TypedArray,
  off: number,
  ls: number,
  ks: number,
  R: number,
  k: number,
  at: number,
  lay: ALayout,
): void {
  const Rp = Math.ceil(R / MR32) * MR32;
  if (lay.as === 0) {
    copyLines(mem, at, k, src, off, ls, k, R);
    mem.fill(0, at + R * k, at + Rp * k);
  } else if (lay.rowStep === 1) {
    // depth p at at + p·as: in one copy when as is the matrix's own depth stride (lanes past
    // R then hold the next depth's elements), else one per depth, padded with zeros
    copyLines(mem, at, lay.as, src, off, ks, R, k);
    if (lay.as !== ks && Rp > R) {
      for (let q = at + R; q < at + k * Rp; q += Rp) mem.fill(0, q, q + Rp - R);
    }
  } else pack(src, off, ls, ks, R, k, mem, at, MR32);
}

/** The float32 strip of a block {@link stageA} laid out as `lay` (the arguments of a `RowStrip`). */
function strip32(simd: SimdKernel, lay: ALayout, ...a: Parameters<RowStrip>): void {
  if (lay.as === 0) simd.rowStrip(lay.rowStep)(...a);
  else simd.strip32(...a, lay.as);
}

/**
 * Float32 elements of SIMD memory {@link packB} may use for staging `count`
 * lines of op(B), k deep.
 *
 * @param count lines
 * @param k depth
 * @returns elements
 */
export function packBScratch(count: number, k: number): number {
  return Math.ceil(count / 8) * 8 * (Math.ceil(k / 4) * 4) + 8 * k + 32;
}

/** Elements {@link packB} may write past the panels it packs (3 depths of a panel). */
export const PACK_B_SLACK = 24;

/**
 * Pack `count` lines of op(B), `k` deep (line l, depth p at
 * `src[off + l·ls + p·ks]`), into 8-wide float32 panels at element `at` of
 * the kernel's memory, the layout of `pack(…, 8)`: where lines or depths are
 * contiguous they are copied into the memory at `scratch`
 * ({@link packBScratch} elements, reserved by the caller) and packed there by
 * the SIMD packers, else packed here. The last panel's lines past `count` are
 * left as they were (not zeros: their sums are never stored), and up to
 * {@link PACK_B_SLACK} elements past the panels may be written.
 *
 * @param simd the kernel
 * @param src op(B)'s storage
 * @param off element offset of line 0, depth 0
 * @param ls elements from one line to the next
 * @param ks elements from one depth to the next
 * @param count lines
 * @param k depth
 * @param at where the panels go
 * @param scratch where lines are staged
 */
export function packB(
  simd: SimdKernel,
  src: TypedArray,
  off: number,
  ls: number,
  ks: number,
  count: number,
  k: number,
  at: number,
  scratch: number,
): void {
  if (count === 0 || k === 0) return;
  const mem = simd.f32;
  if (ks === 1) {
    // lines contiguous along k (op(B) stored transposed)
    const kp = Math.ceil(k / 4) * 4;
    copyLines(mem, scratch, kp, src, off, ls, k, count);
    simd.packT8(at, scratch, count, k, kp);
  } else if (ls === 1) {
    // depths contiguous along the lines (op(B) stored as it is used)
    // rows at most a panel's padding apart come in one copy at their own stride
    const pitch = ks < count + 8 ? ks : Math.ceil(count / 8) * 8;
    copyLines(mem, scratch, pitch, src, off, ks, count, k);
    simd.packN8(at, scratch, count, k, pitch);
  } else pack(src, off, ls, ks, count, k, mem, at, 8);
}

/**
 * `mem[c + r·nw …]` = rows r < R of `src` (row r at `off + r·stride`, k
 * consecutive elements) times op(B) packed 8 wide at `bp` (nw columns), as the
 * float32 matmul computes them (same bits): the rows are staged at `at`
 * (⌈R / MR32⌉·MR32·k elements), then one strip per {@link MR32} rows.
 *
 * @param simd the kernel
 * @param src the rows' storage
 * @param off element offset of row 0
 * @param stride elements from one row to the next
 * @param R rows
 * @param k depth
 * @param at where the rows are staged
 * @param bp packed op(B)
 * @param c the result's offset (rows nw apart)
 * @param nw columns, a multiple of 8
 */
export function rowStrips(
  simd: SimdKernel,
  src: TypedArray,
  off: number,
  stride: number,
  R: number,
  k: number,
  at: number,
  bp: number,
  c: number,
  nw: number,
): void {
  const lay = aLayout(stride, 1, R, k, { rowStep: 0, as: 0 });
  stageA(simd.f32, src, off, stride, 1, R, k, at, lay);
  const run = simd.rowStrip(k);
  for (let i0 = 0; i0 < R; i0 += MR32) run(at + i0 * k, bp, c + i0 * nw, nw, k, false);
}

/**
 * What a call of {@link simdProduct} (or the scalar {@link packedProduct})
 * left packed for the next batch of the same product: the element offsets of
 * the op(A) block (`a`) and op(B) panels (`b`) it holds, −1 for none.
 */
interface Reuse {
  a: number;
  b: number;
}

/**
 * {@link packedProduct} through a WebAssembly SIMD strip kernel: the panels
 * are packed into its memory (C block, then op(A) block, then op(B) block)
 * and the C block is copied out of it into c, rounded once. Float32 output
 * uses the float32 kernel (op(B) packed 8 columns wide, float32
 * accumulation); anything else the float64 one. A long inner dimension is
 * cut into blocks of at most {@link KC} (so the panels stay in cache); the
 * strips of later blocks start from the sums of the earlier ones, so every
 * element adds the same products in the same order as in one pass. A block
 * of rows of op(A) is put in the memory once, all k deep, and serves every
 * column and depth block (put there again for each, its copies took 0.33 of
 * the 7.96 ms of a [128, 784]·[784, 1024] product on one thread). A `bias`
 * row is added to the float32 C block in the kernel's memory (after its last
 * strip, before the copy out: the same float32 additions as a separate pass
 * over c).
 */
function simdProduct(
  simd: SimdKernel,
  a: TypedArray,
  aOff: number,
  b: TypedArray,
  bOff: number,
  c: TypedArray,
  cOff: number,
  p: MatmulParams,
  s: OpStrides,
  reuse: Reuse,
  r0: number,
  r1: number,
  bias: TypedArray | null,
  c0: number,
  c1: number,
): void {
  const { n, k } = p;
  const rows = r1 - r0, cols = c1 - c0;
  const f32 = c instanceof Float32Array;
  const w = f32 ? NR32 : NR, mr = f32 ? MR32 : MR;
  const kBlocks = Math.ceil(k / KC), kc = Math.ceil(k / kBlocks);
  const nc = blockLines(cols, kc, B_BLOCK, w), ncPad = Math.ceil(nc / w) * w;
  const mc = Math.min(blockLines(rows, k, A_BLOCK, mr), blockLines(rows, ncPad, C_BLOCK, mr));
  const aBase = mc * ncPad, bBase = aBase + mc * k + MR32;
  const biasBase = bBase + nc * kc + PACK_B_SLACK;
  const scratch = biasBase + ncPad;
  simd.reserve((scratch + (f32 ? packBScratch(nc, kc) : 0)) * (f32 ? 4 : 8));
  simd.tag = 0;
  const mem = f32 ? simd.f32 : simd.f64;
  // one block of op(B): its panels serve every row block (and batch, where op(B) is shared)
  const oneB = kBlocks === 1 && nc >= cols;
  const lay = { rowStep: k, as: mr };
  for (let ic = r0; ic < r1; ic += mc) {
    const mh = Math.min(mc, r1 - ic);
    if (f32) aLayout(s.ai, s.ap, mh, k, lay);
    if (!(mc >= rows && reuse.a === aOff)) {
      const aAt = aOff + ic * s.ai;
      if (f32) stageA(simd.f32, a, aAt, s.ai, s.ap, mh, k, aBase, lay);
      else pack(a, aAt, s.ai, s.ap, mh, k, mem, aBase, mr);
      reuse.a = mc >= rows ? aOff : -1;
    }
    // element (i, p) of the block at aBase + i·rowStep + p·depth for i a strip's first row
    const depth = lay.as === 0 ? 1 : lay.as;
    for (let jc = c0; jc < c1; jc += nc) {
      const nw = Math.min(nc, c1 - jc), nwPad = Math.ceil(nw / w) * w;
      for (let pc = 0; pc < k; pc += kc) {
        const kw = Math.min(kc, k - pc);
        if (!(oneB && reuse.b === bOff)) {
          const bAt = bOff + jc * s.bj + pc * s.bp;
          if (f32) packB(simd, b, bAt, s.bj, s.bp, nw, kw, bBase, scratch);
          else pack(b, bAt, s.bj, s.bp, nw, kw, mem, bBase, w);
          reuse.b = oneB ? bOff : -1;
        }
        for (let i0 = 0; i0 < mh; i0 += mr) {
          const ap = aBase + i0 * lay.rowStep + pc * depth;
          if (f32) strip32(simd, lay, ap, bBase, i0 * nwPad, nwPad, kw, pc > 0);
          else simd.strip(ap, bBase, i0 * nwPad, nwPad, kw, pc > 0);
        }
      }
      const out = cOff + ic * n + jc;
      const same = mem.constructor === c.constructor;
      const inMem = bias !== null && f32 && same && bias instanceof Float32Array;
      if (inMem) {
        mem.set(bias.subarray(jc, jc + nw), biasBase);
        for (let r = 0; r < mh; r++) simd.binary32("add", r * nwPad, r * nwPad, biasBase, nw);
      }
      if (same && nw === n && nwPad === n) c.set(mem.subarray(0, mh * n), out); // rows end to end
      else {
        for (let r = 0; r < mh; r++) {
          const o = out + r * n, q = r * nwPad;
          if (same) c.set(mem.subarray(q, q + nw), o);
          else for (let j = 0; j < nw; j++) c[o + j] = mem[q + j]!;
        }
      }
      if (bias && !inMem) addBiasRows(c, out, n, mh, nw, bias, jc);
    }
  }
}

/**
 * Rows r0…r1−1 of the products of batches t0…t1−1 (no checks): the work of
 * one chunk, or of the whole product.
 */
function productRange(
  a: TypedArray,
  b: TypedArray,
  c: TypedArray,
  p: MatmulParams,
  t0: number,
  t1: number,
  r0: number,
  r1: number,
  bias: TypedArray | null,
  c0 = 0,
  c1 = p.n,
): void {
  const { m, n, k, strideA, strideB } = p;
  const mn = m * n;
  const s = opStrides(p);
  const small = !packedShape(m, n, k); // then c0…c1 is all of n
  if (small && (c0 !== 0 || c1 !== n)) {
    throw new RangeError("cpu matmul: column range of a plain product");
  }
  const reuse: Reuse = { a: -1, b: -1 };
  for (let t = t0; t < t1; t++) {
    const aOff = t * strideA, bOff = t * strideB, cOff = t * mn;
    if (small) {
      simpleProduct(a, aOff, b, bOff, c, cOff, p, s, r0, r1);
      if (bias) addBiasRows(c, cOff + r0 * n, n, r1 - r0, n, bias);
    } else packedProduct(a, aOff, b, bOff, c, cOff, p, s, reuse, r0, r1, bias, c0, c1);
  }
}

/** Products with at least this many multiply-adds are split across the pool's threads. */
export const PARALLEL_MACS = 1 << 18;

/**
 * One chunk of a threaded matmul (see `pool.ts`): arrays [a, b, c]; nums
 * batch, m, n, k, transA, transB, strideA, strideB, then batches per chunk,
 * rows per chunk, row chunks per batch group, columns per chunk and column
 * chunks per row chunk. Chunk `ch` covers batches ⌊ch / (rowChunks·colChunks)⌋·bpc …,
 * and of them the rows ⌊(ch mod rowChunks·colChunks) / colChunks⌋·rpc … and the
 * columns (ch mod colChunks)·cpc ….
 *
 * @param arrays the job's storages
 * @param nums the job's numbers
 * @param ch the chunk
 */
export function matmulChunk(
  arrays: readonly (TypedArray | null)[],
  nums: ArrayLike<number>,
  ch: number,
): void {
  const p: MatmulParams = {
    batch: nums[0]!,
    m: nums[1]!,
    n: nums[2]!,
    k: nums[3]!,
    transA: nums[4] === 1,
    transB: nums[5] === 1,
    strideA: nums[6]!,
    strideB: nums[7]!,
  };
  const bpc = nums[8]!, rpc = nums[9]!, rowChunks = nums[10]!, cpc = nums[11]!;
  const colChunks = nums[12]!, per = rowChunks * colChunks;
  const g = Math.floor(ch / per), rest = ch - g * per;
  const q = Math.floor(rest / colChunks), cq = rest - q * colChunks;
  const t0 = g * bpc, r0 = q * rpc, c0 = cq * cpc;
  productRange(
    arrays[0]!,
    arrays[1]!,
    arrays[2]!,
    p,
    t0,
    Math.min(p.batch, t0 + bpc),
    r0,
    Math.min(p.m, r0 + rpc),
    arrays[3] ?? null,
    c0,
    Math.min(p.n, c0 + cpc),
  );
}

/** Split a large product across the pool; false when it ran nowhere. */
function matmulParallel(
  a: TypedArray,
  b: TypedArray,
  c: TypedArray,
  p: MatmulParams,
  bias: TypedArray | null,
): boolean {
  const threads = cpuThreads();
  const { batch, m, n, k } = p;
  if (threads <= 1 || batch * m * n * k < PARALLEL_MACS) return false;
  let bpc = 1, rpc = m, rowChunks = 1, cpc = n, colChunks = 1;
  const want = Math.ceil(threads / batch);
  if (batch >= threads) {
    bpc = Math.ceil(batch / threads);
  } else if (n > m && packedShape(m, n, k)) {
    // wider than tall: whole 8-column panels, so each thread packs only its part of op(B)
    cpc = Math.ceil(Math.ceil(n / want) / NR32) * NR32;
    colChunks = Math.ceil(n / cpc);
  } else {
    // whole strips (12 rows: 3 of the scalar kernel, 2 of the float32 one), split evenly into
    // about `threads` chunks over the batches
    const strip = 3 * MR;
    rpc = Math.ceil(Math.ceil(m / want) / strip) * strip;
    rowChunks = Math.ceil(m / rpc);
  }
  const chunks = Math.ceil(batch / bpc) * rowChunks * colChunks;
  const nums = [
    batch,
    m,
    n,
    k,
    p.transA ? 1 : 0,
    p.transB ? 1 : 0,
    p.strideA,
    p.strideB,
    bpc,
    rpc,
    rowChunks,
    cpc,
    colChunks,
  ];
  const alone = () => productRange(a, b, c, p, 0, batch, 0, m, bias);
  const arrays = [a, b, c, bias];
  return parallel(JOB_MATMUL, matmulChunk, arrays, nums, chunks, batch * m * n * k, alone);
}

/**
 * `c[b] = op(A[b]) · op(B[b])` for every batch b; c is contiguous
 * [batch, m, n]. A stride of 0 broadcasts one matrix to every batch (it is then
 * packed only once).
 *
 * Large products are split by output rows, columns (when wider than tall) or batches across the threads of
 * `pool.ts` unless `threads` is false; each element is computed the same way
 * either way, so the result is the same to the bit.
 *
 * @param a elements of A (per batch [m, k], or [k, m] when transA)
 * @param b elements of B (per batch [k, n], or [n, k] when transB)
 * @param c output elements
 * @param p sizes, transpose flags and batch strides
 * @param threads whether the product may use the pool
 * @param bias a row of n added to every row of c after the product (each
 *   element rounded as a separate add would round it), or null
 */
export function matmulKernel(
  a: TypedArray,
  b: TypedArray,
  c: TypedArray,
  p: MatmulParams,
  threads = true,
  bias: TypedArray | null = null,
): void {
  const { batch, m, n, k, strideA, strideB } = p;
  const mn = m * n;
  const last = batch - 1;
  if (
    batch * mn > c.length || (batch > 0 && m * k > 0 && last * strideA + m * k > a.length) ||
    (batch > 0 && n * k > 0 && last * strideB + n * k > b.length)
  ) {
    throw new RangeError(
      `Cannot run cpu matmul of ${batch} × [${m}, ${k}]·[${k}, ${n}]: storages hold ` +
        `${a.length}, ${b.length} and ${c.length} elements`,
    );
  }
  if (bias && bias.length < n) {
    throw new RangeError(
      `Cannot run cpu matmul: the bias holds ${bias.length} elements, n is ${n}`,
    );
  }
  if (batch * mn === 0) return;
  if (k === 0) {
    c.fill(0, 0, batch * mn);
    if (bias) addBiasRows(c, 0, n, batch * m, n, bias);
    return;
  }
  if (threads && matmulParallel(a, b, c, p, bias)) return;
  productRange(a, b, c, p, 0, batch, 0, m, bias);
}
