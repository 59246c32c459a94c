/**
 * Storage of the CPU backend: a typed array of one dtype plus bookkeeping,
 * and the checks every kernel runs on its arguments before it touches them.
 *
 * @module
 */
import type { Backend, DType, Storage, TypedArray } from "../backend.ts";
import { allocShared, freeShared, isShared, trackShared } from "./arena.ts";
import { wantShared } from "./pool.ts";

/** CPU memory: a Float32Array or Float64Array owned by one {@link CpuBackend}. */
export class CpuStorage implements Storage {
  /** The backend that allocated this storage. */
  readonly backend: Backend;
  /** Number of elements. */
  readonly size: number;
  /** Element type. */
  readonly dtype: DType;
  /** The elements (an empty array once freed). */
  data: TypedArray;
  /** Set by `free`; any later use throws. */
  freed = false;
  /** The block of the shared arena holding `data` (see `arena.ts`), or −1. */
  #block = -1;

  /**
   * Wrap a typed array as a storage of `backend`.
   *
   * @param backend the owning backend
   * @param data the elements (taken over, not copied)
   */
  constructor(backend: Backend, data: TypedArray) {
    this.backend = backend;
    this.size = data.length;
    this.dtype = data instanceof Float64Array ? "float64" : "float32";
    this.data = data;
    if (data.length > 0 && isShared(data)) this.#block = trackShared(this, data);
  }

  /** Mark the storage freed and give its memory back (its elements must not be used again). */
  release(): void {
    this.freed = true;
    if (this.#block >= 0) freeShared(this, this.#block);
    this.#block = -1;
    this.data = this.dtype === "float64" ? new Float64Array(0) : new Float32Array(0);
  }
}

/**
 * Allocate a typed array of `size` elements of `dtype`: in the shared arena
 * where it exists (reused blocks; the pool's workers can reach it), else a
 * plain one.
 *
 * @param size element count
 * @param dtype element type
 * @param zero whether the elements must read 0 (false when the caller overwrites them all)
 */
export function newArray(size: number, dtype: DType, zero = true): TypedArray {
  if (size > 0 && wantShared()) {
    const shared = allocShared(size, dtype, zero);
    if (shared) return shared;
  }
  return dtype === "float64" ? new Float64Array(size) : new Float32Array(size);
}

/**
 * The typed array behind a storage, after checking that it belongs to `owner`
 * and has not been freed.
 *
 * @param owner the backend running the kernel
 * @param s the storage to check
 * @param role what the storage is to the kernel (for the message), e.g. "x"
 * @returns the storage's elements
 */
export function arrayOf(owner: Backend, s: Storage, role: string): TypedArray {
  if (!(s instanceof CpuStorage) || s.backend !== owner) {
    const name = (s as { backend?: Backend } | null)?.backend?.name ?? "unknown";
    throw new TypeError(
      `Cannot use a storage of the ${name} backend as ${role} of a cpu kernel: move it to the cpu first`,
    );
  }
  if (s.freed) {
    throw new Error(
      `Cannot use a freed cpu storage (${s.size} × ${s.dtype}) as ${role}: it was already freed`,
    );
  }
  return s.data;
}

/**
 * Check that `need` elements fit in a storage of `have` elements.
 *
 * @param op the kernel name
 * @param role the argument name
 * @param need elements the kernel will touch
 * @param have elements the storage holds
 */
export function checkSize(op: string, role: string, need: number, have: number): void {
  if (need > have) {
    throw new RangeError(
      `Cannot run cpu ${op}: ${role} holds ${have} elements but the kernel needs ${need}`,
    );
  }
}
