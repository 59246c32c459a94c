/**
 * The Tensor class and the creation functions.
 *
 * A tensor is a contiguous row-major block of one backend's memory plus a
 * shape, and (when it takes part in autograd) the graph node that made it.
 * Several tensors may share one block (reshape is free); the block is freed
 * when the last of them is disposed.
 *
 * @module
 */
import type { Backend, BackendName, DType, Storage, TypedArray, View } from "./backend.ts";
import {
  cpuBackend,
  defaultBackendName,
  getBackend,
  isGradEnabled,
  track,
  untrack,
} from "./engine.ts";
import { DisposedError, fmtShape, ShapeError } from "./errors.ts";
import { sizeOf } from "./shape.ts";
import { nextCounters } from "./random.ts";
import { dropNode, type Node } from "./autograd.ts";
import { backward } from "./backward.ts";
import * as ew from "./ops/elementwise.ts";
import * as red from "./ops/reduce.ts";
import * as sh from "./ops/shape.ts";
import { matmul as matmulOp } from "./ops/matmul.ts";

/**
 * A strided read of another buffer that no kernel has copied yet: the
 * deferred result of a slice, kept so that consumers able to read strided
 * memory (a later copy) read the source directly. @internal
 */
export interface PendingView {
  /** The buffer read (one reference held until the view is copied or released). */
  readonly src: Buf;
  /** Where in `src` the elements are, in the view's own shape. */
  readonly view: View;
}

/**
 * Memory shared by tensors that view the same data.
 *
 * A buffer is either backed by a storage, or deferred: made by a copy (a
 * slice, a cat) that runs only when something first reads `storage`. A
 * deferred buffer holds a reference on each buffer it reads, so those stay
 * alive (and, since in-place updates copy on write when a buffer is shared,
 * unchanged) until it is materialised or released; released unread, it costs
 * no kernel at all (outputs nobody reads cost nothing).
 */
export class Buf {
  /** Number of tensors holding it. */
  refs = 1;
  /** Elements. */
  readonly size: number;
  /** Element type. */
  readonly dtype: DType;
  /** The backend that holds (or will hold) the memory. */
  readonly backend: Backend;
  #storage: Storage | null;
  #fill: ((out: Storage) => void) | null = null;
  #sources: Buf[] = [];
  /** The strided read this deferred buffer stands for, when it is one. @internal */
  pendingView: PendingView | null = null;
  /**
   * The zero-padded placement this deferred buffer stands for, when it is
   * one: zeros except `src` (row-major, shape `srcShape`) written as a block
   * starting at element `offset`; a reader may take `src` and know the rest
   * is zero. @internal
   */
  pendingPad: { src: Buf; srcShape: readonly number[]; offset: number } | null = null;
  /**
   * The constant this deferred buffer is filled with, when it is one (the
   * backward seed): a reader that can take the value itself (a routine's
   * uniform) reads it instead of the storage, and the fill never runs.
   * @internal
   */
  pendingValue: number | null = null;

  /**
   * Take ownership of a storage, with one reference; or, given `fill`, make a
   * deferred buffer of `storage`'s size, type and backend (see
   * {@link Buf.deferred}).
   *
   * @param storage the storage to own (with `fill`: only its size, dtype and backend are used)
   * @param fill writes the contents of a deferred buffer
   * @param sources the buffers `fill` reads (one reference taken on each)
   */
  constructor(
    storage: Storage | Pick<Storage, "size" | "dtype" | "backend">,
    fill?: (out: Storage) => void,
    sources: readonly Buf[] = [],
  ) {
    this.size = storage.size;
    this.dtype = storage.dtype;
    this.backend = storage.backend;
    if (fill) {
      this.#storage = null;
      this.#fill = fill;
      this.#sources = [...sources];
      for (const s of sources) s.refs++;
    } else {
      this.#storage = storage as Storage;
      liveBytes += storage.size * (storage.dtype === "float64" ? 8 : 4);
    }
  }

  /**
   * A deferred buffer: `fill` writes its contents into a fresh storage the
   * first time `storage` is read. Takes one reference on each source.
   *
   * @param backend where the memory will live
   * @param size elements
   * @param dtype element type
   * @param sources the buffers `fill` reads
   * @param fill writes the contents (reads sources through their `storage`)
   * @returns the buffer, with one reference
   */
  static deferred(
    backend: Backend,
    size: number,
    dtype: DType,
    sources: readonly Buf[],
    fill: (out: Storage) => void,
  ): Buf {
    return new Buf({ backend, size, dtype }, fill, sources);
  }

