/**
 * The model of `examples/complete.ts`: an LSTM or GRU over sequences of 16
 * patches of 7×7 pixels (each flattened to 49) with a linear head that
 * predicts the next patch, and the generation loop that completes the bottom
 * half of a digit from its top half.
 *
 * State-dict names follow PyTorch: `lstm.weight_ih_l0` … (or `gru.…`),
 * `head.weight`, `head.bias`, so a checkpoint loads into
 *
 * ```py
 * class CompletionModel(nn.Module):
 *     def __init__(self, hidden=64, layers=2):
 *         super().__init__()
 *         self.lstm = nn.LSTM(49, hidden, layers, batch_first=True)
 *         self.head = nn.Linear(hidden, 49)
 * ```
 *
 * @module
 */
import { nn, noGrad, stack, type Tensor } from "../mod.ts";

/** Pixels per patch (7×7). */
export const PATCH_PIXELS = 49;
/** Patches per image (4×4). */
export const PATCHES = 16;
/** Patches in the top half (the prompt of generation). */
export const TOP_PATCHES = 8;

/** Most stacked recurrent layers a model may have. */
export const MAX_LAYERS = 8;
/** Most hidden units per layer a model may have. */
export const MAX_HIDDEN = 4096;

/** The recurrent cell. */
export type Cell = "lstm" | "gru";

/** The architecture of a {@link CompletionModel}. */
export interface ModelConfig {
  /** "lstm" or "gru". */
  cell: Cell;
  /** Stacked recurrent layers. */
  layers: number;
  /** Hidden units per layer. */
  hidden: number;
}

/** The recurrent state: `{h, c}` for an LSTM, `{h}` for a GRU, each `[layers, batch, hidden]`. */
export type RnnState = nn.LstmState | nn.GruState;

/**
 * RNN(49 → hidden, layers) + Linear(hidden → 49): reads patches and predicts
 * the next one.
 */
export class CompletionModel extends nn.Module {
  /** The architecture. */
  readonly config: ModelConfig;
  /** The recurrent layers, registered as `lstm` or `gru`. */
  readonly rnn: nn.LSTM | nn.GRU;
  /** The output layer, registered as `head`. */
  readonly head: nn.Linear;

  /**
   * Build the layers with fresh weights from the global generator (seed with `manualSeed`).
   *
   * @param config cell, layers, hidden size
   */
  constructor(config: ModelConfig) {
    super();
    this.config = { ...config };
    const opts = { numLayers: config.layers };
    this.rnn = this.registerModule(
      config.cell,
      config.cell === "lstm"
        ? new nn.LSTM(PATCH_PIXELS, config.hidden, opts)
        : new nn.GRU(PATCH_PIXELS, config.hidden, opts),
    );
    this.head = this.registerModule("head", new nn.Linear(config.hidden, PATCH_PIXELS));
  }

  /**
   * Predict the next patch after every patch of a sequence.
   *
   * @param x patches `[batch, steps, 49]`
   * @param state the state to start from (default zeros)
   * @returns predictions `[batch, steps, 49]` and the state after the last step
   */
  forward(x: Tensor, state?: RnnState): { output: Tensor; state: RnnState } {
    const [b, t] = x.shape as [number, number, number];
    const r = (this.rnn as nn.LSTM).forward(x, state as nn.LstmState);
    const h = r.output.reshape([b * t, this.config.hidden]);
    const y = this.head.forward(h).reshape([b, t, PATCH_PIXELS]);
    return { output: y, state: r.state };
  }

  /**
   * Feed one patch per image and predict the next.
   *
   * @param x patches `[batch, 49]`
   * @param state the state after the previous patch (default zeros)
   * @returns the prediction `[batch, 49]` and the new state
   */
  step(x: Tensor, state?: RnnState): { output: Tensor; state: RnnState } {
    const r = (this.rnn as nn.LSTM).step(x, state as nn.LstmState);
    return { output: this.head.forward(r.output), state: r.state };
  }
}

/**
 * Generate the bottom half: feed the 8 top patches, then feed each predicted
 * patch back in through `step`, one at a time, until patches 9..16 are out.
 * Runs without recording a graph. The caller owns (and disposes) the result;
 * call inside `tidy` to release the intermediate tensors.
 *
 * @param model the model
 * @param top the top-half patches `[batch, 8, 49]` (patches 1..8)
 * @param prompt `model.forward(top)` when the caller has it already
 * @returns predicted patches 9..16, `[batch, 8, 49]` (not clamped)
 */
