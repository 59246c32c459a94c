/**
 * WebAssembly SIMD micro-kernels for the CPU matmul: one strip of 4 rows of
 * packed op(A) times a block of packed op(B). The module is assembled here
 * from its bytes (no toolchain, no file to fetch) and instantiated once,
 * synchronously, on first use. It has two kernels:
 *
 * - `strip` (float64 tensors): two float64 lanes per instruction; each output
 *   element is the same float64 sum as the scalar micro-kernel of `matmul.ts`
 *   computes (products added in order of k, one rounding per multiply and per
 *   add), so float64 results are bit-identical with or without SIMD.
 * - `strip32` (float32 tensors): four float32 lanes per instruction, float32
 *   accumulation in order of k as PyTorch and every BLAS do, {@link MR32} rows ×
 *   8 columns of accumulators (6 × 2 vectors: 15 of the 16 SSE registers
 *   with the operands, ≈ 7% faster than 4 rows here). Where the runtime has WebAssembly relaxed SIMD (probed at
 *   start-up) each step is one `f32x4.relaxed_madd` (a fused multiply-add on
 *   x86 with FMA); elsewhere a multiply then an add. Either way a given
 *   runtime computes every element the same way, whichever thread runs it.
 *
 * Where WebAssembly or its SIMD extension is unavailable, {@link simdKernel}
 * returns null and the caller keeps its scalar loop.
 *
 * @module
 */

import { section, sleb, uleb, vec, wasm } from "../wasm.ts";

/** Rows of op(A) per float32 strip (`strip32`): op(A) is packed this many rows wide for it. */
export const MR32 = 6;

/** Bytes of one WebAssembly page. */
const PAGE = 65536;

const I32 = 0x7f, V128 = 0x7b;
const GET = 0x20, SET = 0x21, TEE = 0x22;
const LOOP = 0x03, END = 0x0b, BR_IF = 0x0d, VOID = 0x40;
const I32_CONST = 0x41, I32_ADD = 0x6a, I32_SUB = 0x6b, I32_MUL = 0x6c, I32_LT_S = 0x48;
const SIMD = 0xfd;
const V_LOAD = [SIMD, 0x00], V_STORE = [SIMD, 0x0b], V_LOAD64_SPLAT = [SIMD, 0x0a];
const F64X2_ADD = [SIMD, 0xf0, 0x01], F64X2_MUL = [SIMD, 0xf2, 0x01];
const F32X4_ADD = [SIMD, 0xe4, 0x01], F32X4_MUL = [SIMD, 0xe6, 0x01];
const F32X4_RELAXED_MADD = [SIMD, 0x85, 0x02];
const V_LOAD32_SPLAT = [SIMD, 0x09];
const V_CONST0 = [SIMD, 0x0c, ...new Array(16).fill(0)];
const BLOCK = 0x02,
  IF = 0x04,
  ELSE = 0x05,
  I32_EQZ = 0x45,
  I32_LT_U = 0x49,
  I32_OR = 0x72,
  I32_GT_S = 0x4a,
  I32_SHL = 0x74,
  I32_SHR_U = 0x76;
const F32X4_SUB = [SIMD, 0xe5, 0x01], F32X4_DIV = [SIMD, 0xe7, 0x01];
const F32X4_PMIN = [SIMD, 0xea, 0x01], F32X4_PMAX = [SIMD, 0xeb, 0x01];
const F32X4_ABS = [SIMD, 0xe0, 0x01], F32X4_NEG = [SIMD, 0xe1, 0x01];
const F32X4_NEAREST = [SIMD, 0x6a], F32X4_LT = [SIMD, 0x43];
const I32X4_TRUNC_SAT_F32X4_S = [SIMD, 0xf8, 0x01];
const I32X4_RELAXED_TRUNC_F32X4_S = [SIMD, 0x81, 0x02];
const I32X4_ADD = [SIMD, 0xae, 0x01], I32X4_SHL = [SIMD, 0xab, 0x01];
const V_AND = [SIMD, 0x4e], V_OR = [SIMD, 0x50], V_BITSELECT = [SIMD, 0x52];
const V_LOAD64_ZERO = [SIMD, 0x5d], V_STORE64_LANE = [SIMD, 0x5b];
const F64X2_PROMOTE_LOW_F32X4 = [SIMD, 0x5f], F32X4_DEMOTE_F64X2_ZERO = [SIMD, 0x5e];
const F64X2_SUB = [SIMD, 0xf1, 0x01];
const F64X2_SPLAT = [SIMD, 0x14], F64X2_GT = [SIMD, 0x4a], F64X2_MAX = [SIMD, 0xf5, 0x01];
const F64X2_SQRT = [SIMD, 0xef, 0x01], F64X2_DIV = [SIMD, 0xf3, 0x01];
const F64 = 0x7c;

/** A v128 constant: four float32 lanes equal to `x`. */
function f32x4(x: number): number[] {
  return [SIMD, 0x0c, ...new Uint8Array(new Float32Array([x, x, x, x]).buffer)];
}

/** A v128 constant: four int32 lanes equal to `x`. */
function i32x4(x: number): number[] {
  return [SIMD, 0x0c, ...new Uint8Array(new Int32Array([x, x, x, x]).buffer)];
}

/** memarg for an 8-byte-aligned access at a constant offset. */
const mem = (offset: number, align = 3): number[] => [align, ...uleb(offset)];

/** An emitter of function-body code. */
type Emit = (...b: (number | number[])[]) => void;

/** A fresh code buffer and the emitter that appends instructions (bytes or byte runs) to it. */
function emitter(): { code: number[]; e: Emit } {
  const code: number[] = [];
  const e: Emit = (...b) => {
    for (const x of b) typeof x === "number" ? code.push(x) : code.push(...x);
  };
  return { code, e };
}

/** A function body: its `i32s` i32 and `v128s` v128 locals, then `code`, with its byte length first. */
function funcBody(i32s: number, v128s: number, code: readonly number[]): number[] {
  const body = [...vec([[...uleb(i32s), I32], [...uleb(v128s), V128]]), ...code];
  return [...uleb(body.length), ...body];
}

/**
 * A strip kernel's body for elements of `size` bytes (8: float64, two lanes;
 * 4: float32, four lanes): `f(ap, bp, c, nw, k, acc, as)` (byte offsets into
 * memory) computes, for j0 = 0, w, 2w, … < nw with w = 32 / size columns,
 * c[r, j0..j0+w-1] = s + Σ_p A(r, p) · bp[j0·k + p·w + 0..w-1] for
 * r < R = `rows`, where A(r, p) is the element at byte ap + p·as + r·size
 * (packed panels: as = R·size; columns of a matrix stored transposed: as its
 * row length) or, with `pitch`, at ap + r·pitch + p·size (rows of a matrix
 * copied as they are; `as` unused), products added in order of p to s = 0, or with `acc` ≠ 0
 * to s = the value c holds (so a product split along k into blocks adds the
 * same terms in the same order as one pass); c is an R × nw row-major block
 * (nw a multiple of w). Each step is a multiply then an add, or with `fma` one
 * relaxed fused multiply-add (float32 only).
 */
function stripBody(size: 8 | 4, fma = false, rows = 4, pitch = 0): number[] {
  // params: 0 ap, 1 bp, 2 c, 3 nw, 4 k, 5 acc, 6 as; locals: 7 j0, 8 ai, 9 bi, 10 cnt, 11 co
  // (i32); then (v128) the accumulators acc[r][h] for r < rows, h < 2, then b0, b1, a
  const AP = 0, BP = 1, C = 2, NW = 3, K = 4, ACCUM = 5, AS = 6, J0 = 7, AI = 8, BI = 9;
  const CNT = 10, CO = 11, ACC = 12, B0 = ACC + 2 * rows, B1 = B0 + 1, A = B0 + 2;
  const f64 = size === 8, w = 32 / size, align = f64 ? 3 : 2;
  const [mul, add] = f64 ? [F64X2_MUL, F64X2_ADD] : [F32X4_MUL, F32X4_ADD];
  const { code, e } = emitter();
  // acc = a · b + acc
  const madd = (acc: number, b: number) =>
    fma && !f64
      ? e(GET, A, GET, b, GET, acc, F32X4_RELAXED_MADD, SET, acc)
      : e(GET, acc, GET, A, GET, b, mul, add, SET, acc);
  e(I32_CONST, 0, SET, J0);
  e(LOOP, VOID); // j loop
  e(GET, AP, SET, AI);
  // bi = bp + j0 * k * size
  e(GET, BP, GET, J0, GET, K, I32_MUL, I32_CONST, size, I32_MUL, I32_ADD, SET, BI);
  // co = c + j0 * size; rows are nw * size bytes apart
  e(GET, C, GET, J0, I32_CONST, size, I32_MUL, I32_ADD, SET, CO);
  e(GET, ACCUM, IF, VOID);
  for (let i = 0; i < 2 * rows; i++) {
    // acc[r][h] = the 16 bytes at co + r·nw·size + 16h
    e(GET, CO);
    if (i >= 2) e(GET, NW, I32_CONST, size * (i >> 1), I32_MUL, I32_ADD);
    e(V_LOAD, mem(16 * (i & 1), 4), SET, ACC + i);
  }
  e(ELSE);
  for (let i = 0; i < 2 * rows; i++) e(V_CONST0, SET, ACC + i);
  e(END);
  e(GET, K, SET, CNT);
  e(LOOP, VOID); // p loop
  e(GET, BI, V_LOAD, mem(0, 4), SET, B0);
  e(GET, BI, V_LOAD, mem(16, 4), SET, B1);
  for (let r = 0; r < rows; r++) {
    const at = pitch > 0 ? pitch * r : size * r;
    e(GET, AI, f64 ? V_LOAD64_SPLAT : V_LOAD32_SPLAT, mem(at, align), SET, A);
    madd(ACC + 2 * r, B0);
    madd(ACC + 2 * r + 1, B1);
  }
  e(GET, AI, pitch > 0 ? [I32_CONST, size] : [GET, AS], I32_ADD, SET, AI);
  e(GET, BI, I32_CONST, 32, I32_ADD, SET, BI);
  e(GET, CNT, I32_CONST, 1, I32_SUB, TEE, CNT, BR_IF, 0);
  e(END);
  for (let r = 0; r < rows; r++) {
    if (r > 0) e(GET, CO, GET, NW, I32_CONST, size, I32_MUL, I32_ADD, SET, CO);
    e(GET, CO, GET, ACC + 2 * r, V_STORE, mem(0, 4));
    e(GET, CO, GET, ACC + 2 * r + 1, V_STORE, mem(16, 4));
  }
  e(GET, J0, I32_CONST, w, I32_ADD, TEE, J0, GET, NW, I32_LT_S, BR_IF, 0);
  e(END);
  e(END); // function
  return funcBody(5, 2 * rows + 3, code);
}

