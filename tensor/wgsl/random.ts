/**
 * Philox4x32-10 random fills in WGSL: a port of `tensor/random.ts` that gives
 * the same stream element by element.
 *
 * WGSL has no 64-bit integers: the high word of each 32×32 product is built
 * from 16-bit halves exactly like `mulhi32` in random.ts, and the 64-bit
 * counter `offset + i` is a low word plus a carry into the high word.
 *
 * Uniform fills must match the CPU bit for bit. The CPU computes
 * `fround(lo + fround(u · (hi − lo)))` in float64. When `lo` is 0 and `hi` a
 * float32 value that is what float32 arithmetic gives (`fast`); otherwise the
 * `exact` kernel redoes the two float64 roundings in integer arithmetic on
 * 96-bit numbers (three u32 limbs).
 *
 * @module
 */
import type { RandomDist } from "../backend.ts";
import { bindings, entry1d, PARAMS_WGSL, type ShaderSource } from "./common.ts";

/** Philox in WGSL (constants as in random.ts). */
export const PHILOX_WGSL = `fn mulhi32(a: u32, b: u32) -> u32 {
  let aLo = a & 0xffffu; let aHi = a >> 16u;
  let bLo = b & 0xffffu; let bHi = b >> 16u;
  let lolo = aLo * bLo; let mid1 = aHi * bLo; let mid2 = aLo * bHi;
  let carry = ((lolo >> 16u) + (mid1 & 0xffffu) + (mid2 & 0xffffu)) >> 16u;
  return aHi * bHi + (mid1 >> 16u) + (mid2 >> 16u) + carry;
}
fn philox(c0: u32, c1: u32, k0: u32, k1: u32) -> vec4<u32> {
  var x0 = c0; var x1 = c1; var x2 = 0u; var x3 = 0u;
  var key0 = k0; var key1 = k1;
  for (var r = 0; r < 10; r++) {
    let hi0 = mulhi32(0xD2511F53u, x0); let lo0 = 0xD2511F53u * x0;
    let hi1 = mulhi32(0xCD9E8D57u, x2); let lo1 = 0xCD9E8D57u * x2;
    x0 = hi1 ^ x1 ^ key0; x1 = lo1;
    x2 = hi0 ^ x3 ^ key1; x3 = lo0;
    key0 += 0x9E3779B9u; key1 += 0xBB67AE85u;
  }
  return vec4<u32>(x0, x1, x2, x3);
}
`;

