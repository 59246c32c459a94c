/**
 * Dispatch of the fused optimizer updates (one dispatch per parameter per
 * step; see ./wgsl.ts): argument checks, the host-side float64
 * scalars (bias-corrected step size, √(1 − β2^t), 1 − β, decay factor) written
 * to the uniform, and the variant chosen by which state buffers exist.
 *
 * @module
 */
import type { Storage } from "../../backend.ts";
import type { OptimizerStepArgs } from "./args.ts";
import { WG_1D } from "../../wgsl/common.ts";
import {
  adamMultiShader,
  OPTIM_FLAG_DECOUPLED,
  OPTIM_FLAG_FIRST,
  OPTIM_FLAG_L2,
  OPTIM_FLAG_NESTEROV,
  OPTIM_FLAGS_SLOT,
  OPTIM_MULTI_ENDS_SLOT,
  OPTIM_MULTI_MAX,
  OPTIM_N_SLOT,
  OPTIM_SLOTS,
  optimShader,
  type OptimShaderKind,
  type OptimVariant,
} from "./wgsl.ts";
import type { WebGPUBackend } from "../../webgpu/backend.ts";
import type { GpuBuf } from "../../webgpu/pool.ts";
import type { ParamBlock, Runtime } from "../../webgpu/runtime.ts";
import type { BufOf } from "../rnn/webgpu.ts";
import { registerRoutine } from "../registry.ts";

export type { OptimizerStepArgs };

/** The shader family, variant, storages in binding order and uniform writer of an update. */
function plan(a: OptimizerStepArgs): {
  kind: OptimShaderKind;
  variant: OptimVariant;
  roles: [string, Storage][];
  params: (p: ParamBlock) => void;
} {
  switch (a.kind) {
    case "adam":
    case "adamw": {
      const s = OPTIM_SLOTS.adam, decoupled = a.kind === "adamw";
      const wd = a.weightDecay;
      const flags = wd === 0 ? 0 : decoupled ? OPTIM_FLAG_DECOUPLED : OPTIM_FLAG_L2;
      return {
        kind: "adam",
        variant: { momentum: false, centered: false },
        roles: [["grad", a.grad], ["param", a.param], ["expAvg", a.expAvg], [
          "expAvgSq",
          a.expAvgSq,
        ]],
        params: (p) =>
          p.u(OPTIM_FLAGS_SLOT, flags).f(s.beta1, a.beta1).f(s.oneMinusBeta1, 1 - a.beta1)
            .f(s.beta2, a.beta2).f(s.oneMinusBeta2, 1 - a.beta2).f(s.eps, a.eps)
            .f(s.weightDecay, wd).f(s.decayFactor, 1 - a.lr * wd)
            .f(s.stepSize, a.lr / a.biasCorrection1).f(s.bc2Sqrt, Math.sqrt(a.biasCorrection2)),
      };
    }
    case "sgd": {
      const s = OPTIM_SLOTS.sgd, buf = a.momentumBuffer;
      const flags = (a.weightDecay !== 0 ? OPTIM_FLAG_L2 : 0) |
        (a.nesterov ? OPTIM_FLAG_NESTEROV : 0) | (a.firstStep ? OPTIM_FLAG_FIRST : 0);
      return {
        kind: "sgd",
        variant: { momentum: buf !== null, centered: false },
        roles: [
          ["grad", a.grad],
          ["param", a.param],
          ...(buf ? [["momentumBuffer", buf]] : []),
        ] as [
          string,
          Storage,
        ][],
        params: (p) =>
          p.u(OPTIM_FLAGS_SLOT, flags).f(s.lr, a.lr).f(s.momentum, a.momentum)
            .f(s.oneMinusDampening, 1 - a.dampening).f(s.weightDecay, a.weightDecay),
      };
    }
    case "rmsprop": {
      const s = OPTIM_SLOTS.rmsprop;
      const flags = a.weightDecay !== 0 ? OPTIM_FLAG_L2 : 0;
      const roles: [string, Storage][] = [
        ["grad", a.grad],
        ["param", a.param],
        ["squareAvg", a.squareAvg],
      ];
      if (a.momentumBuffer) roles.push(["momentumBuffer", a.momentumBuffer]);
      if (a.gradAvg) roles.push(["gradAvg", a.gradAvg]);
      return {
        kind: "rmsprop",
        variant: { momentum: a.momentumBuffer !== null, centered: a.gradAvg !== null },
        roles,
        params: (p) =>
          p.u(OPTIM_FLAGS_SLOT, flags).f(s.lr, a.lr).f(s.alpha, a.alpha)
            .f(s.oneMinusAlpha, 1 - a.alpha).f(s.eps, a.eps).f(s.momentum, a.momentum)
            .f(s.weightDecay, a.weightDecay),
      };
    }
    default:
      throw new TypeError(
        `Cannot run webgpu optimizerStep: unknown kind "${(a as { kind: unknown }).kind}"`,
      );
  }
}