export function generateBottom(
  model: CompletionModel,
  top: Tensor,
  prompt?: { output: Tensor; state: RnnState },
): Tensor {
  return noGrad(() => {
    const [b, k] = top.shape as [number, number, number];
    const p = prompt ?? model.forward(top);
    // The prediction after patch 8 is patch 9.
    let pred = p.output.slice([0, k - 1, 0], [b, 1, PATCH_PIXELS]).reshape([b, PATCH_PIXELS]);
    let state = p.state;
    const out: Tensor[] = [pred];
    for (let t = k + 1; t < PATCHES; t++) {
      const r = model.step(pred, state);
      pred = r.output;
      state = r.state;
      out.push(pred);
    }
    return stack(out, 1);
  });
}

/** The architecture as safetensors metadata entries. */
export function configMetadata(config: ModelConfig): Record<string, string> {
  return {
    format: "wgrad-complete",
    cell: config.cell,
    layers: String(config.layers),
    hidden: String(config.hidden),
    input_size: String(PATCH_PIXELS),
    output_size: String(PATCH_PIXELS),
    patch: "7x7",
  };
}

/**
 * The architecture of a checkpoint: from its metadata when it has ours, else
 * inferred from the tensor names and shapes (e.g. a file saved from PyTorch
 * with `lstm.weight_ih_l0` … `head.bias`).
 *
 * @param meta the checkpoint's metadata
 * @param tensors the checkpoint's tensor shapes by name
 * @param source the file, for the error message
 * @returns cell, layers and hidden size
 * @throws Error when neither describes a completion model
 */
export function checkpointConfig(
  meta: Record<string, string>,
  tensors: Record<string, { shape: readonly number[] }>,
  source: string,
): ModelConfig {
  let cell: string | undefined = meta.cell;
  let layers = Number(meta.layers), hidden = Number(meta.hidden);
  if (cell === undefined && meta.layers === undefined && meta.hidden === undefined) {
    cell = "lstm" in groupNames(tensors) ? "lstm" : "gru" in groupNames(tensors) ? "gru" : "?";
    layers = 0;
    while (`${cell}.weight_ih_l${layers}` in tensors) layers++;
    hidden = tensors[`${cell}.weight_hh_l0`]?.shape[1] ?? NaN;
  }
  if (
    (cell !== "lstm" && cell !== "gru") || !Number.isInteger(layers) || layers < 1 ||
    !Number.isInteger(hidden) || hidden < 1
  ) {
    throw new Error(
      `Cannot use checkpoint '${source}': it does not hold a completion model ` +
        `(cell=${cell ?? "?"}, layers=${meta.layers ?? layers}, hidden=${meta.hidden ?? hidden}; ` +
        "expected lstm.* or gru.* and head.* tensors)",
    );
  }
  if (layers > MAX_LAYERS || hidden > MAX_HIDDEN) {
    throw new Error(
      `Cannot use checkpoint '${source}': it claims ${layers} layers of ${hidden} units ` +
        `(at most ${MAX_LAYERS} layers of ${MAX_HIDDEN} units)`,
    );
  }
  // The shapes the architecture implies, checked before any tensor is allocated.
  const gates = cell === "lstm" ? 4 : 3;
  const want: Record<string, number[]> = {
    "head.weight": [PATCH_PIXELS, hidden],
    "head.bias": [PATCH_PIXELS],
  };
  for (let l = 0; l < layers; l++) {
    want[`${cell}.weight_ih_l${l}`] = [gates * hidden, l === 0 ? PATCH_PIXELS : hidden];
    want[`${cell}.weight_hh_l${l}`] = [gates * hidden, hidden];
    want[`${cell}.bias_ih_l${l}`] = [gates * hidden];
    want[`${cell}.bias_hh_l${l}`] = [gates * hidden];
  }
  for (const [name, shape] of Object.entries(want)) {
    const got = tensors[name]?.shape;
    if (got && (got.length !== shape.length || got.some((d, i) => d !== shape[i]))) {
      throw new Error(
        `Cannot use checkpoint '${source}': tensor '${name}' has shape [${got.join(", ")}], ` +
          `but ${cell} ${layers}×${hidden} needs [${shape.join(", ")}]`,
      );
    }
  }
  return { cell, layers, hidden };
}

function groupNames(tensors: Record<string, unknown>): Record<string, true> {
  return Object.fromEntries(Object.keys(tensors).map((k) => [k.split(".")[0]!, true]));
}

/** `lstm 2×64`. */
export function describeConfig(c: ModelConfig): string {
  return `${c.cell} ${c.layers}×${c.hidden}`;
}
