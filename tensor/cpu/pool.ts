/**
 * A small pool of worker threads for the large CPU kernels.
 *
 * A job is split into chunks (blocks of output rows) that the calling thread
 * and the workers claim one at a time from a shared counter; every chunk
 * computes its output elements exactly as the single-thread kernel does, so
 * results are bit-identical however the chunks are shared out. The call is
 * synchronous: the job's description (which storages, by their place in the
 * shared arena of `arena.ts`, and its numbers) is written into a shared
 * control block, the workers are woken with `Atomics.notify`, the calling
 * thread works through the chunks it claims and then `Atomics.wait`s for the
 * chunks a worker took. No message is posted per job; a worker that has not
 * started yet (or is busy elsewhere) simply claims nothing and the caller does
 * all the chunks itself.
 *
 * Threads: `WGRAD_CPU_THREADS` (1 turns the pool off), by default
 * min(2, `navigator.hardwareConcurrency`). Workers (`node:worker_threads`,
 * which can be `unref`ed so they never keep a program alive; in a browser
 * page, module Workers) are created on the first large job and terminated
 * when the program unloads. Where SharedArrayBuffer, growable buffers or
 * workers are unavailable (a page that is not cross-origin isolated), or
 * creating a worker fails (it needs read permission for its module), every
 * kernel runs single-threaded; the reason is printed once on stderr with
 * `WGRAD_DEBUG` set, and always on a page's console. A page's main thread may
 * not block in `Atomics.wait`: there the caller spins until the workers'
 * chunks are done. On a machine whose other programs keep the cores busy, a worker's
 * chunk arrives late and the split stops paying: the pool keeps measuring
 * both ways (see {@link CYCLE}) and runs jobs on one thread while that is
 * faster ({@link setPoolBackoff} turns this off).
 *
 * @module
 */
import type { TypedArray } from "../backend.ts";
import { isShared, sharedArena } from "./arena.ts";

/** Job kind: matmul (the kind is the index of the chunk function in the worker's table). */
export const JOB_MATMUL = 0;
/** Job kind: fused LSTM forward step. */
export const JOB_LSTM = 1;
/** Job kind: fused LSTM backward step. */
export const JOB_LSTM_BACKWARD = 2;
/** Job kind: fused GRU forward step. */
export const JOB_GRU = 3;
/** Job kind: fused GRU backward step. */
export const JOB_GRU_BACKWARD = 4;
/** Job kind: random fill. */
export const JOB_RANDOM = 5;
/** Job kind: float32 Adam/AdamW update. */
export const JOB_ADAM = 6;
/** Job kind: unary elementwise op. */
export const JOB_UNARY = 7;
/** Job kind: binary elementwise op. */
export const JOB_BINARY = 8;

/**
 * Runs chunk `chunk` of a job on the thread that claimed it: `arrays` are the
 * job's storages (null where the kernel has none), `nums` its numbers.
 */
export type ChunkFn = (
  arrays: readonly (TypedArray | null)[],
  nums: ArrayLike<number>,
  chunk: number,
) => void;

// Control block (Int32Array) slots.
const GEN = 0, CLAIM = 1, DONE = 2, ERR = 3, STOP = 4, KIND = 5, NARR = 6, NNUM = 7, ALIVE = 8;
const CTRL_INTS = 16;
/** Most storages and numbers one job can name. */
const MAX_ARRAYS = 16, MAX_NUMS = 48;
/** Parameter block (Float64Array): 3 slots per array (byte offset, length, dtype), then numbers. */
const PARAMS = 3 * MAX_ARRAYS + MAX_NUMS;
/** Polls of a flag before blocking in Atomics.wait (the caller waiting for a worker). */
const SPIN_CALLER = 20000;
/** How long a worker keeps polling for the next job before it sleeps, in ms. */
const SPIN_WORKER_MS = 0.5;
/**
 * The pool measures whether it pays, per job kind and size class: in every cycle of
 * {@link CYCLE} jobs of a class, the first {@link PROBES} run on the calling
 * thread alone and the next {@link PROBES} on the pool; the rest of the cycle
 * goes the way that took less time per unit of work (the fastest probe of
 * each way in this cycle: one slow probe, such as a worker's first run of a
 * kernel not yet compiled, does not decide a whole cycle). On a quiet machine that is the pool; where
 * other programs keep the cores busy a worker runs late and the calling
 * thread alone wins.
 */
const CYCLE = 64, PROBES = 4;

