/**
 * Where a CPU training step's time goes: wraps every method of the CPU
 * backend with a timer and runs ~30 steps of the GAN or the classifier.
 * `deno run -A bench/_cpu_step_profile.ts gan|classify [steps]`
 *
 * @module
 */
import { init } from "../mod.ts";
import { CpuBackend } from "../tensor/cpu/backend.ts";
import { buildClassifyStep, buildGanStep } from "./_models.ts";

const which = Deno.args[0] ?? "gan";
const steps = Number(Deno.args[1] ?? 30);
const acc = new Map<string, { ms: number; calls: number }>();
let depth = 0;
const proto = CpuBackend.prototype as unknown as Record<string, unknown>;
for (const name of Object.getOwnPropertyNames(proto)) {
  const d = Object.getOwnPropertyDescriptor(proto, name);
  if (name === "constructor" || !d || typeof d.value !== "function") continue;
  const f = d.value as (...a: unknown[]) => unknown;
  proto[name] = function (this: unknown, ...a: unknown[]) {
    if (depth > 0) return f.apply(this, a);
    depth++;
    const t = performance.now();
    try {
      return f.apply(this, a);
    } finally {
      depth--;
      const e = acc.get(name) ?? { ms: 0, calls: 0 };
      e.ms += performance.now() - t;
      e.calls++;
      acc.set(name, e);
    }
  };
}
await init({ backend: "cpu" });
const rep = which === "gan" ? buildGanStep("cpu") : buildClassifyStep("cpu");
for (let i = 0; i < 3; i++) await rep();
acc.clear();
const t0 = performance.now();
for (let i = 0; i < steps; i++) await rep();
const total = (performance.now() - t0) / steps;
let inside = 0;
const rows = [...acc.entries()].sort((a, b) => b[1].ms - a[1].ms);
console.log(`${which}: ${total.toFixed(1)} ms per step`);
for (const [name, e] of rows) {
  inside += e.ms / steps;
  if (e.ms / steps < 0.2) continue;
  console.log(
    `  ${name.padEnd(24)} ${(e.ms / steps).toFixed(2).padStart(7)} ms  ${
      (e.calls / steps).toFixed(0).padStart(4)
    } calls`,
  );
}
console.log(`  outside backend methods ${(total - inside).toFixed(2).padStart(7)} ms`);
Deno.exit(0);
