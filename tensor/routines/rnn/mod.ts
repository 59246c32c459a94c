/**
 * The fused recurrent routines (LSTM and GRU), in one folder:
 *
 * - `args.ts`: the step kernels' arguments, on storages;
 * - `cpu.ts`: the CPU step kernels (typed arrays, SIMD activations, the
 *   thread pool's chunks), registered for the cpu backend;
 * - `wgsl.ts`: the WGSL step shaders; `webgpu.ts`: their launch code,
 *   registered for the webgpu backend;
 * - `layer.ts`: the differentiable layer ops on tensors ({@link lstmLayer},
 *   {@link gruLayer}: one autograd node per layer and sequence) that `nn/`
 *   calls.
 *
 * The step functions below run one registered step kernel on a backend
 * (tests and benches drive the kernels through them).
 *
 * @module
 */
import type { Backend } from "../../backend.ts";
import { runRoutine } from "../registry.ts";
import type {
  GruStepArgs,
  GruStepBackwardArgs,
  LstmStepArgs,
  LstmStepBackwardArgs,
} from "./args.ts";
import "./cpu.ts";
import "./webgpu.ts";

export type * from "./args.ts";
export {
  gruLayer,
  type GruLayerResult,
  type LayerOptions,
  lstmLayer,
  type LstmLayerResult,
} from "./layer.ts";

/**
 * One fused LSTM time step (one dispatch on WebGPU): gates = x + h·W_hhᵀ,
 * i, f, o = σ(·), g = tanh(·), c_t = f ⊙ c_{t−1} + i ⊙ g,
 * h_t = o ⊙ tanh(c_t). Writes `hOut`, `cOut` and (unless null) `gates`.
 *
 * @param be the backend owning every storage of `a`
 * @param a the step's arguments
 */
export function lstmStep(be: Backend, a: LstmStepArgs): void {
  runRoutine(be, "lstmStep", a);
}

/**
 * One fused LSTM backward step (one dispatch on WebGPU), run for t = T−1 … 0:
 * dh = a.dh + dg_{t+1}·W_hh (when `dgNext` is given), then the gate
 * gradients of step t into `dg` and dL/dc_{t−1} into `dc`. After the loop
 * the caller forms dW_hh = Σ_t dg_tᵀ·h_{t−1} (one matmul) and
 * dL/dh_{−1} = dg_0·W_hh.
 *
 * @param be the backend owning every storage of `a`
 * @param a the step's arguments
 */
export function lstmStepBackward(be: Backend, a: LstmStepBackwardArgs): void {
  runRoutine(be, "lstmStepBackward", a);
}

/**
 * One fused GRU time step (one dispatch on WebGPU): see {@link GruStepArgs}.
 * Writes `hOut` and (unless null) `saved`.
 *
 * @param be the backend owning every storage of `a`
 * @param a the step's arguments
 */
export function gruStep(be: Backend, a: GruStepArgs): void {
  runRoutine(be, "gruStep", a);
}

/**
 * One fused GRU backward step (one dispatch on WebGPU), run for t = T−1 … 0:
 * dh = a.dh + dhz + dgh_{t+1}·W_hh (the last two when `dghNext` is given),
 * then `dgx`, `dgh` of step t and the new `dhz`. After the loop the caller
 * forms dW_hh = Σ_t dgh_tᵀ·h_{t−1}, db_hh = Σ dgh and
 * dL/dh_{−1} = dhz + dgh_0·W_hh.
 *
 * @param be the backend owning every storage of `a`
 * @param a the step's arguments
 */
export function gruStepBackward(be: Backend, a: GruStepBackwardArgs): void {
  runRoutine(be, "gruStepBackward", a);
}
