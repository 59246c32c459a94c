/**
 * A WebAssembly SIMD micro-kernel for the CPU matmul: one strip of 4 rows of
 * packed op(A) times a block of packed op(B), two float64 lanes per
 * instruction. The module is assembled here from its bytes (no toolchain, no
 * file to fetch) and instantiated once, synchronously, on first use.
 *
 * Each output element is the same float64 sum as the scalar micro-kernel of
 * `matmul.ts` computes: products added in order of k, one rounding per
 * multiply and per add (WebAssembly has no fused multiply-add), so results
 * are bit-identical with or without SIMD.
 *
 * Where WebAssembly or its SIMD extension is unavailable, {@link simdKernel}
 * returns null and the caller keeps its scalar loop.
 *
 * @module
 */

/** Bytes of one WebAssembly page. */
const PAGE = 65536;

/** unsigned LEB128 */
function uleb(n: number): number[] {
  const out: number[] = [];
  do {
    let byte = n & 0x7f;
    n >>>= 7;
    if (n !== 0) byte |= 0x80;
    out.push(byte);
  } while (n !== 0);
  return out;
}

/** A section: id, byte length, contents. */
function section(id: number, body: number[]): number[] {
  return [id, ...uleb(body.length), ...body];
}

/** A vector: count then items. */
function vec(items: number[][]): number[] {
  return [...uleb(items.length), ...items.flat()];
}

const I32 = 0x7f, V128 = 0x7b;
const GET = 0x20, SET = 0x21, TEE = 0x22;
const LOOP = 0x03, END = 0x0b, BR_IF = 0x0d, VOID = 0x40;
const I32_CONST = 0x41, I32_ADD = 0x6a, I32_SUB = 0x6b, I32_MUL = 0x6c, I32_LT_S = 0x48;
const SIMD = 0xfd;
const V_LOAD = [SIMD, 0x00], V_STORE = [SIMD, 0x0b], V_LOAD64_SPLAT = [SIMD, 0x0a];
const F64X2_ADD = [SIMD, 0xf0, 0x01], F64X2_MUL = [SIMD, 0xf2, 0x01];
const V_CONST0 = [SIMD, 0x0c, ...new Array(16).fill(0)];

/** memarg for an 8-byte-aligned access at a constant offset. */
const mem = (offset: number, align = 3): number[] => [align, ...uleb(offset)];

/**
 * The function `strip(ap, bp, c, nw, k)` (byte offsets into memory):
 * for j0 = 0, 4, … < nw, c[r, j0..j0+3] = Σ_p ap[p·4 + r] · bp[j0·k + p·4 + 0..3]
 * for r = 0..3, with c a 4 × nw row-major float64 block (nw a multiple of 4).
 */
