/**
 * `nn.LSTM`: a stacked, batch-first LSTM with PyTorch's parameter names,
 * layout, gate order (i, f, g, o) and initialisation, running each layer as
 * one input-projection matmul for all time steps plus the fused sequence op
 * of `nn/rnn_ops.ts` (one step kernel per time step), or the unfused
 * reference of `nn/rnn_reference.ts` with `{ fused: false }`.
 *
 * @module
 */
import type { BackendName, DType } from "../tensor/backend.ts";
import { defaultBackendName, tidy } from "../tensor/engine.ts";
import { fmtShape, ShapeError } from "../tensor/errors.ts";
import { matmul } from "../tensor/ops/matmul.ts";
import { stack } from "../tensor/ops/shape.ts";
import { rand, type Tensor, zeros } from "../tensor/tensor.ts";
import { Module } from "./module.ts";
import { lstmLayer } from "./rnn_ops.ts";
import { lstmLayerReference } from "./rnn_reference.ts";

/** Options of {@link LSTM} and {@link GRU}-style recurrent modules. */
export interface RecurrentOptions {
  /** Stacked layers (default 1). */
  numLayers?: number;
  /** Backend of the parameters (default: the one `init` chose). */
  backend?: BackendName;
  /** Element type of the parameters (default float32). */
  dtype?: DType;
  /** Run the fused sequence kernels (default true) or the unfused reference. */
  fused?: boolean;
}

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

/** The parameters of one LSTM layer (PyTorch layout). */
export interface LstmLayerWeights {
  /** weight_ih_l{k} [4H, in]. */
  weightIh: Tensor;
  /** weight_hh_l{k} [4H, H]. */
  weightHh: Tensor;
  /** bias_ih_l{k} [4H]. */
  biasIh: Tensor;
  /** bias_hh_l{k} [4H]. */
  biasHh: Tensor;
}

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
  if (x.rank !== 3 || x.shape[2] !== inSize) {
    throw new ShapeError(
      "LSTM",
      [x.shape],
      `Cannot run an LSTM with input size ${inSize} on input of shape ${
        fmtShape(x.shape)
      }: expected [batch, time, ${inSize}] (batch first)`,
    );
  }
  const [B, T] = x.shape as [number, number, number];
  if (state) checkState("LSTM", { h: state.h, c: state.c }, L, B, H);
  const layer = opts.fused ?? true ? lstmLayer : lstmLayerReference;
  return tidy(() => {
    let inp = x;
    const hs: Tensor[] = [], cs: Tensor[] = [];
    for (let k = 0; k < L; k++) {
      const w = layers[k]!;
      const [h0, c0] = initialStates([state?.h, state?.c], k, B, H, x);
      const xp = matmul(inp.reshape([B * T, inp.shape[2]!]), w.weightIh, { transB: true })
        .add(w.biasIh.add(w.biasHh))
        .reshape([B, T, 4 * H]);
      const r = layer(xp, w.weightHh, h0!, c0!);
      inp = r.output;
      hs.push(r.hT);
      cs.push(r.cT);
    }
    return { output: inp, state: { h: stack(hs, 0), c: stack(cs, 0) } };
  });
}

/**
 * Each layer's slice [batch, hidden] of the given states, or zeros. @internal
 */
export function initialStates(
  states: (Tensor | undefined)[],
  k: number,
  B: number,
  H: number,
  like: Tensor,
): Tensor[] {
  return states.map((s) =>
    s
      ? s.slice([k, 0, 0], [1, B, H]).reshape([B, H])
      : zeros([B, H], { backend: like.backend, dtype: like.dtype })
  );
}

/** Check that every state tensor is [numLayers, batch, hidden]. @internal */
export function checkState(
  op: string,
  state: Record<string, Tensor>,
  L: number,
  B: number,
  H: number,
): void {
  for (const [name, s] of Object.entries(state)) {
    if (s.rank !== 3 || s.shape[0] !== L || s.shape[1] !== B || s.shape[2] !== H) {
      throw new ShapeError(
        op,
        [s.shape],
        `Cannot run ${op} with state.${name} of shape ${
          fmtShape(s.shape)
        }: expected [numLayers, batch, hidden] = [${L}, ${B}, ${H}]`,
      );
    }
  }
}

