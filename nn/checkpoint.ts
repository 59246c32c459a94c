/**
 * Checkpoints in the safetensors format with PyTorch state-dict names:
 * `save`/`load` for a module's parameters and buffers (written atomically,
 * loaded all-or-nothing), and `saveTensors`/`loadTensors` for any named
 * tensors plus metadata (optimizer state, training progress) for resuming.
 *
 * @module
 */
import { writeFileAtomic } from "../data/files.ts";
import { fmtShape, ShapeError } from "../tensor/errors.ts";
import type { BackendName, DType } from "../tensor/backend.ts";
import { type Tensor, tensor } from "../tensor/tensor.ts";
import type { Module } from "./module.ts";

export { writeFileAtomic };
import {
  type DecodedSafetensorsTensor,
  decodeSafetensors,
  encodeSafetensors,
  type SafetensorsTensor,
} from "./safetensors.ts";

/** Options of {@link save} and {@link saveTensors}. */
export interface SaveOptions {
  /** String entries stored in the file's `__metadata__`. */
  metadata?: Record<string, string>;
}

/** Options of {@link load}. */
export interface CheckpointLoadOptions {
  /** Require the file to hold exactly the module's tensors (default true). */
  strict?: boolean;
}

async function hostTensors(
  tensors: Record<string, Tensor>,
): Promise<Record<string, SafetensorsTensor>> {
  const out: Record<string, SafetensorsTensor> = {};
  for (const [name, t] of Object.entries(tensors)) {
    const d = await t.data();
    out[name] = {
      dtype: "F32",
      shape: [...t.shape],
      data: d instanceof Float32Array ? d : Float32Array.from(d),
    };
  }
  return out;
}

async function readFile(path: string): Promise<Uint8Array> {
  if (typeof Deno === "undefined") {
    throw new Error(
      `Cannot read '${path}': this runtime has no file system (pass the file's bytes to loadBytes)`,
    );
  }
  try {
    return await Deno.readFile(path);
  } catch (e) {
    const why = e instanceof Deno.errors.NotFound
      ? "no such file"
      : e instanceof Error
      ? e.message
      : String(e);
    throw new Error(`Cannot read '${path}': ${why}`, { cause: e });
  }
}

/**
 * Save named tensors (stored as F32) and metadata as a safetensors file,
 * atomically.
 *
 * @param path the file to write
 * @param tensors the tensors by name
 * @param opts metadata
 */
export async function saveTensors(
  path: string,
  tensors: Record<string, Tensor>,
  opts: SaveOptions = {},
): Promise<void> {
  const bytes = encodeSafetensors(await hostTensors(tensors), opts.metadata);
  await writeFileAtomic(path, bytes);
}

/** What {@link loadTensors} returns. */
export interface LoadedTensors {
  /** The tensors by name. */
  tensors: Record<string, Tensor>;
  /** The file's `__metadata__` entries. */
  metadata: Record<string, string>;
}

/**
 * Read every tensor of a safetensors file onto a backend (the caller owns and
 * disposes them).
 *
 * @param path the file to read
 * @param opts backend and dtype of the new tensors (defaults: the default backend, float32)
 * @returns the tensors and the metadata
 */
export async function loadTensors(
  path: string,
  opts: { backend?: BackendName; dtype?: DType } = {},
): Promise<LoadedTensors> {
  const { tensors, metadata } = decodeSafetensors(await readFile(path), path);
  const out: Record<string, Tensor> = {};
  for (const [name, t] of Object.entries(tensors)) {
    out[name] = tensor(t.data, t.shape, { backend: opts.backend, dtype: opts.dtype ?? "float32" });
  }
  return { tensors: out, metadata };
}

/**
 * Save a module's state dict (parameters and buffers, PyTorch names, F32) as
 * a safetensors file, atomically (temporary file, then rename; missing parent
 * folders are created). PyTorch loads
 * it with `safetensors.torch.load_file` + `load_state_dict`.
 *
 * @param path the file to write
 * @param module the module
 * @param opts metadata
 */
export async function save(path: string, module: Module, opts: SaveOptions = {}): Promise<void> {
  await saveTensors(path, module.stateDict(), opts);
}

/** Options of {@link loadBytes}. */
export interface LoadBytesOptions extends CheckpointLoadOptions {
  /** Where the bytes came from (a path or URL), named in error messages (default "<bytes>"). */
  source?: string;
}

/**
 * Load a safetensors checkpoint into a module. Every name and shape is checked
 * before anything is written, so a failed load leaves the module unchanged.
 * Errors name the file and the tensor: "Cannot load 'lstm.weight_ih_l0' from
 * 'x.safetensors': expected shape [256, 49], got [192, 49]".
 *
 * @param path the file to read
 * @param module the module to fill
 * @param opts strict (default true): the file must hold exactly the module's tensors
 * @returns the file's metadata
 */
export async function load(
  path: string,
  module: Module,
  opts: CheckpointLoadOptions = {},
): Promise<Record<string, string>> {
  return loadBytes(await readFile(path), module, { ...opts, source: path });
}

/**
 * {@link load} from the bytes of a safetensors file already in memory (e.g.
 * fetched in a browser page), with the same checks and messages.
 *
 * @param bytes the file's contents
 * @param module the module to fill
 * @param opts strict (default true), and the source named in errors
 * @returns the file's metadata
 * @example
 * ```ts
 * import { encodeSafetensors, Linear, loadBytes } from "./mod.ts";
 * const lin = new Linear(2, 1);
 * const bytes = encodeSafetensors({
 *   weight: { dtype: "F32", shape: [1, 2], data: new Float32Array([1, 2]) },
 *   bias: { dtype: "F32", shape: [1], data: new Float32Array([3]) },
 * });
 * loadBytes(bytes, lin, { source: "mem" });
 * ```
 */
export function loadBytes(
  bytes: Uint8Array,
  module: Module,
  opts: LoadBytesOptions = {},
): Record<string, string> {
  const path = opts.source ?? "<bytes>";
  const { tensors, metadata } = decodeSafetensors(bytes, path);
  const own = module.stateDict();
  const strict = opts.strict ?? true;
  const missing = Object.keys(own).filter((k) => !Object.hasOwn(tensors, k));
  if (missing.length > 0 && strict) {
    throw new Error(
      `Cannot load ${missing.map((k) => `'${k}'`).join(", ")} from '${path}': ` +
        `the file has no such tensor${missing.length > 1 ? "s" : ""}`,
    );
  }
  const unexpected = Object.keys(tensors).filter((k) => !Object.hasOwn(own, k));
  if (unexpected.length > 0 && strict) {
    throw new Error(
      `Cannot load '${path}' into ${module.constructor.name}: unexpected tensor${
        unexpected.length > 1 ? "s" : ""
      } ${unexpected.map((k) => `'${k}'`).join(", ")}`,
    );
  }
  const state: Record<string, DecodedSafetensorsTensor> = {};
  for (const [k, t] of Object.entries(own)) {
    const src = tensors[k];
    if (!src) continue;
    if (src.shape.length !== t.shape.length || src.shape.some((d, i) => d !== t.shape[i])) {
      throw new ShapeError(
        "load",
        [t.shape, src.shape],
        `Cannot load '${k}' from '${path}': expected shape ${fmtShape(t.shape)}, got ${
          fmtShape(src.shape)
        }`,
      );
    }
    state[k] = src;
  }
  module.loadStateDict(state, { strict: false });
  return metadata;
}