function stripBody(): number[] {
  // params: 0 ap, 1 bp, 2 c, 3 nw, 4 k; locals: 5 j0, 6 ai, 7 bi, 8 cnt, 9 co (i32);
  // 10..17 accumulators acc[r][h] (v128), 18 b01, 19 b23, 20 a (v128)
  const AP = 0, BP = 1, C = 2, NW = 3, K = 4, J0 = 5, AI = 6, BI = 7, CNT = 8, CO = 9;
  const ACC = 10, B01 = 18, B23 = 19, A = 20;
  const code: number[] = [];
  const e = (...b: (number | number[])[]) => {
    for (const x of b) typeof x === "number" ? code.push(x) : code.push(...x);
  };
  e(I32_CONST, 0, SET, J0);
  e(LOOP, VOID); // j loop
  e(GET, AP, SET, AI);
  // bi = bp + j0 * k * 8
  e(GET, BP, GET, J0, GET, K, I32_MUL, I32_CONST, 8, I32_MUL, I32_ADD, SET, BI);
  for (let i = 0; i < 8; i++) e(V_CONST0, SET, ACC + i);
  e(GET, K, SET, CNT);
  e(LOOP, VOID); // p loop
  e(GET, BI, V_LOAD, mem(0, 4), SET, B01);
  e(GET, BI, V_LOAD, mem(16, 4), SET, B23);
  for (let r = 0; r < 4; r++) {
    e(GET, AI, V_LOAD64_SPLAT, mem(8 * r), SET, A);
    e(GET, ACC + 2 * r, GET, A, GET, B01, F64X2_MUL, F64X2_ADD, SET, ACC + 2 * r);
    e(GET, ACC + 2 * r + 1, GET, A, GET, B23, F64X2_MUL, F64X2_ADD, SET, ACC + 2 * r + 1);
  }
  e(GET, AI, I32_CONST, 32, I32_ADD, SET, AI);
  e(GET, BI, I32_CONST, 32, I32_ADD, SET, BI);
  e(GET, CNT, I32_CONST, 1, I32_SUB, TEE, CNT, BR_IF, 0);
  e(END);
  // co = c + j0 * 8; rows are nw * 8 bytes apart
  e(GET, C, GET, J0, I32_CONST, 8, I32_MUL, I32_ADD, SET, CO);
  for (let r = 0; r < 4; r++) {
    if (r > 0) e(GET, CO, GET, NW, I32_CONST, 8, I32_MUL, I32_ADD, SET, CO);
    e(GET, CO, GET, ACC + 2 * r, V_STORE, mem(0, 4));
    e(GET, CO, GET, ACC + 2 * r + 1, V_STORE, mem(16, 4));
  }
  e(GET, J0, I32_CONST, 4, I32_ADD, TEE, J0, GET, NW, I32_LT_S, BR_IF, 0);
  e(END);
  e(END); // function
  const locals = vec([[...uleb(5), I32], [...uleb(11), V128]]);
  const body = [...locals, ...code];
  return [...uleb(body.length), ...body];
}

/** The module's bytes: imports memory `env.mem`, exports `strip`. */
function moduleBytes(): Uint8Array {
  const type = section(1, vec([[0x60, ...vec([[I32], [I32], [I32], [I32], [I32]]), 0]]));
  const name = (s: string) => [...uleb(s.length), ...new TextEncoder().encode(s)];
  const imports = section(2, vec([[...name("env"), ...name("mem"), 0x02, 0x00, 0x01]]));
  const funcs = section(3, vec([[0]]));
  const exports = section(7, vec([[...name("strip"), 0x00, 0]]));
  const code = section(10, vec([stripBody()]));
  return new Uint8Array([
    0x00,
    0x61,
    0x73,
    0x6d,
    0x01,
    0x00,
    0x00,
    0x00,
    ...type,
    ...imports,
    ...funcs,
    ...exports,
    ...code,
  ]);
}

/** The instantiated SIMD kernel with its memory. */
export interface SimdKernel {
  /**
   * Run one strip: see the module description. All offsets are in float64
   * elements of {@link SimdKernel.f64}.
   */
  strip(ap: number, bp: number, c: number, nw: number, k: number): void;
  /** Make sure the memory holds at least `elements` float64s (views are refreshed). */
  reserve(elements: number): void;
  /** The memory as float64 (replaced when the memory grows). */
  f64: Float64Array;
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
    let disabled = false;
    try {
      disabled = typeof Deno !== "undefined" && Deno.env.get("WGRAD_CPU_SIMD") === "0";
    } catch {
      // no env permission: keep SIMD on
    }
    if (disabled) return null;
    const memory = new WebAssembly.Memory({ initial: 1 });
    const mod = new WebAssembly.Module(moduleBytes() as BufferSource);
    const inst = new WebAssembly.Instance(mod, { env: { mem: memory } });
    const strip = inst.exports.strip as (
      ap: number,
      bp: number,
      c: number,
      nw: number,
      k: number,
    ) => void;
    const k: SimdKernel = {
      f64: new Float64Array(memory.buffer),
      strip: (ap, bp, c, nw, kk) => strip(ap * 8, bp * 8, c * 8, nw, kk),
      reserve(elements: number): void {
        const bytes = elements * 8;
        if (memory.buffer.byteLength >= bytes) return;
        memory.grow(Math.ceil((bytes - memory.buffer.byteLength) / PAGE));
        k.f64 = new Float64Array(memory.buffer);
      },
    };
    instance = k;
  } catch {
    instance = null;
  }
  return instance;
}