/**
 * The body of `sigmoid32(ptr, n)` or `tanh32(ptr, n)`: the function applied in
 * place to the n float32s at byte offset ptr, four lanes at a time (the last
 * vector is processed whole: n is rounded up to a multiple of 4, the caller's
 * buffer must hold it).
 *
 * exp is Cephes' `expf`: x clamped to [−87.34, 88], x = k·ln 2 + r with
 * |r| ≤ ln 2 / 2 (ln 2 split in two parts), a degree-7 polynomial for e^r, and
 * 2^k built in the exponent bits. sigmoid(x) = 1 / (1 + e^−x). tanh(x) is
 * Cephes' odd polynomial x + x³·P(x²) for |x| < 0.625, else
 * sign(x)·(1 − e^−2|x|) / (1 + e^−2|x|). NaN propagates; ±Inf and the
 * saturation regions give the limits (sigmoid of x < −88 gives about 6e−39
 * instead of less). Measured maximum errors against `Math` over float32
 * inputs (tests/cpu_simd_test.ts): sigmoid within 2e-7 absolute, tanh within 2e-7 absolute and 4 float32
 * ulps relative.
 */
function activationBody(kind: "sigmoid" | "tanh", relaxed: boolean): number[] {
  // params: 0 ptr, 1 n; locals: 2 end (i32); 3 v, 4–8 the activations' temporaries, 9… their
  // constants (v128)
  const PTR = 0, N = 1, END_ = 2, V = 3;
  const { code, e } = emitter();
  const act = activations(e, relaxed, 4, 9);
  e(BLOCK, VOID, GET, N, I32_EQZ, BR_IF, 0);
  // end = ptr + ((n + 3) >> 2) << 4: whole vectors
  e(GET, PTR, GET, N, I32_CONST, 3, I32_ADD, I32_CONST, 2, I32_SHR_U, I32_CONST, 4, I32_SHL);
  e(I32_ADD, SET, END_);
  e(LOOP, VOID);
  e(GET, PTR, V_LOAD, mem(0, 4), SET, V);
  e(GET, PTR); // store address
  act[kind](V);
  e(V_STORE, mem(0, 4));
  e(GET, PTR, I32_CONST, 16, I32_ADD, TEE, PTR, GET, END_, I32_LT_U, BR_IF, 0);
  e(END, END);
  e(END); // function
  return funcBody(1, 6 + act.constants(), [...act.init(), ...code]);
}

/** Emitters of the float32 sigmoid and tanh of {@link activationBody} for any function body. */
interface Activations {
  /** Push sigmoid(local v), four lanes (v is not changed). */
  sigmoid(v: number): void;
  /** Push tanh(local v), four lanes (v is not changed). */
  tanh(v: number): void;
  /** How many v128 locals the constants take (from the `first` given). */
  constants(): number;
  /** The code that sets the constants' locals: put it before the body's code. */
  init(): number[];
}

/**
 * The activations of {@link activationBody} emitted through `e`, with five
 * v128 temporaries at locals `tmp` … `tmp + 4` and the loop's constants in
 * locals from `first` on (V8 materialises a v128.const at every use; a local
 * stays in a register or one load away). Every caller emits the same
 * instructions, so every caller computes the same bits.
 */
function activations(e: Emit, relaxed: boolean, tmp: number, first: number): Activations {
  const X = tmp, K = tmp + 1, R = tmp + 2, A = tmp + 3, E = tmp + 4;
  const consts = new Map<string, number[]>();
  const hoist = (v: number[]): number[] => {
    const key = v.join();
    let get = consts.get(key);
    if (!get) consts.set(key, get = [GET, first + consts.size]);
    return get;
  };
  const kf32 = (x: number) => hoist(f32x4(x)), ki32 = (x: number) => hoist(i32x4(x));
  /** Push exp(local X) (X is clamped in place). */
  const exp = () => {
    // pmin(x, c) = c < x ? c : x: min for every x, NaN included (c is not ±0), one instruction
    e(GET, X, kf32(88), F32X4_PMIN, kf32(-87.33654), F32X4_PMAX, SET, X);
    e(GET, X, kf32(Math.LOG2E), F32X4_MUL, F32X4_NEAREST, SET, K);
    e(GET, X, GET, K, kf32(0.693359375), F32X4_MUL, F32X4_SUB);
    e(GET, K, kf32(-2.12194440e-4), F32X4_MUL, F32X4_SUB, SET, R);
    e(kf32(1.9875691500e-4));
    for (const c of [1.3981999507e-3, 8.3334519073e-3, 4.1665795894e-2, 1.6666665459e-1]) {
      e(GET, R, F32X4_MUL, kf32(c), F32X4_ADD);
    }
    e(GET, R, F32X4_MUL, kf32(5.0000001201e-1), F32X4_ADD);
    e(GET, R, GET, R, F32X4_MUL, F32X4_MUL, GET, R, F32X4_ADD, kf32(1), F32X4_ADD);
    // 2^k: (k + 127) << 23 as float32 bits
    // k is a whole number in [−126, 127] (or NaN, whose result is NaN either way): the
    // relaxed conversion (one instruction on x86) gives the same integer
    e(GET, K, relaxed ? I32X4_RELAXED_TRUNC_F32X4_S : I32X4_TRUNC_SAT_F32X4_S);
    e(ki32(127), I32X4_ADD, I32_CONST, 23, I32X4_SHL);
    e(F32X4_MUL);
  };
  return {
    sigmoid(v) {
      e(GET, v, F32X4_NEG, SET, X);
      e(kf32(1));
      exp();
      e(kf32(1), F32X4_ADD, F32X4_DIV);
    },
    tanh(v) {
      e(GET, v, F32X4_ABS, TEE, A, kf32(-2), F32X4_MUL, SET, X);
      exp();
      e(SET, E);
      // small |x|: x + x·z·P(z), z = x²
      e(GET, v, GET, v, F32X4_MUL, SET, X);
      e(kf32(-5.70498872745e-3));
      for (const c of [2.06390887954e-2, -5.37397155531e-2, 1.33314422036e-1, -3.33332819422e-1]) {
        e(GET, X, F32X4_MUL, kf32(c), F32X4_ADD);
      }
      e(GET, X, F32X4_MUL, GET, v, F32X4_MUL, GET, v, F32X4_ADD);
      // large |x|: sign(x)·(1 − e) / (1 + e)
      e(kf32(1), GET, E, F32X4_SUB, kf32(1), GET, E, F32X4_ADD, F32X4_DIV);
      e(GET, v, ki32(-0x80000000), V_AND, V_OR);
      e(GET, A, kf32(0.625), F32X4_LT, V_BITSELECT);
    },
    constants: () => consts.size,
    init: () => [...consts].flatMap(([key, [, at]]) => [...key.split(",").map(Number), SET, at!]),
  };
}

/**
 * The body of `colSum(acc, x, rows, n)`: acc[j] += x[r·n + j] for r < rows in
 * order, j < n, acc float64 and x float32 (promoted exactly), two columns at a
 * time and `group` rows per pass over acc (rows a multiple of it): the float64
 * sums of a column loop, bit for bit. With n odd the last pair reads one
 * float32 past each row into acc[n] (the caller's padding).
 */
function colSumBody(group: number): number[] {
  // params 0 acc, 1 x, 2 rows, 3 n; locals 4 a, 5 px, 6 end, 7 row, 8 stride (i32)
  const ACC = 0, X = 1, ROWS = 2, N = 3, A = 4, PX = 5, END_ = 6, ROW = 7, S = 8;
  const { code, e } = emitter();
  e(GET, N, I32_CONST, 2, I32_SHL, SET, S);
  e(BLOCK, VOID, GET, ROWS, I32_EQZ, GET, N, I32_EQZ, I32_OR, BR_IF, 0);
  // end = acc + ((n + 1) >> 1) · 16
  e(GET, ACC, GET, N, I32_CONST, 1, I32_ADD, I32_CONST, 1, I32_SHR_U, I32_CONST, 4, I32_SHL);
  e(I32_ADD, SET, END_, GET, X, SET, ROW);
  e(LOOP, VOID); // rows
  e(GET, ACC, SET, A, GET, ROW, SET, PX);
  e(LOOP, VOID); // column pairs
  e(GET, A, GET, A, V_LOAD, mem(0, 4));
  for (let g = 0; g < group; g++) {
    e(GET, PX);
    for (let q = 0; q < g; q++) e(GET, S, I32_ADD);
    e(V_LOAD64_ZERO, mem(0, 3), F64X2_PROMOTE_LOW_F32X4, F64X2_ADD);
  }
  e(V_STORE, mem(0, 4));
  e(GET, PX, I32_CONST, 8, I32_ADD, SET, PX);
  e(GET, A, I32_CONST, 16, I32_ADD, TEE, A, GET, END_, I32_LT_U, BR_IF, 0);
  e(END);
  e(GET, ROW, GET, S, I32_CONST, group, I32_MUL, I32_ADD, SET, ROW);
  e(GET, ROWS, I32_CONST, group, I32_SUB, TEE, ROWS, BR_IF, 0);
  e(END, END);
  e(END); // function
  return funcBody(5, 0, code);
}

