/**
 * The narrow kernel interface every backend implements.
 *
 * Contract (read this before writing a backend):
 *
 * - A backend owns untyped-by-the-caller storage handles ({@link Storage}). A
 *   storage holds `size` elements of one dtype in contiguous row-major order.
 *   `alloc` returns uninitialised memory; the caller always writes it fully
 *   before reading it (every kernel below writes every element of `out`, except
 *   {@link Backend.copy}, which writes only the elements its view names).
 * - Kernels never allocate their outputs: the caller passes `out`. Kernels never
 *   consume or free their inputs. `out` never aliases an input unless the kernel
 *   says it may.
 * - Kernels are recorded in call order. A backend may run them later (the
 *   WebGPU backend records them into a command encoder), but the observable
 *   result of `read` must equal running every recorded kernel in order.
 *   `read` is the only operation that waits.
 * - `free` may be called while recorded work still uses the storage; the backend
 *   must delay reuse of that memory until that work is done (or submitted, where
 *   submission order guarantees it).
 * - Shapes and strides are element counts. A stride of 0 broadcasts.
 * - Inputs and outputs of one kernel share a dtype (the autograd layer checks).
 * - NaN propagates through binary max/min and reduce max on the CPU; WGSL's
 *   max() does not promise it, so tests keep NaN away from those kernels.
 * - Integer-valued data (class labels, gather indices, comparison results) is
 *   stored as floating point: exact up to 2^24 in float32.
 *
 * The autograd layer (`tensor/tensor.ts`, `tensor/ops/*`) and the fused
 * routines (`tensor/routines/*`) are the only callers; the autograd layer
 * never knows which backend runs. Fused one-model kernels (LSTM/GRU steps,
 * optimizer updates) are not members of this interface: each routine folder
 * registers its kernels per backend in `tensor/routines/registry.ts`.
 *
 * @module
 */

/** Element type of a storage. float64 exists only on the CPU backend. */
export type DType = "float32" | "float64";

/** Names of the backends. */
export type BackendName = "cpu" | "webgpu";

/** A typed array of either supported dtype. */
export type TypedArray = Float32Array | Float64Array;

/** Opaque handle to backend memory. */
export interface Storage {
  /** The backend that owns the memory. */
  readonly backend: Backend;
  /** Number of elements. */
  readonly size: number;
  /** Element type. */
  readonly dtype: DType;
}

/**
 * The elementwise ops (`UnaryOp`, `BinaryOp`): each op's meaning, CPU kernel,
 * WGSL expression, gradient and test inputs are its entry in `optable.ts`.
 */
import type { BinaryOp, UnaryOp } from "./optable.ts";
export type { BinaryOp, UnaryOp };

/** Reduction ops. */
export type ReduceOp = "sum" | "max";

/**
 * A strided view of a storage: element (i0, i1, …) of `shape` sits at
 * `offset + Σ i_d · strides[d]`.
 */
export interface View {
  /** Logical shape of the view. */
  shape: readonly number[];
  /** Element stride per dimension (0 broadcasts). */
  strides: readonly number[];
  /** Element offset of the first element. */
  offset: number;
}

/** Parameters of a (batched) matrix product. */
export interface MatmulParams {
  /** Number of independent products. */
  batch: number;
  /** Rows of op(A) and of the output. */
  m: number;
  /** Columns of op(B) and of the output. */
  n: number;
  /** Inner dimension. */
  k: number;
  /** A is stored as [k, m] (per batch) and used transposed. */
  transA: boolean;
  /** B is stored as [n, k] (per batch) and used transposed. */
  transB: boolean;
  /** Elements between consecutive A matrices (0 broadcasts one A to all batches). */
  strideA: number;
  /** Elements between consecutive B matrices (0 broadcasts). */
  strideB: number;
}

/** Parameters of a reduction: the input viewed as [outer, reduce, inner]. */
export interface ReduceParams {
  /** Product of the dimensions before the reduced block. */
  outer: number;
  /** Product of the reduced dimensions (contiguous block). */
  reduce: number;
  /** Product of the dimensions after the reduced block. */
  inner: number;
}

/** Parameters of gather/scatterAdd: x viewed as [outer, axis, inner]. */
export interface GatherParams {
  /** Product of the dimensions before the axis. */
  outer: number;
  /** Size of the axis in x (the source of gather, the target of scatterAdd). */
  axisSize: number;
  /** Size of the axis in the index tensor and the output of gather. */
  indexSize: number;
  /** Product of the dimensions after the axis. */
  inner: number;
}