/**
 * Record one fused optimizer update: one dispatch, one invocation per element.
 *
 * @param rt the runtime
 * @param a the update's storages and scalars
 * @param bufOf storage → buffer (with the backend's checks)
 */
export function recordOptimizerStep(rt: Runtime, a: OptimizerStepArgs, bufOf: BufOf): void {
  const { kind, variant, roles, params } = plan(a);
  const n = a.param.size;
  const bufs: GpuBuf[] = [];
  for (const [role, s] of roles) {
    const b = bufOf(s);
    if (s.size !== n) {
      throw new RangeError(
        `Cannot run webgpu ${a.kind} optimizerStep: ${role} holds ${s.size} elements, the parameter ${n}`,
      );
    }
    // Empty storages share one placeholder buffer; they are never touched.
    if (n > 0 && bufs.includes(b)) {
      throw new TypeError(
        `Cannot run webgpu ${a.kind} optimizerStep: ${role} is the same storage as another argument`,
      );
    }
    bufs.push(b);
  }
  if (n === 0) return;
  rt.dispatch(
    optimShader(kind, variant),
    bufs,
    (p) => {
      p.u(OPTIM_N_SLOT, n);
      params(p);
    },
    Math.ceil(n / WG_1D),
  );
}

/** The scalars of an Adam update that one multi-tensor dispatch must share. */
function adamKey(a: OptimizerStepArgs): string | null {
  if (a.kind !== "adam" && a.kind !== "adamw") return null;
  return [
    a.kind,
    a.lr,
    a.beta1,
    a.beta2,
    a.eps,
    a.weightDecay,
    a.biasCorrection1,
    a.biasCorrection2,
  ].join();
}

/**
 * Record several fused optimizer updates (of distinct parameters): Adam and
 * AdamW updates with the same scalars run `k` parameters per dispatch, `k`
 * as many as the device's storage-buffer limit allows (4 per parameter);
 * every other update runs alone, as {@link recordOptimizerStep}. The values
 * written are those of one {@link recordOptimizerStep} per parameter.
 *
 * @param rt the runtime
 * @param list the updates
 * @param bufOf storage → buffer (with the backend's checks)
 */
export function recordOptimizerSteps(
  rt: Runtime,
  list: readonly OptimizerStepArgs[],
  bufOf: BufOf,
): void {
  const perDispatch = Math.min(
    OPTIM_MULTI_MAX,
    Math.floor(rt.device.limits.maxStorageBuffersPerShaderStage / 4),
  );
  const groups = new Map<string, OptimizerStepArgs[]>();
  for (const a of list) {
    const key = a.param.size > 0 && perDispatch >= 2 ? adamKey(a) : null;
    if (key === null) {
      recordOptimizerStep(rt, a, bufOf);
      continue;
    }
    let g = groups.get(key);
    if (!g) groups.set(key, g = []);
    g.push(a);
  }
  for (const g of groups.values()) {
    for (let at = 0; at < g.length; at += perDispatch) {
      const chunk = g.slice(at, at + perDispatch);
      if (chunk.length === 1) {
        recordOptimizerStep(rt, chunk[0]!, bufOf);
        continue;
      }
      const plans = chunk.map(plan);
      const grads: GpuBuf[] = [], writes: GpuBuf[] = [];
      const ends: number[] = [];
      let n = 0;
      for (const [j, a] of chunk.entries()) {
        const size = a.param.size;
        for (const [role, s] of plans[j]!.roles) {
          if (s.size !== size) {
            throw new RangeError(
              `Cannot run webgpu ${a.kind} optimizerStep: ${role} holds ${s.size} elements, the parameter ${size}`,
            );
          }
          const b = bufOf(s);
          // Gradients may share memory (read-only bindings may alias; a + b hands both the same).
          if (writes.includes(b) || (role !== "grad" && grads.includes(b))) {
            throw new TypeError(
              `Cannot run webgpu ${a.kind} optimizerStep: ${role} is the same storage as another argument`,
            );
          }
          (role === "grad" ? grads : writes).push(b);
        }
        n += size;
        ends.push(n);
      }
      rt.dispatch(
        adamMultiShader(chunk.length),
        [...grads, ...writes],
        (p) => {
          p.u(OPTIM_N_SLOT, n);
          plans[0]!.params(p);
          ends.forEach((e, j) => p.u(OPTIM_MULTI_ENDS_SLOT + j, e));
        },
        Math.ceil(n / WG_1D),
      );
    }
  }
}
registerRoutine<OptimizerStepArgs>("webgpu", "optimizerStep", (be, a) => {
  const g = be as WebGPUBackend;
  recordOptimizerStep(g.rt, a, (s) => g.buffer(s, "optimizerStep"));
});

registerRoutine<readonly OptimizerStepArgs[]>("webgpu", "optimizerSteps", (be, list) => {
  const g = be as WebGPUBackend;
  recordOptimizerSteps(g.rt, list, (s) => g.buffer(s, "optimizerStep"));
});
