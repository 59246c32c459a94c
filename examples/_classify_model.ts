/**
 * The model of `examples/classify.ts`, also used by the browser page
 * (`web/infer.ts`) and the side-by-side benchmark (`bench/_models.ts`): an
 * LSTM reads a digit as 28 time steps of 28 pixels (one row per step) and a
 * linear layer names the digit from the last step's hidden state.
 *
 * State-dict names follow PyTorch: `lstm.weight_ih_l0`, `lstm.weight_hh_l0`,
 * `lstm.bias_ih_l0`, `lstm.bias_hh_l0`, `fc.weight`, `fc.bias`, so a
 * checkpoint loads strictly into
 *
 * ```py
 * lstm = nn.LSTM(28, 128, batch_first=True)
 * fc = nn.Linear(128, 10)
 * logits = fc(lstm(x)[0][:, -1])
 * ```
 *
 * @module
 */
import { data, nn, noGrad, type Tensor, tensor, tidy } from "../mod.ts";

/** Rows of a digit: the time steps. */
export const ROWS = 28;
/** Pixels per row: the features of a time step. */
export const ROW_PIXELS = 28;
/** The digits 0–9. */
export const CLASSES = 10;
/** Most hidden units a checkpoint may claim. */
export const MAX_HIDDEN = 4096;
/** Most stacked LSTM layers a checkpoint may claim. */
export const MAX_LAYERS = 8;

/**
 * The row classifier: LSTM(28 → hidden, layers) over the 28 rows and
 * Linear(hidden → 10) on the last time step's hidden state (of the top layer).
 */
export class RowClassifier extends nn.Module {
  /** The recurrent layers, registered as `lstm`. */
  readonly lstm: nn.LSTM;
  /** The output layer, registered as `fc`. */
  readonly fc: nn.Linear;
  /** Hidden units. */
  readonly hidden: number;
  /** Stacked LSTM layers. */
  readonly layers: number;

  /**
   * Build the layers with fresh weights from the global generator (seed with `manualSeed`).
   *
   * @param hidden hidden units (128 in the program)
   * @param layers stacked LSTM layers (1 in the program)
   */
  constructor(hidden: number, layers = 1) {
    super();
    this.hidden = hidden;
    this.layers = layers;
    this.lstm = this.registerModule("lstm", new nn.LSTM(ROW_PIXELS, hidden, { numLayers: layers }));
    this.fc = this.registerModule("fc", new nn.Linear(hidden, CLASSES));
  }

  /**
   * The logits of the ten digits.
   *
   * @param x digits `[batch, 28, 28]` (rows of pixels in [0, 1])
   * @returns logits `[batch, 10]`
   */
  forward(x: Tensor): Tensor {
    const b = x.shape[0]!;
    const { output } = this.lstm.forward(x);
    const t = output.shape[1]!;
    const last = output.slice([0, t - 1, 0], [b, 1, this.hidden]).reshape([b, this.hidden]);
    return this.fc.forward(last);
  }
}

/** The architecture as safetensors metadata entries. */
export function classifierMetadata(model: RowClassifier): Record<string, string> {
  return {
    format: "wgrad-classify",
    cell: "lstm",
    layers: String(model.layers),
    hidden: String(model.hidden),
    input_size: String(ROW_PIXELS),
    classes: String(CLASSES),
  };
}

/**
 * The hidden size and layer count of a row-classifier checkpoint, read from
 * its tensor names and shapes and checked before any tensor is allocated.
 *
 * @param tensors the checkpoint's tensor shapes by name
 * @param source the file, for the error message
 * @returns hidden units and layers
 * @throws Error when the tensors do not describe a row classifier
 */