/** Distribution for {@link Backend.random}. */
export type RandomDist = "uniform" | "normal";

/** Parameters of a random fill. */
export interface RandomParams {
  /** Distribution: uniform on [lo, hi) or normal(mean = lo, std = hi). */
  dist: RandomDist;
  /** Seed key (two 32-bit words). */
  key: readonly [number, number];
  /** Counter offset: element i uses Philox counter (offset + i). */
  counter: number;
  /** Lower bound (uniform) or mean (normal). */
  lo: number;
  /** Upper bound (uniform) or standard deviation (normal). */
  hi: number;
}

/** The kernel set a backend implements. */
export interface Backend {
  /** Backend name. */
  readonly name: BackendName;
  /** Whether the backend can hold this dtype. */
  supports(dtype: DType): boolean;

  /** Allocate `size` uninitialised elements. */
  alloc(size: number, dtype: DType): Storage;
  /** Allocate and fill from host data (the data is copied). */
  upload(data: TypedArray, dtype: DType): Storage;
  /** Release a storage. Using it afterwards, or freeing it twice, is an error. */
  free(s: Storage): void;
  /** Copy the whole storage to the host (waits for all recorded work). */
  read(s: Storage): Promise<TypedArray>;

  /** `out[i] = value`. */
  fill(out: Storage, value: number): void;
  /** Unary elementwise op over `x.size` elements; `out` may alias `x`; missing p0/p1 are 0. */
  unary(op: UnaryOp, x: Storage, out: Storage, p0?: number, p1?: number): void;
  /**
   * Binary op with broadcasting: `out` is contiguous with shape `outShape`;
   * `aStrides`/`bStrides` give each input's stride per output dimension (0
   * where the input is broadcast).
   */
  binary(
    op: BinaryOp,
    a: Storage,
    aStrides: readonly number[],
    b: Storage,
    bStrides: readonly number[],
    out: Storage,
    outShape: readonly number[],
  ): void;
  /** `out = cond != 0 ? a : b` with broadcasting like {@link Backend.binary}. */
  where(
    cond: Storage,
    condStrides: readonly number[],
    a: Storage,
    aStrides: readonly number[],
    b: Storage,
    bStrides: readonly number[],
    out: Storage,
    outShape: readonly number[],
  ): void;
  /**
   * `out[b] = op(A[b]) · op(B[b])`, out contiguous [batch, m, n]. With
   * `bias` (one or two storages of n elements; k > 0), the kernel's store
   * adds them to every row: `out[b, i, j] = Σ + bias[0][j]`, or
   * `Σ + (bias[0][j] + bias[1][j])` (the pair summed first, as
   * `x·W + (b1 + b2)` computes it).
   */
  matmul(a: Storage, b: Storage, out: Storage, p: MatmulParams, bias?: readonly Storage[]): void;
  /** Reduce x viewed as [outer, reduce, inner] to out [outer, inner]. */
  reduce(op: ReduceOp, x: Storage, out: Storage, p: ReduceParams): void;
  /**
   * Strided copy: for every index of `srcView.shape`, write
   * `dst[dstView(idx)] = srcStorage[srcView(idx)]`. Both views have the same
   * shape. Elements of `dst` the view does not name are left as they are.
   */
  copy(src: Storage, srcView: View, dst: Storage, dstView: View): void;
  /**
   * `out[o, j, i] = x[o, idx[o, j, i], i]` for idx and out of shape
   * [outer, indexSize, inner]. Indices out of range are an error on the CPU
   * backend and give 0 on the GPU.
   */
  gather(x: Storage, idx: Storage, out: Storage, p: GatherParams): void;
  /**
   * The adjoint of gather: `out[o, k, i] = Σ_j [idx[o, j, i] = k] · g[o, j, i]`
   * for out of shape [outer, axisSize, inner] (out is fully written). Out-of-range
   * indices are an error on the CPU backend and are dropped on the GPU.
   */
  scatterAdd(g: Storage, idx: Storage, out: Storage, p: GatherParams): void;
  /** Fill `out` with counter-based random numbers (Philox4x32-10). */
  random(out: Storage, p: RandomParams): void;
  /** Make sure recorded work is submitted; resolves when it has completed. */
  flush(): Promise<void>;
  /** Counters for `memory()` (storages, bytes, and on WebGPU dispatches, submits…). */
  stats?(): unknown;
}
