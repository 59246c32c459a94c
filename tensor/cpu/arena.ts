/**
 * Shared memory for CPU storages, so that the worker threads of `pool.ts` can
 * read and write them without a message per job.
 *
 * Every storage lives in one growable SharedArrayBuffer (the arena), handed
 * to each worker once when it starts; a job names a storage by its byte
 * offset and length. A fresh SharedArrayBuffer per storage would cost ≈ 25 µs
 * for 25 KB and ≈ 350 µs for 256 KB here (against ≈ 2 and ≈ 11 µs for a plain
 * typed array), and each would need a message to every worker; a view into
 * the arena costs ≈ 0.03 µs.
 *
 * Blocks are kept on free lists by size class (eight classes per doubling, so
 * at most 12.5 % is wasted) and reused; the arena grows but never shrinks, so
 * the process keeps its high-water mark of CPU tensor memory. Storages larger
 * than {@link MAX_SHARED_BYTES}, or any storage once the arena cannot grow,
 * get a plain typed array instead (kernels on them run single-threaded).
 * Blocks of storages that are garbage-collected without `free` return to the
 * free lists through a FinalizationRegistry.
 *
 * @module
 */
import type { DType, TypedArray } from "../backend.ts";

/** Storages above this many bytes get a plain (unshared) typed array. */
export const MAX_SHARED_BYTES = 256 * 2 ** 20;
/** Alignment (and smallest block) in bytes: one cache line. */
const ALIGN = 64;
/** Reservations tried for the arena's maximum size, largest first. */
const RESERVE = [2 ** 36, 2 ** 34, 2 ** 32, 2 ** 30];
/** Smallest growth step. */
const GROW_MIN = 16 * 2 ** 20;

/** A growable SharedArrayBuffer (ES2024); typed here as the lib may not know `grow`. */
interface GrowableSab extends SharedArrayBuffer {
  grow(newLength: number): void;
  readonly maxByteLength: number;
}

let arena: GrowableSab | null | undefined;
let top = 0;
const freeLists = new Map<number, number[]>();
const registry = typeof FinalizationRegistry === "undefined"
  ? null
  : new FinalizationRegistry<number>((held) => release(held));

/** Bytes of the block that holds `bytes`: a multiple of 64, ≤ 12.5 % above. */
function blockBytes(bytes: number): number {
  if (bytes <= 1024) return Math.max(ALIGN, Math.ceil(bytes / ALIGN) * ALIGN);
  const step = 2 ** (Math.floor(Math.log2(bytes)) - 3);
  return Math.ceil(bytes / step) * step;
}

/** Token of a block: (offset / 64) · 2^23 + block bytes / 64, exact below 2^53. */
const TOKEN = 2 ** 23;

/** Put the block named by `token` back on its free list. */
function release(token: number): void {
  const block = (token % TOKEN) * ALIGN;
  push(Math.floor(token / TOKEN) * ALIGN, block);
}

function push(offset: number, bytes: number): void {
  let list = freeLists.get(bytes);
  if (!list) freeLists.set(bytes, list = []);
  list.push(offset);
}

/**
 * The arena, created on first call; null where growable SharedArrayBuffers
 * are unavailable.
 */
export function sharedArena(): SharedArrayBuffer | null {
  if (arena !== undefined) return arena;
  arena = null;
  if (typeof SharedArrayBuffer === "undefined") return null;
  for (const max of RESERVE) {
    try {
      const sab = new SharedArrayBuffer(0, { maxByteLength: max } as never) as GrowableSab;
      if (typeof sab.grow !== "function" || sab.maxByteLength !== max) return null;
      arena = sab;
      break;
    } catch {
      // reservation refused: try a smaller one
    }
  }
  return arena;
}

/**
 * Whether `x` lives in the arena (so a worker can address it).
 *
 * @param x a storage's elements
 */
export function isShared(x: TypedArray): boolean {
  return arena != null && x.buffer === arena;
}

/**
 * A zeroed typed array of `size` elements of `dtype` in the arena, or null
 * when it does not fit there (too large, arena unavailable or full).
 *
 * @param size element count (> 0)
 * @param dtype element type
 * @param zero whether the elements must read 0 (false for a storage about to be overwritten)
 */
export function allocShared(size: number, dtype: DType, zero = true): TypedArray | null {
  const item = dtype === "float64" ? 8 : 4;
  const bytes = size * item;
  if (bytes === 0 || bytes > MAX_SHARED_BYTES) return null;
  const sab = sharedArena();
  if (!sab) return null;
  const block = blockBytes(bytes);
  const list = freeLists.get(block);
  let offset: number;
  let reused = false;
  if (list && list.length > 0) {
    offset = list.pop()!;
    reused = true;
  } else {
    const g = sab as GrowableSab;
    if (top + block > g.byteLength) {
      const want = Math.min(
        g.maxByteLength,
        Math.max(top + block, g.byteLength + Math.max(GROW_MIN, Math.min(g.byteLength, 2 ** 30))),
      );
      if (top + block > want) return null;
      try {
        g.grow(Math.ceil(want / ALIGN) * ALIGN);
      } catch {
        return null;
      }
    }
    offset = top;
    top += block;
  }
  const arr = dtype === "float64"
    ? new Float64Array(sab, offset, size)
    : new Float32Array(sab, offset, size);
  if (reused && zero) {
    // a plain loop: TypedArray.fill on shared memory stores element by element, ≈ 2× slower
    const z = new Float64Array(sab, offset, Math.ceil(bytes / 8));
    for (let i = 0; i < z.length; i++) z[i] = 0;
  }
  return arr;
}

/**
 * Register `owner` so that its block returns to the free lists if it is
 * garbage-collected before {@link freeShared}; returns the token to pass there.
 *
 * @param owner the storage object
 * @param x its elements (from {@link allocShared})
 */
export function trackShared(owner: object, x: TypedArray): number {
  const token = (x.byteOffset / ALIGN) * TOKEN + blockBytes(x.byteLength) / ALIGN;
  registry?.register(owner, token, owner);
  return token;
}

/**
 * Return a storage's block to the free lists (its elements must not be used
 * afterwards).
 *
 * @param owner the storage object given to {@link trackShared}
 * @param token what {@link trackShared} returned
 */
export function freeShared(owner: object, token: number): void {
  registry?.unregister(owner);
  release(token);
}

/** Bytes the arena holds (in use or on free lists); for tests and stats. */
export function arenaBytes(): number {
  return top;
}