/**
 * The body of `mseSum(x, t, n, acc)`: the float64 pair at acc += the float32
 * squares (x − t)² of n elements (n a multiple of 4), elements 0, 2, 4, … into
 * the first lane and 1, 3, 5, … into the second, in order: the two sums of the
 * row sum of `reduce.ts`, bit for bit.
 */
function mseSumBody(): number[] {
  // params 0 x, 1 t, 2 n, 3 acc; locals 4 end (i32); 5 a, 6 q (v128)
  const X = 0, T = 1, N = 2, ACC = 3, END_ = 4, A = 5, Q = 6;
  const { code, e } = emitter();
  e(BLOCK, VOID, GET, N, I32_EQZ, BR_IF, 0);
  e(GET, X, GET, N, I32_CONST, 2, I32_SHL, I32_ADD, SET, END_);
  e(GET, ACC, V_LOAD, mem(0, 4), SET, A);
  e(LOOP, VOID);
  e(GET, X, V_LOAD, mem(0, 2), GET, T, V_LOAD, mem(0, 2), F32X4_SUB, TEE, Q, GET, Q, F32X4_MUL);
  e(TEE, Q, F64X2_PROMOTE_LOW_F32X4, GET, A, F64X2_ADD, SET, A);
  e(GET, A, GET, Q, GET, Q, shuffle32([2, 3, 2, 3]), F64X2_PROMOTE_LOW_F32X4, F64X2_ADD, SET, A);
  e(GET, T, I32_CONST, 16, I32_ADD, SET, T);
  e(GET, X, I32_CONST, 16, I32_ADD, TEE, X, GET, END_, I32_LT_U, BR_IF, 0);
  e(END);
  e(GET, ACC, GET, A, V_STORE, mem(0, 4));
  e(END);
  e(END); // function
  return funcBody(1, 2, code);
}

/**
 * The body of `mseGrad(x, t, o, n, g)`: o = 2·(g·(x − t)) + 0 in float32
 * (the float32 scale g at byte g), four lanes at a time, n rounded up to a
 * multiple of 4: each product rounded as `Math.fround` rounds it (doubling is
 * exact, + 0 turns −0 into +0).
 */
function mseGradBody(): number[] {
  // params 0 x, 1 t, 2 o, 3 n, 4 g; locals 5 end (i32); 6 g (v128)
  const X = 0, T = 1, O = 2, N = 3, G = 4, END_ = 5, VG = 6;
  const { code, e } = emitter();
  e(BLOCK, VOID, GET, N, I32_EQZ, BR_IF, 0);
  e(GET, X, GET, N, I32_CONST, 3, I32_ADD, I32_CONST, 2, I32_SHR_U, I32_CONST, 4, I32_SHL);
  e(I32_ADD, SET, END_, GET, G, V_LOAD32_SPLAT, mem(0, 2), SET, VG);
  e(LOOP, VOID);
  e(GET, O, GET, VG, GET, X, V_LOAD, mem(0, 2), GET, T, V_LOAD, mem(0, 2), F32X4_SUB, F32X4_MUL);
  e(f32x4(2), F32X4_MUL, f32x4(0), F32X4_ADD, V_STORE, mem(0, 2));
  e(GET, T, I32_CONST, 16, I32_ADD, SET, T, GET, O, I32_CONST, 16, I32_ADD, SET, O);
  e(GET, X, I32_CONST, 16, I32_ADD, TEE, X, GET, END_, I32_LT_U, BR_IF, 0);
  e(END, END);
  e(END); // function
  return funcBody(1, 1, code);
}

/** i8x16.shuffle of two vectors by float32 lanes (0–3 the first, 4–7 the second). */
function shuffle32(lanes: readonly number[]): number[] {
  return [SIMD, 0x0d, ...lanes.flatMap((f) => [4 * f, 4 * f + 1, 4 * f + 2, 4 * f + 3])];
}

/**
 * The body of `packT8(dst, src, lines, k, pitch)`: op(B)'s columns stored as
 * lines of k consecutive float32s (line l at src + l·pitch, pitch ≥ k rounded up
 * to 4) into the strip kernels' 8-wide panels (dst[⌊l/8⌋·8k + p·8 + l mod 8] =
 * line l, depth p), four depths of four lines at a time through 4 × 4
 * transposes. It reads whole groups of 8 lines and 4 depths (the caller's
 * staging holds them) and writes up to 3 depths past each panel, into the
 * next one (written after it) or past the end.
 */
function packT8Body(): number[] {
  // params 0 dst, 1 src, 2 lines, 3 k, 4 pitch; locals 5 pb, 6 kEnd, 7 po, 8 d, 9 panel,
  // 10 s, 11–18 line pointers (i32); v128 19–22 rows, 23–26 halves
  const DST = 0, SRC = 1, LINES = 2, K = 3, PITCH = 4, PB = 5, KEND = 6, PO = 7, D = 8;
  const PANEL = 9, S = 10, L0 = 11, R0 = 19, T0 = 23;
  const { code, e } = emitter();
  e(BLOCK, VOID, GET, LINES, I32_EQZ, GET, K, I32_EQZ, I32_OR, BR_IF, 0);
  e(GET, PITCH, I32_CONST, 2, I32_SHL, SET, PB);
  e(GET, K, I32_CONST, 3, I32_ADD, I32_CONST, 2, I32_SHR_U, I32_CONST, 4, I32_SHL, SET, KEND);
  e(GET, DST, SET, PANEL, GET, SRC, SET, S);
  e(LOOP, VOID); // panels of 8 lines
  e(GET, S, SET, L0);
  for (let i = 1; i < 8; i++) e(GET, L0 + i - 1, GET, PB, I32_ADD, SET, L0 + i);
  e(I32_CONST, 0, SET, PO, GET, PANEL, SET, D);
  e(LOOP, VOID); // 4 depths
  for (let h = 0; h < 2; h++) {
    for (let i = 0; i < 4; i++) {
      e(GET, L0 + 4 * h + i, GET, PO, I32_ADD, V_LOAD, mem(0, 2), SET, R0 + i);
    }
    e(GET, R0, GET, R0 + 1, shuffle32([0, 4, 1, 5]), SET, T0);
    e(GET, R0, GET, R0 + 1, shuffle32([2, 6, 3, 7]), SET, T0 + 1);
    e(GET, R0 + 2, GET, R0 + 3, shuffle32([0, 4, 1, 5]), SET, T0 + 2);
    e(GET, R0 + 2, GET, R0 + 3, shuffle32([2, 6, 3, 7]), SET, T0 + 3);
    for (let q = 0; q < 4; q++) {
      const [a, b] = q < 2 ? [T0, T0 + 2] : [T0 + 1, T0 + 3];
      e(GET, D, GET, a, GET, b, shuffle32(q % 2 === 0 ? [0, 1, 4, 5] : [2, 3, 6, 7]));
      e(V_STORE, mem(32 * q + 16 * h, 2));
    }
  }
  e(GET, D, I32_CONST, ...sleb(128), I32_ADD, SET, D);
  e(GET, PO, I32_CONST, 16, I32_ADD, TEE, PO, GET, KEND, I32_LT_U, BR_IF, 0);
  e(END);
  e(GET, PANEL, GET, K, I32_CONST, 5, I32_SHL, I32_ADD, SET, PANEL);
  e(GET, S, GET, PB, I32_CONST, 3, I32_SHL, I32_ADD, SET, S);
  e(GET, LINES, I32_CONST, 8, I32_SUB, TEE, LINES, I32_CONST, 0, I32_GT_S, BR_IF, 0);
  e(END, END);
  e(END); // function
  return funcBody(14, 8, code);
}

/**
 * The body of `packN8(dst, src, n, k, pitch)`: op(B) stored as k rows of
 * consecutive float32 columns (row p at src + p·pitch) into the strip kernels'
 * 8-wide panels (dst[⌊j/8⌋·8k + p·8 + j mod 8] = row p, column j), 8 columns
 * (two vectors) at a time. The last panel reads up to 7 columns past n (the
 * caller's staging holds them).
 */
function packN8Body(): number[] {
  // params 0 dst, 1 src, 2 n, 3 k, 4 pitch; locals 5 pb, 6 jp, 7 s, 8 cnt (i32)
  const DST = 0, SRC = 1, N = 2, K = 3, PITCH = 4, PB = 5, JP = 6, S = 7, CNT = 8;
  const { code, e } = emitter();
  e(BLOCK, VOID, GET, N, I32_EQZ, GET, K, I32_EQZ, I32_OR, BR_IF, 0);
  e(GET, PITCH, I32_CONST, 2, I32_SHL, SET, PB, GET, SRC, SET, JP);
  e(LOOP, VOID); // panels
  e(GET, JP, SET, S, GET, K, SET, CNT);
  e(LOOP, VOID); // depths
  e(GET, DST, GET, S, V_LOAD, mem(0, 2), V_STORE, mem(0, 2));
  e(GET, DST, GET, S, V_LOAD, mem(16, 2), V_STORE, mem(16, 2));
  e(GET, DST, I32_CONST, 32, I32_ADD, SET, DST, GET, S, GET, PB, I32_ADD, SET, S);
  e(GET, CNT, I32_CONST, 1, I32_SUB, TEE, CNT, BR_IF, 0);
  e(END);
  e(GET, JP, I32_CONST, 32, I32_ADD, SET, JP);
  e(GET, N, I32_CONST, 8, I32_SUB, TEE, N, I32_CONST, 0, I32_GT_S, BR_IF, 0);
  e(END, END);
  e(END); // function
  return funcBody(4, 0, code);
}

