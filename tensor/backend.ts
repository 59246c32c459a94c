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
 * The autograd layer (`tensor/tensor.ts`, `tensor/ops/*`) is the only caller;
 * it never knows which backend runs.
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

/**
 * Rows of a matrix inside a storage: row `b` starts at element
 * `offset + b · stride` and its elements are contiguous. The fused recurrent
 * kernels address one time step of a batch-first sequence [B, T, n] this way
 * (offset t·n, stride T·n), or one step of a time-major buffer [T, B, n]
 * (offset t·B·n, stride n).
 */
export interface Rows {
  /** The storage. */
  storage: Storage;
  /** Element offset of row 0. */
  offset: number;
  /** Elements from the start of one row to the next. */
  stride: number;
}

/**
 * One forward time step of an LSTM layer ({@link Backend.lstmStep}). Gate
 * blocks are in PyTorch order i, f, g, o, each H wide.
 */
export interface LstmStepArgs {
  /** Batch size B. */
  batch: number;
  /** Hidden size H. */
  hidden: number;
  /** Input part of the gate pre-activations [B, 4H]: x_t·W_ihᵀ + b_ih + b_hh. */
  x: Rows;
  /** h_{t−1} [B, H]. */
  h: Rows;
  /** c_{t−1} [B, H]. */
  c: Rows;
  /** W_hh [4H, H], contiguous. */
  whh: Storage;
  /**
   * Optional W_hhᵀ [H, 4H], contiguous: the same weights transposed, made
   * once per sequence by the caller. A backend may read it instead of `whh`
   * (WebGPU's forward step reads it with coalesced vec4 loads) or ignore it.
   */
  whhT?: Storage;
  /** Receives h_t [B, H] (may share a storage with `h`, not its elements). */
  hOut: Rows;
  /** Receives c_t [B, H] (may share a storage with `c`, not its elements). */
  cOut: Rows;
  /** Receives the activated gates i, f, g, o [B, 4H] for backward; null skips saving. */
  gates: Rows | null;
}

/** One backward time step of an LSTM layer ({@link Backend.lstmStepBackward}). */
export interface LstmStepBackwardArgs {
  /** Batch size B. */
  batch: number;
  /** Hidden size H. */
  hidden: number;
  /** dL/dh_t from outside the recurrence (the layer output's gradient) [B, H]. */
  dh: Rows;
  /** c_{t−1} [B, H]. */
  cPrev: Rows;
  /** c_t [B, H]. */
  c: Rows;
  /** The activated gates of step t saved by {@link Backend.lstmStep} [B, 4H]. */
  gates: Rows;
  /** W_hh [4H, H], contiguous. */
  whh: Storage;
  /**
   * [B, H] contiguous, read and written: on entry dL/dc_t through the later
   * steps, on exit dL/dc_{t−1}.
   */
  dc: Storage;
  /** Receives the pre-activation gate gradients dL/dgates_t [B, 4H]. */
  dg: Rows;
  /**
   * Offset in `dg.storage` (same stride) of step t+1's gate gradients, whose
   * product with W_hh is added to dL/dh_t; null at the last step.
   */
  dgNext: number | null;
}

/**
 * One forward time step of a GRU layer ({@link Backend.gruStep}). Gate blocks
 * are in PyTorch order r, z, n: r = σ(x_r + W_hr h + b_hr),
 * z = σ(x_z + W_hz h + b_hz), n = tanh(x_n + r ⊙ (W_hn h + b_hn)),
 * h_t = (1 − z) ⊙ n + z ⊙ h_{t−1}.
 */
export interface GruStepArgs {
  /** Batch size B. */
  batch: number;
  /** Hidden size H. */
  hidden: number;
  /** Input part of the gates [B, 3H]: x_t·W_ihᵀ + b_ih (b_hh is separate). */
  x: Rows;
  /** h_{t−1} [B, H]. */
  h: Rows;
  /** W_hh [3H, H], contiguous. */
  whh: Storage;
  /**
   * Optional W_hhᵀ [H, 3H], contiguous: the same weights transposed, made
   * once per sequence by the caller. A backend may read it instead of `whh`
   * (WebGPU's forward step reads it with coalesced vec4 loads) or ignore it.
   */
  whhT?: Storage;
  /** b_hh [3H], contiguous. */
  bhh: Storage;
  /** Receives h_t [B, H] (may share a storage with `h`, not its elements). */
  hOut: Rows;
  /** Receives r, z, n and W_hn·h_{t−1} + b_hn [B, 4H] for backward; null skips saving. */
  saved: Rows | null;
}

