/// <reference lib="dom" />
/**
 * A page for `web_test.ts` (bundled for the browser): the CPU backend's
 * worker pool in a cross-origin isolated page. It starts the pool, runs a
 * large matmul on it (measuring off, so the job goes to the pool) and the same
 * product on one thread, and publishes on `globalThis.poolResult` whether the
 * workers started, how many chunks they ran, and whether both products are
 * bit-identical. Uses engine internals, as tests may.
 *
 * @module
 */
import { init, randn } from "../mod.ts";
import {
  cpuThreads,
  poolReady,
  poolStats,
  setPoolBackoff,
  withCpuThreads,
} from "../tensor/cpu/pool.ts";

/** What the page publishes. */
export interface PoolResult {
  /** `crossOriginIsolated`. */
  isolated: boolean;
  /** Threads the pool may use. */
  threads: number;
  /** `navigator.hardwareConcurrency`. */
  cores: number;
  /** Whether the workers started. */
  ready: boolean;
  /** Chunks the workers ran. */
  workerChunks: number;
  /** Whether the pooled and single-thread products are bit-identical. */
  same: boolean;
  /** Any error. */
  error: string | null;
}

async function run(): Promise<PoolResult> {
  await init({ backend: "cpu", log: false });
  setPoolBackoff(false);
  const ready = await poolReady();
  const a = randn([192, 256]), b = randn([256, 160]);
  const pooled = await a.matmul(b).data();
  const alone = await withCpuThreads(1, () => a.matmul(b)).data();
  return {
    isolated: globalThis.crossOriginIsolated === true,
    threads: cpuThreads(),
    cores: navigator.hardwareConcurrency,
    ready,
    workerChunks: poolStats().workerChunks,
    same: pooled.length === alone.length && pooled.every((v, i) => v === alone[i]),
    error: null,
  };
}

run().then(
  (r) => (globalThis as { poolResult?: PoolResult }).poolResult = r,
  (e) => (globalThis as { poolResult?: Partial<PoolResult> }).poolResult = { error: String(e) },
);