export function classifierShape(
  tensors: Record<string, { shape: readonly number[] }>,
  source: string,
): { hidden: number; layers: number } {
  const hidden = tensors["lstm.weight_hh_l0"]?.shape[1] ?? NaN;
  let layers = 0;
  while (`lstm.weight_ih_l${layers}` in tensors) layers++;
  if (!Number.isInteger(hidden) || hidden < 1 || layers < 1 || !("fc.weight" in tensors)) {
    throw new Error(
      `Cannot use '${source}' as the row classifier: expected tensors lstm.weight_ih_l0 … ` +
        `and fc.weight [${CLASSES}, hidden]`,
    );
  }
  if (hidden > MAX_HIDDEN || layers > MAX_LAYERS) {
    throw new Error(
      `Cannot use '${source}' as the row classifier: it claims ${layers} layers of ${hidden} ` +
        `units (at most ${MAX_LAYERS} layers of ${MAX_HIDDEN} units)`,
    );
  }
  const want: Record<string, number[]> = {
    "fc.weight": [CLASSES, hidden],
    "fc.bias": [CLASSES],
  };
  for (let l = 0; l < layers; l++) {
    want[`lstm.weight_ih_l${l}`] = [4 * hidden, l === 0 ? ROW_PIXELS : hidden];
    want[`lstm.weight_hh_l${l}`] = [4 * hidden, hidden];
    want[`lstm.bias_ih_l${l}`] = [4 * hidden];
    want[`lstm.bias_hh_l${l}`] = [4 * hidden];
  }
  for (const [name, shape] of Object.entries(want)) {
    const got = tensors[name]?.shape;
    if (got && (got.length !== shape.length || got.some((d, i) => d !== shape[i]))) {
      throw new Error(
        `Cannot use '${source}' as the row classifier: tensor '${name}' has shape ` +
          `[${got.join(", ")}], but lstm ${layers}×${hidden} needs [${shape.join(", ")}]`,
      );
    }
  }
  return { hidden, layers };
}

/** The loss and accuracy of a classifier on a set of digits, and its predictions. */
export interface Evaluation {
  /** Mean cross-entropy. */
  loss: number;
  /** Share of digits named correctly, in [0, 1]. */
  accuracy: number;
  /** The predicted digit of each image (argmax of the logits). */
  predictions: Uint8Array;
  /** The ten probabilities of each image, `count × 10`. */
  probabilities: Float32Array;
}

/**
 * Evaluate a classifier `batch` digits at a time, without recording a graph
 * (the model is put in eval mode and back in train mode).
 *
 * @param model the classifier
 * @param images `count × 784` bytes (0..255), as MNIST stores them
 * @param labels `count` digits
 * @param opts digits per forward pass (default 1000)
 * @returns loss, accuracy, predictions and probabilities
 */
export async function evaluateClassifier(
  model: RowClassifier,
  images: Uint8Array,
  labels: Uint8Array,
  opts: { batch?: number } = {},
): Promise<Evaluation> {
  const count = labels.length, batch = opts.batch ?? 1000;
  const pixels = ROWS * ROW_PIXELS;
  if (images.length !== count * pixels) {
    throw new RangeError(
      `Cannot evaluate the classifier: ${images.length} pixel bytes for ${count} labels ` +
        `(expected ${count * pixels})`,
    );
  }
  const probabilities = new Float32Array(count * CLASSES);
  const predictions = new Uint8Array(count);
  let lossSum = 0, right = 0;
  const wasTraining = model.training;
  model.eval();
  try {
    for (let start = 0; start < count; start += batch) {
      const b = Math.min(batch, count - start);
      const [probs, loss] = tidy(() =>
        noGrad(() => {
          const x = tensor(
            data.toRows(images.subarray(start * pixels, (start + b) * pixels), b),
            [b, ROWS, ROW_PIXELS],
          );
          const y = tensor(Float32Array.from(labels.subarray(start, start + b)), [b]);
          const logits = model.forward(x);
          return [logits.softmax(-1), nn.crossEntropy(logits, y, { reduction: "sum" })];
        })
      );
      const p = await probs.data();
      lossSum += await loss.item();
      probs.dispose();
      loss.dispose();
      probabilities.set(p, start * CLASSES);
      for (let i = 0; i < b; i++) {
        let best = 0;
        for (let c = 1; c < CLASSES; c++) {
          if (p[i * CLASSES + c]! > p[i * CLASSES + best]!) best = c;
        }
        predictions[start + i] = best;
        if (best === labels[start + i]) right++;
      }
    }
  } finally {
    if (wasTraining) model.train();
  }
  return { loss: lossSum / count, accuracy: right / count, predictions, probabilities };
}
