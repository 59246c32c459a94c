/**
 * Counter-based random numbers (Philox4x32-10, Salmon et al. 2011) shared by
 * the CPU and WGSL code, so that the same seed gives the same numbers on both
 * backends.
 *
 * The stream is defined element by element, so any backend can compute it in
 * parallel: element `i` of a fill that starts at counter `c` runs Philox on the
 * 128-bit counter `(lo32(c + i), hi32(c + i), 0, 0)` with the 64-bit key and
 * uses output words 0 (and 1 for normals):
 *
 * - uniform: `u = (w0 >>> 8) · 2^-24` in [0, 1), exact in float32, then
 *   `lo + u · (hi - lo)`;
 * - normal (Box–Muller): `u1 = ((w0 >>> 8) + 1) · 2^-24` in (0, 1],
 *   `u2 = (w1 >>> 8) · 2^-24`, `z = √(-2 ln u1) · cos(2π u2)`, then
 *   `mean + std · z`.
 *
 * The global generator hands out disjoint counter ranges, so consecutive fills
 * never reuse numbers.
 *
 * @module
 */
import { section, sleb, uleb, wasm } from "./wasm.ts";

/** Philox multiplier for word 0. */
export const PHILOX_M0 = 0xD2511F53;
/** Philox multiplier for word 2. */
export const PHILOX_M1 = 0xCD9E8D57;
/** Key increment for key word 0 (golden ratio). */
export const PHILOX_W0 = 0x9E3779B9;
/** Key increment for key word 1 (√3 − 1). */
export const PHILOX_W1 = 0xBB67AE85;
/** Number of Philox rounds. */
export const PHILOX_ROUNDS = 10;

/** High 32 bits of the 64-bit product of two unsigned 32-bit integers. */
function mulhi32(a: number, b: number): number {
  const aLo = a & 0xffff, aHi = a >>> 16;
  const bLo = b & 0xffff, bHi = b >>> 16;
  const lolo = aLo * bLo;
  const mid1 = aHi * bLo;
  const mid2 = aLo * bHi;
  const carry = ((lolo >>> 16) + (mid1 & 0xffff) + (mid2 & 0xffff)) >>> 16;
  return (aHi * bHi + (mid1 >>> 16) + (mid2 >>> 16) + carry) >>> 0;
}

/**
 * Philox4x32-10 of one counter block; writes 4 unsigned 32-bit words to `out`.
 *
 * @param c0 counter word 0
 * @param c1 counter word 1
 * @param k0 key word 0
 * @param k1 key word 1
 * @param out receives the 4 output words
 */
export function philox4x32(
  c0: number,
  c1: number,
  k0: number,
  k1: number,
  out: Uint32Array,
): void {
  let x0 = c0 >>> 0, x1 = c1 >>> 0, x2 = 0, x3 = 0;
  let key0 = k0 >>> 0, key1 = k1 >>> 0;
  for (let r = 0; r < PHILOX_ROUNDS; r++) {
    const hi0 = mulhi32(PHILOX_M0, x0);
    const lo0 = Math.imul(PHILOX_M0, x0) >>> 0;
    const hi1 = mulhi32(PHILOX_M1, x2);
    const lo1 = Math.imul(PHILOX_M1, x2) >>> 0;
    x0 = (hi1 ^ x1 ^ key0) >>> 0;
    x1 = lo1;
    x2 = (hi0 ^ x3 ^ key1) >>> 0;
    x3 = lo0;
    key0 = (key0 + PHILOX_W0) >>> 0;
    key1 = (key1 + PHILOX_W1) >>> 0;
  }
  out[0] = x0;
  out[1] = x1;
  out[2] = x2;
  out[3] = x3;
}

const TWO_POW_M24 = 1 / 16777216;

/** Elements per call of the WebAssembly Philox (8 bytes of words each). */
const WASM_CHUNK = 16384;
/** Byte offset of the WebAssembly Philox's uniform values: past the words (and 7 more elements'). */
const VALUES = (WASM_CHUNK + 8) * 8;

/**
 * Bytes of a WebAssembly module exporting memory `m` and
 * `f(k0, k1, c0, c1, n, ptr)`: for the n consecutive counters (c0 + i, c1),
 * i < n, it stores words 0 and 1 of Philox4x32-10 at `ptr`, 8 bytes per
 * element. c0 + n must not pass 2^32 (the caller splits a fill there). The
 * counters run at once in the lanes of 128-bit SIMD, two groups of four
 * interleaved (the 64-bit products from `i64x2.extmul_*_i32x4_u`: the words
 * of {@link philox4x32}); n is rounded up to a multiple of 8, so up to 7 more
 * elements' words are written past the n.
 */