/** 0, 1, 2, …: destructured to name a function's parameters and locals by position. */
const COUNT: readonly number[] = Array.from({ length: 32 }, (_, i) => i);

/** A v128 constant: two float64 lanes equal to `x`. */
function f64x2(x: number): number[] {
  return [SIMD, 0x0c, ...new Uint8Array(new Float64Array([x, x]).buffer)];
}

/** The v128 constant (1, 1) in float64 lanes. */
const one = f64x2(1);

/**
 * A function body of `params` i32 parameters, the last of which is n, that
 * runs `step` for byte offsets o = 0, `bytes`, 2·`bytes`, … below 4n (n
 * float32s; the last step is processed whole, so n is rounded up to a
 * multiple of `bytes` / 4). `step` emits code reading local O; local
 * `params + 1` holds 4n, the byte length of one block of n, and with
 * `blocks` > 1 the i32 locals from `params + 2` on hold 2·4n … blocks·4n (the
 * offsets of a row's later gate blocks); `step` may use the i32 locals after
 * those (`i32s` of them) and v128 locals after them (`v128s`).
 */
function loopBody(
  params: number,
  bytes: number,
  i32s: number,
  v128s: number,
  step: (e: Emit, O: number) => void,
  blocks = 1,
): number[] {
  const N = params - 1, O = params, END_ = params + 1;
  const { code, e } = emitter();
  e(BLOCK, VOID, GET, N, I32_EQZ, BR_IF, 0);
  e(GET, N, I32_CONST, 2, I32_SHL, SET, END_);
  for (let k = 2; k <= blocks; k++) e(GET, END_, I32_CONST, k, I32_MUL, SET, END_ + k - 1);
  e(I32_CONST, 0, SET, O);
  e(LOOP, VOID);
  step(e, O);
  e(GET, O, I32_CONST, bytes, I32_ADD, TEE, O, GET, END_, I32_LT_U, BR_IF, 0);
  e(END, END);
  e(END); // function
  return funcBody(1 + blocks + i32s, v128s, code);
}

/** The float32 arithmetic of {@link SimdKernel.binary32}, by op name. */
const BINARY32 = {
  add: F32X4_ADD,
  sub: F32X4_SUB,
  mul: F32X4_MUL,
  div: F32X4_DIV,
  // comparisons: the lanes' all-ones / all-zeros masks ANDed with 1.0 give 1 or +0
  eq: [SIMD, 0x41, ...f32x4(1), ...V_AND],
  ne: [SIMD, 0x42, ...f32x4(1), ...V_AND],
  lt: [SIMD, 0x43, ...f32x4(1), ...V_AND],
  gt: [SIMD, 0x44, ...f32x4(1), ...V_AND],
  le: [SIMD, 0x45, ...f32x4(1), ...V_AND],
  ge: [SIMD, 0x46, ...f32x4(1), ...V_AND],
} as const;

/** The ops {@link SimdKernel.binary32} runs. */
export type SimdBinary = keyof typeof BINARY32;

/**
 * Whether {@link SimdKernel.binary32} runs binary op `op`.
 *
 * @param op a binary op's name
 */
export function isSimdBinary(op: string): op is SimdBinary {
  return Object.hasOwn(BINARY32, op);
}

/**
 * The body of `add32(dst, a, b, n)` (or sub, mul, div): dst[i] = a[i] op b[i]
 * in float32, four lanes at a time.
 */
function binary32Body(op: readonly number[]): number[] {
  return loopBody(4, 16, 0, 0, (e, O) => {
    e(GET, 0, GET, O, I32_ADD); // store address
    e(GET, 1, GET, O, I32_ADD, V_LOAD, mem(0, 4));
    e(GET, 2, GET, O, I32_ADD, V_LOAD, mem(0, 4), [...op], V_STORE, mem(0, 4));
  });
}

/** Emit: the byte address local `ptr` (+ local `plus` when ≥ 0) + local O. */
function address(e: Emit, ptr: number, O: number, plus = -1): void {
  e(GET, ptr);
  if (plus >= 0) e(GET, plus, I32_ADD);
  e(GET, O, I32_ADD);
}

/**
 * Emit: two float32s at byte address local `ptr` (+ local `plus`, + local O,
 * + the constant `offset`) widened to float64 lanes.
 */
function load2(e: Emit, ptr: number, O: number, plus = -1, offset = 0): void {
  address(e, ptr, O, plus);
  e(V_LOAD64_ZERO, mem(offset, 3), F64X2_PROMOTE_LOW_F32X4);
}

/**
 * Emit: {@link load2} of each `[to, ptr, plus?]` into v128 local `to`, then
 * the sum of the loads at `sum` (right to left: a + (b + c)) into local
 * `sumTo`.
 */
function loads2(
  e: Emit,
  O: number,
  lets: readonly (readonly number[])[],
  sumTo: number,
  sum: readonly number[],
): void {
  for (const [to, ptr, plus] of lets) {
    load2(e, ptr!, O, plus ?? -1);
    e(SET, to!);
  }
  for (const ptr of sum) load2(e, ptr, O);
  for (let i = 1; i < sum.length; i++) e(F64X2_ADD);
  e(SET, sumTo);
}

/** Emit: store the float64 lanes on the stack, rounded to float32, at byte address `ptr` (+ `plus`) + O. */
function store2(
  e: Emit,
  ptr: number,
  O: number,
  plus: number,
  value: () => void,
): void {
  address(e, ptr, O, plus);
  value();
  e(F32X4_DEMOTE_F64X2_ZERO, V_STORE64_LANE, mem(0, 3), 0);
}

/**
 * Emitters over the byte offset in local `O`: `blocks(n, to)` sets local
 * `to[k]` to (k + 1)·4n, the byte offsets of a row's gate blocks of n
 * float32s; `at(ptr, plus)` pushes local `ptr` (+ local `plus`) + O; `inner(from, to, step, body)` runs `body` for
 * O = local `from` (0 when `from` < 0), + `step`, … below local `to`;
 * `rows(count, next, body)` runs `body` local `count` times (none when 0),
 * adding local `by` to local `ptr` for each `[ptr, by]` of `next` after each.
 */
function rowCode(e: Emit, O: number): {
  blocks(n: number, to: readonly number[]): void;
  at(ptr: number, plus?: number): void;
  inner(from: number, to: number, step: number, body: () => void): void;
  rows(count: number, next: readonly (readonly [number, number])[], body: () => void): void;
} {
  return {
    rows(count, next, body) {
      e(BLOCK, VOID, GET, count, I32_EQZ, BR_IF, 0);
      e(LOOP, VOID);
      body();
      for (const [ptr, by] of next) e(GET, ptr, GET, by, I32_ADD, SET, ptr);
      e(GET, count, I32_CONST, 1, I32_SUB, TEE, count, BR_IF, 0);
      e(END, END);
    },
    blocks(n, to) {
      e(GET, n, I32_CONST, 2, I32_SHL, SET, to[0]!);
      for (let k = 1; k < to.length; k++) e(GET, to[0]!, I32_CONST, k + 1, I32_MUL, SET, to[k]!);
    },
    at: (ptr, plus = -1) => address(e, ptr, O, plus),
    inner(from, to, step, body) {
      if (from < 0) e(I32_CONST, 0, SET, O);
      else e(GET, from, SET, O);
      e(LOOP, VOID);
      body();
      e(GET, O, I32_CONST, step, I32_ADD, TEE, O, GET, to, I32_LT_U, BR_IF, 0);
      e(END);
    },
  };
}

/**
 * The body of `lstmRows(c, x, cp, cn, ht, rows, n)`: the whole LSTM forward
 * step after the product for `rows` rows of n units (n a multiple of 4), four
 * lanes at a time, each value computed as the separate passes compute it (so
 * the same bits): the pre-activations c (rows of 4n: the product) += x (rows
 * of 4n), then in place sigmoid on the i and f blocks, tanh on g and sigmoid
 * on o ({@link activations}); c_t = f·c_{t−1} + i·g in float64 rounded once
 * (the scalar kernel's float64 value) into cn from c_{t−1} at cp (rows of n);
 * and h_t = o·tanh(c_t) in float32 into ht (rows of n).
 */
