/**
 * The elementwise op table is complete: every differentiable op carries the
 * inputs its gradient check and parity test run on, and every op has a CPU
 * kernel, a WGSL expression and (unary) a kernel test domain.
 */
import assert from "node:assert/strict";
import { BINARY_OPS, UNARY_OPS } from "../tensor/optable.ts";
import { opCases } from "./_op_cases.ts";

Deno.test("every op of the table has a CPU kernel, a WGSL expression and its test domain", () => {
  for (const [op, e] of [...Object.entries(UNARY_OPS), ...Object.entries(BINARY_OPS)]) {
    assert.equal(typeof e.cpu, "function", `${op}: no CPU kernel`);
    assert.ok(e.wgsl.length > 0, `${op}: no WGSL expression`);
    assert.ok(e.math.length > 0, `${op}: no math`);
    if (e.grad) assert.ok((e.checks?.length ?? 0) > 0, `${op}: differentiable but no checks`);
    else assert.equal(e.checks, undefined, `${op}: checks without a gradient rule`);
  }
  for (const [op, e] of Object.entries(UNARY_OPS)) {
    assert.ok(e.kernel.length > 0, `${op}: no kernel test domain`);
  }
});

Deno.test("the gradient-check cases hold every check of the table, each name once", () => {
  const names = opCases.map((c) => c.name);
  assert.equal(new Set(names).size, names.length, "duplicate case names");
  for (const [op, e] of Object.entries(UNARY_OPS)) {
    for (const c of e.checks ?? []) assert.ok(names.includes(c.name ?? op), `${op}: missing`);
  }
  for (const e of Object.values(BINARY_OPS)) {
    for (const c of e.checks ?? []) assert.ok(names.includes(c.name), `${c.name}: missing`);
  }
});
