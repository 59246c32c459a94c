/**
 * `nn.GRU`: a stacked, batch-first GRU with PyTorch's parameter names,
 * layout, gate order (r, z, n) and initialisation. Each layer is one
 * input-projection matmul for all time steps (x·W_ihᵀ + b_ih) plus the fused
 * sequence op of `tensor/routines/rnn/layer.ts`, which applies b_hh inside the step kernel
 * because b_hn sits inside the reset product r ⊙ (W_hn h + b_hn); or the
 * unfused reference of `nn/rnn_reference.ts` with `{ fused: false }`.
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
import { gruLayer } from "../tensor/routines/rnn/mod.ts";
import { gruLayerReference } from "./rnn_reference.ts";

/** The recurrent state of a GRU: [numLayers, batch, hidden]. */
export interface GruState {
  /** Hidden states. */
  h: Tensor;
}

/** What {@link GRU.forward} returns. */
export interface GruOutput {
  /** The last layer's hidden state at every step [batch, time, hidden]. */
  output: Tensor;
  /** The final state. */
  state: GruState;
}

/** What {@link GRU.step} returns. */
export interface GruStepOutput {
  /** The last layer's new hidden state [batch, hidden]. */
  output: Tensor;
  /** The new state. */
  state: GruState;
}

/** The parameters of one GRU layer (PyTorch layout, G = 3). */
export type GruLayerWeights = RecurrentLayerWeights;

/**
 * A stacked GRU as a function of its weights (what {@link GRU.forward}
 * runs; exposed for gradient checks and custom parameter handling).
 *
 * @param x input [batch, time, in]
 * @param layers the weights of each layer, bottom first
 * @param state optional initial state [numLayers, batch, hidden] (default zeros)
 * @param opts `fused` (default true) picks the fused kernels or the reference
 * @returns the output sequence and the final state
 */
export function gru(
  x: Tensor,
  layers: readonly GruLayerWeights[],
  state?: GruState,
  opts: { fused?: boolean } = {},
): GruOutput {
  const L = layers.length;
  const H = layers[0]?.weightHh.shape[1] ?? 0;
  const inSize = layers[0]?.weightIh.shape[1] ?? 0;
  checkInput("GRU", x, inSize);
  const [B, T] = x.shape as [number, number, number];
  if (state) checkState("GRU", { h: state.h }, L, B, H);
  const fused = opts.fused ?? true;
  return tidy(() => {
    const layout = stackLayout(fused, x, [...layerTensors(layers), ...(state ? [state.h] : [])]);
    const tm = layout.timeMajor;
    let inp = layout.input;
    const hs: Tensor[] = [];
    const zero: { zero?: Tensor } = {}; // one zeros tensor for every missing initial state
    for (let k = 0; k < L; k++) {
      const w = layers[k]!;
      // no state: the fused layer starts from zeros itself (on WebGPU without filling any)
      const [h0] = state || !fused ? initialStates([state?.h], k, B, H, x, zero) : [null];
      const gx = matmulBias(inp.reshape([B * T, inp.shape[2]!]), w.weightIh, [w.biasIh], {
        transB: true,
      })
        .reshape(tm ? [T, B, 3 * H] : [B, T, 3 * H]);
      const r = fused
        ? gruLayer(gx, w.weightHh, w.biasHh, h0 ?? null, { timeMajor: tm })
        : gruLayerReference(gx, w.weightHh, w.biasHh, h0!);
      inp = r.output;
      hs.push(r.hT);
    }
    return { output: layout.output(inp), state: { h: stack(hs, 0) } };
  });
}

/**
 * A stacked GRU over batch-first sequences, with PyTorch's parameters:
 * `weight_ih_l{k}` [3H, in], `weight_hh_l{k}` [3H, H], `bias_ih_l{k}` and
 * `bias_hh_l{k}` [3H] (gates r, z, n), each initialised U(−1/√H, 1/√H) from
 * the seeded generator, registered in PyTorch's order.
 *
 * @example
 * ```ts
 * import { GRU } from "./gru.ts";
 * import { zeros } from "../mod.ts";
 * const rnn = new GRU(5, 7, { numLayers: 2, backend: "cpu" });
 * const { output, state } = rnn.forward(zeros([3, 4, 5], { backend: "cpu" }));
 * console.assert(output.shape.join() === "3,4,7" && state.h.shape.join() === "2,3,7");
 * ```
 */
export class GRU extends RecurrentModule<GruState> {
  /**
   * Create the layers' parameters, initialised from the seeded generator.
   *
   * @param inputSize features per input step
   * @param hiddenSize hidden units per layer
   * @param opts numLayers, backend, dtype, fused
   */
  constructor(inputSize: number, hiddenSize: number, opts: RecurrentOptions = {}) {
    super("GRU", 3, inputSize, hiddenSize, opts);
  }

  /**
   * Run the whole sequence.
   *
   * @param x input [batch, time, inputSize]
   * @param state initial state, each [numLayers, batch, hidden] (default zeros)
   * @returns the last layer's output at every step and the final state
   */
  forward(x: Tensor, state?: GruState): { output: Tensor; state: GruState } {
    return gru(x, this.layers, state, { fused: this.fused });
  }
}
