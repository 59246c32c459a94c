/**
 * What the page computes, on the public API only and with no DOM, so the
 * browser test can compute the same on Deno's CPU backend: the completion
 * model of `examples/complete.ts` loaded from checkpoint bytes and its
 * `generateBottom`, and the row classifier of `examples/classify.ts`
 * (LSTM(28 → hidden) over the 28 rows, Linear(hidden → 10) on the last
 * hidden state; PyTorch names `lstm.*`, `fc.*`).
 *
 * @module
 */
import { data, nn, type Tensor, tensor, tidy } from "../mod.ts";
import {
  checkpointConfig,
  CompletionModel,
  generateBottom,
  PATCH_PIXELS,
  PATCHES,
  TOP_PATCHES,
} from "../examples/_complete_model.ts";
import {
  CLASSES,
  classifierShape,
  ROW_PIXELS,
  RowClassifier,
  ROWS,
} from "../examples/_classify_model.ts";

export { CLASSES, RowClassifier };

/** Pixels of a digit (28×28). */
export const PIXELS = 784;
/** Generated values per digit: 8 patches of 49. */
export const GENERATED = (PATCHES - TOP_PATCHES) * PATCH_PIXELS;

/**
 * A completion model from the bytes of its checkpoint (architecture from the
 * metadata or the tensor shapes, weights checked strictly).
 *
 * @param bytes the safetensors file
 * @param source where it came from, for error messages
 * @returns the model, in eval mode
 */
export function loadCompletionModel(bytes: Uint8Array, source: string): CompletionModel {
  const file = nn.decodeSafetensors(bytes, source);
  return filled(
    new CompletionModel(checkpointConfig(file.metadata, file.tensors, source)),
    bytes,
    source,
  );
}

/** The model with the checkpoint's weights (checked strictly), in eval mode. */
function filled<M extends nn.Module>(model: M, bytes: Uint8Array, source: string): M {
  nn.loadBytes(bytes, model, { source });
  model.eval();
  return model;
}

/** A tensor's values on the host; the tensor is disposed. */
async function readAndDispose(t: Tensor): Promise<Float32Array> {
  try {
    return Float32Array.from(await t.data());
  } finally {
    t.dispose();
  }
}

/**
 * Complete the bottom halves: the top 8 patches of each digit go through
 * `generateBottom`.
 *
 * @param model the completion model
 * @param pixels `count × 784` bytes (0..255); only the top 14 rows are read
 * @param count digits
 * @returns the generated patches 9..16 as the model gave them (not clamped),
 *   `count × 8 × 49`
 */
export async function completeDigits(
  model: CompletionModel,
  pixels: Uint8Array,
  count: number,
): Promise<Float32Array> {
  const patches = data.toPatches(pixels, count);
  const top = new Float32Array(count * TOP_PATCHES * PATCH_PIXELS);
  for (let n = 0; n < count; n++) {
    const from = n * PATCHES * PATCH_PIXELS;
    top.set(
      patches.subarray(from, from + TOP_PATCHES * PATCH_PIXELS),
      n * TOP_PATCHES * PATCH_PIXELS,
    );
  }
  return await readAndDispose(
    tidy(() => generateBottom(model, tensor(top, [count, TOP_PATCHES, PATCH_PIXELS]))),
  );
}

/**
 * Whole digits in [0, 1]: the true top (bytes / 255) over the generated
 * bottom (clamped to [0, 1]).
 *
 * @param pixels `count × 784` bytes
 * @param generated `count × 8 × 49` from {@link completeDigits}
 * @param count digits
 * @returns `count × 784`, row-major
 */
export function completedDigits(
  pixels: Uint8Array,
  generated: Float32Array,
  count: number,
): Float32Array {
  const patches = data.toPatches(pixels, count);
  for (let n = 0; n < count; n++) {
    const to = (n * PATCHES + TOP_PATCHES) * PATCH_PIXELS;
    for (let k = 0; k < GENERATED; k++) {
      const v = generated[n * GENERATED + k]!;
      patches[to + k] = v < 0 ? 0 : v > 1 ? 1 : v;
    }
  }
  return data.fromPatches(patches, count);
}

/**
 * A row classifier from the bytes of its checkpoint (`lstm.*`, `fc.*`; hidden
 * size and layers from the shapes).
 *
 * @param bytes the safetensors file
 * @param source where it came from, for error messages
 * @returns the model, in eval mode
 * @throws Error when the file holds no row classifier
 */
export function loadRowClassifier(bytes: Uint8Array, source: string): RowClassifier {
  const { hidden, layers } = classifierShape(nn.decodeSafetensors(bytes, source).tensors, source);
  return filled(new RowClassifier(hidden, layers), bytes, source);
}

/**
 * The ten probabilities of each digit.
 *
 * @param model the classifier
 * @param digits `count × 784` in [0, 1]
 * @param count digits
 * @returns `count × 10`, each row summing to 1
 */
export async function classifyDigits(
  model: RowClassifier,
  digits: Float32Array,
  count: number,
): Promise<Float32Array> {
  return await readAndDispose(
    tidy(() => model.forward(tensor(digits, [count, ROWS, ROW_PIXELS])).softmax(-1)),
  );
}