/** One backward time step of a GRU layer ({@link Backend.gruStepBackward}). */
export interface GruStepBackwardArgs {
  /** Batch size B. */
  batch: number;
  /** Hidden size H. */
  hidden: number;
  /** dL/dh_t from outside the recurrence (the layer output's gradient) [B, H]. */
  dh: Rows;
  /** h_{t−1} [B, H]. */
  h: Rows;
  /** What {@link Backend.gruStep} saved for step t [B, 4H]. */
  saved: Rows;
  /** W_hh [3H, H], contiguous. */
  whh: Storage;
  /**
   * [B, H] contiguous, read and written: on entry z_{t+1} ⊙ dL/dh_{t+1} (the
   * part of dL/dh_t that bypasses the gates; ignored at the last step), on
   * exit z_t ⊙ dL/dh_t.
   */
  dhz: Storage;
  /** Receives dL/d(x part of the gates)_t [B, 3H]. */
  dgx: Rows;
  /** Receives dL/d(W_hh·h_{t−1} + b_hh)_t [B, 3H]. */
  dgh: Rows;
  /**
   * Offset in `dgh.storage` (same stride) of step t+1's `dgh`, whose product
   * with W_hh is added to dL/dh_t; null at the last step.
   */
  dghNext: number | null;
}

/**
 * Adam or AdamW update of one parameter ({@link Backend.optimizerStep}), as
 * `torch.optim.Adam` / `torch.optim.AdamW`, elementwise:
 *
 * - adam: `g = grad + weightDecay · p` (when weightDecay ≠ 0);
 *   adamw: `p ← p · (1 − lr · weightDecay)` (when weightDecay ≠ 0), `g = grad`;
 * - `m ← β1·m + (1 − β1)·g`, `v ← β2·v + (1 − β2)·g²`;
 * - `p ← p − lr / bc1 · m / (√v / √bc2 + eps)`.
 */
export interface AdamStepArgs {
  /** "adam" (L2 weight decay added to the gradient) or "adamw" (decoupled decay). */
  kind: "adam" | "adamw";
  /** The parameter, updated in place. */
  param: Storage;
  /** Its gradient (read only). */
  grad: Storage;
  /** First moment estimate `exp_avg`, updated in place (zeros before the first step). */
  expAvg: Storage;
  /** Second moment estimate `exp_avg_sq`, updated in place (zeros before the first step). */
  expAvgSq: Storage;
  /** Learning rate. */
  lr: number;
  /** β1. */
  beta1: number;
  /** β2. */
  beta2: number;
  /** Denominator term. */
  eps: number;
  /** Weight decay (0: none). */
  weightDecay: number;
  /** Bias correction 1 − β1^t for this parameter's update count t (computed on the host). */
  biasCorrection1: number;
  /** Bias correction 1 − β2^t (computed on the host). */
  biasCorrection2: number;
}

/**
 * SGD update of one parameter ({@link Backend.optimizerStep}), as
 * `torch.optim.SGD`: `d = grad + weightDecay · p` (when weightDecay ≠ 0); with
 * a momentum buffer, `buf ← d` on the first step and
 * `buf ← momentum·buf + (1 − dampening)·d` afterwards, then `d = buf`
 * (Nesterov: `d = d + momentum·buf`); finally `p ← p − lr · d`.
 */
export interface SgdStepArgs {
  /** Discriminant. */
  kind: "sgd";
  /** The parameter, updated in place. */
  param: Storage;
  /** Its gradient (read only). */
  grad: Storage;
  /** `momentum_buffer`, updated in place; null without momentum (momentum = 0). */
  momentumBuffer: Storage | null;
  /** Learning rate. */
  lr: number;
  /** Momentum factor (used only with a buffer). */
  momentum: number;
  /** Dampening (used only with a buffer, after the first step). */
  dampening: number;
  /** Weight decay (0: none). */
  weightDecay: number;
  /** Nesterov momentum (used only with a buffer). */
  nesterov: boolean;
  /** The buffer is new: it is set to `d` (its contents are not read). */
  firstStep: boolean;
}