function philoxModule(): Uint8Array {
  const GET = 0x20, SET = 0x21, TEE = 0x22, I32C = 0x41, SIMD = 0xfd;
  const ADD = 0x6a, SUB = 0x6b, SHL = 0x74, SHR_U = 0x76, LT_U = 0x49, EQZ = 0x45;
  const SPLAT = [SIMD, 0x11], V_ADD = [SIMD, 0xae, 0x01], V_XOR = [SIMD, 0x51];
  const EXTMUL_LO = [SIMD, 0xde, 0x01], EXTMUL_HI = [SIMD, 0xdf, 0x01];
  const store = (offset: number) => [SIMD, 0x0b, 4, ...uleb(offset)];
  const lanes = (
    v: readonly number[],
  ) => [SIMD, 0x0c, ...new Uint8Array(new Uint32Array(v).buffer)];
  const splat4 = (x: number) => lanes([x, x, x, x]);
  /** i8x16.shuffle of two vectors by 32-bit lanes (0–3 the first, 4–7 the second). */
  const shuffle = (
    l: readonly number[],
  ) => [SIMD, 0x0d, ...l.flatMap((f) => [0, 1, 2, 3].map((b) => 4 * f + b))];
  // params 0 k0, 1 k1, 2 c0, 3 c1, 4 n, 5 ptr; locals 6 r, 7 end (i32); v128: 8 key0, 9 key1,
  // 10 the counters c0 + i of the first group's lanes, 11 M0, 12 M1, 13 W0, 14 W1, then per
  // group of four elements x0..x3 and the two products' halves p, q
  const R = 6, END = 7, K0 = 8, K1 = 9, CTR = 10, M0 = 11, M1 = 12, W0 = 13, W1 = 14;
  const GROUPS = 2, G0 = 15, PER = 6;
  const x = (g: number, w: number) => G0 + g * PER + w;
  const P = (g: number) => G0 + g * PER + 4, Q = (g: number) => G0 + g * PER + 5;
  // one round of each group: the groups' dependency chains interleave
  const round: number[] = [];
  /** Group g's lanes x · m as 64-bit products into p (elements 0, 1) and q (2, 3). */
  const products = (g: number, x: number, m: number) =>
    round.push(GET, x, GET, m, ...EXTMUL_LO, SET, P(g), GET, x, GET, m, ...EXTMUL_HI, SET, Q(g));
  /** Push the products' high words ^ local y ^ local key. */
  const hiXor = (g: number, y: number, key: number) =>
    round.push(
      GET,
      P(g),
      GET,
      Q(g),
      ...shuffle([1, 3, 5, 7]),
      GET,
      y,
      ...V_XOR,
      GET,
      key,
      ...V_XOR,
    );
  /** Local to = the products' low words. */
  const lo = (g: number, to: number) =>
    round.push(GET, P(g), GET, Q(g), ...shuffle([0, 2, 4, 6]), SET, to);
  for (let g = 0; g < GROUPS; g++) {
    const [x0, x1, x2, x3] = [0, 1, 2, 3].map((w) => x(g, w)) as [number, number, number, number];
    products(g, x0, M0);
    // x2 = hi0 ^ x3 ^ key1 is kept on the stack while x3 = lo0 replaces the old x3
    hiXor(g, x3, K1);
    lo(g, x3);
    products(g, x2, M1);
    round.push(SET, x2);
    // x0 = hi1 ^ x1 ^ key0, x1 = lo1
    hiXor(g, x1, K0);
    round.push(SET, x0);
    lo(g, x1);
  }
  round.push(GET, K0, GET, W0, ...V_ADD, SET, K0, GET, K1, GET, W1, ...V_ADD, SET, K1);
  const start: number[] = [];
  for (let g = 0; g < GROUPS; g++) {
    start.push(GET, CTR, ...splat4(4 * g), ...V_ADD, SET, x(g, 0), GET, 3, ...SPLAT, SET, x(g, 1));
    start.push(...splat4(0), SET, x(g, 2), ...splat4(0), SET, x(g, 3));
  }
  const out: number[] = [];
  for (let g = 0; g < GROUPS; g++) {
    // words 0 and 1 of the group's four elements, interleaved
    out.push(GET, 5, GET, x(g, 0), GET, x(g, 1), ...shuffle([0, 4, 1, 5]), ...store(32 * g));
    out.push(GET, 5, GET, x(g, 0), GET, x(g, 1), ...shuffle([2, 6, 3, 7]), ...store(32 * g + 16));
  }
  const code = [
    ...[...splat4(PHILOX_M0), SET, M0, ...splat4(PHILOX_M1), SET, M1],
    ...[...splat4(PHILOX_W0), SET, W0, ...splat4(PHILOX_W1), SET, W1],
    ...[GET, 2, ...SPLAT, ...lanes([0, 1, 2, 3]), ...V_ADD, SET, CTR],
    ...[0x02, 0x40, GET, 4, EQZ, 0x0d, 0], // block; br_if n == 0
    // end = ptr + ((n + 7) >> 3) << 6: whole pairs of groups
    ...[GET, 5, GET, 4, I32C, 7, ADD, I32C, 3, SHR_U, I32C, 6, SHL, ADD, SET, END],
    0x03,
    0x40, // loop (pairs of groups)
    ...start,
    ...[GET, 0, ...SPLAT, SET, K0, GET, 1, ...SPLAT, SET, K1],
    ...[I32C, ...sleb(PHILOX_ROUNDS), SET, R],
    0x03,
    0x40, // loop (rounds)
    ...round,
    ...[GET, R, I32C, 1, SUB, TEE, R, 0x0d, 0],
    0x0b,
    ...out,
    ...[GET, CTR, ...splat4(4 * GROUPS), ...V_ADD, SET, CTR],
    ...[GET, 5, I32C, ...sleb(32 * GROUPS), ADD, TEE, 5, GET, END, LT_U, 0x0d, 0],
    0x0b,
    0x0b,
    0x0b, // loop, block, function
  ];
  const body = [2, 2, 0x7f, G0 - 8 + GROUPS * PER, 0x7b, ...code];
  const uniform = uniformBody();
  // words of WASM_CHUNK elements (and 7 more), then as many float64 results
  const pages = Math.ceil((VALUES + WASM_CHUNK * 8) / 65536);
  const I32 = 0x7f, F64 = 0x7c;
  return wasm(
    section(1, [
      2,
      0x60,
      6,
      I32,
      I32,
      I32,
      I32,
      I32,
      I32,
      0,
      0x60,
      6,
      I32,
      I32,
      I32,
      F64,
      F64,
      I32,
      0,
    ]),
    section(3, [2, 0, 1]),
    section(5, [1, 0x00, ...uleb(pages)]),
    section(7, [3, 1, 0x66, 0x00, 0, 1, 0x75, 0x00, 1, 1, 0x6d, 0x02, 0]),
    section(10, [2, ...uleb(body.length), ...body, ...uleb(uniform.length), ...uniform]),
  );
}