  /** Whether the contents exist (false: a deferred copy not run yet). */
  get materialized(): boolean {
    return this.#storage !== null;
  }

  /** The backend storage (runs a deferred copy first). */
  get storage(): Storage {
    if (this.#storage) return this.#storage;
    const fill = this.#fill!;
    const out = this.backend.alloc(this.size, this.dtype);
    fill(out);
    this.#storage = out;
    liveBytes += this.size * (this.dtype === "float64" ? 8 : 4);
    this.#dropSources();
    return out;
  }

  #dropSources(): void {
    const srcs = this.#sources;
    this.#sources = [];
    this.#fill = null;
    this.pendingView = null;
    this.pendingPad = null;
    this.pendingValue = null;
    for (const s of srcs) s.release();
  }

  /** Drop one reference; frees the storage (or the deferred copy's sources) at zero. */
  release(): void {
    if (--this.refs === 0) {
      if (this.#storage) {
        liveBytes -= this.size * (this.dtype === "float64" ? 8 : 4);
        this.backend.free(this.#storage);
      } else this.#dropSources();
    }
  }
}

let liveBytes = 0;

/** Bytes held by live tensors (shared memory counted once). */
export function liveTensorBytes(): number {
  return liveBytes;
}

/** Options of the creation functions. */
export interface TensorOptions {
  /** Element type (default float32; float64 only on the CPU backend). */
  dtype?: DType;
  /** Track gradients for this leaf. */
  requiresGrad?: boolean;
  /** Backend (default: the one `init` chose). */
  backend?: BackendName;
}

/** Nested arrays of numbers, as accepted by {@link tensor}. */
export type NestedArray = number | NestedArray[];

/** An n-dimensional array with reverse-mode autograd. */
export class Tensor {
  /** The shape. */
  readonly shape: readonly number[];
  /** The element type. */
  readonly dtype: DType;
  #buf: Buf | null;
  /** Whether gradients flow to (or through) this tensor. */
  requiresGrad: boolean;
  /** The accumulated gradient of a leaf after `backward()`, or null. */
  grad: Tensor | null = null;
  /** The graph node that produced this tensor (null for leaves). @internal */
  node: Node | null = null;

  /**
   * Wrap a buffer. Most code uses the creation functions instead.
   *
   * @param buf the memory (its reference is taken over)
   * @param shape the shape
   * @param requiresGrad whether to track gradients
   */
  constructor(buf: Buf, shape: readonly number[], requiresGrad = false) {
    if (buf.size !== sizeOf(shape)) {
      throw new ShapeError(
        "tensor",
        [shape],
        `Cannot make a tensor of shape ${fmtShape(shape)} from ${buf.size} elements`,
      );
    }
    this.#buf = buf;
    this.shape = Object.freeze([...shape]);
    this.dtype = buf.dtype;
    this.requiresGrad = requiresGrad;
    track(this);
  }

  /** The backend the data lives on. */
  get backend(): BackendName {
    return this.buf.backend.name;
  }
  /** Number of elements. */
  get size(): number {
    return this.buf.size;
  }
  /** Number of dimensions. */
  get rank(): number {
    return this.shape.length;
  }
  /** Whether `dispose()` was called. */
  get isDisposed(): boolean {
    return this.#buf === null;
  }
  /** The shared memory (throws when disposed). @internal */
  get buf(): Buf {
    if (!this.#buf) {
      throw new DisposedError(
        `Cannot use a tensor of shape ${fmtShape(this.shape)}: it was disposed`,
      );
    }
    return this.#buf;
  }
  /** The backend storage. @internal */
  get storage(): Storage {
    return this.buf.storage;
  }
  /** The backend object. @internal */
  get backendImpl(): Backend {
    return this.buf.backend;
  }