let configured: number | undefined;
let override: number | null = null;
let ctrl: Int32Array | null = null;
let params: Float64Array | null = null;
const workers: { terminate(): unknown }[] = [];
let broken: string | null = null;
let running = false;
let inWorker = false;
let said = false;
/** Whether this thread may block in Atomics.wait (a page's main thread may not). */
let canBlock = true;
/**
 * Per job kind and size class (⌊log₂ cost⌋): jobs so far and ms per unit of
 * work alone and on the pool (NaN: not yet). Jobs of one kind but very
 * different sizes gain differently from the pool, so each size class decides
 * for itself.
 */
const perKind = new Map<number, { jobs: number; alone: number; pooled: number }>();
let backoff = true;

/** An environment variable, if env access is already granted (never prompts). */
function envGet(name: string): string | undefined {
  if (!inDeno()) return undefined;
  try {
    if (Deno.permissions.querySync({ name: "env", variable: name }).state !== "granted") {
      return undefined;
    }
    return Deno.env.get(name);
  } catch {
    return undefined;
  }
}

/** Whether this runs in Deno (not in a browser page, which has no environment to ask). */
function inDeno(): boolean {
  return typeof Deno !== "undefined";
}

function debug(msg: string): void {
  if (said) return;
  said = true;
  if (envGet("WGRAD_DEBUG") || !inDeno()) console.warn(`wgrad cpu: ${msg}`);
}

function defaultThreads(): number {
  const hc = typeof navigator !== "undefined" ? navigator.hardwareConcurrency ?? 1 : 1;
  let n = Math.min(2, Math.max(1, hc));
  const v = envGet("WGRAD_CPU_THREADS");
  if (v !== undefined && v !== "") {
    const x = Number(v);
    if (!Number.isInteger(x) || x < 1) {
      throw new Error(`WGRAD_CPU_THREADS=${v} is not a positive integer (1 turns the pool off)`);
    }
    n = Math.min(x, 64);
  }
  return n;
}

/**
 * Threads the large CPU kernels may use (1: the pool is off): the override of
 * {@link setCpuThreads}, else `WGRAD_CPU_THREADS`, else
 * min(2, hardwareConcurrency). Always 1 inside a worker.
 *
 * @throws Error when `WGRAD_CPU_THREADS` is set to anything but a positive integer
 */
export function cpuThreads(): number {
  if (inWorker) return 1;
  if (override !== null) return override;
  return configured ??= defaultThreads();
}

/**
 * Override the thread count (for tests and comparisons; results are the
 * same either way); null goes back to the environment's setting.
 *
 * @param n threads (≥ 1), or null
 * @returns the previous override
 */
export function setCpuThreads(n: number | null): number | null {
  if (n !== null && !(Number.isInteger(n) && n >= 1)) {
    throw new RangeError(`Cannot use ${n} cpu threads: need an integer ≥ 1`);
  }
  const was = override;
  override = n;
  return was;
}

/**
 * Run `f` with the thread count set to `n` (see {@link setCpuThreads}), then
 * restore the previous override.
 *
 * @param n threads (≥ 1)
 * @param f what to run (synchronous)
 * @returns what `f` returns
 */
export function withCpuThreads<T>(n: number, f: () => T): T {
  const was = setCpuThreads(n);
  try {
    return f();
  } finally {
    setCpuThreads(was);
  }
}

/**
 * Turn the measuring of {@link CYCLE} on (the default) or off: off, every
 * large job goes to the pool (for tests that must see it there).
 *
 * @param on whether the pool may run jobs on the calling thread when that is faster
 * @returns the previous setting
 */
export function setPoolBackoff(on: boolean): boolean {
  const was = backoff;
  backoff = on;
  perKind.clear();
  return was;
}

/**
 * Whether new storages should go to the shared arena: whenever it exists,
 * with one thread too (its blocks are reused without zeroing, where a fresh
 * typed array is zeroed and page-faulted in; the pool may use them).
 */
export function wantShared(): boolean {
  return sharedArena() !== null;
}

/** Counters of the pool since the program started (for tests and benchmarks). */
export interface PoolStats {
  /** Workers started. */
  workers: number;
  /** Jobs run on the pool. */
  jobs: number;
  /** Chunks of those jobs the calling thread ran. */
  callerChunks: number;
  /** Chunks the workers ran. */
  workerChunks: number;
  /** Large jobs run on the calling thread alone: probes, or because that was measured faster. */
  skipped: number;
}

