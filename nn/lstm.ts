/**
 * `nn.LSTM`: a stacked, batch-first LSTM with PyTorch's parameter names,
 * layout, gate order (i, f, g, o) and initialisation, running each layer as
 * one input-projection matmul for all time steps plus the fused sequence op
 * of `tensor/routines/rnn/layer.ts` (one step kernel per time step), or the unfused
 * reference of `nn/rnn_reference.ts` with `{ fused: false }`.
 *
 * @module
 */
import { tidy } from "../tensor/engine.ts";
import { matmulBias } from "../tensor/ops/matmul.ts";
import { stack } from "../tensor/ops/shape.ts";
import type { Tensor } from "../tensor/tensor.ts";
import {
  checkInput,
  checkState,
  initialStates,
  layerTensors,
  type RecurrentLayerWeights,
  RecurrentModule,
  type RecurrentOptions,
  stackLayout,
} from "./recurrent.ts";
import { lstmLayer } from "../tensor/routines/rnn/mod.ts";
import { lstmLayerReference } from "./rnn_reference.ts";

export type { RecurrentOptions } from "./recurrent.ts";

/** The recurrent state of an LSTM: each [numLayers, batch, hidden]. */
export interface LstmState {
  /** Hidden states. */
  h: Tensor;
  /** Cell states. */
  c: Tensor;
}

/** What {@link LSTM.forward} returns. */
export interface LstmOutput {
  /** The last layer's hidden state at every step [batch, time, hidden]. */
  output: Tensor;
  /** The final states. */
  state: LstmState;
}

/** What {@link LSTM.step} returns. */
export interface LstmStepOutput {
  /** The last layer's new hidden state [batch, hidden]. */
  output: Tensor;
  /** The new states. */
  state: LstmState;
}

/** The parameters of one LSTM layer (PyTorch layout, G = 4). */
export type LstmLayerWeights = RecurrentLayerWeights;

/**
 * A stacked LSTM as a function of its weights (what {@link LSTM.forward}
 * runs; exposed for gradient checks and custom parameter handling).
 *
 * @param x input [batch, time, in]
 * @param layers the weights of each layer, bottom first
 * @param state optional initial state, each [numLayers, batch, hidden] (default zeros)
 * @param opts `fused` (default true) picks the fused kernels or the reference
 * @returns the output sequence and the final state
 */
export function lstm(
  x: Tensor,
  layers: readonly LstmLayerWeights[],
  state?: LstmState,
  opts: { fused?: boolean } = {},
): LstmOutput {
  const L = layers.length;
  const H = layers[0]?.weightHh.shape[1] ?? 0;
  const inSize = layers[0]?.weightIh.shape[1] ?? 0;
  checkInput("LSTM", x, inSize);
  const [B, T] = x.shape as [number, number, number];
  if (state) checkState("LSTM", { h: state.h, c: state.c }, L, B, H);
  const fused = opts.fused ?? true;
  return tidy(() => {
    const states = state ? [state.h, state.c] : [];
    const layout = stackLayout(fused, x, [...layerTensors(layers), ...states]);
    const tm = layout.timeMajor;
    let inp = layout.input;
    const hs: Tensor[] = [], cs: Tensor[] = [];
    const zero: { zero?: Tensor } = {}; // one zeros tensor for every missing initial state
    for (let k = 0; k < L; k++) {
      const w = layers[k]!;
      // no state: the fused layer starts from zeros itself (on WebGPU without filling any)
      const [h0, c0] = state || !fused
        ? initialStates([state?.h, state?.c], k, B, H, x, zero)
        : [null, null];
      // x·W_ihᵀ + (b_ih + b_hh) in one kernel (the biases added in its store)
      const xp = matmulBias(inp.reshape([B * T, inp.shape[2]!]), w.weightIh, [
        w.biasIh,
        w.biasHh,
      ], { transB: true }).reshape(tm ? [T, B, 4 * H] : [B, T, 4 * H]);
      const r = fused
        ? lstmLayer(xp, w.weightHh, h0 ?? null, c0 ?? null, { timeMajor: tm })
        : lstmLayerReference(xp, w.weightHh, h0!, c0!);
      inp = r.output;
      hs.push(r.hT);
      cs.push(r.cT);
    }
    return { output: layout.output(inp), state: { h: stack(hs, 0), c: stack(cs, 0) } };
  });
}

/**
 * A stacked LSTM over batch-first sequences, with PyTorch's parameters:
 * `weight_ih_l{k}` [4H, in], `weight_hh_l{k}` [4H, H], `bias_ih_l{k}` and
 * `bias_hh_l{k}` [4H] (gates i, f, g, o), each initialised U(−1/√H, 1/√H)
 * from the seeded generator, registered in PyTorch's order.
 *
 * @example
 * ```ts
 * import { LSTM } from "./lstm.ts";
 * import { zeros } from "../mod.ts";
 * const rnn = new LSTM(5, 7, { numLayers: 2, backend: "cpu" });
 * const { output, state } = rnn.forward(zeros([3, 4, 5], { backend: "cpu" }));
 * console.assert(output.shape.join() === "3,4,7" && state.h.shape.join() === "2,3,7");
 * ```
 */
export class LSTM extends RecurrentModule<LstmState> {
  /**
   * Create the layers' parameters, initialised from the seeded generator.
   *
   * @param inputSize features per input step
   * @param hiddenSize hidden units per layer
   * @param opts numLayers, backend, dtype, fused
   */
  constructor(inputSize: number, hiddenSize: number, opts: RecurrentOptions = {}) {
    super("LSTM", 4, inputSize, hiddenSize, opts);
  }

  /**
   * Run the whole sequence.
   *
   * @param x input [batch, time, inputSize]
   * @param state initial state, each [numLayers, batch, hidden] (default zeros)
   * @returns the last layer's output at every step and the final state
   */
  forward(x: Tensor, state?: LstmState): { output: Tensor; state: LstmState } {
    return lstm(x, this.layers, state, { fused: this.fused });
  }
}
