/**
 * The fused optimizer updates (Adam/AdamW, SGD, RMSprop), in one folder:
 *
 * - `args.ts`: the update kernel's arguments, on storages (the formulas);
 * - `cpu.ts`: the CPU kernel (float64 arithmetic, one rounding per stored
 *   value), registered for the cpu backend;
 * - `wgsl.ts`: the WGSL shaders; `webgpu.ts`: their launch code (uniforms
 *   computed on the host), registered for the webgpu backend;
 * - this module: the update on tensors ({@link optimizerUpdate}) that the
 *   optimizers of `nn/` call, and {@link optimizerStep} on storages.
 *
 * @module
 */
import type { Backend, Storage } from "../../backend.ts";
import { Tensor } from "../../tensor.ts";
import { hasRoutine, runRoutine } from "../registry.ts";
import type { AdamStepArgs, OptimizerStepArgs, RmspropStepArgs, SgdStepArgs } from "./args.ts";
import "./cpu.ts";
import "./webgpu.ts";

export type * from "./args.ts";

/** `A` with every storage replaced by a tensor (and `Storage | null` by `Tensor | null`). */
export type OnTensors<A> = {
  [K in keyof A]: A[K] extends Storage ? Tensor : A[K] extends Storage | null ? Tensor | null
  : A[K];
};

/** An Adam/AdamW update on tensors (see {@link AdamStepArgs}). */
export type AdamUpdate = OnTensors<AdamStepArgs>;
/** An SGD update on tensors (see {@link SgdStepArgs}). */
export type SgdUpdate = OnTensors<SgdStepArgs>;
/** An RMSprop update on tensors (see {@link RmspropStepArgs}). */
export type RmspropUpdate = OnTensors<RmspropStepArgs>;
/** The arguments of {@link optimizerUpdate}, by optimizer kind. */
export type OptimizerUpdate = AdamUpdate | SgdUpdate | RmspropUpdate;

/**
 * One fused optimizer update of one parameter, in place (one dispatch on
 * WebGPU): reads `grad`, rewrites `param` and the optimizer's state
 * storages by PyTorch's formulas (see {@link AdamStepArgs},
 * {@link SgdStepArgs}, {@link RmspropStepArgs}). Every storage has
 * `param.size` elements and no two share memory. All hyper-parameters and
 * bias corrections are scalars of the call (uniforms on the GPU), so
 * nothing is read back and one compiled kernel serves every step. The CPU
 * computes in float64 and rounds once per stored value.
 *
 * @param be the backend owning every storage of `a`
 * @param a the update's arguments
 */
export function optimizerStep(be: Backend, a: OptimizerStepArgs): void {
  runRoutine(be, "optimizerStep", a);
}

/**
 * Give `t` memory of its own when another tensor shares it (a view, or a
 * graph that saved it): copy on write before an in-place update, so those
 * keep the old values, as they do with the composed update.
 *
 * @param t a parameter or state tensor about to be updated in place
 */
export function ownMemory(t: Tensor): void {
  if (t.buf.refs > 1) {
    const c = t.clone();
    t.assign(c);
    c.dispose();
  }
}

/**
 * {@link optimizerStep} on tensors: the parameter (given its own memory
 * first, {@link ownMemory}) and its state tensors are updated in place;
 * every tensor-valued field becomes its storage. Every tensor must live on
 * the parameter's backend.
 *
 * @param a the update; tensors where the kernel takes storages
 * @example
 * ```ts
 * import { tensor, zeros } from "../../../mod.ts";
 * import { optimizerUpdate } from "./mod.ts";
 * const p = tensor([1, 2], undefined, { backend: "cpu" });
 * const g = tensor([1, 1], undefined, { backend: "cpu" });
 * optimizerUpdate({
 *   kind: "sgd", param: p, grad: g, momentumBuffer: null, lr: 0.5,
 *   momentum: 0, dampening: 0, weightDecay: 0, nesterov: false, firstStep: false,
 * });
 * console.assert((await p.data())[0] === 0.5);
 * console.assert(zeros([1]).shape[0] === 1);
 * ```
 */
export function optimizerUpdate(a: OptimizerUpdate): void {
  ownMemory(a.param);
  const be = a.param.backendImpl;
  const args: Record<string, unknown> = {};
  for (const [key, v] of Object.entries(a)) {
    if (!(v instanceof Tensor)) {
      args[key] = v;
      continue;
    }
    if (v.backendImpl !== be) {
      throw new TypeError(
        `Cannot run the ${a.kind} update: ${key} is on ${v.backend}, the parameter on ${be.name}`,
      );
    }
    args[key] = v.storage;
  }
  if (batch) batch.push([be, args as unknown as OptimizerStepArgs]);
  else optimizerStep(be, args as unknown as OptimizerStepArgs);
}

let batch: [Backend, OptimizerStepArgs][] | null = null;

/**
 * Run `fn` (the loop of an optimizer's step over its parameters), holding
 * back the {@link optimizerUpdate} calls it makes, then run them together:
 * a backend with the `optimizerSteps` routine gets them as one list (WebGPU:
 * the Adam/AdamW updates that share their scalars, several parameters per
 * dispatch, the storage-buffer limit allowing), others one by one. The
 * updates must be of distinct parameters; the values are those of one
 * update at a time.
 *
 * @param fn makes the updates
 */
export function optimizerUpdates(fn: () => void): void {
  if (batch) return fn();
  batch = [];
  let mine: [Backend, OptimizerStepArgs][];
  try {
    fn();
  } finally {
    mine = batch;
    batch = null;
  }
  const byBackend = new Map<Backend, OptimizerStepArgs[]>();
  for (const [be, a] of mine) {
    const list = byBackend.get(be) ?? [];
    list.push(a);
    byBackend.set(be, list);
  }
  for (const [be, list] of byBackend) {
    if (hasRoutine(be.name, "optimizerSteps")) runRoutine(be, "optimizerSteps", list);
    else for (const a of list) optimizerStep(be, a);
  }
}