/**
 * RMSprop update of one parameter ({@link Backend.optimizerStep}), as
 * `torch.optim.RMSprop`: `g = grad + weightDecay · p` (when weightDecay ≠ 0),
 * `s ← α·s + (1 − α)·g²`; centred (with `gradAvg`): `ḡ ← α·ḡ + (1 − α)·g`,
 * `avg = √(s − ḡ²) + eps`, otherwise `avg = √s + eps`; with a momentum
 * buffer `buf ← momentum·buf + g / avg`, `p ← p − lr · buf`, otherwise
 * `p ← p − lr · g / avg`.
 */
export interface RmspropStepArgs {
  /** Discriminant. */
  kind: "rmsprop";
  /** The parameter, updated in place. */
  param: Storage;
  /** Its gradient (read only). */
  grad: Storage;
  /** `square_avg`, updated in place (zeros before the first step). */
  squareAvg: Storage;
  /** `momentum_buffer`, updated in place (zeros at first); null without momentum. */
  momentumBuffer: Storage | null;
  /** `grad_avg` of the centred variant, updated in place (zeros at first); null otherwise. */
  gradAvg: Storage | null;
  /** Learning rate. */
  lr: number;
  /** Smoothing constant α. */
  alpha: number;
  /** Denominator term. */
  eps: number;
  /** Momentum factor (used only with a buffer). */
  momentum: number;
  /** Weight decay (0: none). */
  weightDecay: number;
}

/** The arguments of {@link Backend.optimizerStep}, by optimizer kind. */
export type OptimizerStepArgs = AdamStepArgs | SgdStepArgs | RmspropStepArgs;

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
  /** `out[b] = op(A[b]) · op(B[b])`, out contiguous [batch, m, n]. */
  matmul(a: Storage, b: Storage, out: Storage, p: MatmulParams): void;
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
  /**
   * One fused LSTM time step (one dispatch on WebGPU): gates = x + h·W_hhᵀ,
   * i, f, o = σ(·), g = tanh(·), c_t = f ⊙ c_{t−1} + i ⊙ g,
   * h_t = o ⊙ tanh(c_t). Writes `hOut`, `cOut` and (unless null) `gates`.
   */
  lstmStep(a: LstmStepArgs): void;
  /**
   * One fused LSTM backward step (one dispatch on WebGPU), run for t = T−1 … 0:
   * dh = a.dh + dg_{t+1}·W_hh (when `dgNext` is given), then the gate
   * gradients of step t into `dg` and dL/dc_{t−1} into `dc`. After the loop
   * the caller forms dW_hh = Σ_t dg_tᵀ·h_{t−1} (one matmul) and
   * dL/dh_{−1} = dg_0·W_hh.
   */
  lstmStepBackward(a: LstmStepBackwardArgs): void;
  /**
   * One fused GRU time step (one dispatch on WebGPU): see {@link GruStepArgs}.
   * Writes `hOut` and (unless null) `saved`.
   */
  gruStep(a: GruStepArgs): void;
  /**
   * One fused GRU backward step (one dispatch on WebGPU), run for t = T−1 … 0:
   * dh = a.dh + dhz + dgh_{t+1}·W_hh (the last two when `dghNext` is given),
   * then `dgx`, `dgh` of step t and the new `dhz`. After the loop the caller
   * forms dW_hh = Σ_t dgh_tᵀ·h_{t−1}, db_hh = Σ dgh and
   * dL/dh_{−1} = dhz + dgh_0·W_hh.
   */
  gruStepBackward(a: GruStepBackwardArgs): void;
  /**
   * One fused optimizer update of one parameter, in place (one dispatch on
   * WebGPU): reads `grad`, rewrites `param` and the optimizer's state
   * storages by PyTorch's formulas (see {@link AdamStepArgs},
   * {@link SgdStepArgs}, {@link RmspropStepArgs}). Every storage has
   * `param.size` elements and no two share memory. All hyper-parameters and
   * bias corrections are scalars of the call (uniforms on the GPU), so
   * nothing is read back and one compiled kernel serves every step. The CPU
   * computes in float64 and rounds once per stored value.
   */
  optimizerStep(a: OptimizerStepArgs): void;
  /** Make sure recorded work is submitted; resolves when it has completed. */
  flush(): Promise<void>;
  /** Counters for `memory()` (storages, bytes, and on WebGPU dispatches, submits…). */
  stats?(): unknown;
}
