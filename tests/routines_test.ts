/**
 * The fused-routine registry (`tensor/routines/registry.ts`): every routine
 * has a kernel on both backends once its folder's `mod.ts` is loaded, the
 * `Backend` interface holds none of them, and running a routine a backend
 * lacks is an error naming both.
 *
 * @module
 */
import assert from "node:assert/strict";
import { CpuBackend } from "../tensor/cpu/backend.ts";
import { hasRoutine, routineTrait, runRoutine } from "../tensor/routines/registry.ts";
import "../tensor/routines/optim/mod.ts";
import "../tensor/routines/rnn/mod.ts";

const ROUTINES = ["lstmStep", "lstmStepBackward", "gruStep", "gruStepBackward", "optimizerStep"];

Deno.test("every fused routine has a kernel on the cpu and the webgpu backend", () => {
  for (const name of ROUTINES) {
    for (const backend of ["cpu", "webgpu"] as const) {
      assert.ok(hasRoutine(backend, name), `${name} has no ${backend} kernel`);
    }
  }
});

Deno.test("backends keep primitive kernels only: no routine is a Backend member", () => {
  const cpu = new CpuBackend() as unknown as Record<string, unknown>;
  for (const name of ROUTINES) assert.equal(cpu[name], undefined, `CpuBackend.${name}`);
});

Deno.test("a routine a backend lacks is an error naming the routine and the backend", () => {
  assert.throws(
    () => runRoutine(new CpuBackend(), "noSuchRoutine", {}),
    /Cannot run routine noSuchRoutine on the cpu backend: no kernel registered \(registered: .*lstmStep/,
  );
});

Deno.test("traits: webgpu's forward steps read W_hhᵀ, the cpu's do not", () => {
  const cpu = new CpuBackend();
  assert.equal(routineTrait(cpu, "lstmStep", "whhT"), false);
  const gpuLike = { name: "webgpu" } as unknown as CpuBackend;
  assert.equal(routineTrait(gpuLike, "lstmStep", "whhT"), true);
  assert.equal(routineTrait(gpuLike, "gruStep", "whhT"), true);
  assert.equal(routineTrait(gpuLike, "lstmStepBackward", "whhT"), false);
});