const counts = { jobs: 0, callerChunks: 0, workerChunks: 0, skipped: 0 };

/** The pool's counters (a copy). */
export function poolStats(): PoolStats {
  return { workers: workers.length, ...counts };
}

function fail(reason: string): false {
  broken = reason;
  debug(`running single-threaded: ${reason}`);
  return false;
}

interface WorkerLike {
  unref(): void;
  terminate(): unknown;
  postMessage(m: unknown): void;
  on(ev: string, f: (e: unknown) => void): void;
}

/** A page's module Worker behind the part of the `node:worker_threads` Worker the pool uses. */
class PageWorker implements WorkerLike {
  #w: Worker;
  constructor(url: URL) {
    this.#w = new Worker(url, { type: "module" });
  }
  unref(): void {} // a page's workers end with the page
  terminate(): void {
    this.#w.terminate();
  }
  postMessage(m: unknown): void {
    this.#w.postMessage(m);
  }
  on(ev: string, f: (e: unknown) => void): void {
    this.#w.addEventListener(ev, (e) => f((e as ErrorEvent).message ?? e));
  }
}

async function importWorkers(): Promise<{ Worker: new (url: URL) => WorkerLike }> {
  if (!inDeno() && typeof Worker === "function") return { Worker: PageWorker };
  return await import("node:worker_threads") as unknown as {
    Worker: new (url: URL) => WorkerLike;
  };
}

let workerCtor: (new (url: URL) => WorkerLike) | null | undefined;
let ctorLoading: Promise<void> | null = null;

/**
 * Load `node:worker_threads` (asynchronously, once): its Worker can be
 * `unref`ed, unlike the web Worker. Until it has loaded the pool does not run.
 */
function loadWorkerCtor(): void {
  if (workerCtor !== undefined) return;
  workerCtor = null;
  ctorLoading = importWorkers().then(
    (m) => {
      workerCtor = m.Worker;
    },
    (e) => {
      fail(`node:worker_threads is unavailable (${e})`);
    },
  );
}

/**
 * Start the pool now (it otherwise starts on the first large job, which then
 * runs single-threaded) and wait until its workers run: for tests and
 * benchmarks that must measure the threaded path from the first call.
 *
 * @param timeoutMs give up after this long
 * @returns whether a worker runs (false when the pool is off or unavailable)
 */
export async function poolReady(timeoutMs = 10000): Promise<boolean> {
  const threads = cpuThreads();
  if (threads <= 1) return false;
  ensure(threads);
  if (ctorLoading) await ctorLoading;
  if (!ensure(threads) || !ctrl) return false;
  // each worker counts itself in ALIVE when it starts serving
  const start = performance.now();
  while (performance.now() - start < timeoutMs) {
    if (Atomics.load(ctrl, ALIVE) >= workers.length) return true;
    await new Promise((r) => setTimeout(r, 5));
  }
  return false;
}

/** Create the control block and the missing workers; false if the pool cannot run. */
function ensure(threads: number): boolean {
  if (broken !== null) return false;
  if (!ctrl) {
    if (typeof SharedArrayBuffer === "undefined" || typeof Atomics === "undefined") {
      return fail(
        (globalThis as { crossOriginIsolated?: boolean }).crossOriginIsolated === false
          ? "SharedArrayBuffer is unavailable: the page is not cross-origin isolated (serve it " +
            "with Cross-Origin-Opener-Policy: same-origin and Cross-Origin-Embedder-Policy: " +
            "require-corp)"
          : "SharedArrayBuffer or Atomics is unavailable",
      );
    }
    if (!sharedArena()) return fail("growable SharedArrayBuffers are unavailable");
    ctrl = new Int32Array(new SharedArrayBuffer(CTRL_INTS * 4));
    params = new Float64Array(new SharedArrayBuffer(PARAMS * 8));
    try {
      globalThis.addEventListener?.("unload", shutdown);
    } catch {
      // no unload event: unref'd workers end with the process anyway
    }
  }
  if (workers.length >= threads - 1) return true;
  loadWorkerCtor();
  if (!workerCtor) return workers.length > 0;
  while (workers.length < threads - 1) {
    try {
      const w = new workerCtor(new URL("./worker.ts", import.meta.url));
      w.unref();
      w.on("error", (e) => fail(`a worker failed: ${e}`));
      w.postMessage({ arena: sharedArena(), ctrl: ctrl.buffer, params: params!.buffer });
      workers.push(w);
    } catch (e) {
      if (workers.length === 0) return fail(`cannot start a worker (${e})`);
      break;
    }
  }
  return true;
}

