/**
 * The CPU backend: every kernel of {@link Backend} as a plain TypeScript loop
 * over Float32Array or Float64Array storage, run at once on the calling
 * thread (large matmuls and recurrent steps share their rows with worker
 * threads, see `pool.ts`). It is the reference the other backends are tested against and the
 * only one that holds float64.
 *
 * The kernels themselves live beside this file, grouped by family
 * (`unary.ts`, `binary.ts`, `reduce.ts`, `matmul.ts`, `indexing.ts`); this
 * class checks the storages it is handed and dispatches.
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
import { binaryKernel, whereKernel } from "./binary.ts";
import { copyKernel, gatherKernel, scatterAddKernel } from "./indexing.ts";
import { matmulKernel } from "./matmul.ts";
import { randomKernel } from "./random.ts";
import { reduceKernel } from "./reduce.ts";
import { arrayOf, checkSize, CpuStorage, newArray } from "./storage.ts";
import { fillKernel, unaryKernel } from "./unary.ts";

export { CpuStorage } from "./storage.ts";

/**
 * The CPU implementation of {@link Backend}. Kernels run synchronously when
 * called, so `read` and `flush` never wait for anything. Large matmuls and
 * recurrent steps split their output rows across a small pool of worker
 * threads (`pool.ts`, `WGRAD_CPU_THREADS`), with the same results to the bit.
 *
 * @example
 * ```ts
 * import { CpuBackend } from "./backend.ts";
 * const cpu = new CpuBackend();
 * const x = cpu.upload(new Float32Array([1, -2, 3]), "float32");
 * cpu.unary("abs", x, x);
 * console.log(await cpu.read(x)); // Float32Array [1, 2, 3]
 * cpu.free(x);
 * ```
 */
export class CpuBackend implements Backend {
  /** Backend name. */
  readonly name = "cpu" as const;
  #live = 0;
  #liveBytes = 0;

  /** float32 and float64 are both supported. */
  supports(dtype: DType): boolean {
    return dtype === "float32" || dtype === "float64";
  }

