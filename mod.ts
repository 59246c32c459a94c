/**
 * wgrad: a pure-TypeScript tensor engine with reverse-mode autograd, a CPU
 * backend and a WebGPU backend whose kernels are WGSL compute shaders.
 *
 * @example
 * ```ts
 * import { init, tensor } from "./mod.ts";
 * await init({ backend: "cpu", log: false });
 * const x = tensor([[1, 2], [3, 4]], undefined, { requiresGrad: true });
 * const y = x.matmul(x).add(1).sigmoid().sum();
 * y.backward();
 * console.assert(x.grad !== null);
 * ```
 *
 * @module
 */
// The backend contract and the autograd node: the types public signatures
// refer to (for custom backends and graph introspection).
export type * from "./tensor/backend.ts";
export type * from "./tensor/routines/rnn/args.ts";
export type * from "./tensor/routines/optim/args.ts";
export type { BackwardRule, Node } from "./tensor/autograd.ts";
export {
  type AdapterInfo,
  adapterInfo,
  type Disposable,
  init,
  type InitOptions,
  type InitResult,
  keep,
  noGrad,
  tidy,
} from "./tensor/engine.ts";
export { DisposedError, ShapeError } from "./tensor/errors.ts";
export {
  type GeneratorState,
  getGeneratorState,
  manualSeed,
  setGeneratorState,
} from "./tensor/random.ts";
export {
  arange,
  type Buf,
  full,
  type NestedArray,
  ones,
  type PendingView,
  rand,
  randn,
  Tensor,
  tensor,
  type TensorOptions,
  zeros,
} from "./tensor/tensor.ts";
export { matmul, type MatmulOptions } from "./tensor/ops/matmul.ts";
export { cat, gather, stack } from "./tensor/ops/shape.ts";
export { where } from "./tensor/ops/elementwise.ts";
export { memory, type MemoryInfo } from "./tensor/memory.ts";
/** Layers, losses, recurrent layers and checkpoints (`nn.LSTM`, `nn.Linear`, `nn.mseLoss`, `nn.save`…). */
export * as nn from "./nn/mod.ts";
/** Optimizers: `optim.Adam`, `optim.SGD`, `optim.RMSprop`, `optim.clipGradNorm`. */
export * as optim from "./nn/optim.ts";
/** MNIST loading and views, batches, PNG grids and charts. */
export * as data from "./data/mod.ts";
