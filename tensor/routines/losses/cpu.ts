/**
 * The fused MSE loss on the CPU backend: each square is rounded to the
 * storage type and summed as the backend's sum reduction sums a row (float64,
 * even and odd elements in two sums, rounded once when stored), so the loss
 * has the bits of the unfused `(x − t)·(x − t)` then `mean()` without an
 * array of squares; the gradient is one pass. Float32 inputs of at least
 * {@link SIMD_MSE_MIN} elements run both in WebAssembly SIMD (`SimdKernel.mseSum`,
 * `mseGrad`), block by block through the kernel's memory: the same bits.
 *
 * @module
 */
import type { TypedArray } from "../../backend.ts";
import { arrayOf } from "../../cpu/storage.ts";
import { type SimdKernel, simdKernel } from "../../cpu/simd.ts";
import { registerRoutine } from "../registry.ts";
import type { MseLossArgs, MseLossBackwardArgs } from "./args.ts";

/** Float32 MSE losses and gradients of at least this many elements run in SIMD. */
export const SIMD_MSE_MIN = 1024;
/** Elements per block through the SIMD kernel's memory (a multiple of 4). */
const MSE_BLOCK = 8192;

/** The SIMD kernel for a float32 MSE kernel over n elements, or null. */
function mseSimd(x: TypedArray, n: number): SimdKernel | null {
  if (n < SIMD_MSE_MIN || !(x instanceof Float32Array)) return null;
  const simd = simdKernel();
  if (!simd) return null;
  simd.reserve((4 + 2 * (MSE_BLOCK + 4)) * 4);
  simd.tag = 0; // the memory's contents are replaced
  return simd;
}

/**
 * Copy elements at…at+len of x and t to the kernel's memory (x at float32 4,
 * t one block further) and return t's offset.
 */
function mseBlock(simd: SimdKernel, x: TypedArray, t: TypedArray, at: number, len: number): number {
  const T = 4 + MSE_BLOCK + 4;
  simd.f32.set(x.subarray(at, at + len), 4);
  simd.f32.set(t.subarray(at, at + len), T);
  return T;
}

function check(x: TypedArray, t: TypedArray, o: TypedArray, n: number, outN: number): void {
  if (x.length < n || t.length < n || o.length < outN) {
    throw new RangeError(
      `Cannot run cpu mseLoss over ${n} elements: input ${x.length}, target ${t.length}, ` +
        `out ${o.length}`,
    );
  }
}

registerRoutine<MseLossArgs>("cpu", "mseLoss", (be, a) => {
  const x = arrayOf(be, a.input, "input of mseLoss"), t = arrayOf(be, a.target, "target");
  const o = arrayOf(be, a.out, "out of mseLoss");
  check(x, t, o, a.size, 1);
  const n = a.size;
  let s0 = 0, s1 = 0, i = 0;
  const simd = mseSimd(x, n);
  if (simd) {
    // whole vectors in SIMD (blocks start on even elements: the same two sums), the tail here
    const whole = n - (n % 4);
    simd.f64[0] = 0;
    simd.f64[1] = 0;
    for (let at = 0; at < whole; at += MSE_BLOCK) {
      const len = Math.min(MSE_BLOCK, whole - at);
      simd.mseSum(4, mseBlock(simd, x, t, at, len), len, 0);
    }
    s0 = simd.f64[0]!;
    s1 = simd.f64[1]!;
    i = whole;
  }
  if (x instanceof Float32Array) {
    const f = Math.fround;
    for (; i + 1 < n; i += 2) {
      const d0 = f(x[i]! - t[i]!), d1 = f(x[i + 1]! - t[i + 1]!);
      s0 += f(d0 * d0);
      s1 += f(d1 * d1);
    }
    if (i < n) {
      const d = f(x[i]! - t[i]!);
      s0 += f(d * d);
    }
  } else {
    for (; i + 1 < n; i += 2) {
      const d0 = x[i]! - t[i]!, d1 = x[i + 1]! - t[i + 1]!;
      s0 += d0 * d0;
      s1 += d1 * d1;
    }
    if (i < n) {
      const d = x[i]! - t[i]!;
      s0 += d * d;
    }
  }
  o[0] = s0 + s1; // rounded to the storage type, as the sum reduction stores it
  o[0] = a.scale * o[0]! + 0;
});

registerRoutine<MseLossBackwardArgs>("cpu", "mseLossBackward", (be, a) => {
  const x = arrayOf(be, a.input, "input of mseLossBackward"), t = arrayOf(be, a.target, "target");
  const o = arrayOf(be, a.out, "out of mseLossBackward");
  check(x, t, o, a.size, a.size);
  const g = a.grad ? arrayOf(be, a.grad, "grad of mseLossBackward")[0]! : a.gradValue;
  const simd = mseSimd(x, a.size);
  if (simd) {
    simd.f32[0] = a.scale * g + 0; // rounded to float32 as Math.fround would
    for (let at = 0; at < a.size; at += MSE_BLOCK) {
      const len = Math.min(MSE_BLOCK, a.size - at);
      simd.mseGrad(4, mseBlock(simd, x, t, at, len), 4, len, 0);
      o.set(simd.f32.subarray(4, 4 + len), at);
    }
  } else if (x instanceof Float32Array) {
    const f = Math.fround, gs = f(a.scale * g + 0);
    for (let i = 0; i < a.size; i++) o[i] = 2 * f(gs * f(x[i]! - t[i]!)) + 0;
  } else {
    const gs = a.scale * g + 0;
    for (let i = 0; i < a.size; i++) o[i] = 2 * (gs * (x[i]! - t[i]!)) + 0;
  }
});