function lstmRowsBody(relaxed: boolean): number[] {
  // params 0 c, 1 x, 2 cp, 3 cn, 4 ht, 5 rows, 6 n; locals 7 o, 8 hb (= 4n bytes), 9 hb2,
  // 10 hb3, 11 the bytes of a row of c (i32); 12 v, 13–17 the activations' temporaries, 18 c_t,
  // 19 its low half, 20… constants (v128)
  const C = 0, X = 1, CP = 2, CN = 3, HT = 4, ROWS = 5, N = 6, O = 7, HB = 8, HB2 = 9, HB3 = 10;
  const ROW = 11, V = 12, VC = 18, VLO = 19;
  const { code, e } = emitter();
  const act = activations(e, relaxed, 13, 20);
  const { blocks, at, inner, rows } = rowCode(e, O);
  blocks(N, [HB, HB2, HB3, ROW]);
  /** The gates from byte `from` to `to` of the row: c + x, activated in place. */
  const gates = (from: number, to: number, kind: "sigmoid" | "tanh") =>
    inner(from, to, 16, () => {
      at(C); // store address
      at(C);
      e(V_LOAD, mem(0, 4));
      at(X);
      e(V_LOAD, mem(0, 4), F32X4_ADD, SET, V);
      act[kind](V);
      e(V_STORE, mem(0, 4));
    });
  const next = [[C, ROW], [X, ROW], [CP, HB], [CN, HB], [HT, HB]] as const;
  rows(ROWS, next, () => {
    gates(-1, HB2, "sigmoid"); // i, f
    gates(HB2, HB3, "tanh"); // g
    gates(HB3, ROW, "sigmoid"); // o
    inner(-1, HB, 16, () => {
      for (const half of [0, 8]) {
        // f·c_{t−1} + i·g in float64, rounded once
        load2(e, C, O, HB, half);
        load2(e, CP, O, -1, half);
        e(F64X2_MUL);
        load2(e, C, O, -1, half);
        load2(e, C, O, HB2, half);
        e(F64X2_MUL, F64X2_ADD, F32X4_DEMOTE_F64X2_ZERO);
        if (half === 0) e(SET, VLO);
      }
      e(SET, VC, GET, VLO, GET, VC, shuffle32([0, 1, 4, 5]), SET, VC);
      at(CN);
      e(GET, VC, V_STORE, mem(0, 4));
      at(HT);
      at(C, HB3);
      e(V_LOAD, mem(0, 4));
      act.tanh(VC);
      e(F32X4_MUL, V_STORE, mem(0, 4));
    });
  });
  e(END); // function
  return funcBody(5, 8 + act.constants(), [...act.init(), ...code]);
}

/**
 * The body of `lstmCellBack(dh, rec, g, tc, cp, dc, dg, n)`: one row of the
 * LSTM backward step in float64, each result rounded once to float32,
 * exactly as the scalar kernel computes it: dh' = dh + rec,
 * dc' = dc + dh'·o·(1 − tc²), dg = [dc'·g·i·(1 − i), dc'·cp·f·(1 − f),
 * dc'·i·(1 − g²), dh'·tc·o·(1 − o)] (gate blocks at dg, dg + n, …), and
 * dc = dc'·f in place. Gates i, f, g, o at g, g + n, g + 2n, g + 3n; tc is
 * tanh(c_t). Two lanes at a time (n even).
 */
// params 0 dh, 1 rec, 2 g, 3 tc, 4 cp, 5 dc, 6 dg, 7 n; locals 8 o, 9 end (= hb),
// 10 hb2, 11 hb3 (i32); 12 dh', 13 tc, 14 dc', 15 i, 16 f, 17 g, 18 o (v128)
function lstmCellBackBody(): number[] {
  const [DH, REC, GT, TC, CP, DC, DG, , O, HB, HB2, HB3, VDH, VTC, VDC, VI, VF, VG, VO] = COUNT;
  return loopBody(8, 8, 0, 7, (e) => {
    const gates = [[VI, GT], [VF, GT, HB], [VG, GT, HB2], [VO, GT, HB3]];
    loads2(e, O, [[VTC, TC], ...gates], VDH, [DH, REC]);
    // dc' = dc + dh'·o·(1 − tc·tc)
    load2(e, DC, O);
    e(GET, VDH, GET, VO, F64X2_MUL, one, GET, VTC, GET, VTC, F64X2_MUL, F64X2_SUB, F64X2_MUL);
    e(F64X2_ADD, SET, VDC);
    store2(e, DG, O, -1, () => {
      e(GET, VDC, GET, VG, F64X2_MUL, GET, VI, F64X2_MUL, one, GET, VI, F64X2_SUB, F64X2_MUL);
    });
    store2(e, DG, O, HB, () => {
      e(GET, VDC);
      load2(e, CP, O);
      e(F64X2_MUL, GET, VF, F64X2_MUL, one, GET, VF, F64X2_SUB, F64X2_MUL);
    });
    store2(e, DG, O, HB2, () => {
      e(GET, VDC, GET, VI, F64X2_MUL, one, GET, VG, GET, VG, F64X2_MUL, F64X2_SUB, F64X2_MUL);
    });
    store2(e, DG, O, HB3, () => {
      e(GET, VDH, GET, VTC, F64X2_MUL, GET, VO, F64X2_MUL, one, GET, VO, F64X2_SUB, F64X2_MUL);
    });
    store2(e, DC, O, -1, () => e(GET, VDC, GET, VF, F64X2_MUL));
  }, 3);
}

/**
 * The body of `gruRows(q, x, b, s, hp, ht, rows, n)`: the whole GRU forward
 * step after the product for `rows` rows of n units (n a multiple of 4), each
 * value computed as the separate passes compute it (so the same bits): with
 * the product W_hh·h at q (rows of 3n rounded up to 8), x (rows of 3n) and
 * b_hh at b, the saved rows s (4n: r, z, n, hn) get r, z = sigmoid(x + q + b)
 * and n = tanh(x + r·(q + b)) (pre-activations in float64 rounded once, the
 * scalar kernel's values) and hn = q + b (float32); h_t = (1 − z)·n + z·h_{t−1}
 * (float64 rounded once; h_{t−1} at hp, rows of n) into ht (rows of n).
 */
function gruRowsBody(relaxed: boolean): number[] {
  // params 0 q, 1 x, 2 b, 3 s, 4 hp, 5 ht, 6 rows, 7 n; locals 8 o, 9 hb (= 4n bytes), 10 hb2,
  // 11 hb3, 12 the bytes of a row of q, 13 of s (i32); 14 v, 15–19 the activations'
  // temporaries, 20 z, 21… constants (v128)
  const Q = 0, X = 1, B = 2, S = 3, HP = 4, HT = 5, ROWS = 6, N = 7, O = 8, HB = 9, HB2 = 10;
  const HB3 = 11, QROW = 12, SROW = 13, V = 14, Z = 20;
  const { code, e } = emitter();
  const act = activations(e, relaxed, 15, 21);
  const { blocks, at, inner, rows } = rowCode(e, O);
  /** In place over the bytes from local `from` to `to` of the row of s. */
  const activate = (from: number, to: number, kind: "sigmoid" | "tanh") =>
    inner(from, to, 16, () => {
      at(S); // store address
      at(S);
      e(V_LOAD, mem(0, 4), SET, V);
      act[kind](V);
      e(V_STORE, mem(0, 4));
    });
  blocks(N, [HB, HB2, HB3, SROW]);
  // q rows: 3n float32s rounded up to 8, ((3n + 7) >> 3) << 5 bytes
  e(GET, N, I32_CONST, 3, I32_MUL, I32_CONST, 7, I32_ADD, I32_CONST, 3, I32_SHR_U);
  e(I32_CONST, 5, I32_SHL, SET, QROW);
  const next = [[Q, QROW], [X, HB3], [S, SROW], [HP, HB], [HT, HB]] as const;
  rows(ROWS, next, () => {
    inner(-1, HB2, 8, () =>
      store2(e, S, O, -1, () => { // r, z pre-activations: (x + q) + b
        load2(e, X, O);
        load2(e, Q, O);
        e(F64X2_ADD);
        load2(e, B, O);
        e(F64X2_ADD);
      }));
    activate(-1, HB2, "sigmoid");
    inner(-1, HB, 8, () =>
      store2(e, S, O, HB2, () => { // n's pre-activation: x + r·(q + b)
        load2(e, X, O, HB2);
        load2(e, S, O);
        load2(e, Q, O, HB2);
        load2(e, B, O, HB2);
        e(F64X2_ADD, F64X2_MUL, F64X2_ADD);
      }));
    activate(HB2, HB3, "tanh");
    inner(-1, HB, 16, () => { // hn = q + b in float32
      at(S, HB3);
      at(Q, HB2);
      e(V_LOAD, mem(0, 4));
      at(B, HB2);
      e(V_LOAD, mem(0, 4), F32X4_ADD, V_STORE, mem(0, 4));
    });
    inner(-1, HB, 8, () =>
      store2(e, HT, O, -1, () => { // h_t = (1 − z)·n + z·h_{t−1}
        load2(e, S, O, HB);
        e(SET, Z, one, GET, Z, F64X2_SUB);
        load2(e, S, O, HB2);
        e(F64X2_MUL, GET, Z);
        load2(e, HP, O);
        e(F64X2_MUL, F64X2_ADD);
      }));
  });
  e(END); // function
  return funcBody(6, 7 + act.constants(), [...act.init(), ...code]);
}

/**
 * The body of `gruCellBack(dh, dhz, rec, s, hp, dgx, dgh, n)`: one row of the
 * GRU backward step in float64, each result rounded once to float32, exactly
 * as the scalar kernel computes it: dh' = dh + (dhz + rec); with r, z, n, hn
 * saved at s, s + n, s + 2n, s + 3n and h_{t−1} at hp: dn = dh'·(1 − z)·(1 − n²),
 * dz = dh'·(hp − n)·z·(1 − z), dr = dn·hn·r·(1 − r); dgx = [dr, dz, dn],
 * dgh = [dr, dz, dn·r] (blocks n apart) and dhz = dh'·z in place. Two lanes
 * at a time (n even).
 */
