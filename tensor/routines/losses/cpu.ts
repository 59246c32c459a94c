/**
 * The fused MSE loss on the CPU backend: each square is rounded to the
 * storage type and summed as the backend's sum reduction sums a row (float64,
 * even and odd elements in two sums, rounded once when stored), so the loss
 * has the bits of the unfused `(x − t)·(x − t)` then `mean()` without an
 * array of squares; the gradient is one pass.
 *
 * @module
 */
import type { TypedArray } from "../../backend.ts";
import { arrayOf } from "../../cpu/storage.ts";
import { registerRoutine } from "../registry.ts";
import type { MseLossArgs, MseLossBackwardArgs } from "./args.ts";

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
  if (x instanceof Float32Array) {
    const f = Math.fround, gs = f(a.scale * g + 0);
    for (let i = 0; i < a.size; i++) o[i] = 2 * f(gs * f(x[i]! - t[i]!)) + 0;
  } else {
    const gs = a.scale * g + 0;
    for (let i = 0; i < a.size; i++) o[i] = 2 * (gs * (x[i]! - t[i]!)) + 0;
  }
});