/**
 * The body of the Philox module's `u(n, src, dst, lo, span, f32)`: the
 * uniform values of n elements from their words at `src` (8 bytes each, word
 * 0 first), `u = (w0 >>> 8) · 2^-24`, stored at `dst` as float64
 * `lo + u·span`, or with `f32` ≠ 0 as float32 `fround(lo + fround(u·span))`:
 * the arithmetic of the JavaScript loop, so the same bits.
 */
function uniformBody(): number[] {
  const F64_LOCAL = 0x7c;
  const GET = 0x20, SET = 0x21, TEE = 0x22, I32C = 0x41, ADD = 0x6a, SHR_U = 0x76;
  const LT_U = 0x49, EQZ = 0x45, IF = 0x04, ELSE = 0x05, END = 0x0b;
  const I32_LOAD = [0x28, 2, 0], F64_STORE = [0x39, 3, 0], F32_STORE = [0x38, 2, 0];
  const F64_CONVERT_U = 0xb8, F64_MUL = 0xa2, F64_ADD = 0xa0;
  const DEMOTE = 0xb6, PROMOTE = 0xbb;
  const f64c = (x: number) => [0x44, ...new Uint8Array(new Float64Array([x]).buffer)];
  // params 0 n, 1 src, 2 dst, 3 lo, 4 span (f64), 5 f32; locals 6 end (i32), 7 u (f64)
  const code = [
    ...[0x02, 0x40, GET, 0, EQZ, 0x0d, 0], // block; br_if n == 0
    ...[GET, 1, GET, 0, I32C, 3, 0x74, ADD, SET, 6], // end = src + 8n
    0x03,
    0x40,
    ...[GET, 1, ...I32_LOAD, I32C, 8, SHR_U, F64_CONVERT_U, ...f64c(TWO_POW_M24), F64_MUL, SET, 7],
    ...[GET, 5, IF, 0x40],
    ...[GET, 2, GET, 3, GET, 7, GET, 4, F64_MUL, DEMOTE, PROMOTE, F64_ADD, DEMOTE, ...F32_STORE],
    ...[GET, 2, I32C, 4, ADD, SET, 2],
    ELSE,
    ...[GET, 2, GET, 3, GET, 7, GET, 4, F64_MUL, F64_ADD, ...F64_STORE],
    ...[GET, 2, I32C, 8, ADD, SET, 2],
    END,
    ...[GET, 1, I32C, 8, ADD, TEE, 1, GET, 6, LT_U, 0x0d, 0],
    END,
    END,
    END, // loop, block, function
  ];
  return [2, 1, 0x7f, 1, F64_LOCAL, ...code];
}