/** Soft float: (-1)^neg · m · 2^e with a 96-bit integer m, and its helpers. */
const SOFTFLOAT_WGSL = `struct SF { neg: bool, m: vec3<u32>, e: i32 }
fn shl96(v: vec3<u32>, s: u32) -> vec3<u32> {
  if (s >= 96u) { return vec3<u32>(0u); }
  var w = v; var k = s;
  if (k >= 64u) { w = vec3<u32>(0u, 0u, w.x); k -= 64u; }
  else if (k >= 32u) { w = vec3<u32>(0u, w.x, w.y); k -= 32u; }
  if (k == 0u) { return w; }
  return vec3<u32>(w.x << k, (w.y << k) | (w.x >> (32u - k)), (w.z << k) | (w.y >> (32u - k)));
}
fn shr96(v: vec3<u32>, s: u32) -> vec3<u32> {
  if (s >= 96u) { return vec3<u32>(0u); }
  var w = v; var k = s;
  if (k >= 64u) { w = vec3<u32>(w.z, 0u, 0u); k -= 64u; }
  else if (k >= 32u) { w = vec3<u32>(w.y, w.z, 0u); k -= 32u; }
  if (k == 0u) { return w; }
  return vec3<u32>((w.x >> k) | (w.y << (32u - k)), (w.y >> k) | (w.z << (32u - k)), w.z >> k);
}
fn bitlen96(v: vec3<u32>) -> u32 {
  if (v.z != 0u) { return 65u + firstLeadingBit(v.z); }
  if (v.y != 0u) { return 33u + firstLeadingBit(v.y); }
  if (v.x != 0u) { return 1u + firstLeadingBit(v.x); }
  return 0u;
}
fn add96(a: vec3<u32>, b: vec3<u32>) -> vec3<u32> {
  let x = a.x + b.x; let c0 = select(0u, 1u, x < a.x);
  let y1 = a.y + b.y; let c1 = select(0u, 1u, y1 < a.y);
  let y = y1 + c0; let c2 = select(0u, 1u, y < y1);
  return vec3<u32>(x, y, a.z + b.z + c1 + c2);
}
fn sub96(a: vec3<u32>, b: vec3<u32>) -> vec3<u32> {
  let x = a.x - b.x; let b0 = select(0u, 1u, a.x < b.x);
  let y1 = a.y - b.y; let b1 = select(0u, 1u, a.y < b.y);
  let y = y1 - b0; let b2 = select(0u, 1u, y1 < b0);
  return vec3<u32>(x, y, a.z - b.z - b1 - b2);
}
fn cmp96(a: vec3<u32>, b: vec3<u32>) -> i32 {
  if (a.z != b.z) { return select(-1, 1, a.z > b.z); }
  if (a.y != b.y) { return select(-1, 1, a.y > b.y); }
  if (a.x != b.x) { return select(-1, 1, a.x > b.x); }
  return 0;
}
// Round to nearest even with at most b significant bits.
fn roundSF(x: SF, b: u32) -> SF {
  let len = bitlen96(x.m);
  if (len <= b) { return x; }
  var s = len - b;
  var q = shr96(x.m, s);
  let rem = sub96(x.m, shl96(q, s));
  let c = cmp96(rem, shl96(vec3<u32>(1u, 0u, 0u), s - 1u));
  if (c > 0 || (c == 0 && (q.x & 1u) == 1u)) { q = add96(q, vec3<u32>(1u, 0u, 0u)); }
  if (bitlen96(q) > b) { q = shr96(q, 1u); s += 1u; }
  return SF(x.neg, q, x.e + i32(s));
}
// a + b exactly enough for any rounding to <= 53 bits: the larger operand is
// placed with its top bit at bit 93, the smaller's lost bits become a sticky 1.
fn addSF(a: SF, b: SF) -> SF {
  if (bitlen96(b.m) == 0u) { return a; }
  if (bitlen96(a.m) == 0u) { return b; }
  var x = a; var y = b;
  if (i32(bitlen96(b.m)) + b.e > i32(bitlen96(a.m)) + a.e) { x = b; y = a; }
  let sh = 94u - bitlen96(x.m);
  let xm = shl96(x.m, sh);
  let e = x.e - i32(sh);
  let d = y.e - e;
  var ym: vec3<u32>;
  if (d >= 0) { ym = shl96(y.m, u32(d)); } else {
    ym = shr96(y.m, u32(-d));
    if (cmp96(shl96(ym, u32(-d)), y.m) != 0 || u32(-d) >= 96u) { ym.x |= 1u; }
  }
  if (x.neg == y.neg) { return SF(x.neg, add96(xm, ym), e); }
  if (cmp96(xm, ym) >= 0) { return SF(x.neg, sub96(xm, ym), e); }
  return SF(y.neg, sub96(ym, xm), e);
}
fn toF32(x: SF) -> f32 {
  if (bitlen96(x.m) == 0u) { return 0.0; }
  let v = ldexp(f32(x.m.x), x.e);
  return select(v, -v, x.neg);
}
// The CPU's fround(lo + fround(U·2^-24 · range)) with lo and range as float64.
fn exactUniform(U: u32) -> f32 {
  let lo = SF(pu(7u) != 0u, vec3<u32>(pu(9u), pu(8u), 0u), pi(10u));
  let rh = pu(12u); let rl = pu(13u);
  let l0 = U * rl; let h0 = mulhi32(U, rl);
  let l1 = U * rh; let h1 = mulhi32(U, rh);
  let mid = h0 + l1; let carry = select(0u, 1u, mid < h0);
  let prod = SF(pu(11u) != 0u, vec3<u32>(l0, mid, h1 + carry), pi(14u) - 24);
  let t = roundSF(roundSF(prod, 53u), 24u);
  return toF32(roundSF(roundSF(addSF(lo, t), 53u), 24u));
}
`;

