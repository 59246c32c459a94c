/**
 * What LSTM and GRU share: constructor checks, PyTorch-order parameter
 * registration and initialisation, initial states, state-shape checks and
 * the one-step API used for generation.
 *
 * @module
 */
import type { BackendName, DType } from "../tensor/backend.ts";
import { defaultBackendName, tidy } from "../tensor/engine.ts";
import { fmtShape, ShapeError } from "../tensor/errors.ts";
import { transpose } from "../tensor/ops/shape.ts";
import { needsGrad, rand, type Tensor, zeros } from "../tensor/tensor.ts";
import { Module } from "./module.ts";

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

/** The parameters of one recurrent layer (PyTorch layout, G = 4 for LSTM, 3 for GRU). */
export interface RecurrentLayerWeights {
  /** weight_ih_l{k} [G·H, in]. */
  weightIh: Tensor;
  /** weight_hh_l{k} [G·H, H]. */
  weightHh: Tensor;
  /** bias_ih_l{k} [G·H]. */
  biasIh: Tensor;
  /** bias_hh_l{k} [G·H]. */
  biasHh: Tensor;
}

/** Check a batch-first input [batch, time, inSize]. @internal */
export function checkInput(op: string, x: Tensor, inSize: number): void {
  if (x.rank !== 3 || x.shape[2] !== inSize) {
    throw new ShapeError(
      op,
      [x.shape],
      `Cannot run ${op} with input size ${inSize} on input of shape ${
        fmtShape(x.shape)
      }: expected [batch, time, ${inSize}] (batch first)`,
    );
  }
}

/**
 * The input a fused stack runs on: for inference over more than one step
 * [T, B, in] (time-major, one transposing copy; the output is transposed
 * back as a deferred view, so reading one step of it copies that step only),
 * else `x` itself. Time-major, each step's rows are one block (adjacent rows,
 * not rows T apart), so the step kernels' reads and writes of them stream,
 * with the same bits. With a gradient to record, the layers stay batch-first
 * (their backward and dW_hh sum the rows in batch-first order). Pass the
 * result's `timeMajor` to the layers and its `output` the last layer's
 * sequence. @internal
 *
 * @param fused whether the fused layers run (the reference is batch-first)
 * @param x the input [batch, time, in]
 * @param params every tensor the stack reads (weights, given states)
 */
export function stackLayout(
  fused: boolean,
  x: Tensor,
  params: readonly Tensor[],
): { input: Tensor; timeMajor: boolean; output: (seq: Tensor) => Tensor } {
  const timeMajor = fused && (x.shape[1] ?? 0) > 1 && !needsGrad(x, ...params);
  return timeMajor
    ? { input: transpose(x, 0, 1), timeMajor, output: (seq) => transpose(seq, 0, 1) }
    : { input: x, timeMajor, output: (seq) => seq };
}

/** Every weight of the layers, bottom first (for {@link stackLayout}). @internal */
export function layerTensors(layers: readonly RecurrentLayerWeights[]): Tensor[] {
  return layers.flatMap((w) => [w.weightIh, w.weightHh, w.biasIh, w.biasHh]);
}

/**
 * Each layer's slice [batch, hidden] of the given states, or zeros. The
 * zeros are read only, so every missing state of every layer that passes the
 * same `shared` holder gets the one tensor (one fill, not one per state).
 * @internal
 */
export function initialStates(
  states: (Tensor | undefined)[],
  k: number,
  B: number,
  H: number,
  like: Tensor,
  shared: { zero?: Tensor } = {},
): Tensor[] {
  return states.map((s) =>
    s
      ? s.slice([k, 0, 0], [1, B, H]).reshape([B, H])
      : (shared.zero ??= zeros([B, H], { backend: like.backend, dtype: like.dtype }))
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

/** Base class of LSTM and GRU: parameters in PyTorch's order and the `step` API. */
export abstract class RecurrentModule<S extends { h: Tensor }> extends Module {
  /** Features per input step. */
  readonly inputSize: number;
  /** Hidden units per layer. */
  readonly hiddenSize: number;
  /** Stacked layers. */
  readonly numLayers: number;
  /** Whether forward runs the fused kernels. */
  fused: boolean;
  #layers: RecurrentLayerWeights[] = [];
  #op: string;

  /**
   * Create the layers' parameters, initialised U(−1/√H, 1/√H) from the seeded generator.
   *
   * @param op the module name for messages ("LSTM", "GRU")
   * @param gates gate blocks per layer (4 or 3)
   * @param inputSize features per input step
   * @param hiddenSize hidden units per layer
   * @param opts numLayers, backend, dtype, fused
   */
  constructor(
    op: string,
    gates: number,
    inputSize: number,
    hiddenSize: number,
    opts: RecurrentOptions = {},
  ) {
    super();
    const cfg = recurrentConfig(op, inputSize, hiddenSize, opts);
    this.#op = op;
    this.inputSize = inputSize;
    this.hiddenSize = hiddenSize;
    this.numLayers = cfg.numLayers;
    this.fused = opts.fused ?? true;
    const H = hiddenSize, G = gates * H;
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
  get layers(): readonly RecurrentLayerWeights[] {
    return this.#layers;
  }

  /**
   * Run the whole sequence.
   *
   * @param x input [batch, time, inputSize]
   * @param state initial state, each [numLayers, batch, hidden] (default zeros)
   * @returns the last layer's output at every step and the final state
   */
  abstract forward(x: Tensor, state?: S): { output: Tensor; state: S };

  /**
   * Advance one time step (for generation): the same kernels with T = 1;
   * under `noGrad` nothing is saved for backward.
   *
   * @param xT input of this step [batch, inputSize]
   * @param state the state so far (default zeros)
   * @returns the last layer's new hidden state [batch, hidden] and the new state
   */
  step(xT: Tensor, state?: S): { output: Tensor; state: S } {
    if (xT.rank !== 2) {
      throw new ShapeError(
        `${this.#op}.step`,
        [xT.shape],
        `Cannot run ${this.#op}.step on input of shape ${
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
