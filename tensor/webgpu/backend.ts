/**
 * The WebGPU backend: {@link Backend} over WGSL compute shaders.
 *
 * Storages are pooled GPU buffers (see `pool.ts`); kernels record dispatches
 * into a shared command encoder that is submitted in batches (see
 * `runtime.ts`); only `read` and `flush` wait. float32 only.
 *
 * @module
 */
import type {
  Backend,
  BinaryOp,
  DType,
  GatherParams,
  MatmulParams,
  RandomParams,
  ReduceOp,
  ReduceParams,
  Storage,
  TypedArray,
  UnaryOp,
  View,
} from "../backend.ts";
import { MAX_LOOP_ELEMENTS, WG_1D } from "../wgsl/common.ts";
import { COPY_SRC_OFFSET_SLOT, copyRows4Shader, copyShader } from "../wgsl/copy.ts";
import {
  binaryShader,
  type ElementwiseLayout,
  fillShader,
  MAX_DIMS,
  unaryShader,
  VEC4_N_SLOT,
  whereShader,
} from "../wgsl/elementwise.ts";
import { gatherShader, scatterAddShader, type ScatterKernel } from "../wgsl/gather.ts";
import type { MatmulVariant } from "../wgsl/matmul.ts";
import { float64Parts, randomShader, uniformIsFast } from "../wgsl/random.ts";
import { type ReduceFusion, type ReduceKernel, reduceShader } from "../wgsl/reduce.ts";
import { mergeDims, planElementwise } from "./layout.ts";
import { recordLater, recordMatmul } from "./matmul.ts";
import type { GpuBuf } from "./pool.ts";
import { type ParamBlock, Runtime, type RuntimeOptions } from "./runtime.ts";

/** Counters of the backend. */
export interface WebGPUStats {
  /** Dispatches recorded. */
  dispatches: number;
  /** Command buffers submitted. */
  submits: number;
  /** Readbacks. */
  readbacks: number;
  /** Compiled pipelines. */
  pipelines: number;
  /** Buffers held by live storages. */
  liveBuffers: number;
  /** Their bytes. */
  liveBytes: number;
  /** Free buffers in the pool. */
  pooledBuffers: number;
  /** Their bytes. */
  pooledBytes: number;
}

/** Kernel variants a test or flag may force (undefined: the selector picks). */
export interface ForcedKernels {
  /** Matmul variant. */
  matmul?: MatmulVariant;
  /** Reduction kernel. */
  reduce?: ReduceKernel;
  /** scatterAdd kernel. */
  scatter?: ScatterKernel;
  /** false: every matmul its own dispatch (default: independent blocked products share one). */
  matmulGroups?: boolean;
}

/** Options of {@link WebGPUBackend}. */
export interface WebGPUBackendOptions extends RuntimeOptions {
  /** Forced kernel variants. */
  force?: ForcedKernels;
}

class GpuStorage implements Storage {
  readonly dtype: DType = "float32";
  constructor(readonly backend: WebGPUBackend, readonly size: number, public buf: GpuBuf | null) {}
}

/** Reduce axes at least this long over at most this many outputs use the tree kernel. */
const TREE_MIN_REDUCE = 256, TREE_MAX_OUTPUTS = 4096;
/** On a software adapter, the tree only for fewer outputs than this. */
const SOFTWARE_TREE_MAX_OUTPUTS = 4;

/**
 * Pick the reduction kernel by size: a workgroup per output only pays when
 * the axis is long and there are too few outputs to fill the device; axes
 * longer than one invocation's loop budget always take the tree. On a
 * software adapter (llvmpipe) the tree's barriers cost more than they save:
 * the loop kernel measured 2–5× faster there from 4 outputs up (e.g.
 * [1500, 256] → 256: 0.7 ms against 3.3 ms); a handful of outputs over a long
 * axis still take the tree.
 *
 * @param p reduction sizes
 * @param software whether the adapter is a software (fallback) adapter
 * @returns the kernel
 */
export function pickReduceKernel(p: ReduceParams, software = false): ReduceKernel {
  if (p.reduce > MAX_LOOP_ELEMENTS) return "tree";
  if (software && p.outer * p.inner >= SOFTWARE_TREE_MAX_OUTPUTS) return "loop";
  return p.reduce >= TREE_MIN_REDUCE && p.outer * p.inner <= TREE_MAX_OUTPUTS ? "tree" : "loop";
}