/** Stop and terminate the workers (on unload). */
function shutdown(): void {
  broken ??= "the program is unloading";
  if (ctrl) {
    Atomics.store(ctrl, STOP, 1);
    Atomics.add(ctrl, GEN, 1);
    Atomics.notify(ctrl, GEN);
  }
  for (const w of workers.splice(0)) {
    try {
      w.terminate();
    } catch {
      // already gone
    }
  }
}

/** The smaller of a cycle's best per-work time so far (NaN: none yet) and a new sample. */
function best(sofar: number, sample: number): number {
  return Number.isNaN(sofar) ? sample : Math.min(sofar, sample);
}

/** Take one chunk: its index, or −1 when none is left. */
function claim(c: Int32Array): number {
  for (;;) {
    const left = Atomics.load(c, CLAIM);
    if (left <= 0) return -1;
    if (Atomics.compareExchange(c, CLAIM, left, left - 1) === left) return left - 1;
  }
}

/**
 * Run a job's `chunks` chunks on the pool, this thread included; false (and
 * nothing run) when the pool is off or unavailable, or a storage is not in the
 * shared arena: the caller then runs its single-thread path.
 *
 * @param kind the job kind (which chunk function the workers run)
 * @param fn the chunk function (the same one the workers run for `kind`)
 * @param arrays the job's storages (null for absent ones)
 * @param nums the job's numbers
 * @param chunks how many chunks
 * @param cost the job's work in any unit proportional to time (multiply-adds)
 * @param alone runs the whole job on the calling thread (for the probes of {@link CYCLE})
 * @returns whether the job ran
 */
export function parallel(
  kind: number,
  fn: ChunkFn,
  arrays: readonly (TypedArray | null)[],
  nums: readonly number[],
  chunks: number,
  cost: number,
  alone: () => void,
): boolean {
  const threads = cpuThreads();
  if (threads <= 1 || running || chunks < 2 || !ensure(threads) || workers.length === 0) {
    return false;
  }
  if (arrays.length > MAX_ARRAYS || nums.length > MAX_NUMS) {
    throw new RangeError(`cpu pool job ${kind}: too many arguments`);
  }
  for (const a of arrays) if (a !== null && !isShared(a)) return false;
  const key = kind * 64 + Math.min(63, Math.floor(Math.log2(Math.max(1, cost))));
  let k = perKind.get(key);
  if (!k) perKind.set(key, k = { jobs: 0, alone: NaN, pooled: NaN });
  const i = k.jobs++ % CYCLE;
  if (backoff) {
    if (i < PROBES || (i >= 2 * PROBES && k.alone < k.pooled)) {
      const t = performance.now();
      alone();
      if (i < PROBES) k.alone = best(i === 0 ? NaN : k.alone, (performance.now() - t) / cost);
      counts.skipped++;
      return true;
    }
  }
  const c = ctrl!, p = params!;
  for (let i = 0; i < arrays.length; i++) {
    const a = arrays[i];
    p[3 * i] = a ? a.byteOffset : 0;
    p[3 * i + 1] = a ? a.length : 0;
    p[3 * i + 2] = a ? (a instanceof Float64Array ? 2 : 1) : 0;
  }
  for (let i = 0; i < nums.length; i++) p[3 * MAX_ARRAYS + i] = nums[i]!;
  Atomics.store(c, KIND, kind);
  Atomics.store(c, NARR, arrays.length);
  Atomics.store(c, NNUM, nums.length);
  Atomics.store(c, DONE, 0);
  Atomics.store(c, ERR, 0);
  Atomics.store(c, CLAIM, chunks); // the job is open: workers may claim from here on
  Atomics.add(c, GEN, 1);
  Atomics.notify(c, GEN);
  running = true;
  const t0 = performance.now();
  let mine = 0;
  let error: unknown = null;
  try {
    for (let ch = claim(c); ch >= 0; ch = claim(c)) {
      mine++; // counted before it runs: a chunk that throws is not waited for
      fn(arrays, nums, ch);
    }
  } catch (e) {
    error = e;
    // take what is left so the workers stop, then wait for theirs
    while (claim(c) >= 0) mine++;
  }
  const need = chunks - mine;
  let spins = 0;
  for (let d = Atomics.load(c, DONE); d < need; d = Atomics.load(c, DONE)) {
    if (spins++ < SPIN_CALLER || !canBlock) continue;
    try {
      Atomics.wait(c, DONE, d, 100);
    } catch {
      canBlock = false; // a page's main thread: spin instead
    }
  }
  running = false;
  if (backoff && i < 2 * PROBES) {
    k.pooled = best(i === PROBES ? NaN : k.pooled, (performance.now() - t0) / cost);
  }
  counts.jobs++;
  counts.callerChunks += mine;
  counts.workerChunks += need;
  if (error !== null) throw error;
  if (Atomics.load(c, ERR) !== 0) {
    fail("a worker threw");
    throw new Error(`A cpu worker failed on job ${kind}; later jobs run single-threaded`);
  }
  return true;
}

