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

/**
 * Bytes of a WebAssembly module exporting memory `m` and
 * `f(k0, k1, c0, c1, n, ptr)`: for n consecutive counters from (c0, c1) it
 * stores words 0 and 1 of Philox4x32-10 (64-bit products via `i64.mul`) at
 * `ptr`, 8 bytes per element.
 */
function philoxModule(): Uint8Array {
  const GET = 0x20, SET = 0x21, I32C = 0x41, I64C = 0x42;
  const XOR = 0x73, ADD = 0x6a, SUB = 0x6b, EXT_U = 0xad, MUL64 = 0x7e, SHR64 = 0x88;
  const WRAP = 0xa7;
  // params 0 k0, 1 k1, 2 c0, 3 c1, 4 n, 5 ptr; locals 6 i, 7-10 x0..x3,
  // 11 key0, 12 key1, 13 r (i32), 14 p0, 15 p1 (i64)
  const mulhiLo = (x: number, m: number, p: number) => [
    GET,
    x,
    EXT_U,
    I64C,
    ...sleb(m),
    MUL64,
    SET,
    p,
  ];
  const code = [
    0x02,
    0x40,
    0x03,
    0x40, // block, loop (elements)
    GET,
    2,
    SET,
    7,
    GET,
    3,
    SET,
    8,
    I32C,
    0,
    SET,
    9,
    I32C,
    0,
    SET,
    10,
    GET,
    0,
    SET,
    11,
    GET,
    1,
    SET,
    12,
    I32C,
    ...sleb(PHILOX_ROUNDS),
    SET,
    13,
    0x03,
    0x40, // loop (rounds)
    ...mulhiLo(7, PHILOX_M0, 14),
    ...mulhiLo(9, PHILOX_M1, 15),
    GET,
    15,
    I64C,
    32,
    SHR64,
    WRAP,
    GET,
    8,
    XOR,
    GET,
    11,
    XOR,
    SET,
    7,
    GET,
    15,
    WRAP,
    SET,
    8,
    GET,
    14,
    I64C,
    32,
    SHR64,
    WRAP,
    GET,
    10,
    XOR,
    GET,
    12,
    XOR,
    SET,
    9,
    GET,
    14,
    WRAP,
    SET,
    10,
    GET,
    11,
    I32C,
    ...sleb(PHILOX_W0 | 0),
    ADD,
    SET,
    11,
    GET,
    12,
    I32C,
    ...sleb(PHILOX_W1 | 0),
    ADD,
    SET,
    12,
    GET,
    13,
    I32C,
    1,
    SUB,
    0x22,
    13,
    0x0d,
    0, // tee r, br_if rounds
    0x0b,
    GET,
    5,
    GET,
    7,
    0x36,
    2,
    0, // i32.store
    GET,
    5,
    GET,
    8,
    0x36,
    2,
    4,
    GET,
    5,
    I32C,
    8,
    ADD,
    SET,
    5,
    GET,
    2,
    I32C,
    1,
    ADD,
    0x22,
    2,
    0x45,
    GET,
    3,
    ADD,
    SET,
    3, // c1 += (++c0 == 0)
    GET,
    6,
    I32C,
    1,
    ADD,
    0x22,
    6,
    GET,
    4,
    0x49,
    0x0d,
    0, // br_if i < n
    0x0b,
    0x0b,
    0x0b,
  ];
  const locals = [2, 8, 0x7f, 2, 0x7e];
  const body = [...locals, ...code];
  const pages = Math.ceil((WASM_CHUNK * 8) / 65536);
  return wasm(
    section(1, [1, 0x60, 6, 0x7f, 0x7f, 0x7f, 0x7f, 0x7f, 0x7f, 0]),
    section(3, [1, 0]),
    section(5, [1, 0x00, ...uleb(pages)]),
    section(7, [2, 1, 0x66, 0x00, 0, 1, 0x6d, 0x02, 0]),
    section(10, [1, ...uleb(body.length), ...body]),
  );
}

/** The WebAssembly Philox: its function and a view of its output words. */
interface WasmPhilox {
  f: (k0: number, k1: number, c0: number, c1: number, n: number, ptr: number) => void;
  words: Uint32Array;
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
      words: new Uint32Array(mem.buffer, 0, WASM_CHUNK * 2),
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
      const c = counter + s;
      w.f(k0 | 0, k1 | 0, (c % 4294967296) | 0, Math.floor(c / 4294967296) | 0, len, 0);
      if (!normal) {
        for (let j = 0; j < len; j++) {
          const u = (words[2 * j]! >>> 8) * TWO_POW_M24;
          out[s + j] = f32 ? Math.fround(lo + Math.fround(u * span)) : lo + u * span;
        }
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