/** The WebAssembly Philox: its function and a view of its output words. */
interface WasmPhilox {
  f: (k0: number, k1: number, c0: number, c1: number, n: number, ptr: number) => void;
  u: (n: number, src: number, dst: number, lo: number, span: number, f32: number) => void;
  words: Uint32Array;
  /** The uniform values `u` writes (at byte {@link VALUES}). */
  f32: Float32Array;
  f64: Float64Array;
}

let wasmPhilox: WasmPhilox | null | undefined;

/**
 * The WebAssembly Philox, instantiated on first use; null where the runtime
 * cannot run it (no WebAssembly, or a page whose policy forbids compiling it):
 * the JS loop gives the same numbers there. Tests assert it runs in Deno
 * ({@link wasmPhiloxAvailable}), so a broken module cannot hide behind the
 * fallback.
 */
function getWasmPhilox(): WasmPhilox | null {
  if (wasmPhilox !== undefined) return wasmPhilox;
  try {
    const inst = new WebAssembly.Instance(new WebAssembly.Module(philoxModule() as BufferSource));
    const mem = inst.exports.m as WebAssembly.Memory;
    wasmPhilox = {
      f: inst.exports.f as WasmPhilox["f"],
      u: inst.exports.u as WasmPhilox["u"],
      words: new Uint32Array(mem.buffer, 0, WASM_CHUNK * 2),
      f32: new Float32Array(mem.buffer, VALUES, WASM_CHUNK),
      f64: new Float64Array(mem.buffer, VALUES, WASM_CHUNK),
    };
  } catch {
    wasmPhilox = null;
  }
  return wasmPhilox;
}

/**
 * Whether `fillRandom` can use the WebAssembly Philox in this runtime.
 *
 * @returns true when its module compiled and instantiated
 */
export function wasmPhiloxAvailable(): boolean {
  return getWasmPhilox() !== null;
}

/** Use the WebAssembly Philox where available (tests turn it off to compare). */
let useWasm = true;

/**
 * Turn the WebAssembly Philox on or off (both give the same numbers).
 *
 * @param on whether `fillRandom` may use WebAssembly
 * @returns whether it was on before
 */
export function setWasmPhilox(on: boolean): boolean {
  const was = useWasm;
  useWasm = on;
  return was;
}

/**
 * Fill `out` with the stream described in the module doc.
 *
 * @param out the array to fill
 * @param dist "uniform" on [lo, hi) or "normal" with mean lo and std hi
 * @param key two 32-bit key words
 * @param counter counter of element 0
 * @param lo lower bound or mean
 * @param hi upper bound or standard deviation
 */