/** Check and default the constructor arguments shared by LSTM and GRU. @internal */
export function recurrentConfig(
  op: string,
  inputSize: number,
  hiddenSize: number,
  opts: RecurrentOptions,
): { numLayers: number; backend: BackendName; dtype: DType; bound: number } {
  const numLayers = opts.numLayers ?? 1;
  for (
    const [name, v] of [["inputSize", inputSize], ["hiddenSize", hiddenSize], [
      "numLayers",
      numLayers,
    ]] as const
  ) {
    if (!Number.isInteger(v) || v < 1) {
      throw new RangeError(`Cannot create ${op}: ${name} must be a positive integer, got ${v}`);
    }
  }
  return {
    numLayers,
    backend: opts.backend ?? defaultBackendName(),
    dtype: opts.dtype ?? "float32",
    bound: 1 / Math.sqrt(hiddenSize),
  };
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
export class LSTM extends Module {
  /** Features per input step. */
  readonly inputSize: number;
  /** Hidden units per layer. */
  readonly hiddenSize: number;
  /** Stacked layers. */
  readonly numLayers: number;
  /** Whether forward runs the fused kernels. */
  fused: boolean;
  #layers: LstmLayerWeights[] = [];

  /**
   * Create the layers' parameters, initialised from the seeded generator.
   *
   * @param inputSize features per input step
   * @param hiddenSize hidden units per layer
   * @param opts numLayers, backend, dtype, fused
   */
  constructor(inputSize: number, hiddenSize: number, opts: RecurrentOptions = {}) {
    super();
    const cfg = recurrentConfig("LSTM", inputSize, hiddenSize, opts);
    this.inputSize = inputSize;
    this.hiddenSize = hiddenSize;
    this.numLayers = cfg.numLayers;
    this.fused = opts.fused ?? true;
    const H = hiddenSize, G = 4 * H;
    const init = (shape: number[]) =>
      rand(shape, { low: -cfg.bound, high: cfg.bound, backend: cfg.backend, dtype: cfg.dtype });
    for (let k = 0; k < cfg.numLayers; k++) {
      const inK = k === 0 ? inputSize : H;
      this.#layers.push({
        weightIh: this.registerParameter(`weight_ih_l${k}`, init([G, inK])),
        weightHh: this.registerParameter(`weight_hh_l${k}`, init([G, H])),
        biasIh: this.registerParameter(`bias_ih_l${k}`, init([G])),
        biasHh: this.registerParameter(`bias_hh_l${k}`, init([G])),
      });
    }
  }

  /** Each layer's weights, bottom first. */
  get layers(): readonly LstmLayerWeights[] {
    return this.#layers;
  }

  /**
   * Run the whole sequence.
   *
   * @param x input [batch, time, inputSize]
   * @param state initial `{ h, c }`, each [numLayers, batch, hidden] (default zeros)
   * @returns the last layer's output at every step and the final state
   */
  forward(x: Tensor, state?: LstmState): LstmOutput {
    return lstm(x, this.#layers, state, { fused: this.fused });
  }

  /**
   * Advance one time step (for generation): the same kernels with T = 1;
   * under `noGrad` nothing is saved for backward.
   *
   * @param xT input of this step [batch, inputSize]
   * @param state the state so far (default zeros)
   * @returns the new hidden state of the last layer [batch, hidden] and the new state
   */
  step(xT: Tensor, state?: LstmState): LstmStepOutput {
    if (xT.rank !== 2) {
      throw new ShapeError(
        "LSTM.step",
        [xT.shape],
        `Cannot run LSTM.step on input of shape ${
          fmtShape(xT.shape)
        }: expected [batch, ${this.inputSize}]`,
      );
    }
    const [B, I] = xT.shape as [number, number];
    return tidy(() => {
      const r = this.forward(xT.reshape([B, 1, I]), state);
      return { output: r.output.reshape([B, this.hiddenSize]), state: r.state };
    });
  }
}