/**
 * Pick the scatterAdd kernel: the scanning loop costs axis · index per
 * output element, the atomic kernel one compare-exchange per input; index
 * axes longer than one invocation's loop budget always take the atomic one.
 *
 * @param p gather sizes
 * @returns the kernel
 */
export function pickScatterKernel(p: GatherParams): ScatterKernel {
  return p.axisSize * p.indexSize > 4096 || p.indexSize > MAX_LOOP_ELEMENTS ? "atomic" : "loop";
}

/** Float32 storage and kernels on a WebGPU device. */
export class WebGPUBackend implements Backend {
  /** Backend name. */
  readonly name = "webgpu" as const;
  /** Batching, pipelines and readback. */
  readonly rt: Runtime;
  /** Forced kernel variants (tests set these to cover every variant). */
  force: ForcedKernels;
  /** The matmul variant the selector chose for this adapter. */
  matmulChoice: MatmulVariant = "blocked";
  /**
   * Whether the adapter is a software one (llvmpipe; set by `requestWebGPU`
   * from the adapter's fallback flag): picks the kernels that suit a CPU.
   */
  software = false;
  #empty: GpuBuf;

  /**
   * A backend on `device` (normally created by `requestWebGPU`).
   *
   * @param device the device (one per process; see `device.ts`)
   * @param opts batching, debugging and forced variants
   */
  constructor(device: GPUDevice, opts: WebGPUBackendOptions = {}) {
    this.rt = new Runtime(device, opts);
    this.force = { ...opts.force };
    // Zero-size storages share one 4-byte buffer that is never pooled.
    this.#empty = {
      buffer: device.createBuffer({
        size: 4,
        usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC,
      }),
      bytes: 4,
      lastBatch: 0,
    };
  }

  /** Whether the dtype is supported (float32 only). */
  supports(dtype: DType): boolean {
    return dtype === "float32";
  }

  #check(dtype: DType): void {
    if (dtype !== "float32") {
      throw new TypeError(
        `Cannot allocate ${dtype} on the webgpu backend: it supports float32 only`,
      );
    }
  }

  /** Allocate `size` uninitialised float32 elements. */
  alloc(size: number, dtype: DType): Storage {
    return this.#alloc(size, dtype, false);
  }

  #alloc(size: number, dtype: DType, forUpload: boolean): GpuStorage {
    this.#check(dtype);
    if (!Number.isInteger(size) || size < 0) {
      throw new RangeError(`Cannot allocate ${size} elements: expected a non-negative integer`);
    }
    const maxBinding = this.rt.device.limits.maxStorageBufferBindingSize;
    if (size * 4 > maxBinding) {
      throw new RangeError(
        `Cannot allocate ${size} float32 elements on WebGPU: ${
          size * 4
        } bytes exceed the adapter's maxStorageBufferBindingSize ${maxBinding}`,
      );
    }
    return new GpuStorage(
      this,
      size,
      size === 0
        ? this.#empty
        : forUpload
        ? this.rt.uploadBuffer(size * 4)
        : this.rt.pool.acquire(size * 4, false),
    );
  }

  /** Allocate and fill from host data (converted to float32). */
  upload(data: TypedArray, dtype: DType): Storage {
    const s = this.#alloc(data.length, dtype, true);
    if (data.length > 0) {
      const f32 = data instanceof Float32Array ? data : Float32Array.from(data);
      this.rt.device.queue.writeBuffer(s.buf!.buffer, 0, f32 as Float32Array<ArrayBuffer>);
    }
    return s;
  }

  /** Release a storage; its buffer returns to the pool. */
  free(s: Storage): void {
    const g = this.#own(s, "free");
    const buf = g.buf!;
    g.buf = null;
    if (buf !== this.#empty) this.rt.release(buf);
  }

  #own(s: Storage, op: string): GpuStorage {
    if (!(s instanceof GpuStorage) || s.backend !== this) {
      throw new TypeError(
        `Cannot ${op} on webgpu: the storage belongs to the ${s.backend.name} backend`,
      );
    }
    if (s.buf === null) {
      throw new Error(`Cannot ${op} on webgpu: the storage (${s.size} elements) was already freed`);
    }
    return s;
  }

  #buf(s: Storage, op: string): GpuBuf {
    return this.#own(s, op).buf!;
  }

  /**
   * The GPU buffer of a storage this backend owns, for the launch code of a
   * fused routine (`tensor/routines/<name>/webgpu.ts`) that records its own
   * dispatch on {@link WebGPUBackend.rt}.
   *
   * @param s a live storage of this backend
   * @param op the routine's name, for the error when `s` is not usable here
   * @returns its buffer
   */
  buffer(s: Storage, op: string): GpuBuf {
    return this.#buf(s, op);
  }

  /** Copy the whole storage to the host after all recorded work. */
  async read(s: Storage): Promise<TypedArray> {
    const buf = this.#buf(s, "read");
    if (s.size === 0) return new Float32Array(0);
    return new Float32Array(await this.rt.read(buf, s.size * 4));
  }

  /** Submit recorded work and wait for it. */
  flush(): Promise<void> {
    return this.rt.flush();
  }

  /** Counters of work and memory. */
  stats(): WebGPUStats {
    const rt = this.rt;
    rt.recordHeld(); // count a held matmul group as the dispatch it will be
    return {
      dispatches: rt.dispatches,
      submits: rt.submits,
      readbacks: rt.readbacks,
      pipelines: rt.pipelineCount,
      ...rt.pool.stats(),
    };
  }

  /** `out[i] = value`. */
  fill(out: Storage, value: number): void {
    const o = this.#buf(out, "fill");
    this.#fillBuf(o, out.size, value);
  }

  #fillBuf(o: GpuBuf, n: number, value: number): void {
    if (n === 0) return;
    const n4 = Math.ceil(n / 4);
    this.rt.dispatch(
      fillShader(),
      [o],
      (p) => p.u(0, n4).f(1, value).u(VEC4_N_SLOT, n),
      Math.ceil(n4 / WG_1D),
    );
  }

  /** Unary elementwise op; `out` may alias `x`. */
  unary(op: UnaryOp, x: Storage, out: Storage, p0 = 0, p1 = 0): void {
    const xb = this.#buf(x, op), ob = this.#buf(out, op);
    const n = Math.min(x.size, out.size);
    if (n === 0) return;
    const inPlace = xb === ob;
    this.rt.dispatch(
      unaryShader(op, inPlace),
      inPlace ? [ob] : [xb, ob],
      (p) => p.u(0, Math.ceil(n / 4)).f(1, p0).f(2, p1).u(VEC4_N_SLOT, n),
      Math.ceil(n / 4 / WG_1D),
    );
  }

  /** Binary op with broadcasting. */
  binary(
    op: BinaryOp,
    a: Storage,
    aStrides: readonly number[],
    b: Storage,
    bStrides: readonly number[],
    out: Storage,
    outShape: readonly number[],
  ): void {
    this.#nary(
      op,
      (layout) => binaryShader(op, layout),
      [a, b],
      [aStrides, bStrides],
      out,
      outShape,
    );
  }

  /** `out = cond != 0 ? a : b` with broadcasting. */
  where(
    cond: Storage,
    condStrides: readonly number[],
    a: Storage,
    aStrides: readonly number[],
    b: Storage,
    bStrides: readonly number[],
    out: Storage,
    outShape: readonly number[],
  ): void {
    this.#nary(
      "where",
      whereShader,
      [cond, a, b],
      [condStrides, aStrides, bStrides],
      out,
      outShape,
    );
  }

  #nary(
    op: string,
    shader: (layout: ElementwiseLayout) => ReturnType<typeof whereShader>,
    inputs: Storage[],
    strides: (readonly number[])[],
    out: Storage,
    outShape: readonly number[],
  ): void {
    const ob = this.#buf(out, op);
    const ins = inputs.map((s) => this.#buf(s, op));
    const n = outShape.reduce((a, b) => a * b, 1);
    if (n === 0) return;
    const plan = planElementwise(op, outShape, strides);
    const temps: GpuBuf[] = [];
    const bufs = ins.map((b, k) => b === ob ? this.#snapshot(b, inputs[k]!.size, temps) : b);
    // A bias-like block broadcast over a multiple of 4 runs over vec4s.
    const block4 = plan.layout === "block" && n % 4 === 0 &&
      plan.blocks.every((bl) => bl.div === 1 && bl.mod % 4 === 0);
    const layout = block4 ? "block4" : plan.layout;
    const items = plan.layout === "same" || block4 ? Math.ceil(n / 4) : n;
    this.rt.dispatch(shader(layout), [...bufs, ob], (p) => {
      p.u(0, items).u(VEC4_N_SLOT, n);
      if (plan.layout === "block") {
        const q = block4 ? 4 : 1;
        plan.blocks.forEach((bl, k) => p.u(1 + 2 * k, bl.div).u(2 + 2 * k, bl.mod / q));
      } else if (plan.layout === "strided") {
        p.u(1, plan.shape.length);
        plan.shape.forEach((s, d) => p.u(2 + d, s));
        plan.strides.forEach((st, k) => st.forEach((s, d) => p.u(2 + MAX_DIMS * (k + 1) + d, s)));
      }
    }, Math.ceil(items / WG_1D));
    for (const t of temps) this.rt.pool.release(t, this.rt.batchId);
  }

  /** A copy of `n` elements of `b` in a temporary buffer (for aliased inputs). */
  #snapshot(b: GpuBuf, n: number, temps: GpuBuf[]): GpuBuf {
    const t = this.rt.pool.acquire(Math.max(n, 1) * 4, false);
    temps.push(t);
    this.#copyContiguous(b, 0, t, 0, n);
    return t;
  }

  #copyContiguous(src: GpuBuf, so: number, dst: GpuBuf, d0: number, n: number): void {
    if (n === 0) return;
    this.rt.dispatch(
      copyShader(false),
      [src, dst],
      (p) => p.u(0, n).u(1, so).u(2, d0),
      Math.ceil(n / WG_1D),
    );
  }

  /** Batched matmul with transpose flags (and 0–2 bias vectors added in the store). */
  matmul(a: Storage, b: Storage, out: Storage, p: MatmulParams, bias?: readonly Storage[]): void {
    const ab = this.#buf(a, "matmul"), bb = this.#buf(b, "matmul"), ob = this.#buf(out, "matmul");
    const biases = (bias ?? []).map((s) => this.#buf(s, "matmul bias"));
    if (biases.length > 2 || (bias ?? []).some((s) => s.size < p.n)) {
      throw new RangeError(`Cannot matmul on WebGPU with ${biases.length} biases (at most 2 of n)`);
    }
    if (p.batch * p.m * p.n === 0) return;
    if (p.k === 0) {
      if (biases.length) throw new RangeError("Cannot matmul with a bias and k = 0 on WebGPU");
      return this.#fillBuf(ob, p.batch * p.m * p.n, 0);
    }
    const temps: GpuBuf[] = [];
    const a2 = ab === ob ? this.#snapshot(ab, a.size, temps) : ab;
    const b2 = bb === ob ? this.#snapshot(bb, b.size, temps) : bb;
    const bias2 = biases.map((x, i) => (x === ob ? this.#snapshot(x, bias![i]!.size, temps) : x));
    const variant = this.force.matmul ?? this.matmulChoice;
    recordMatmul(this.rt, variant, a2, b2, ob, p, bias2, this.force.matmulGroups ?? true);
    for (const t of temps) this.rt.release(t);
  }

  /** Reduce x viewed as [outer, reduce, inner] to out [outer, inner]. */
  reduce(op: ReduceOp, x: Storage, out: Storage, p: ReduceParams): void {
    this.reduceFused(op, [x], out, p);
  }

  /**
   * A reduction of `inputs` (one for the plain reduce) with `fusion`'s element
   * read and store, the kernel picked as for {@link WebGPUBackend.reduce} (so
   * the summation order, and the bits, are those of reducing the stored
   * elements): how a fused routine reduces (the MSE loss). `params` writes
   * the fusion's slots from P[4].
   *
   * @param op sum or max
   * @param inputs the storages the fusion reads, in binding order
   * @param out [outer, inner]
   * @param p the sizes
   * @param fusion element read and store (default: the input as it is)
   * @param params writes the fusion's parameter slots
   */
  reduceFused(
    op: ReduceOp,
    inputs: readonly Storage[],
    out: Storage,
    p: ReduceParams,
    fusion?: ReduceFusion,
    params?: (q: ParamBlock) => void,
  ): void {
    const name = fusion?.key ?? `reduce ${op}`;
    const ob = this.#buf(out, name);
    const temps: GpuBuf[] = [];
    const bufs = inputs.map((x) => {
      const xb = this.#buf(x, name);
      return xb === ob ? this.#snapshot(xb, x.size, temps) : xb;
    });
    const outputs = p.outer * p.inner;
    if (outputs === 0) return;
    const picked = pickReduceKernel(p, this.software);
    const kernel = picked === "tree" && p.reduce > MAX_LOOP_ELEMENTS
      ? picked
      : this.force.reduce ?? picked;
    const identity = op === "sum" ? 0 : 0xff800000; // +0 or -inf bits
    const alone = () =>
      this.rt.dispatch(
        reduceShader(op, kernel, fusion),
        [...bufs, ob],
        (q) => {
          q.u(0, p.outer).u(1, p.reduce).u(2, p.inner).u(3, identity);
          params?.(q);
        },
        kernel === "tree" ? outputs : Math.ceil(outputs / WG_1D),
      );
    // A plain row sum may share a dispatch with the matmuls around it (a bias gradient).
    if (
      op === "sum" && !fusion && kernel === "loop" && temps.length === 0 &&
      (this.force.matmulGroups ?? true)
    ) {
      recordLater(this.rt, {
        family: "matmul",
        kind: "reduce",
        reads: bufs,
        writes: [ob],
        p,
        alone,
      });
    } else alone();
    for (const t of temps) this.rt.pool.release(t, this.rt.batchId);
  }

  /** Strided copy between views of the same shape. */
  copy(src: Storage, srcView: View, dst: Storage, dstView: View): void {
    const sb0 = this.#buf(src, "copy"), db = this.#buf(dst, "copy");
    const n = srcView.shape.reduce((a, b) => a * b, 1);
    if (n === 0) return;
    checkView("source", srcView, src.size);
    checkView("destination", dstView, dst.size);
    const temps: GpuBuf[] = [];
    const sb = sb0 === db ? this.#snapshot(sb0, src.size, temps) : sb0;
    const m = mergeDims(srcView.shape, [srcView.strides, dstView.strides]);
    const [ss, ds] = m.strides as [number[], number[]];
    const four = (...xs: number[]) => xs.every((x) => x % 4 === 0);
    if (m.shape.length <= 1 && (m.shape.length === 0 || (ss[0] === 1 && ds[0] === 1))) {
      this.#copyContiguous(sb, srcView.offset, db, dstView.offset, n);
    } else if (
      m.shape.length === 2 && ss[1] === 1 && ds[1] === 1 && ss[0]! >= 0 && ds[0]! >= 0 &&
      four(m.shape[1]!, ss[0]!, ds[0]!, srcView.offset, dstView.offset)
    ) {
      // Rows contiguous on both sides, 4-aligned: a vec4 row copy.
      this.rt.dispatch(copyRows4Shader(), [sb, db], (p: ParamBlock) => {
        p.u(0, n / 4).u(1, m.shape[1]! / 4).u(2, srcView.offset / 4).u(3, ss[0]! / 4)
          .u(4, dstView.offset / 4).u(5, ds[0]! / 4);
      }, Math.ceil(n / 4 / WG_1D));
    } else {
      if (m.shape.length > MAX_DIMS) {
        throw new RangeError(
          `Cannot copy on WebGPU: ${m.shape.length} dimensions remain after merging, at most ${MAX_DIMS} supported`,
        );
      }
      this.rt.dispatch(copyShader(true), [sb, db], (p: ParamBlock) => {
        p.u(0, n).u(1, m.shape.length);
        m.shape.forEach((s, d) => {
          p.u(2 + d, s).i(2 + MAX_DIMS + d, ss[d]!).i(2 + 2 * MAX_DIMS + d, ds[d]!);
        });
        p.i(COPY_SRC_OFFSET_SLOT, srcView.offset).i(COPY_SRC_OFFSET_SLOT + 1, dstView.offset);
      }, Math.ceil(n / WG_1D));
    }
    for (const t of temps) this.rt.pool.release(t, this.rt.batchId);
  }

  /** `out[o, j, i] = x[o, idx[o, j, i], i]` (out-of-range indices give 0). */
  gather(x: Storage, idx: Storage, out: Storage, p: GatherParams): void {
    const xb = this.#buf(x, "gather"), ib = this.#buf(idx, "gather"), ob = this.#buf(out, "gather");
    const n = p.outer * p.indexSize * p.inner;
    if (n === 0) return;
    const temps: GpuBuf[] = [];
    const x2 = xb === ob ? this.#snapshot(xb, x.size, temps) : xb;
    const i2 = ib === ob ? this.#snapshot(ib, idx.size, temps) : ib;
    this.rt.dispatch(gatherShader(), [x2, i2, ob], (q) => gatherParams(q, p), Math.ceil(n / WG_1D));
    for (const t of temps) this.rt.pool.release(t, this.rt.batchId);
  }

  /** The adjoint of gather; `out` is fully written. */
  scatterAdd(g: Storage, idx: Storage, out: Storage, p: GatherParams): void {
    const gb = this.#buf(g, "scatterAdd"), ib = this.#buf(idx, "scatterAdd");
    const ob = this.#buf(out, "scatterAdd");
    const n = p.outer * p.axisSize * p.inner;
    if (n === 0) return;
    const temps: GpuBuf[] = [];
    const g2 = gb === ob ? this.#snapshot(gb, g.size, temps) : gb;
    const i2 = ib === ob ? this.#snapshot(ib, idx.size, temps) : ib;
    const picked = pickScatterKernel(p);
    const kernel = p.indexSize > MAX_LOOP_ELEMENTS ? picked : this.force.scatter ?? picked;
    if (kernel === "atomic") {
      this.#fillBuf(ob, n, 0);
      const m = p.outer * p.indexSize * p.inner;
      const src = scatterAddShader("atomic");
      if (m > 0) {
        this.rt.dispatch(src, [g2, i2, ob], (q) => gatherParams(q, p), Math.ceil(m / WG_1D));
      }
    } else {
      const src = scatterAddShader("loop");
      this.rt.dispatch(src, [g2, i2, ob], (q) => gatherParams(q, p), Math.ceil(n / WG_1D));
    }
    for (const t of temps) this.rt.pool.release(t, this.rt.batchId);
  }

  /** Fill with Philox4x32-10 numbers, the same stream as the CPU backend. */
  random(out: Storage, p: RandomParams): void {
    const ob = this.#buf(out, "random");
    const n = out.size;
    if (n === 0) return;
    const uniform = p.dist === "uniform";
    const exact = uniform && !uniformIsFast(p.lo, p.hi);
    const c = p.counter;
    this.rt.dispatch(randomShader(p.dist, exact ? "exact" : "fast"), [ob], (q) => {
      q.u(0, n).u(1, p.key[0] >>> 0).u(2, p.key[1] >>> 0);
      q.u(3, c % 4294967296).u(4, Math.floor(c / 4294967296));
      q.f(5, p.lo).f(6, uniform ? p.hi - p.lo : p.hi);
      if (exact) {
        const [ln, lh, ll, le] = float64Parts(p.lo), [rn, rh, rl, re] = float64Parts(p.hi - p.lo);
        q.u(7, ln).u(8, lh).u(9, ll).i(10, le).u(11, rn).u(12, rh).u(13, rl).i(14, re);
      }
    }, Math.ceil(n / WG_1D));
  }
}

/** Throw a RangeError when a view reaches outside its storage. */
function checkView(role: string, v: View, size: number): void {
  let lo = v.offset, hi = v.offset;
  v.shape.forEach((d, i) => {
    const s = v.strides[i] ?? NaN;
    if (s >= 0) hi += (d - 1) * s;
    else lo += (d - 1) * s;
  });
  if (v.strides.length !== v.shape.length || !(lo >= 0 && hi < size)) {
    throw new RangeError(
      `Cannot run webgpu copy: the ${role} view (shape [${v.shape}], strides [${v.strides}], ` +
        `offset ${v.offset}) reaches elements ${lo}…${hi} of a storage of ${size}`,
    );
  }
}

function gatherParams(q: ParamBlock, p: GatherParams): void {
  q.u(0, p.outer).u(1, p.axisSize).u(2, p.indexSize).u(3, p.inner);
}