// params 0 dh, 1 dhz, 2 rec, 3 s, 4 hp, 5 dgx, 6 dgh, 7 n; locals 8 o, 9 end (= hb),
// 10 hb2, 11 hb3 (i32); 12 dh', 13 r, 14 z, 15 n, 16 dn, 17 dz, 18 dr (v128)
function gruCellBackBody(): number[] {
  const [DH, DHZ, REC, S, HP, DGX, DGH, , O, HB, HB2, HB3, VDH, VR, VZ, VN, VDN, VDZ, VDR] = COUNT;
  return loopBody(8, 8, 0, 7, (e) => {
    loads2(e, O, [[VR, S], [VZ, S, HB], [VN, S, HB2]], VDH, [DH, DHZ, REC]);
    // dn = dh'·(1 − z)·(1 − n·n)
    e(GET, VDH, one, GET, VZ, F64X2_SUB, F64X2_MUL, one, GET, VN, GET, VN, F64X2_MUL, F64X2_SUB);
    e(F64X2_MUL, SET, VDN);
    // dz = dh'·(hp − n)·z·(1 − z)
    e(GET, VDH);
    load2(e, HP, O);
    e(GET, VN, F64X2_SUB, F64X2_MUL, GET, VZ, F64X2_MUL, one, GET, VZ, F64X2_SUB, F64X2_MUL);
    e(SET, VDZ);
    // dr = dn·hn·r·(1 − r)
    e(GET, VDN);
    load2(e, S, O, HB3);
    e(F64X2_MUL, GET, VR, F64X2_MUL, one, GET, VR, F64X2_SUB, F64X2_MUL, SET, VDR);
    store2(e, DGX, O, -1, () => e(GET, VDR));
    store2(e, DGX, O, HB, () => e(GET, VDZ));
    store2(e, DGX, O, HB2, () => e(GET, VDN));
    store2(e, DGH, O, -1, () => e(GET, VDR));
    store2(e, DGH, O, HB, () => e(GET, VDZ));
    store2(e, DGH, O, HB2, () => e(GET, VDN, GET, VR, F64X2_MUL));
    store2(e, DHZ, O, -1, () => e(GET, VDH, GET, VZ, F64X2_MUL));
  }, 3);
}

/**
 * The float32 maps {@link SimdKernel.map32} runs, by op name: each emits the
 * result lanes from v128 locals V (two inputs widened to float64), P0 and P1
 * (the parameters, splatted); the results are rounded once to float32. Each
 * gives the bits of the op's JavaScript loop over a Float32Array (which
 * computes in float64 and rounds on store): `Math.max` and f64x2.max agree on
 * NaN and on ±0, a comparison of a widened float32 with a float64 parameter
 * is exact, and one float64 operation rounded to float32 is what the loop
 * stores.
 */
const MAPS = {
  /** max(x, 0) (tensor/optable.ts `relu`: Math.max(x, 0)). */
  relu: (e: Emit) => e(GET, 5, f64x2(0), F64X2_MAX),
  /** x > 0 ? x : p0·x. */
  leakyRelu: (e: Emit) =>
    e(GET, 5, GET, 5, GET, 6, F64X2_MUL, GET, 5, f64x2(0), F64X2_GT, V_BITSELECT),
  /** x > p0 ? 1 : 0. */
  step: (e: Emit) => e(GET, 5, GET, 6, F64X2_GT, f64x2(1), V_AND),
  /** p0·x + p1. */
  affine: (e: Emit) => e(GET, 6, GET, 5, F64X2_MUL, GET, 7, F64X2_ADD),
} as const;

/** The ops {@link SimdKernel.map32} runs. */
export type SimdMap = keyof typeof MAPS;

/**
 * Whether {@link SimdKernel.map32} runs unary op `op`.
 *
 * @param op a unary op's name
 */
export function isSimdMap(op: string): op is SimdMap {
  return Object.hasOwn(MAPS, op);
}

/**
 * The body of a map `f(ptr, n, p0, p1)` (p0, p1 float64) over the n float32s
 * at byte offset ptr, in place, two float64 lanes at a time (n rounded up to
 * even): params 0 ptr, 1 n, 2 p0, 3 p1; locals 4 end (i32), 5 x, 6 p0, 7 p1
 * (v128).
 */
function mapBody(lanes: (e: Emit) => void): number[] {
  const { code, e } = emitter();
  e(BLOCK, VOID, GET, 1, I32_EQZ, BR_IF, 0);
  // end = ptr + ((n + 1) >> 1) << 3: whole pairs
  e(GET, 0, GET, 1, I32_CONST, 1, I32_ADD, I32_CONST, 1, I32_SHR_U, I32_CONST, 3, I32_SHL);
  e(I32_ADD, SET, 4);
  e(GET, 2, F64X2_SPLAT, SET, 6, GET, 3, F64X2_SPLAT, SET, 7);
  e(LOOP, VOID);
  e(GET, 0); // store address
  e(GET, 0, V_LOAD64_ZERO, mem(0, 3), F64X2_PROMOTE_LOW_F32X4, SET, 5);
  lanes(e);
  e(F32X4_DEMOTE_F64X2_ZERO, V_STORE64_LANE, mem(0, 3), 0);
  e(GET, 0, I32_CONST, 8, I32_ADD, TEE, 0, GET, 4, I32_LT_U, BR_IF, 0);
  e(END, END);
  e(END); // function
  return funcBody(1, 3, code);
}

/** The ways an Adam update treats weight decay: none, added to the gradient (Adam's L2), or decoupled (AdamW). */
export const ADAM_DECAYS = ["none", "l2", "decoupled"] as const;

/** How an Adam update treats weight decay (see {@link ADAM_DECAYS}). */
export type AdamDecay = typeof ADAM_DECAYS[number];

/** The scalars of {@link SimdKernel.adam32}: b1, 1 − b1, b2, 1 − b2, stepSize, √bc2, eps, wd. */
export type AdamScalars = readonly [number, number, number, number, number, number, number, number];

/**
 * The body of `adam32_<decay>(p, g, m, v, n, b1, c1, b2, c2, stepSize,
 * bc2Sqrt, eps, wd)`: one Adam / AdamW update of n float32 parameters in
 * place, two float64 lanes at a time (n rounded up to even), with the
 * operations, their order and the roundings of the JavaScript loop in
 * tensor/routines/optim/cpu.ts: d = g (+ wd·x for l2; x ·= wd for
 * decoupled), m = b1·m + c1·d and v = b2·v + c2·(d·d), each stored as
 * float32 and used as stored, p = x − stepSize·(m / (√v / bc2Sqrt + eps)).
 */
function adamBody(decay: AdamDecay): number[] {
  // params 0 p, 1 g, 2 m, 3 v, 4 n (i32), 5 b1, 6 c1, 7 b2, 8 c2, 9 stepSize, 10 bc2Sqrt,
  // 11 eps, 12 wd (f64); locals 13 o, 14 end (i32); 15–22 the f64 params splatted,
  // 23 x, 24 d, 25 m, 26 v (v128)
  const O = 13, END_ = 14, X = 23, D = 24, M = 25, V = 26;
  const [B1, C1, B2, C2, SS, BC, EPS, WD] = [15, 16, 17, 18, 19, 20, 21, 22];
  const { code, e } = emitter();
  /** Round the float64 lanes on the stack to float32, store them at `ptr` + o and keep them in `to`. */
  const keep = (ptr: number, to: number) => {
    e(F32X4_DEMOTE_F64X2_ZERO, F64X2_PROMOTE_LOW_F32X4, SET, to);
    e(GET, ptr, GET, O, I32_ADD, GET, to, F32X4_DEMOTE_F64X2_ZERO, V_STORE64_LANE, mem(0, 3), 0);
  };
  e(BLOCK, VOID, GET, 4, I32_EQZ, BR_IF, 0);
  e(GET, 4, I32_CONST, 1, I32_ADD, I32_CONST, 1, I32_SHR_U, I32_CONST, 3, I32_SHL, SET, END_);
  for (let i = 0; i < 8; i++) e(GET, 5 + i, F64X2_SPLAT, SET, B1 + i);
  e(I32_CONST, 0, SET, O);
  e(LOOP, VOID);
  load2(e, 0, O);
  e(SET, X);
  load2(e, 1, O);
  e(SET, D);
  if (decay === "l2") e(GET, D, GET, WD, GET, X, F64X2_MUL, F64X2_ADD, SET, D);
  if (decay === "decoupled") e(GET, X, GET, WD, F64X2_MUL, SET, X);
  e(GET, B1);
  load2(e, 2, O);
  e(F64X2_MUL, GET, C1, GET, D, F64X2_MUL, F64X2_ADD);
  keep(2, M);
  e(GET, B2);
  load2(e, 3, O);
  e(F64X2_MUL, GET, C2, GET, D, GET, D, F64X2_MUL, F64X2_MUL, F64X2_ADD);
  keep(3, V);
  store2(e, 0, O, -1, () => {
    e(GET, X, GET, SS, GET, M, GET, V, F64X2_SQRT, GET, BC, F64X2_DIV, GET, EPS, F64X2_ADD);
    e(F64X2_DIV, F64X2_MUL, F64X2_SUB);
  });
  e(GET, O, I32_CONST, 8, I32_ADD, TEE, O, GET, END_, I32_LT_U, BR_IF, 0);
  e(END, END);
  e(END); // function
  return funcBody(2, 12, code);
}

/**
 * The module's bytes: imports memory `env.mem`, exports the functions of
 * {@link SimdKernel} (`strip32` with relaxed fused multiply-adds when `fma`).
 */