/**
 * {@link parallel} for a job over `n` items split into ranges of whole
 * `block`s, about four per thread (a worker that starts late takes fewer): the
 * chunks get the numbers `[n, per, ...extra]` and chunk `ch` covers the items
 * {@link chunkRange} gives.
 *
 * @param kind the job kind
 * @param fn the chunk function
 * @param arrays the job's storages
 * @param n items
 * @param block items per range are a multiple of this
 * @param extra the job's other numbers
 * @param alone runs the whole job on the calling thread
 * @param cost the job's work (default n)
 * @returns whether the job ran
 */
export function parallelRanges(
  kind: number,
  fn: ChunkFn,
  arrays: readonly (TypedArray | null)[],
  n: number,
  block: number,
  extra: readonly number[],
  alone: () => void,
  cost = n,
): boolean {
  const per = Math.ceil(n / (4 * cpuThreads()) / block) * block;
  return parallel(kind, fn, arrays, [n, per, ...extra], Math.ceil(n / per), cost, alone);
}

/**
 * The items `[i0, i1)` of chunk `ch` of a {@link parallelRanges} job.
 *
 * @param nums the job's numbers (n, items per range, …)
 * @param ch the chunk
 * @returns its first item and the one past its last
 */
export function chunkRange(nums: ArrayLike<number>, ch: number): [number, number] {
  const i0 = ch * nums[1]!;
  return [i0, Math.min(nums[0]!, i0 + nums[1]!)];
}

/**
 * The worker side: called once in each worker with the shared buffers and the
 * chunk functions by kind; loops until the pool shuts down.
 *
 * @param arena the shared arena (all storages)
 * @param ctrlBuf the control block
 * @param paramsBuf the parameter block
 * @param table chunk function per job kind
 */
export function serve(
  arena: SharedArrayBuffer,
  ctrlBuf: SharedArrayBuffer,
  paramsBuf: SharedArrayBuffer,
  table: readonly ChunkFn[],
): void {
  inWorker = true;
  const c = new Int32Array(ctrlBuf), p = new Float64Array(paramsBuf);
  let seen = Atomics.load(c, GEN);
  Atomics.add(c, ALIVE, 1);
  for (;;) {
    const t0 = performance.now();
    let polls = 0;
    while (Atomics.load(c, GEN) === seen) {
      if ((++polls & 255) === 0 && performance.now() - t0 > SPIN_WORKER_MS) {
        Atomics.wait(c, GEN, seen);
      }
    }
    seen = Atomics.load(c, GEN);
    if (Atomics.load(c, STOP) !== 0) return;
    for (let ch = claim(c); ch >= 0; ch = claim(c)) {
      try {
        // Read the job only now that a chunk of it is ours: it cannot change before that
        // chunk is done (the next job may already have replaced the one that woke us).
        const fn = table[Atomics.load(c, KIND)]!;
        const na = Atomics.load(c, NARR), nn = Atomics.load(c, NNUM);
        const arrays: (TypedArray | null)[] = [];
        for (let i = 0; i < na; i++) {
          const off = p[3 * i]!, len = p[3 * i + 1]!, dt = p[3 * i + 2]!;
          arrays.push(
            dt === 0
              ? null
              : dt === 2
              ? new Float64Array(arena, off, len)
              : new Float32Array(arena, off, len),
          );
        }
        fn(arrays, p.slice(3 * MAX_ARRAYS, 3 * MAX_ARRAYS + nn), ch);
      } catch {
        Atomics.store(c, ERR, 1);
      }
      Atomics.add(c, DONE, 1);
      Atomics.notify(c, DONE);
    }
  }
}
