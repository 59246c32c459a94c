/**
 * Gradient checks of every differentiable op against central finite
 * differences in float64 on the CPU backend (max relative error < 1e-6), on
 * random inputs with broadcasting, size-1 dimensions and odd sizes.
 */
import assert from "node:assert/strict";
import { type NestedArray, tensor } from "../mod.ts";
import { gradCheck, rand64 } from "./_gradcheck.ts";
import { opCases } from "./_op_cases.ts";

const TOL = 1e-6;
const k = (v: NestedArray) => tensor(v, undefined, { dtype: "float64", backend: "cpu" });

for (const c of opCases) {
  Deno.test(`gradient of ${c.name} matches finite differences in float64`, async () => {
    const inputs = c.shapes.map((s, i) => rand64(s, 17 + i * 31, c.range));
    const { maxRelError, where: at } = await gradCheck((...xs) => c.fn(xs, k), inputs);
    assert.ok(maxRelError < TOL, `max relative error ${maxRelError} at ${at}`);
    for (const x of inputs) {
      x.grad?.dispose();
      x.dispose();
    }
  });
}
