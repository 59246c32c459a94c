/**
 * The fused MSE loss on the CPU backend: the squares are stored to a scratch
 * array of the storage type and summed by the backend's own sum reduction,
 * so the loss has the bits of the unfused `(x − t)·(x − t)` then `mean()`;
 * the gradient is one pass.
 *
 * @module
 */
import type { TypedArray } from "../../backend.ts";
import { reduceKernel } from "../../cpu/reduce.ts";
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
  const sq = x instanceof Float32Array ? new Float32Array(a.size) : new Float64Array(a.size);
  for (let i = 0; i < a.size; i++) {
    const d = x instanceof Float32Array ? Math.fround(x[i]! - t[i]!) : x[i]! - t[i]!;
    sq[i] = d * d;
  }
  reduceKernel("sum", sq, o, { outer: 1, reduce: a.size, inner: 1 });
  o[0] = a.scale * o[0]! + 0;
});

registerRoutine<MseLossBackwardArgs>("cpu", "mseLossBackward", (be, a) => {
  const x = arrayOf(be, a.input, "input of mseLossBackward"), t = arrayOf(be, a.target, "target");
  const o = arrayOf(be, a.out, "out of mseLossBackward");
  check(x, t, o, a.size, a.size);
  const g = a.grad ? arrayOf(be, a.grad, "grad of mseLossBackward")[0]! : a.gradValue;
  const r = x instanceof Float32Array ? Math.fround : (v: number) => v;
  const gs = r(a.scale * g + 0);
  for (let i = 0; i < a.size; i++) o[i] = 2 * r(gs * r(x[i]! - t[i]!)) + 0;
});