export function fillRandom(
  out: Float32Array | Float64Array,
  dist: "uniform" | "normal",
  key: readonly [number, number],
  counter: number,
  lo: number,
  hi: number,
): void {
  // Philox4x32-10 inlined (same words as `philox4x32`): the high product
  // halves come from two exact float64 products of 16-bit halves, the counter
  // is carried as two words, and only the words a distribution reads are kept.
  const f32 = out instanceof Float32Array;
  const normal = dist === "normal";
  const k0 = key[0] >>> 0, k1 = key[1] >>> 0;
  let c0 = (counter % 4294967296) | 0, c1 = Math.floor(counter / 4294967296) | 0;
  const span = hi - lo;
  const n = out.length;
  const w = useWasm ? getWasmPhilox() : null;
  if (w !== null) {
    const words = w.words;
    for (let s = 0; s < n; s += WASM_CHUNK) {
      const len = Math.min(WASM_CHUNK, n - s);
      const c = counter + s, cLo = c % 4294967296, cHi = Math.floor(c / 4294967296);
      // the module's counters do not carry: split where the low word wraps
      const first = Math.min(len, 4294967296 - cLo);
      w.f(k0 | 0, k1 | 0, cLo | 0, cHi | 0, first, 0);
      if (first < len) w.f(k0 | 0, k1 | 0, 0, (cHi + 1) | 0, len - first, first * 8);
      if (!normal) {
        w.u(len, 0, VALUES, lo, span, f32 ? 1 : 0);
        out.set((f32 ? w.f32 : w.f64).subarray(0, len), s);
      } else {
        for (let j = 0; j < len; j++) {
          const u1 = ((words[2 * j]! >>> 8) + 1) * TWO_POW_M24;
          const u2 = (words[2 * j + 1]! >>> 8) * TWO_POW_M24;
          const z = Math.sqrt(-2 * Math.log(u1)) * Math.cos(2 * Math.PI * u2);
          out[s + j] = lo + hi * z;
        }
      }
    }
    return;
  }
  const words = new Uint32Array(4);
  for (let i = 0; i < n; i++) {
    philox4x32(c0, c1, k0, k1, words);
    const x0 = words[0], x1 = words[1];
    c0 = (c0 + 1) | 0;
    if (c0 === 0) c1 = (c1 + 1) | 0;
    if (!normal) {
      const u = (x0 >>> 8) * TWO_POW_M24;
      out[i] = f32 ? Math.fround(lo + Math.fround(u * span)) : lo + u * span;
    } else {
      const u1 = ((x0 >>> 8) + 1) * TWO_POW_M24;
      const u2 = (x1 >>> 8) * TWO_POW_M24;
      const z = Math.sqrt(-2 * Math.log(u1)) * Math.cos(2 * Math.PI * u2);
      out[i] = lo + hi * z;
    }
  }
}

/** The process-wide generator state: a key and the next free counter. */
export interface GeneratorState {
  /** Key words derived from the seed. */
  key: [number, number];
  /** Next unused counter. */
  counter: number;
}

const state: GeneratorState = { key: [0x2545F491, 0x4F6CDD1D], counter: 0 };

/**
 * Seed the global generator: the same seed gives the same stream of numbers on
 * every backend.
 *
 * @param seed a non-negative safe integer
 * @example
 * ```ts
 * import { manualSeed } from "./random.ts";
 * manualSeed(42);
 * ```
 */
export function manualSeed(seed: number): void {
  if (!Number.isSafeInteger(seed) || seed < 0) {
    throw new RangeError(
      `Cannot seed the generator: seed must be a non-negative safe integer, got ${seed}`,
    );
  }
  state.key = [(seed % 4294967296) >>> 0, (Math.floor(seed / 4294967296) ^ 0x9E3779B9) >>> 0];
  state.counter = 0;
}

/**
 * Reserve `n` consecutive counters of the global generator.
 *
 * @param n how many elements the next fill needs
 * @returns the key and the first counter of the range
 */
export function nextCounters(n: number): { key: [number, number]; counter: number } {
  const counter = state.counter;
  state.counter += n;
  return { key: [state.key[0], state.key[1]], counter };
}

/** A snapshot of the generator, for checkpoints that resume exactly. */
export function getGeneratorState(): GeneratorState {
  return { key: [state.key[0], state.key[1]], counter: state.counter };
}

/**
 * Restore a snapshot taken by {@link getGeneratorState}, so that the numbers
 * drawn next are those that followed the snapshot.
 *
 * @param s the snapshot
 * @throws {RangeError} naming the field when the key is not two 32-bit
 *   unsigned integers or the counter is not a non-negative safe integer
 */
export function setGeneratorState(s: GeneratorState): void {
  const key = s?.key;
  if (
    !Array.isArray(key) || key.length !== 2 ||
    !key.every((k) => Number.isInteger(k) && k >= 0 && k <= 0xFFFFFFFF)
  ) {
    throw new RangeError(
      `Cannot restore the generator: key must be two integers in [0, 2^32), got ${
        JSON.stringify(key)
      }`,
    );
  }
  if (!Number.isSafeInteger(s.counter) || s.counter < 0) {
    throw new RangeError(
      `Cannot restore the generator: counter must be a non-negative safe integer, got ${
        JSON.stringify(s.counter)
      }`,
    );
  }
  state.key = [key[0], key[1]];
  state.counter = s.counter;
}
