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
  const words = new Uint32Array(4);
  const f32 = out instanceof Float32Array;
  for (let i = 0; i < out.length; i++) {
    const c = counter + i;
    philox4x32(c % 4294967296, Math.floor(c / 4294967296), key[0], key[1], words);
    if (dist === "uniform") {
      const u = (words[0]! >>> 8) * TWO_POW_M24;
      out[i] = f32 ? Math.fround(lo + Math.fround(u * (hi - lo))) : lo + u * (hi - lo);
    } else {
      const u1 = ((words[0]! >>> 8) + 1) * TWO_POW_M24;
      const u2 = (words[1]! >>> 8) * TWO_POW_M24;
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