function moduleBytes(fma: boolean): Uint8Array {
  return assemble([
    ["strip", STRIP_TYPE, stripBody(8)],
    ["strip32", STRIP_TYPE, stripBody(4, fma, MR32)],
    ["sigmoid32", 1, activationBody("sigmoid", fma)],
    ["tanh32", 1, activationBody("tanh", fma)],
    ...Object.entries(BINARY32).map(([op, code]): [string, number, number[]] => [
      `${op}32`,
      3,
      binary32Body(code),
    ]),
    ["lstmRows", STRIP_TYPE, lstmRowsBody(fma)],
    ["gruRows", 4, gruRowsBody(fma)],
    ["colSum", 3, colSumBody(1)],
    ["mseSum", 3, mseSumBody()],
    ["mseGrad", 5, mseGradBody()],
    ["packT8", 5, packT8Body()],
    ["packN8", 5, packN8Body()],
    ["colSum4", 3, colSumBody(4)],
    ["lstmCellBack", 4, lstmCellBackBody()],
    ["gruCellBack", 4, gruCellBackBody()],
    ...ADAM_DECAYS.map((d): [string, number, number[]] => [
      `adam32_${d}`,
      ADAM_TYPE,
      adamBody(d),
    ]),
    ...Object.entries(MAPS).map(([op, lanes]): [string, number, number[]] => [
      `map_${op}`,
      MAP_TYPE,
      mapBody(lanes),
    ]),
  ]);
}

/** Type index of the strip kernels (7 i32 parameters) in {@link assemble}'s type section. */
const STRIP_TYPE = 6;
/** Type index of the maps (i32, i32, f64, f64). */
const MAP_TYPE = 7;
/** Type index of Adam (5 i32, 8 f64). */
const ADAM_TYPE = 8;

/**
 * A module that imports memory `env.mem` and exports the functions `fns`
 * (name, type index, body); type i < 7 is a function of [6, 2, 3, 4, 8, 5, 7][i]
 * i32 parameters, then {@link MAP_TYPE} and {@link ADAM_TYPE}; none returns a value.
 */
function assemble(fns: readonly [string, number, number[]][]): Uint8Array {
  const types = [6, 2, 3, 4, 8, 5, 7].map((n) => [0x60, ...vec(new Array(n).fill([I32])), 0]);
  types.push([0x60, ...vec([[I32], [I32], [F64], [F64]]), 0]);
  types.push([0x60, ...vec([...new Array(5).fill([I32]), ...new Array(8).fill([F64])]), 0]);
  const type = section(1, vec(types));
  const name = (s: string) => [...uleb(s.length), ...new TextEncoder().encode(s)];
  const imports = section(2, vec([[...name("env"), ...name("mem"), 0x02, 0x00, 0x01]]));
  const funcs = section(3, vec(fns.map(([, t]) => [t])));
  const exports = section(7, vec(fns.map(([n], i) => [...name(n), 0x00, i])));
  const code = section(10, vec(fns.map(([, , body]) => body)));
  return wasm(type, imports, funcs, exports, code);
}

/** A strip over rows of op(A) as they are (see {@link SimdKernel.rowStrip}); offsets in float32s. */
export type RowStrip = (
  ap: number,
  bp: number,
  c: number,
  nw: number,
  k: number,
  acc: boolean,
) => void;

/** The instantiated SIMD kernel with its memory. */
export interface SimdKernel {
  /**
   * Run one strip: see the module description; with `acc` the sums start
   * from the values c holds instead of 0. All offsets are in float64 elements
   * of {@link SimdKernel.f64}.
   */
  strip(ap: number, bp: number, c: number, nw: number, k: number, acc?: boolean): void;
  /**
   * Run one float32 strip ({@link MR32} rows × a multiple of 8 columns, see the module
   * description; `acc` as for {@link SimdKernel.strip}). All offsets are in
   * float32 elements of {@link SimdKernel.f32}. Element (r, p) of op(A) is at
   * `ap + p·as + r`: `as` is {@link MR32} (the default) for packed panels, the
   * row length for columns of a matrix stored transposed and copied as they are.
   */
  strip32(
    ap: number,
    bp: number,
    c: number,
    nw: number,
    k: number,
    acc?: boolean,
    as?: number,
  ): void;
  /**
   * {@link SimdKernel.strip32} for rows of op(A) as they are: the strip
   * function for rows `pitch` float32s apart (row r of a strip at `ap` starts
   * at element `ap + r·pitch`, its k elements consecutive), so a row-major
   * matrix is copied, not packed. Same sums, in the same order, as the packed
   * strip. Each pitch is a small module of its own, compiled on first use
   * (the pitch is an offset in its loads).
   */
  rowStrip(pitch: number): RowStrip;
  /**
   * sigmoid in place on the `n` float32s at element offset `off` of
   * {@link SimdKernel.f32}, four lanes at a time: n is rounded up to a
   * multiple of 4, so the memory must hold that many.
   */
  sigmoid32(off: number, n: number): void;
  /** tanh in place, as {@link SimdKernel.sigmoid32}. */
  tanh32(off: number, n: number): void;
  /**
   * dst[i] = a[i] op b[i] for n float32s (element offsets; n rounded up to a multiple of 4):
   * float32 +, −, ·, ÷ give the bits of a JavaScript loop over Float32Arrays
   * (float64 arithmetic rounded once to float32: double rounding is harmless
   * for these four), and the comparisons its `Number(a op b)` (1 or +0; NaN
   * compares unequal to everything, as in JavaScript).
   */
  binary32(op: SimdBinary, dst: number, a: number, b: number, n: number): void;
  /**
   * The LSTM forward step after its product, for `rows` rows of n units (n a
   * multiple of 4; element offsets): pre-activations `c` (rows of 4n) += `x`
   * (rows of 4n), activated in place (sigmoid i, f, o; tanh g); c_t into `cn`
   * from c_{t−1} at `cp` (f·c + i·g in float64 rounded once, the scalar
   * kernel's value); h_t = o·tanh(c_t) into `ht` (rows of n). The bits of the
   * separate float32 add, sigmoid32 / tanh32, cell update and product.
   */
  lstmRows(c: number, x: number, cp: number, cn: number, ht: number, rows: number, n: number): void;
  /**
   * The GRU forward step after its product, for `rows` rows of n units (n a
   * multiple of 4; element offsets): from W_hh·h at `q` (rows of 3n rounded
   * up to 8), x at `x` (rows of 3n), b_hh at `b` and h_{t−1} at `hp` (rows of
   * n), the saved rows at `sv` (4n: r, z, n, hn) and h_t at `ht` (rows of n).
   * Pre-activations and h_t in float64 rounded once (the scalar kernel's
   * values), the activations those of sigmoid32 / tanh32.
   */
  gruRows(
    q: number,
    x: number,
    b: number,
    sv: number,
    hp: number,
    ht: number,
    rows: number,
    n: number,
  ): void;
  /**
   * Column sums: `f64[acc + j] += f32[x + r·n + j]` for rows r < `rows` in
   * order and j < n, as a float64 loop adds them (bit for bit). acc is in
   * float64 elements of {@link SimdKernel.f64} and must hold n rounded up to
   * even; x in float32 elements of {@link SimdKernel.f32}.
   */
  colSum(acc: number, x: number, rows: number, n: number): void;
  /**
   * MSE's sums: the float64 pair at `acc` ({@link SimdKernel.f64} elements)
   * += the float32 squares (x − t)² of n elements (n a multiple of 4), the
   * even-indexed ones into the first, the odd into the second, in order (x and
   * t in {@link SimdKernel.f32} elements).
   */
  mseSum(x: number, t: number, n: number, acc: number): void;
  /**
   * MSE's gradient o = 2·(g·(x − t)) + 0 in float32 over n elements (rounded up
   * to a multiple of 4), the float32 scale g at element `g` of {@link SimdKernel.f32}.
   */
  mseGrad(x: number, t: number, o: number, n: number, g: number): void;
  /**
   * Pack `lines` columns of op(B), each k consecutive float32s at element
   * `src + l·pitch` (pitch ≥ k rounded up to 4), into 8-wide panels at `dst`
   * (element offsets in {@link SimdKernel.f32}): the layout `pack` gives with
   * width 8. Reads whole groups of 8 lines and 4 depths, and writes up to 3
   * depths past each panel (into the next one, or past the last).
   */
  packT8(dst: number, src: number, lines: number, k: number, pitch: number): void;
  /**
   * Pack n columns of op(B) stored as k rows of consecutive float32s at
   * element `src + p·pitch` into 8-wide panels at `dst`, as
   * {@link SimdKernel.packT8}; reads up to 7 columns past n in each row.
   */
  packN8(dst: number, src: number, n: number, k: number, pitch: number): void;
  /**
   * One row of the LSTM backward step, in float64 with one rounding per
   * result (the scalar kernel's values): from dL/dh (`dh`, plus the
   * recurrent part `rec`), the activated gates i, f, g, o at `g`…`g + 3n`,
   * tanh(c_t) at `tc`, c_{t−1} at `cp` and dL/dc_t at `dc`, writes the gate
   * gradients to `dg`…`dg + 3n` and dL/dc_{t−1} over `dc`. n must be even.
   */
  lstmCellBack(
    dh: number,
    rec: number,
    g: number,
    tc: number,
    cp: number,
    dc: number,
    dg: number,
    n: number,
  ): void;
  /**
   * One row of the GRU backward step, in float64 with one rounding per result
   * (the scalar kernel's values): from dL/dh (`dh`, plus `dhz` and the
   * recurrent part `rec`), the saved r, z, n, hn at `s`…`s + 3n` and h_{t−1}
   * at `hp`, writes dL/dgx to `dgx`…, dL/dgh to `dgh`… and z·dL/dh over
   * `dhz`. n must be even.
   */
  gruCellBack(
    dh: number,
    dhz: number,
    rec: number,
    s: number,
    hp: number,
    dgx: number,
    dgh: number,
    n: number,
  ): void;
  /**
   * `op` (see {@link SimdMap}) over n float32s at element offset `off`, in
   * place, with parameters p0, p1: the bits of the op's JavaScript loop
   * (tensor/optable.ts). n is rounded up to even.
   */
  map32(op: SimdMap, off: number, n: number, p0: number, p1: number): void;
  /**
   * One Adam / AdamW update of n float32 parameters at element offsets p, g
   * (gradient), m, v (the moments), in place, with the bits of the
   * JavaScript loop (see `adamBody`): `wd` is Adam's L2 factor or AdamW's
   * decay factor 1 − lr·wd, as `decay` says. n is rounded up to even.
   */
  adam32(
    decay: AdamDecay,
    p: number,
    g: number,
    m: number,
    v: number,
    n: number,
    s: AdamScalars,
  ): void;
  /**
   * What the memory holds, for callers that keep data there from one call to
   * the next (a packed weight matrix): a caller that writes the memory sets
   * it to its own tag, or to 0 (unknown contents).
   */
  tag: number;
  /** Make sure the memory holds at least `bytes` bytes (views are refreshed). */
  reserve(bytes: number): void;
  /** The memory as float64 (replaced when the memory grows). */
  f64: Float64Array;
  /** The memory as float32 (replaced when the memory grows). */
  f32: Float32Array;
  /** Whether `strip32` uses relaxed-SIMD fused multiply-adds. */
  fma: boolean;
}