/** Uniform kernel kind: float32 arithmetic or emulated float64 roundings. */
export type UniformKernel = "fast" | "exact";

/**
 * Random fill shader.
 *
 * Bindings: P = [n, key0, key1, counterLo, counterHi, a (f32), b (f32), …];
 * `out` (write). Invocation `gid` < n writes out[gid] from Philox counter
 * `(counterLo + gid, counterHi + carry)`. uniform: a = lo, b = hi − lo;
 * exact uniform adds lo and hi − lo as float64 parts at P[7 … 14] = [loNeg,
 * loMantHi, loMantLo, loExp, rangeNeg, rangeMantHi, rangeMantLo, rangeExp].
 * normal: a = mean, b = std (Box–Muller with ln(u1) from a series near 1).
 *
 * @param dist uniform or normal
 * @param kernel for uniform: fast or exact
 * @returns the shader
 */
export function randomShader(dist: RandomDist, kernel: UniformKernel = "fast"): ShaderSource {
  const value = dist === "normal"
    ? `  let v = f32(16777215u - (w.x >> 8u)) * (1.0 / 16777216.0);
  var ln1: f32;
  if (v < 0.0625) {
    ln1 = -v * (1.0 + v * (0.5 + v * (0.33333333 + v * (0.25 + v * (0.2 + v * (0.16666667 + v * 0.14285714))))));
  } else {
    ln1 = log(f32((w.x >> 8u) + 1u) * (1.0 / 16777216.0));
  }
  let u2 = f32(w.y >> 8u) * (1.0 / 16777216.0);
  let z = sqrt(max(-2.0 * ln1, 0.0)) * cos(6.2831853 * u2);
  out[gid] = pf(5u) + pf(6u) * z;`
    : kernel === "exact"
    ? `  out[gid] = exactUniform(w.x >> 8u);`
    : `  let u = f32(w.x >> 8u) * (1.0 / 16777216.0);
  out[gid] = pf(5u) + u * pf(6u);`;
  const code = PARAMS_WGSL + PHILOX_WGSL + (kernel === "exact" ? SOFTFLOAT_WGSL : "") +
    bindings([], ["out"]) +
    entry1d(`  if (gid >= pu(0u)) { return; }
  let c0 = pu(3u) + gid;
  let c1 = pu(4u) + select(0u, 1u, c0 < gid);
  let w = philox(c0, c1, pu(1u), pu(2u));
${value}`);
  const key = dist === "normal" ? "random:normal" : `random:uniform:${kernel}`;
  return { key, code, reads: 0, writes: 1 };
}

/**
 * Split a float64 into sign, 53-bit mantissa (high 21 and low 32 bits) and
 * exponent, so that |x| = mantissa · 2^exponent.
 *
 * @param x the number
 * @returns [neg (0/1), mantissaHi, mantissaLo, exponent]
 */
export function float64Parts(x: number): [number, number, number, number] {
  const dv = new DataView(new ArrayBuffer(8));
  dv.setFloat64(0, x);
  const hi = dv.getUint32(0), lo = dv.getUint32(4);
  const bexp = (hi >>> 20) & 0x7ff;
  const mHi = (hi & 0xfffff) | (bexp === 0 ? 0 : 0x100000);
  return [hi >>> 31, mHi, lo, bexp === 0 ? -1074 : bexp - 1075];
}

/**
 * Whether float32 arithmetic reproduces the CPU's uniform transform exactly:
 * lo must be 0 (so a fused multiply-add, which drivers may form, rounds the
 * same way) and hi a float32 value.
 *
 * @param lo lower bound
 * @param hi upper bound
 * @returns true when the fast kernel is exact
 */
export function uniformIsFast(lo: number, hi: number): boolean {
  return lo === 0 && Math.fround(hi) === hi;
}
