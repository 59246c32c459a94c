/**
 * Layers, losses and checkpoints: `Module`, `Linear`, `Sequential`,
 * activations, `BatchNorm1d`, `Dropout`, `Conv2d`, `MaxPool2d`, `mseLoss`,
 * `bceLoss`, `crossEntropy`, `save`/`load`, and the safetensors codec.
 * Optimizers are in `./optim.ts`.
 *
 * @module
 */
export { type LoadOptions, Module } from "./module.ts";
export { Linear, linear, type LinearOptions } from "./linear.ts";
export { LeakyReLU, ReLU, Sigmoid, Tanh } from "./activations.ts";
export { type Layer, Sequential } from "./sequential.ts";
export {
  batchNorm,
  BatchNorm1d,
  type BatchNormFnOptions,
  type BatchNormOptions,
} from "./batchnorm.ts";
export { Dropout, dropout } from "./dropout.ts";
export {
  Conv2d,
  conv2d,
  type Conv2dOptions,
  MaxPool2d,
  maxPool2d,
  type MaxPool2dOptions,
  type Size2,
  type WindowOptions,
} from "./conv.ts";
export { pad2d, unfold2d } from "../tensor/routines/conv/mod.ts";
export { bceLoss, crossEntropy, type LossOptions, mseLoss, type Reduction } from "./losses.ts";
export {
  type CheckpointLoadOptions,
  load,
  loadBytes,
  type LoadBytesOptions,
  type LoadedTensors,
  loadTensors,
  save,
  type SaveOptions,
  saveTensors,
  writeFileAtomic,
} from "./checkpoint.ts";
export {
  type DecodedSafetensors,
  type DecodedSafetensorsTensor,
  decodeSafetensors,
  encodeSafetensors,
  SafetensorsError,
  type SafetensorsReadDtype,
  type SafetensorsTensor,
  type SafetensorsWriteDtype,
} from "./safetensors.ts";
export {
  LSTM,
  lstm,
  type LstmLayerWeights,
  type LstmOutput,
  type LstmState,
  type LstmStepOutput,
  type RecurrentOptions,
} from "./lstm.ts";
export {
  GRU,
  gru,
  type GruLayerWeights,
  type GruOutput,
  type GruState,
  type GruStepOutput,
} from "./gru.ts";
export {
  gruLayer,
  type GruLayerResult,
  type LayerOptions,
  lstmLayer,
  type LstmLayerResult,
} from "../tensor/routines/rnn/mod.ts";
export { gruLayerReference, lstmLayerReference } from "./rnn_reference.ts";
export { type RecurrentLayerWeights, RecurrentModule } from "./recurrent.ts";