  #wrap(data: TypedArray): CpuStorage {
    this.#live++;
    this.#liveBytes += data.byteLength;
    return new CpuStorage(this, data);
  }

  #checkDtype(op: string, dtype: DType): void {
    if (!this.supports(dtype)) {
      throw new TypeError(`Cannot ${op} on the cpu backend: unknown dtype "${dtype}"`);
    }
  }

  /**
   * Allocate `size` uninitialised elements: a reused block of the shared
   * arena keeps whatever it held (kernels overwrite their outputs whole).
   */
  alloc(size: number, dtype: DType): Storage {
    this.#checkDtype("alloc", dtype);
    if (!Number.isSafeInteger(size) || size < 0) {
      throw new RangeError(`Cannot alloc a cpu storage of ${size} elements: size must be ≥ 0`);
    }
    return this.#wrap(newArray(size, dtype, false));
  }

  /** Allocate and fill from host data (copied, converted to `dtype`). */
  upload(data: TypedArray, dtype: DType): Storage {
    this.#checkDtype("upload", dtype);
    const arr = newArray(data.length, dtype, false);
    arr.set(data);
    return this.#wrap(arr);
  }

  /** Release a storage; any later use of it (a second free included) throws. */
  free(s: Storage): void {
    arrayOf(this, s, "the storage to free");
    const cs = s as CpuStorage;
    this.#live--;
    this.#liveBytes -= cs.data.byteLength;
    cs.release();
  }

  /** A copy of the storage's elements. */
  read(s: Storage): Promise<TypedArray> {
    try {
      return Promise.resolve(arrayOf(this, s, "the storage to read").slice());
    } catch (e) {
      return Promise.reject(e);
    }
  }

  /** `out[i] = value`. */
  fill(out: Storage, value: number): void {
    fillKernel(arrayOf(this, out, "out of fill"), value);
  }

  /** Unary elementwise op over `x.size` elements; `out` may alias `x`. */
  unary(op: UnaryOp, x: Storage, out: Storage, p0?: number, p1?: number): void {
    const xa = arrayOf(this, x, `x of ${op}`), oa = arrayOf(this, out, `out of ${op}`);
    checkSize(op, "out", xa.length, oa.length);
    unaryKernel(op, xa, oa, xa.length, p0, p1);
  }

  /** Binary op with broadcasting into contiguous `out` of shape `outShape`. */
  binary(
    op: BinaryOp,
    a: Storage,
    aStrides: readonly number[],
    b: Storage,
    bStrides: readonly number[],
    out: Storage,
    outShape: readonly number[],
  ): void {
    binaryKernel(
      op,
      arrayOf(this, a, `a of ${op}`),
      aStrides,
      arrayOf(this, b, `b of ${op}`),
      bStrides,
      arrayOf(this, out, `out of ${op}`),
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
    whereKernel(
      arrayOf(this, cond, "cond of where"),
      condStrides,
      arrayOf(this, a, "a of where"),
      aStrides,
      arrayOf(this, b, "b of where"),
      bStrides,
      arrayOf(this, out, "out of where"),
      outShape,
    );
  }

  /**
   * `out[b] = op(A[b]) · op(B[b])` (+ a bias per column, two summed first),
   * out contiguous [batch, m, n]. The bias is added to each product as it is
   * stored (`matmulKernel`'s epilogue), rounded as a separate add would be.
   */
  matmul(a: Storage, b: Storage, out: Storage, p: MatmulParams, bias?: readonly Storage[]): void {
    const c = arrayOf(this, out, "out of matmul");
    const ab = [arrayOf(this, a, "a of matmul"), arrayOf(this, b, "b of matmul")] as const;
    const rows = (bias ?? []).map((s) => arrayOf(this, s, "bias of matmul"));
    if (rows.length > 2) throw new RangeError(`Cannot run cpu matmul with ${rows.length} biases`);
    if (rows.length < 2) return matmulKernel(ab[0], ab[1], c, p, true, rows[0] ?? null);
    // the pair summed once (a storage of this backend, so the pool's workers can read it)
    const sum = this.alloc(p.n, c instanceof Float32Array ? "float32" : "float64");
    try {
      const s = arrayOf(this, sum, "bias sum");
      binaryKernel("add", rows[0]!, [1], rows[1]!, [1], s, [p.n]);
      matmulKernel(ab[0], ab[1], c, p, true, s);
    } finally {
      this.free(sum);
    }
  }

  /** Reduce x viewed as [outer, reduce, inner] to out [outer, inner]. */
  reduce(op: ReduceOp, x: Storage, out: Storage, p: ReduceParams): void {
    reduceKernel(op, arrayOf(this, x, `x of ${op}`), arrayOf(this, out, `out of ${op}`), p);
  }

  /** Strided copy between two views of the same shape. */
  copy(src: Storage, srcView: View, dst: Storage, dstView: View): void {
    copyKernel(
      arrayOf(this, src, "src of copy"),
      srcView,
      arrayOf(this, dst, "dst of copy"),
      dstView,
    );
  }

  /** `out[o, j, i] = x[o, idx[o, j, i], i]`; a bad index throws a RangeError. */
  gather(x: Storage, idx: Storage, out: Storage, p: GatherParams): void {
    gatherKernel(
      arrayOf(this, x, "x of gather"),
      arrayOf(this, idx, "idx of gather"),
      arrayOf(this, out, "out of gather"),
      p,
    );
  }

  /** The adjoint of gather; out is fully written. A bad index throws a RangeError. */
  scatterAdd(g: Storage, idx: Storage, out: Storage, p: GatherParams): void {
    scatterAddKernel(
      arrayOf(this, g, "g of scatterAdd"),
      arrayOf(this, idx, "idx of scatterAdd"),
      arrayOf(this, out, "out of scatterAdd"),
      p,
    );
  }

  /** Fill `out` with the Philox stream of `fillRandom` (`../random.ts`), large fills on the pool. */
  random(out: Storage, p: RandomParams): void {
    randomKernel(arrayOf(this, out, "out of random"), p.dist, p.key, p.counter, p.lo, p.hi);
  }

  /** Nothing is ever pending on the CPU: resolves at once. */
  flush(): Promise<void> {
    return Promise.resolve();
  }

  /** Live storages and their bytes (shown by `memory()`). */
  stats(): Record<string, number> {
    return { storages: this.#live, bytes: this.#liveBytes };
  }
}