/**
 * Whether this runtime validates WebAssembly relaxed SIMD: a one-function
 * module using `f32x4.relaxed_madd` compiles. Turned off with
 * `WGRAD_CPU_FMA=0`.
 */
function relaxedSimd(): boolean {
  if (envFlag("WGRAD_CPU_FMA") === "0") return false;
  const body = [0, ...V_CONST0, ...V_CONST0, ...V_CONST0, ...F32X4_RELAXED_MADD, 0x1a, END];
  const bytes = wasm(
    section(1, vec([[0x60, 0, 0]])),
    section(3, vec([[0]])),
    section(10, vec([[...uleb(body.length), ...body]])),
  );
  try {
    return WebAssembly.validate(bytes as BufferSource);
  } catch {
    return false;
  }
}

/** An environment variable, or undefined where there is none or no permission to read it. */
function envFlag(name: string): string | undefined {
  try {
    return typeof Deno !== "undefined" ? Deno.env.get(name) : undefined;
  } catch {
    return undefined; // no env permission
  }
}

/**
 * Run a float32 kernel over n elements in blocks of `block` through the SIMD
 * kernel's memory: before each block the block of `ins[t]` goes to region t
 * (regions W = block + 4 floats apart, room for a last vector done whole),
 * `run(len, W)` runs the kernel on it, and each region t listed in `outs` as
 * `[t, array]` is copied back into that array. The memory's tag is reset.
 *
 * @param simd the kernel
 * @param n elements
 * @param block elements per block
 * @param ins the input arrays, one region each
 * @param outs the regions to copy out, and where to
 * @param run runs the kernel on a block of `len` elements
 */
export function blockwise(
  simd: SimdKernel,
  n: number,
  block: number,
  ins: readonly Float32Array[],
  outs: readonly (readonly [number, Float32Array])[],
  run: (len: number, W: number) => void,
): void {
  const W = block + 4;
  simd.reserve(ins.length * W * 4);
  simd.tag = 0; // the memory's contents are replaced
  const mem = simd.f32;
  for (let at = 0; at < n; at += block) {
    const len = Math.min(block, n - at);
    ins.forEach((a, t) => mem.set(a.subarray(at, at + len), t * W));
    run(len, W);
    for (const [t, o] of outs) o.set(mem.subarray(t * W, t * W + len), at);
  }
}

let instance: SimdKernel | null | undefined;
let enabled = true;

/**
 * Turn the SIMD kernel off (the scalar loop is used) or back on; for tests
 * and comparisons. Results are the same either way.
 *
 * @param on whether {@link simdKernel} may return the kernel
 * @returns the previous setting
 */
export function setSimdEnabled(on: boolean): boolean {
  const was = enabled;
  enabled = on;
  return was;
}

/**
 * The SIMD kernel, instantiated on first call; null where WebAssembly SIMD is
 * unavailable (or disabled with the environment variable `WGRAD_CPU_SIMD=0`).
 */
export function simdKernel(): SimdKernel | null {
  if (!enabled) return null;
  if (instance !== undefined) return instance;
  instance = null;
  try {
    if (typeof WebAssembly === "undefined") return null;
    if (envFlag("WGRAD_CPU_SIMD") === "0") return null;
    const memory = new WebAssembly.Memory({ initial: 1 });
    const fma = relaxedSimd();
    const mod = new WebAssembly.Module(moduleBytes(fma) as BufferSource);
    const inst = new WebAssembly.Instance(mod, { env: { mem: memory } });
    type Strip = (...p: number[]) => void;
    const strip = inst.exports.strip as Strip, strip32 = inst.exports.strip32 as Strip;
    const rowStrips = new Map<number, RowStrip>();
    type Act = (ptr: number, n: number) => void;
    const sigmoid32 = inst.exports.sigmoid32 as Act, tanh32 = inst.exports.tanh32 as Act;
    type Fn = (...p: number[]) => void;
    const adam = Object.fromEntries(
      ADAM_DECAYS.map((d) => [d, inst.exports[`adam32_${d}`] as Fn]),
    ) as Record<AdamDecay, Fn>;
    const binary = Object.fromEntries(
      Object.keys(BINARY32).map((op) => [op, inst.exports[`${op}32`] as Fn]),
    ) as Record<SimdBinary, Fn>;
    const gruCellBack = inst.exports.gruCellBack as Fn;
    const colSum = inst.exports.colSum as Fn, colSum4 = inst.exports.colSum4 as Fn;
    const packT8 = inst.exports.packT8 as Fn, packN8 = inst.exports.packN8 as Fn;
    const mseSum = inst.exports.mseSum as Fn, mseGrad = inst.exports.mseGrad as Fn;
    const lstmCellBack = inst.exports.lstmCellBack as (...p: number[]) => void;
    const lstmRows = inst.exports.lstmRows as Fn;
    const gruRows = inst.exports.gruRows as Fn;
    const maps = Object.fromEntries(
      Object.keys(MAPS).map((op) => [op, inst.exports[`map_${op}`] as Fn]),
    ) as Record<SimdMap, Fn>;
    const k: SimdKernel = {
      f64: new Float64Array(memory.buffer),
      f32: new Float32Array(memory.buffer),
      fma,
      strip: (ap, bp, c, nw, kk, acc) => strip(ap * 8, bp * 8, c * 8, nw, kk, acc ? 1 : 0, 32),
      strip32: (ap, bp, c, nw, kk, acc, as = MR32) =>
        strip32(ap * 4, bp * 4, c * 4, nw, kk, acc ? 1 : 0, as * 4),
      rowStrip(pitch: number): RowStrip {
        let f = rowStrips.get(pitch);
        if (!f) {
          const bytes = assemble([["s", STRIP_TYPE, stripBody(4, fma, MR32, 4 * pitch)]]);
          const mod = new WebAssembly.Module(bytes as BufferSource);
          const run = new WebAssembly.Instance(mod, { env: { mem: memory } }).exports.s as Strip;
          f = (ap, bp, c, nw, kk, acc) => run(ap * 4, bp * 4, c * 4, nw, kk, acc ? 1 : 0, 0);
          rowStrips.set(pitch, f);
        }
        return f;
      },
      sigmoid32: (off, n) => sigmoid32(off * 4, n),
      tanh32: (off, n) => tanh32(off * 4, n),
      lstmRows: (c, x, cp, cn, ht, rows, n) =>
        lstmRows(c * 4, x * 4, cp * 4, cn * 4, ht * 4, rows, n),
      gruRows: (q, x, b, sv, hp, ht, rows, n) =>
        gruRows(q * 4, x * 4, b * 4, sv * 4, hp * 4, ht * 4, rows, n),
      mseSum: (x, t, n, acc) => mseSum(x * 4, t * 4, n, acc * 8),
      mseGrad: (x, t, o, n, g) => mseGrad(x * 4, t * 4, o * 4, n, g * 4),
      packT8: (d, src, lines, kk, pitch) => packT8(d * 4, src * 4, lines, kk, pitch),
      packN8: (d, src, n, kk, pitch) => packN8(d * 4, src * 4, n, kk, pitch),
      colSum: (acc, x, rows, n) => {
        const most = rows - (rows & 3);
        if (most > 0) colSum4(acc * 8, x * 4, most, n);
        if (rows > most) colSum(acc * 8, (x + most * n) * 4, rows - most, n);
      },
      lstmCellBack: (dh, rec, g, tc, cp, dc, dg, n) =>
        lstmCellBack(dh * 4, rec * 4, g * 4, tc * 4, cp * 4, dc * 4, dg * 4, n),
      gruCellBack: (dh, dhz, rec, sv, hp, dgx, dgh, n) =>
        gruCellBack(dh * 4, dhz * 4, rec * 4, sv * 4, hp * 4, dgx * 4, dgh * 4, n),
      map32: (op, off, n, p0, p1) => maps[op](off * 4, n, p0, p1),
      binary32: (op, d, a, b, n) => binary[op](d * 4, a * 4, b * 4, n),
      adam32: (decay, p, g, m, v, n, s) => adam[decay](p * 4, g * 4, m * 4, v * 4, n, ...s),
      tag: 0,
      reserve(bytes: number): void {
        if (memory.buffer.byteLength >= bytes) return;
        memory.grow(Math.ceil((bytes - memory.buffer.byteLength) / PAGE));
        k.f64 = new Float64Array(memory.buffer);
        k.f32 = new Float32Array(memory.buffer);
      },
    };
    instance = k;
  } catch {
    instance = null;
  }
  return instance;
}