  /** Release the memory (and the gradient). Idempotent. */
  dispose(): void {
    if (!this.#buf) return;
    this.#buf.release();
    this.#buf = null;
    untrack(this);
    // The graph behind this tensor stays alive while later ops still use it.
    if (this.node) dropNode(this.node);
  }
  /** `using t = …` disposes at the end of the block. */
  [Symbol.dispose](): void {
    this.dispose();
  }

  /**
   * Replace this tensor's data with `src`'s (shapes must match). Used by
   * optimizers on leaves; records nothing. @internal
   */
  assign(src: Tensor): void {
    if (src.size !== this.size) {
      throw new ShapeError(
        "assign",
        [this.shape, src.shape],
        `Cannot assign a tensor of shape ${fmtShape(src.shape)} to one of shape ${
          fmtShape(this.shape)
        }`,
      );
    }
    const b = src.buf;
    b.refs++;
    this.buf.release();
    this.#buf = b;
  }

  /** Copy the data to the host (waits for pending device work). */
  async data(): Promise<TypedArray> {
    return await this.backendImpl.read(this.storage);
  }
  /** The single value of a one-element tensor. */
  async item(): Promise<number> {
    if (this.size !== 1) {
      throw new ShapeError(
        "item",
        [this.shape],
        `Cannot read item() of a tensor of shape ${
          fmtShape(this.shape)
        }: it has ${this.size} elements, not 1`,
      );
    }
    return (await this.data())[0]!;
  }
  /** The data as nested arrays. */
  async array(): Promise<NestedArray> {
    const d = await this.data();
    const build = (dim: number, off: number): NestedArray => {
      if (dim === this.shape.length) return d[off]!;
      const n = this.shape[dim]!;
      const step = sizeOf(this.shape.slice(dim + 1));
      return Array.from({ length: n }, (_, i) => build(dim + 1, off + i * step));
    };
    return build(0, 0);
  }
  /** A short description: `Tensor(float32, [2, 3], webgpu)`. */
  toString(): string {
    return `Tensor(${this.dtype}, ${fmtShape(this.shape)}, ${
      this.#buf ? this.backend : "disposed"
    })`;
  }

  /**
   * Backpropagate from this tensor: accumulate d(this)/d(leaf) into every leaf's
   * `grad`. A non-scalar tensor needs an explicit upstream gradient.
   */
  backward(grad?: Tensor, opts: { retainGraph?: boolean } = {}): void {
    backward(this, grad, opts.retainGraph ?? false);
  }
  /** Dispose and clear the gradient. */
  zeroGrad(): void {
    this.grad?.dispose();
    this.grad = null;
  }
  /**
   * A tensor of `shape` (the same element count) sharing this tensor's
   * memory, with no graph history. @internal
   */
  share(shape: readonly number[]): Tensor {
    const b = this.buf;
    b.refs++;
    return new Tensor(b, shape, false);
  }
  /**
   * A new uninitialised tensor of `shape` on this tensor's backend, of its
   * dtype unless given: how ops allocate outputs without importing this
   * module. @internal
   */
  alloc(shape: readonly number[], dtype: DType = this.dtype): Tensor {
    return empty(this.backendImpl, shape, dtype);
  }
  /**
   * A deferred tensor of `shape` on this tensor's backend and dtype: `fill`
   * writes its contents the first time its storage is read (never, when it
   * is disposed unread); each of `sources` (tensors or buffers) stays alive
   * until then (see {@link Buf}). `mark` says what it stands for, so readers
   * able to read strided memory may read the source instead. How ops defer
   * copies without importing this module. @internal
   */
  deferred(
    shape: readonly number[],
    sources: readonly (Tensor | Buf)[],
    fill: (out: Storage) => void,
    mark: { view?: PendingView; pad?: Buf["pendingPad"]; value?: number } = {},
  ): Tensor {
    const b = new Buf(
      { backend: this.backendImpl, size: sizeOf(shape), dtype: this.dtype },
      fill,
      sources.map((t) => (t instanceof Buf ? t : t.buf)),
    );
    b.pendingView = mark.view ?? null;
    b.pendingPad = mark.pad ?? null;
    b.pendingValue = mark.value ?? null;
    return new Tensor(b, shape, false);
  }
  /** A new tensor of `shape` filled with `value`, on this tensor's backend and dtype. @internal */
  filled(shape: readonly number[], value: number): Tensor {
    return full(shape, value, { backend: this.backend, dtype: this.dtype });
  }
  /**
   * Like {@link Tensor.filled}, deferred: the fill runs when the storage is
   * first read, and a reader that takes the value itself (`Buf.pendingValue`)
   * never runs it. @internal
   */
  filledLater(shape: readonly number[], value: number): Tensor {
    const be = this.backendImpl;
    return this.deferred(shape, [], (out) => be.fill(out, value), { value });
  }
  /** A tensor sharing this data with no graph history. */
  detach(): Tensor {
    const b = this.buf;
    b.refs++;
    return new Tensor(b, this.shape, false);
  }
  /** A copy of the data (differentiable). */
  clone(): Tensor {
    return sh.clone(this);
  }
  /** Copy to another backend. */
  async to(backend: BackendName): Promise<Tensor> {
    if (backend === this.backend) return this.clone();
    const target = getBackend(backend);
    if (!target.supports(this.dtype)) {
      throw new TypeError(
        `Cannot copy a ${this.dtype} tensor to the ${backend} backend: it does not support ${this.dtype}`,
      );
    }
    const host = await this.data();
    return new Tensor(new Buf(target.upload(host, this.dtype)), this.shape, false);
  }

  // ---- elementwise ----
  /** `this + other` with broadcasting. */
  add(other: Tensor | number): Tensor {
    return ew.add(this, other);
  }
  /** `this - other` with broadcasting. */
  sub(other: Tensor | number): Tensor {
    return ew.sub(this, other);
  }
  /** `this * other` with broadcasting. */
  mul(other: Tensor | number): Tensor {
    return ew.mul(this, other);
  }
  /** `this / other` with broadcasting. */
  div(other: Tensor | number): Tensor {
    return ew.div(this, other);
  }
  /** `this ** other` with broadcasting. */
  pow(other: Tensor | number): Tensor {
    return ew.pow(this, other);
  }
  /** Elementwise maximum with broadcasting. */
  maximum(other: Tensor | number): Tensor {
    return ew.maximum(this, other);
  }
  /** Elementwise minimum with broadcasting. */
  minimum(other: Tensor | number): Tensor {
    return ew.minimum(this, other);
  }
  /** `-this`. */
  neg(): Tensor {
    return ew.unaryOp("neg", this);
  }
  /** e^this. */
  exp(): Tensor {
    return ew.unaryOp("exp", this);
  }
  /** Natural logarithm. */
  log(): Tensor {
    return ew.unaryOp("log", this);
  }
  /** Square root. */
  sqrt(): Tensor {
    return ew.unaryOp("sqrt", this);
  }
  /** Absolute value. */
  abs(): Tensor {
    return ew.unaryOp("abs", this);
  }
  /** Logistic sigmoid. */
  sigmoid(): Tensor {
    return ew.unaryOp("sigmoid", this);
  }
  /** Hyperbolic tangent. */
  tanh(): Tensor {
    return ew.unaryOp("tanh", this);
  }
  /** max(x, 0). */
  relu(): Tensor {
    return ew.unaryOp("relu", this);
  }
  /** x for x > 0, slope·x otherwise. */
  leakyRelu(slope = 0.01): Tensor {
    return ew.unaryOp("leakyRelu", this, slope);
  }
  /** Clamp into [min, max]. */
  clamp(min = -Infinity, max = Infinity): Tensor {
    return ew.unaryOp("clamp", this, min, max);
  }
  /** 1 where equal, else 0 (no gradient). */
  eq(other: Tensor | number): Tensor {
    return ew.compare("eq", this, other);
  }
  /** 1 where not equal, else 0 (no gradient). */
  ne(other: Tensor | number): Tensor {
    return ew.compare("ne", this, other);
  }
  /** 1 where this < other, else 0 (no gradient). */
  lt(other: Tensor | number): Tensor {
    return ew.compare("lt", this, other);
  }
  /** 1 where this <= other, else 0 (no gradient). */
  le(other: Tensor | number): Tensor {
    return ew.compare("le", this, other);
  }
  /** 1 where this > other, else 0 (no gradient). */
  gt(other: Tensor | number): Tensor {
    return ew.compare("gt", this, other);
  }
  /** 1 where this >= other, else 0 (no gradient). */
  ge(other: Tensor | number): Tensor {
    return ew.compare("ge", this, other);
  }
  /** `cond != 0 ? this : other`, with gradients to this and other. */
  where(cond: Tensor, other: Tensor | number): Tensor {
    return ew.where(cond, this, other);
  }

  // ---- linear algebra ----
  /** Matrix product (2-D, batched with broadcasting, or with 1-D vectors). */
  matmul(other: Tensor): Tensor {
    return matmulOp(this, other);
  }

  // ---- reductions ----
  /** Sum over `axis` (all axes when omitted). */
  sum(axis?: number | number[], keepDims = false): Tensor {
    return red.sum(this, axis, keepDims);
  }
  /** Mean over `axis` (all axes when omitted). */
  mean(axis?: number | number[], keepDims = false): Tensor {
    return red.mean(this, axis, keepDims);
  }
  /** Maximum over `axis` (all axes when omitted); ties share the gradient. */
  max(axis?: number | number[], keepDims = false): Tensor {
    return red.max(this, axis, keepDims);
  }
  /** Softmax along `axis`. */
  softmax(axis = -1): Tensor {
    return red.softmax(this, axis);
  }
  /** Log-softmax along `axis` (numerically stable). */
  logSoftmax(axis = -1): Tensor {
    return red.logSoftmax(this, axis);
  }

  // ---- shape ----
  /** Same data, new shape (one dimension may be -1). */
  reshape(shape: readonly number[]): Tensor {
    return sh.reshape(this, shape);
  }
  /** Swap two dimensions (default the last two). */
  transpose(dim0 = -2, dim1 = -1): Tensor {
    return sh.transpose(this, dim0, dim1);
  }
  /** Reorder dimensions. */
  permute(dims: readonly number[]): Tensor {
    return sh.permute(this, dims);
  }
  /** A block: `sizes[d]` elements from `starts[d]` (size -1 = to the end). */
  slice(starts: readonly number[], sizes: readonly number[]): Tensor {
    return sh.slice(this, starts, sizes);
  }
  /** Pick elements along `axis` by integer indices (torch.gather semantics). */
  gather(indices: Tensor, axis: number): Tensor {
    return sh.gather(this, indices, axis);
  }
  /** Broadcast to a larger shape. */
  expand(shape: readonly number[]): Tensor {
    return sh.expand(this, shape);
  }
  /** Insert a size-1 dimension. */
  unsqueeze(axis: number): Tensor {
    return sh.unsqueeze(this, axis);
  }
  /** Remove size-1 dimensions (one axis or all). */
  squeeze(axis?: number): Tensor {
    return sh.squeeze(this, axis);
  }
}

// ---- creation --------------------------------------------------------------

function resolve(opts: TensorOptions): { backend: Backend; dtype: DType } {
  const backend = getBackend(opts.backend ?? defaultBackendName());
  const dtype = opts.dtype ?? "float32";
  if (dtype !== "float32" && dtype !== "float64") {
    throw new TypeError(
      `Cannot create a tensor of dtype "${dtype}": expected "float32" or "float64"`,
    );
  }
  if (!backend.supports(dtype)) {
    throw new TypeError(
      `Cannot create a ${dtype} tensor on the ${backend.name} backend: it supports float32 only; use { backend: "cpu" } for ${dtype}`,
    );
  }
  return { backend, dtype };
}

function checkShape(op: string, shape: readonly number[]): void {
  if (!Array.isArray(shape) || shape.some((d) => !Number.isInteger(d) || d < 0)) {
    throw new ShapeError(
      op,
      [],
      `Cannot ${op} with shape ${JSON.stringify(shape)}: dimensions must be non-negative integers`,
    );
  }
}

/** Wrap a fresh storage as a tensor. @internal */
export function fromStorage(s: Storage, shape: readonly number[], requiresGrad = false): Tensor {
  return new Tensor(new Buf(s), shape, requiresGrad);
}

/** A new uninitialised tensor on the given backend. @internal */
export function empty(backend: Backend, shape: readonly number[], dtype: DType): Tensor {
  return fromStorage(backend.alloc(sizeOf(shape), dtype), shape);
}

function inferShape(v: NestedArray, shape: number[], depth: number): void {
  if (Array.isArray(v)) {
    if (shape.length <= depth) shape.push(v.length);
    else if (shape[depth] !== v.length) {
      throw new ShapeError(
        "tensor",
        [],
        `Cannot create a tensor from a ragged nested array: dimension ${depth} has lengths ${
          shape[depth]
        } and ${v.length}`,
      );
    }
    for (const x of v) inferShape(x, shape, depth + 1);
  } else if (shape.length > depth) {
    throw new ShapeError(
      "tensor",
      [],
      `Cannot create a tensor from a ragged nested array: a number stands where dimension ${depth} expects an array`,
    );
  }
}

/**
 * Create a tensor from numbers, nested arrays or a typed array.
 *
 * @param values the data (nested arrays give the shape; flat data needs `shape`)
 * @param shape optional shape for flat data
 * @param opts dtype (default float32, or float64 for a Float64Array), requiresGrad, backend
 * @returns a new leaf tensor
 * @example
 * ```ts
 * import { tensor } from "../mod.ts";
 * const x = tensor([[1, 2], [3, 4]]);
 * console.assert(x.shape.join() === "2,2");
 * ```
 */
export function tensor(
  values: NestedArray | ArrayLike<number>,
  shape?: readonly number[],
  opts: TensorOptions = {},
): Tensor {
  let flat: ArrayLike<number>;
  let inferred: number[];
  if (typeof values === "number") {
    flat = [values];
    inferred = [];
  } else if (Array.isArray(values)) {
    inferred = [];
    inferShape(values as NestedArray, inferred, 0);
    const acc: number[] = [];
    const walk = (v: NestedArray): void => {
      if (Array.isArray(v)) { for (const x of v) walk(x); }
      else acc.push(v);
    };
    walk(values as NestedArray);
    flat = acc;
  } else {
    flat = values;
    inferred = [values.length];
  }
  const finalShape = shape ?? inferred;
  checkShape("create a tensor", finalShape);
  if (sizeOf(finalShape) !== flat.length) {
    throw new ShapeError(
      "tensor",
      [finalShape],
      `Cannot create a tensor of shape ${fmtShape(finalShape)} (${
        sizeOf(finalShape)
      } elements) from ${flat.length} values`,
    );
  }
  const dtype = opts.dtype ?? (values instanceof Float64Array ? "float64" : "float32");
  const { backend } = resolve({ ...opts, dtype });
  const host = dtype === "float64" ? Float64Array.from(flat) : Float32Array.from(flat);
  return fromStorage(backend.upload(host, dtype), finalShape, opts.requiresGrad ?? false);
}

/**
 * A tensor filled with `value`.
 *
 * @param shape the shape
 * @param value the fill value
 * @param opts dtype, requiresGrad, backend
 */
export function full(shape: readonly number[], value: number, opts: TensorOptions = {}): Tensor {
  checkShape("full", shape);
  const { backend, dtype } = resolve(opts);
  const s = backend.alloc(sizeOf(shape), dtype);
  backend.fill(s, value);
  return fromStorage(s, shape, opts.requiresGrad ?? false);
}

/** A tensor of zeros. */
export function zeros(shape: readonly number[], opts: TensorOptions = {}): Tensor {
  return full(shape, 0, opts);
}

/** A tensor of ones. */
export function ones(shape: readonly number[], opts: TensorOptions = {}): Tensor {
  return full(shape, 1, opts);
}

/** `[0, 1, …, n-1]`. */
export function arange(n: number, opts: TensorOptions = {}): Tensor {
  if (!Number.isInteger(n) || n < 0) {
    throw new RangeError(`Cannot create arange(${n}): n must be a non-negative integer`);
  }
  return tensor(Array.from({ length: n }, (_, i) => i), [n], opts);
}

function randomFill(
  dist: "uniform" | "normal",
  shape: readonly number[],
  lo: number,
  hi: number,
  opts: TensorOptions,
): Tensor {
  checkShape(dist === "uniform" ? "rand" : "randn", shape);
  const { backend, dtype } = resolve(opts);
  const n = sizeOf(shape);
  const s = backend.alloc(n, dtype);
  const { key, counter } = nextCounters(n);
  backend.random(s, { dist, key, counter, lo, hi });
  return fromStorage(s, shape, opts.requiresGrad ?? false);
}

/** Uniform random numbers in [low, high) (default [0, 1)) from the seeded generator. */
export function rand(
  shape: readonly number[],
  opts: TensorOptions & { low?: number; high?: number } = {},
): Tensor {
  return randomFill("uniform", shape, opts.low ?? 0, opts.high ?? 1, opts);
}

/** Normal random numbers (default mean 0, std 1) from the seeded generator. */
export function randn(
  shape: readonly number[],
  opts: TensorOptions & { mean?: number; std?: number } = {},
): Tensor {
  return randomFill("normal", shape, opts.mean ?? 0, opts.std ?? 1, opts);
}

/** Whether an op with these inputs records a graph node. @internal */
export function needsGrad(...inputs: Tensor[]): boolean {
  return isGradEnabled() && inputs.some((t) => t.requiresGrad);
}

/** The CPU backend, re-exported for ops that need host-side helpers. @internal */
export { cpuBackend };
